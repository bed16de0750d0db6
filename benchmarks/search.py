"""Search over 1,000,000 documents on PostgreSQL (target: p95 under 200 ms), and a
smaller SQLite figure (100,000 documents).

What one search costs (`rantai.insight.search.search`): the counts per kind of the
caller's visible matches, then one page of 20 ranked hits with their snippets.

The data (made once and kept; `--fresh` builds it again):

- **through the services**, in the first organisation: a partner (an external
  party with a partner login), a procedure in which the partner does one step,
  and `--partner-runs` runs of it (so the partner's visibility rules have real
  rows to look at); the search index follows them as in production;
- **bulk-inserted** search documents (PostgreSQL: COPY, the GIN index dropped
  during the load and built again; SQLite: multi-row INSERTs, the FTS5 triggers
  fill the full-text table): mixed English and Indonesian titles, subtitles and
  texts drawn from word lists with a Zipf-like frequency (a few very common words,
  a long tail of rare ones), every kind, over five organisations (the first holds
  40 %); then ANALYZE.

Then `--queries` searches (1 to 3 words: common, middling and rare words, and
prefixes of them) are timed, each through `search()`, as the organisation's
administrator and as the partner, after a warm-up. Figures: p50, p95 and p99 of
the wall time per search.

    [DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres] \\
        .venv/bin/python benchmarks/search.py [--documents 1000000]
        [--sqlite-documents 100000] [--queries 300] [--fresh]

Without DATABASE_URL the script says so and measures SQLite only.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import chain_fixtures as fx  # noqa: E402
import roles_fixtures as rf  # noqa: E402
import workload_fixtures as wf  # noqa: E402

os.environ.setdefault("EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")

TARGET_SECONDS = 0.2
DATA_DIR = fx.ROOT / "var" / "bench" / "search"
DATABASE = "rantai_bench_search"
SLUG = "bench-search"
ORGANISATIONS = 5
FIRST_SHARE = 0.4
BULK_ID_BASE = 1_000_000_000  # object ids of bulk documents: clear of real rows
KIND_SHARES = (
    ("run", 0.28),
    ("record", 0.2),
    ("step", 0.14),
    ("obstacle", 0.1),
    ("review", 0.05),
    ("target", 0.05),
    ("person", 0.06),
    ("position", 0.05),
    ("procedure", 0.04),
    ("party", 0.03),
)

ENGLISH = """shipment container delivery order invoice customs warehouse truck port
vessel cargo freight export import packing label pallet inspection quality report
schedule delay damage approval payment contract supplier customer forwarder carrier
manifest clearance document permit certificate stock inventory count audit review
target quota quarter month week plan route driver loading unloading storage cold
chain temperature seal broken missing late early urgent priority batch lot sample
test result check verify confirm receive dispatch transfer return refund claim
insurance weather flood road toll bridge crane berth terminal yard gate queue
system outage network email phone letter notice meeting minutes budget cost price
rate tariff duty tax bank transfer account balance statement ledger export manager
clerk officer head director staff operator team shift night morning evening north
south east west central jakarta surabaya medan makassar semarang bandung batam""".split()  # noqa: SIM905 - a word list

INDONESIAN = """pengiriman kontainer pengantaran pesanan faktur bea cukai gudang truk
pelabuhan kapal muatan ekspor impor pengemasan label palet pemeriksaan mutu laporan
jadwal keterlambatan kerusakan persetujuan pembayaran kontrak pemasok pelanggan
ekspedisi dokumen izin sertifikat stok persediaan penghitungan audit tinjauan target
kuota kuartal bulan minggu rencana rute sopir bongkar muat penyimpanan dingin rantai
suhu segel rusak hilang terlambat mendesak prioritas sampel hasil periksa pastikan
terima kirim pindah kembali klaim asuransi cuaca banjir jalan tol jembatan derek
dermaga terminal lapangan gerbang antrean sistem gangguan jaringan surat pemberitahuan
rapat notulen anggaran biaya harga tarif pajak rekening saldo buku besar pengelola
petugas kepala direktur staf operator tim malam pagi sore utara selatan timur barat
tengah dikirim diterima diperiksa ditunda tertunda disetujui ditolak dibatalkan
pemeriksaannya pengirimannya penyimpanannya kedatangan keberangkatan""".split()  # noqa: SIM905 - a word list

NAMES = """Rina Budi Joko Ani Dedi Wati Olga Sari Eko Putri Agus Dewi Bambang Siti
Hendra Yusuf Lestari Nur Wahyu Indah Kusuma Santoso Susilo Pratama Wijaya Hidayat
Saputra Nugroho Setiawan Rahman""".split()  # noqa: SIM905 - a word list


# --- the data -----------------------------------------------------------------------------


def vocabulary(rng: random.Random) -> tuple[list[str], list[float]]:
    """Every word once with a Zipf-like weight (rank r: 1/r), plus 20,000 rare
    words (codes and numbers that occur a handful of times)."""
    words = ENGLISH + INDONESIAN + NAMES
    rng.shuffle(words)
    rare = [f"{rng.choice(words)[:4]}{n:05d}" for n in range(20_000)]
    everything = words + rare
    weights = [1.0 / (rank + 1) for rank in range(len(everything))]
    return everything, weights


class Texts:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)  # benchmark data, not security
        self.words, weights = vocabulary(self.rng)
        total = sum(weights)
        cumulative, running = [], 0.0
        for weight in weights:
            running += weight / total
            cumulative.append(running)
        self.cumulative = cumulative

    def phrase(self, low: int, high: int) -> str:
        count = self.rng.randint(low, high)
        chosen = self.rng.choices(self.words, cum_weights=self.cumulative, k=count)
        return " ".join(chosen).capitalize()


def document_rows(total: int, organisation_ids: list[int], seed: int) -> Any:
    """(organisation_id, kind, object_id, parent_id, title, subtitle, body,
    updated_at) rows."""
    texts = Texts(seed)
    rng = texts.rng
    kinds = [kind for kind, _share in KIND_SHARES]
    kind_weights = [share for _kind, share in KIND_SHARES]
    org_weights = [FIRST_SHARE] + [(1 - FIRST_SHARE) / (len(organisation_ids) - 1)] * (
        len(organisation_ids) - 1
    )
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    for number in range(total):
        kind = rng.choices(kinds, weights=kind_weights)[0]
        organisation_id = rng.choices(organisation_ids, weights=org_weights)[0]
        if kind == "person":
            title = f"{rng.choice(NAMES)} {rng.choice(NAMES)}"
            subtitle, body = f"NIP-{number:07d}", ""
        elif kind in ("party", "position", "procedure"):
            title = texts.phrase(2, 4)
            subtitle, body = f"C{number:07d}", texts.phrase(0, 12)
        else:
            title = texts.phrase(3, 8)
            subtitle = texts.phrase(1, 4)
            body = texts.phrase(10, 60) + "."
        yield (
            organisation_id,
            kind,
            BULK_ID_BASE + number,
            BULK_ID_BASE if kind == "step" else None,
            title[:300],
            subtitle[:300],
            body,
            start + dt.timedelta(seconds=number * 17),
        )


def ensure_data(documents: int, partner_runs: int) -> dict[str, Any]:
    from rantai.accounts.models import Organisation
    from rantai.insight.models import SearchDocument

    found = Organisation.objects.filter(slug=f"{SLUG}-1").first()
    if found is not None:
        have = SearchDocument.objects.filter(object_id__gte=BULK_ID_BASE).count()
        if have != documents:
            raise SystemExit(
                f"The kept data has {have:,} bulk documents, not {documents:,}: "
                "run with --fresh."
            )
        return _people(found)
    return _make(documents, partner_runs)


def _people(organisation: Any) -> dict[str, Any]:
    from rantai.accounts.access import Access
    from rantai.accounts.models import Membership, Role

    def access(role: str) -> Access:
        membership = Membership.objects.select_related("organisation", "user").get(
            organisation=organisation, role=role
        )
        return Access(
            organisation=membership.organisation,
            user=membership.user,
            membership=membership,
        )

    return {"admin": access(Role.ADMIN), "partner": access(Role.PARTNER)}


def _make(documents: int, partner_runs: int) -> dict[str, Any]:
    from django.db import connection

    from rantai.accounts.models import Role
    from rantai.chains import services as chains
    from rantai.chains.models import RaciRole
    from rantai.org import membership
    from rantai.org import services as org
    from rantai.org.models import PartyKind
    from rantai.testing import make_user

    started = time.perf_counter()
    wf.log(f"Making the organisations and {partner_runs} runs (once) ...")
    organisation_ids = []
    first = None
    for n in range(1, ORGANISATIONS + 1):
        unit = rf.make_unit(
            f"{SLUG}-{n}", name=f"Bench search {n}", unit_name="Logistik", code="LOG"
        )
        organisation_ids.append(unit.organisation.pk)
        if first is None:
            first = unit
    assert first is not None
    admin, organisation = first.admin, first.organisation
    forwarder = org.create_party(
        organisation,
        actor=admin,
        kind=PartyKind.EXTERNAL_PARTNER,
        name="Ekspedisi Cepat",
        code="FWD",
    )
    partner = make_user(f"{SLUG}-partner")
    membership.add_member(
        organisation, actor=admin, user=partner, role=Role.PARTNER, party=forwarder
    )
    procedure = chains.create_procedure(
        organisation,
        actor=admin,
        code="KIRIM",
        name="Pengiriman ekspor",
        owner_position=first.head,
    )
    version = procedure.versions.get()
    for key, name, party in (
        ("pack", "Pengemasan barang", None),
        ("ship", "Pengiriman ke pelabuhan", forwarder),
    ):
        step = chains.add_step(
            version, actor=admin, key=key, name=name, duration_value="1"
        )
        roles = {"party": party} if party is not None else {"position": first.head}
        chains.add_step_role(step, actor=admin, role=RaciRole.RESPONSIBLE, **roles)
        chains.add_step_role(
            step, actor=admin, role=RaciRole.ACCOUNTABLE, position=first.head
        )
    now = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
    chains.publish(version, actor=admin, expected_version=None, now=now)
    version.refresh_from_db()
    texts = Texts(7)
    for n in range(partner_runs):
        chains.start_run(
            version,
            actor=admin,
            title=f"Kirim {texts.phrase(2, 5)} {n}",
            objective=texts.phrase(5, 20),
            measure_quantity=10,
            measure_unit="boxes",
            due_at=now + dt.timedelta(days=14),
            now=now,
        )
    wf.log(f"  made through the services: {time.perf_counter() - started:.0f} s")
    rows = document_rows(documents, organisation_ids, seed=20261128)
    if connection.vendor == "postgresql":
        _copy_postgresql(rows, documents)
    else:
        _insert_sqlite(rows, documents)
    wf.log(f"  {documents:,} documents: {time.perf_counter() - started:.0f} s")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return _people(organisation)


def _copy_postgresql(rows: Any, documents: int) -> None:
    from django.db import connection, transaction

    columns = (
        "organisation_id, kind, object_id, parent_id, title, subtitle, body, updated_at"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DROP INDEX IF EXISTS insight_search_vector_gin")
        raw = cursor.cursor  # psycopg's own cursor, for COPY
        written = 0
        batch = 100_000
        while written < documents:
            with raw.copy(
                f"COPY insight_searchdocument ({columns}) FROM STDIN"
            ) as copy:
                for _ in range(min(batch, documents - written)):
                    copy.write_row(next(rows))
                    written += 1
            wf.log(f"  {written:,} documents copied ...")
        # The rows' foreign keys are checked now (deferred until here otherwise,
        # which CREATE INDEX refuses).
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        wf.log("  building the GIN index ...")
        cursor.execute(
            "CREATE INDEX insight_search_vector_gin ON insight_searchdocument "
            "USING gin (search_vector)"
        )


def _insert_sqlite(rows: Any, documents: int) -> None:
    from django.db import connection, transaction

    columns = (
        "organisation_id, kind, object_id, parent_id, title, subtitle, body, updated_at"
    )
    written = 0
    while written < documents:
        chunk = []
        for _ in range(min(10_000, documents - written)):
            row = list(next(rows))
            row[7] = row[7].isoformat(sep=" ")
            chunk.append(row)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO insight_searchdocument ({columns}) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                chunk,
            )
        written += len(chunk)
        if written % 50_000 == 0:
            wf.log(f"  {written:,} documents inserted ...")


# --- the measurement ----------------------------------------------------------------------


def queries(count: int, seed: int) -> list[str]:
    """1 to 3 words each: common (the 40 most frequent), middling, rare, and
    prefixes of them (3 to 5 letters)."""
    rng = random.Random(seed)
    words = Texts(20261128).words
    common, middling, rare = words[:40], words[40:400], words[400:]
    made = []
    for _ in range(count):
        chosen = []
        for _word in range(rng.choice((1, 1, 2, 2, 3))):
            pool = rng.choice((common, common, middling, middling, rare))
            word = rng.choice(pool)
            if rng.random() < 0.3 and len(word) > 4:
                word = word[: rng.randint(3, 5)]
            chosen.append(word)
        made.append(" ".join(chosen))
    return made


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


def measure(people: dict[str, Any], count: int) -> dict[str, Any]:
    import gc

    from rantai.insight.models import SearchDocument
    from rantai.insight.search import search

    texts = queries(count, seed=11)
    figures: dict[str, Any] = {
        "documents": SearchDocument.objects.count(),
        "load": 0.0,
    }
    for who, access in people.items():
        for text in texts[:20]:
            search(access, text)  # warm-up
        times, totals = [], []
        gc.collect()
        for text in texts:
            began = time.perf_counter()
            results = search(access, text)
            times.append(time.perf_counter() - began)
            totals.append(results.total)
        figures[who] = {
            "p50": statistics.median(times),
            "p95": percentile(times, 0.95),
            "p99": percentile(times, 0.99),
            "max": max(times),
            "median_total": statistics.median(totals),
            "max_total": max(totals),
            "empty": sum(1 for t in totals if t == 0),
        }
        wf.log(
            f"  {who}: p50 {figures[who]['p50'] * 1000:.0f} ms, "
            f"p95 {figures[who]['p95'] * 1000:.0f} ms"
        )
    figures["load"] = os.getloadavg()[0]
    figures["queries"] = len(texts)
    figures["examples"] = texts[:8]
    return figures


def main() -> int:
    parser = rf.arguments(__doc__.splitlines()[0], repeat=1)
    parser.add_argument("--documents", type=int, default=1_000_000)
    parser.add_argument("--sqlite-documents", type=int, default=100_000)
    parser.add_argument("--partner-runs", type=int, default=100)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    if args.child:
        documents = args.sqlite_documents if args.child == "sqlite" else args.documents

        def figures() -> dict[str, Any]:
            people = ensure_data(documents, args.partner_runs)
            return measure(people, args.queries)

        return rf.child(args, DATA_DIR, figures)
    if not os.environ.get("DATABASE_URL"):
        print(
            "The 1,000,000-document figure needs PostgreSQL: set DATABASE_URL "
            "(e.g. postgres://postgres@127.0.0.1:5432/postgres). Measuring SQLite "
            "only."
        )
    results = rf.run_each_database(__file__, args, database=DATABASE)
    print()
    print(
        f"Search: {args.queries} searches of 1-3 words (common, middling, rare "
        f"words and prefixes), each the counts and one page of 20 "
        f"(target p95 < {TARGET_SECONDS * 1000:.0f} ms)"
    )
    for result in results:
        print(
            f"  {result['database']}: {result['documents']:,} documents; load "
            f"average {result['load']:.1f} at the end"
        )
        for who in ("admin", "partner"):
            figures = result[who]
            verdict = "within" if figures["p95"] < TARGET_SECONDS else "OVER"
            print(
                f"    as the {who}: p50 {figures['p50'] * 1000:.0f} ms, p95 "
                f"{figures['p95'] * 1000:.0f} ms ({verdict} the target), p99 "
                f"{figures['p99'] * 1000:.0f} ms, max {figures['max'] * 1000:.0f} "
                f"ms; hits per search: median {figures['median_total']:,.0f}, "
                f"max {figures['max_total']:,}, {figures['empty']} with none"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

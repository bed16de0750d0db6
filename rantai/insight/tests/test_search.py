"""Searching (docs/design-insight.md, "Search"): every word must match, as a prefix
(both databases) or as an Indonesian or English stem (PostgreSQL); accents and case
do not matter where the database folds them; hostile text is only ever words passed
as parameters; titles rank first, then the newest; pages; snippets escaped with the
matched words marked; bad arguments refused by field.

The world is `obstacles.tests.factories.world()` (run "Ship 500 units to Kota A");
the texts searched are information records written here, through the service.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rantai.accounts.access import Access, access_for
from rantai.core.errors import ValidationFailed
from rantai.evidence import records
from rantai.evidence.models import InformationRecord
from rantai.insight import search as searching
from rantai.insight.models import SearchDocument
from rantai.insight.search import SearchHit, SearchResults, search, words_of
from rantai.obstacles.tests import factories as f

pytestmark = pytest.mark.django_db

POSTGRES = connection.vendor == "postgresql"


@pytest.fixture
def w() -> f.World:
    return f.world()


@pytest.fixture
def admin(w: f.World) -> Access:
    return access_for(w.admin, w.organisation.slug)


def note(
    w: f.World,
    title: str,
    statement: str = "Dicatat di lapangan.",
    *,
    source: str = "Catatan lapangan",
) -> InformationRecord:
    return records.record_information(
        w.organisation,
        actor=w.o.member,
        title=title,
        statement=statement,
        source_kind="document",
        source_detail=source,
        run=w.run,
        now=f.T0,
    )


def found(access: Access, text: str, **options: object) -> list[str]:
    """The titles of the hits, best first."""
    return [hit.title for hit in search(access, text, **options).hits]  # type: ignore[arg-type]


# --- words ----------------------------------------------------------------------------------


def test_words_are_runs_of_letters_and_digits_lower_cased_distinct_at_most_eight() -> (
    None
):
    assert words_of("  Kontainer 40ft, KONTAINER; café—Rp5.000 ") == [
        "kontainer",
        "40ft",
        "café",
        "rp5",
        "000",
    ]
    assert words_of('"a" OR b* NEAR(c) d:* e&f|g!h \x00 i j') == [
        "a",
        "or",
        "b",
        "near",
        "c",
        "d",
        "e",
        "f",
    ]
    # Decomposed accents are composed first; marks stay inside their word.
    assert words_of("Cafe\u0301 Brasi\u0301lia") == ["café", "brasília"]
    assert words_of("*:&|!()'\"\\ \t\n") == []


# --- matching -----------------------------------------------------------------------------


def test_a_word_matches_as_a_prefix_of_a_word_in_any_field(
    w: f.World, admin: Access
) -> None:
    note(
        w,
        "Kontainer tertahan",
        "Menunggu dokumen bea cukai di Tanjung Priok.",
        source="Petugas pelabuhan Surabaya",
    )
    assert found(admin, "kont") == ["Kontainer tertahan"]
    assert found(admin, "cuk") == ["Kontainer tertahan"]
    assert found(admin, "surab") == ["Kontainer tertahan"]
    assert found(admin, "ontainer") == []  # inside a word: no


def test_several_words_must_all_match_in_any_fields(w: f.World, admin: Access) -> None:
    note(w, "Kontainer tertahan", "Menunggu dokumen bea cukai.")
    note(w, "Kontainer tiba", "Sudah dibongkar.")
    assert found(admin, "kontainer dokumen") == ["Kontainer tertahan"]
    assert sorted(found(admin, "kontainer")) == ["Kontainer tertahan", "Kontainer tiba"]
    assert found(admin, "kontainer zebra") == []
    # The run's title and the record's: "kota" only in the run.
    assert found(admin, "kota ship") == ["Ship 500 units to Kota A"]


def test_indonesian_words_match_by_prefix_and_on_postgresql_by_stem(
    w: f.World, admin: Access
) -> None:
    note(w, "Barang dikirim terlambat", "Pengiriman tertunda dua hari.")
    assert found(admin, "terlambat") == ["Barang dikirim terlambat"]
    assert found(admin, "dikir") == ["Barang dikirim terlambat"]
    assert found(admin, "pengiriman") == ["Barang dikirim terlambat"]
    # "kirim" is the stem of "dikirim", "tunda" of "tertunda": PostgreSQL's
    # Indonesian stemmer finds them; SQLite matches prefixes only.
    stemmed = ["Barang dikirim terlambat"] if POSTGRES else []
    assert found(admin, "kirim") == stemmed
    assert found(admin, "tunda") == stemmed


def test_english_words_match_by_prefix_and_on_postgresql_by_stem(
    w: f.World, admin: Access
) -> None:
    note(w, "Containers delayed", "The containers were shipped late.")
    assert found(admin, "contain") == ["Containers delayed"]
    assert found(admin, "delay") == ["Containers delayed"]
    assert found(admin, "shippe") == ["Containers delayed"]
    stemmed = ["Containers delayed"] if POSTGRES else []
    assert found(admin, "delays") == stemmed
    assert found(admin, "shipping containers") == stemmed


def test_case_and_composed_or_decomposed_accents_match_alike(
    w: f.World, admin: Access
) -> None:
    note(w, "Rapat di Café Brasília", "Dengan pihak ekspedisi.")
    expected = ["Rapat di Café Brasília"]
    assert found(admin, "café") == expected
    assert found(admin, "CAFÉ") == expected
    assert found(admin, "Cafe\u0301") == expected
    assert found(admin, "brasília") == expected
    # SQLite's FTS5 folds accents away; PostgreSQL's configurations keep them.
    assert found(admin, "cafe brasilia") == (expected if not POSTGRES else [])


def test_text_stored_with_decomposed_accents_is_found_by_composed_words(
    w: f.World, admin: Access
) -> None:
    record = note(w, "Pertemuan di Cafe\u0301 Jaya")
    assert SearchDocument.objects.get(kind="record", object_id=record.pk).title == (
        "Pertemuan di Café Jaya"
    )
    assert found(admin, "café jaya") == ["Pertemuan di Café Jaya"]


@pytest.mark.parametrize(
    ("text", "titles"),
    [
        ('"kontainer', ["Kontainer rusak"]),
        ('kontainer"', ["Kontainer rusak"]),
        ("'kontainer'", ["Kontainer rusak"]),
        ("kontainer*", ["Kontainer rusak"]),
        ("*kontainer", ["Kontainer rusak"]),
        ("kontainer:*", ["Kontainer rusak"]),
        ("kontainer:A", []),  # "a" is a word: nothing starts with it here
        ("kontainer&rusak", ["Kontainer rusak"]),
        ("!kontainer", ["Kontainer rusak"]),
        ("kontainer | zebra", []),
        ("kontainer\x00rusak", ["Kontainer rusak"]),
        ("(kontainer) -rusak", ["Kontainer rusak"]),
        ("NEAR(kontainer rusak)", []),
        ("kontainer AND rusak", []),
        ("kontainer' OR '1'='1", []),
        ("'; DROP TABLE insight_searchdocument; --", []),
        ("\\kontainer\\", ["Kontainer rusak"]),
        ("*", []),
        ('""', []),
        (":*&|!()", []),
        ("\x00", []),
    ],
)
def test_hostile_text_is_only_words_passed_as_parameters(
    w: f.World, admin: Access, text: str, titles: list[str]
) -> None:
    note(w, "Kontainer rusak", "Pintu kontainer penyok.")
    assert found(admin, text) == titles
    assert SearchDocument.objects.filter(kind="record").count() == 1


def test_an_empty_or_wordless_text_finds_nothing_without_asking_the_database(
    w: f.World, admin: Access
) -> None:
    for text in ("", "   ", "*", "“”—…"):
        with CaptureQueriesContext(connection) as queries:
            results = search(admin, text)
        assert results == SearchResults(
            query=text.strip(), hits=(), total=0, counts={}, limit=20, offset=0
        )
        assert len(queries) == 0


def test_only_the_first_eight_words_count(w: f.World, admin: Access) -> None:
    note(w, "satu dua tiga empat lima enam tujuh delapan")
    text = "satu dua tiga empat lima enam tujuh delapan sembilan"
    assert found(admin, text) == ["satu dua tiga empat lima enam tujuh delapan"]


# --- ranking and pages --------------------------------------------------------------------


def test_a_match_in_the_title_ranks_before_one_in_the_text(
    w: f.World, admin: Access
) -> None:
    note(w, "Laporan harian", "Kontainer tertahan di pelabuhan.")
    note(w, "Kontainer rusak", "Perlu diganti.")
    note(w, "Catatan gudang", "Tidak ada kendala.", source="Kepala kontainer")
    results = search(admin, "kontainer")
    assert [hit.title for hit in results.hits] == [
        "Kontainer rusak",
        "Catatan gudang",
        "Laporan harian",
    ]
    ranks = [hit.rank for hit in results.hits]
    assert ranks == sorted(ranks, reverse=True)
    assert ranks[0] > ranks[1] > ranks[2] > 0


def test_equal_matches_come_newest_first(w: f.World, admin: Access) -> None:
    older = note(w, "Kontainer tertahan")
    newer = note(w, "Kontainer tertahan")
    SearchDocument.objects.filter(kind="record", object_id=older.pk).update(
        updated_at=f.T0
    )
    SearchDocument.objects.filter(kind="record", object_id=newer.pk).update(
        updated_at=f.T0 + dt.timedelta(minutes=1)
    )
    hits = search(admin, "kontainer").hits
    assert [hit.object_id for hit in hits] == [newer.pk, older.pk]
    assert hits[0].rank == hits[1].rank


def test_pages_cover_every_hit_once_with_the_same_total(
    w: f.World, admin: Access
) -> None:
    made = [note(w, f"Zebra nomor {n}") for n in range(5)]
    pages = [search(admin, "zebra", limit=2, offset=offset) for offset in (0, 2, 4)]
    assert [len(page.hits) for page in pages] == [2, 2, 1]
    assert {page.total for page in pages} == {5}
    assert sorted(hit.object_id for page in pages for hit in page.hits) == sorted(
        r.pk for r in made
    )
    assert [(page.limit, page.offset) for page in pages] == [(2, 0), (2, 2), (2, 4)]
    with CaptureQueriesContext(connection) as queries:
        beyond = search(admin, "zebra", limit=2, offset=10)
    assert (beyond.hits, beyond.total, beyond.counts) == ((), 5, {"record": 5})
    assert len(queries) == 1  # the counts only


def test_a_search_is_two_queries(w: f.World, admin: Access) -> None:
    note(w, "Kontainer rusak")
    with CaptureQueriesContext(connection) as queries:
        search(admin, "kontainer rusak")
    assert len(queries) == 2


def test_kinds_choose_the_hits_and_the_total_while_counts_cover_every_kind(
    w: f.World, admin: Access
) -> None:
    f.make_obstacle(w)
    results = search(admin, "kota", kinds=["run"])
    assert results.counts == {"run": 1, "obstacle": 1}
    assert results.total == 1
    assert [(hit.kind, hit.object_id) for hit in results.hits] == [("run", w.run.pk)]
    both = search(admin, "kota", kinds=["obstacle", "run", "run"])
    assert both.total == 2
    assert {hit.kind for hit in both.hits} == {"run", "obstacle"}


# --- what a hit carries ---------------------------------------------------------------------


def test_a_hit_names_its_object_and_a_step_its_version(
    w: f.World, admin: Access
) -> None:
    step = w.task("ship").step
    hits = search(admin, "ship", kinds=["step"]).hits
    assert hits[0] == SearchHit(
        kind="step",
        object_id=step.pk,
        parent_id=step.procedure_version_id,
        title="Ship",
        subtitle="Procedure SHIP",
        snippet=hits[0].snippet,
        rank=hits[0].rank,
    )
    # The others match by their procedure's name (the subtitle) only.
    assert sorted(hit.title for hit in hits[1:]) == ["Pack", "Store"]
    assert str(hits[0].snippet) == "Procedure <mark>SHIP</mark>"


def test_the_snippet_is_escaped_text_with_the_matched_words_marked(
    w: f.World, admin: Access
) -> None:
    note(
        w, "Catatan", "<script>alert('x')</script> & kontainer tiba, kontainernya utuh."
    )
    (hit,) = search(admin, "kontainer").hits
    assert str(hit.snippet) == (
        "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; "
        "<mark>kontainer</mark> tiba, <mark>kontainernya</mark> utuh."
    )
    assert hit.snippet.__html__() == str(hit.snippet)  # safe to put in a page


def test_the_snippet_is_a_window_around_the_first_match_of_a_long_text(
    w: f.World, admin: Access
) -> None:
    filler = " ".join(f"kata{n}" for n in range(60))
    note(w, "Catatan panjang", f"{filler} kontainer tertahan di pelabuhan. {filler}")
    (hit,) = search(admin, "kontainer").hits
    snippet = str(hit.snippet)
    assert snippet.startswith("…kata")
    assert snippet.endswith("…")
    assert "<mark>kontainer</mark> tertahan di pelabuhan." in snippet
    text = snippet.replace("<mark>", "").replace("</mark>", "").strip("…")
    assert len(text) <= searching.SNIPPET_CHARS


def test_the_snippet_of_a_text_without_the_word_is_its_beginning(
    w: f.World, admin: Access
) -> None:
    note(w, "Kontainer rusak", "Pintu penyok, segel utuh.")
    (hit,) = search(admin, "kontainer").hits
    assert str(hit.snippet) == "Pintu penyok, segel utuh."


# --- refused arguments ----------------------------------------------------------------------


def test_arguments_out_of_bounds_are_refused_by_field(admin: Access) -> None:
    with pytest.raises(ValidationFailed) as refused:
        search(admin, "x" * 201, kinds=["run", "task"], limit=0, offset=-1)
    assert refused.value.errors == {
        "q": ["Search for at most 200 characters."],
        "kind": [
            "“task” is not a kind of result; choose from run, procedure, step, "
            "person, position, party, record, obstacle, review, target."
        ],
        "limit": ["Ask for between 1 and 100 results."],
        "offset": ["The offset cannot be negative."],
    }
    with pytest.raises(ValidationFailed) as refused:
        search(admin, "kota", limit=101)
    assert refused.value.errors == {"limit": ["Ask for between 1 and 100 results."]}
    with pytest.raises(ValidationFailed) as refused:
        search(admin, "kota", limit="5")  # type: ignore[arg-type]
    assert refused.value.errors == {
        "limit": ["The number of results must be a whole number."]
    }


def test_the_bounds_themselves_are_accepted(w: f.World, admin: Access) -> None:
    results = search(admin, "kota " + "x" * 195, limit=100, offset=0)
    assert (results.total, results.limit) == (0, 100)
    assert search(admin, "kota", limit=1).total == 1


def test_past_the_counting_limit_totals_are_lower_bounds_and_hits_the_best_found(
    w: f.World, admin: Access, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(searching, "MAX_COUNTED", 3)
    for n in range(5):
        note(w, f"Zebra nomor {n}")
    results = search(admin, "zebra", limit=10)
    assert (results.total, results.counts, results.exact) == (4, {"record": 4}, False)
    assert len(results.hits) == 3
    assert len({hit.object_id for hit in results.hits}) == 3
    exact = search(admin, "zebra nomor 4")
    assert (exact.total, exact.exact) == (1, True)
    assert [hit.title for hit in exact.hits] == ["Zebra nomor 4"]

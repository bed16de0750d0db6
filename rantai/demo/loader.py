"""The demo organisation PT Nusantara Makmur, built through the same services as
everything else, so it obeys every rule and writes a verifiable audit trail.

Besides the organisation and the shipment procedure with its runs, the demo shows
the coordination flow (docs/user-guide/coordination.md): an approval route for
shipments above the value limit, a run whose export approval waits on it (its first
stage escalated for real by the timer service), the director away on official travel
with his approvals delegated, a nudge and a few notifications.

The workload analysis (docs/user-guide/workload.md) of the Export unit for the
current year is half-way: opened by the HR analyst, some positions validated by the
head of export, one waiting for her, her own still being filled in, and computed,
with one position overloaded and one underloaded.

Roles (docs/user-guide/roles.md): production asks the warehouse before it finishes
(a consultation that waits for the acting head of the warehouse in the run under
way), the last step informs two heads, the shipment procedure has one role-check
warning (a step whose duty belongs to another position's job description), one
briefing of a demo login is not acknowledged yet, and the export manager handed
five export-document tasks by hand to someone outside the candidates, which the
fairness report flags.

Data over hearsay and anticipation (docs/user-guide/evidence.md,
docs/user-guide/obstacles.md): the Kota A run under way has an obstacle on the
forwarder's pickup (its truck is delayed: reported by phone, unverified, then
backed by the forwarder's written notice and verified by the export manager) that
puts the run's target at risk, with a mitigation; the finished late run has a
completed blameless review; production recorded a measured value; and the
worker's early-warning scan has run, so focus pages show warnings.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from rantai.accounts.models import Organisation, Role, User
from rantai.accounts.services import create_user
from rantai.approvals import delegation as delegations
from rantai.approvals import routes as approval_routes
from rantai.approvals import services as approvals
from rantai.approvals import timers
from rantai.approvals.models import (
    ApprovalRequest,
    ApproverRule,
    RequestStage,
    RouteVersion,
    SubjectKind,
    TimeoutAction,
    Timer,
    TimerKind,
    TimerStatus,
)
from rantai.chains import services as chains
from rantai.chains.calendar import (
    add_working_minutes,
    minutes_per_working_day,
    subtract_working_minutes,
    working_minutes_between,
)
from rantai.chains.models import (
    ConditionOperator,
    DurationUnit,
    FieldType,
    ProcedureVersion,
    RaciRole,
    Run,
    RunStatus,
    Target,
    Task,
)
from rantai.chains.projection import calendar_spec
from rantai.demo.history import History, load_history
from rantai.evidence import records as evidence
from rantai.evidence.models import RecordKind, SourceKind, Verdict
from rantai.evidence.records import NewFile, NewValue
from rantai.evidence.verification import verify
from rantai.notifications import events
from rantai.notifications import services as notifications
from rantai.notifications.models import Delivery, Notification
from rantai.obstacles import impact, obstacles, reviews, warnings
from rantai.obstacles.models import (
    Cause,
    FactorArea,
    Obstacle,
    Review,
    ReviewTrigger,
    Severity,
)
from rantai.org import membership
from rantai.org import services as org
from rantai.org.models import AbsenceKind, Duty, Party, PartyKind, Person, Position
from rantai.roles import assigning, briefings, consulting
from rantai.roles.models import Briefing, Consultation, ConsultationStatus
from rantai.workload import services as workload
from rantai.workload.models import Analysis, Entry, PositionSheet

DEMO_SLUG = "nusantara-makmur"
# Budi has been the acting (Plt) head of the warehouse since before the four months
# of history (rantai.demo.history), whose consultations he answers.
ACTING_DAYS = 150
DEMO_PASSWORD = "rantai-demo"  # noqa: S105 - printed for the demo on purpose


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: str
    description: str


# (code, name, parent code, description)
UNITS = [
    ("DIR", "Direksi", None, "Dewan direksi PT Nusantara Makmur."),
    ("MKT", "Pemasaran", "DIR", "Marketing: sets sales and delivery targets."),
    ("PRD", "Produksi", "DIR", "Production: makes the goods."),
    ("EXP", "Ekspor", "DIR", "Export: prices and documents shipments."),
    ("WH", "Gudang", "DIR", "Warehouse: stores goods and schedules shipments."),
    ("WH-PACK", "Seksi Pengepakan", "WH", "Packing section of the warehouse."),
    ("HR", "SDM", "DIR", "Human resources: people, positions and workload analysis."),
]
PARTNERS = [
    ("FWD", "PT Ekspedisi Cepat", "Freight forwarder for road and sea shipments."),
    ("CUST-A", "PT Sumber Rezeki (Kota A)", "Customer in Kota A."),
]
# (code, title, party code, superior code, max holders, job summary, duties)
POSITIONS: list[tuple[str, str, str, str | None, int, str, list[tuple[str, str]]]] = [
    (
        "DIR-UT",
        "Direktur Utama",
        "DIR",
        None,
        1,
        "Leads the company and approves its targets.",
        [("Approve annual targets", "decision"), ("Review unit performance", "review")],
    ),
    (
        "MKT-HEAD",
        "Kepala Pemasaran",
        "MKT",
        "DIR-UT",
        1,
        "Sets sales and delivery targets with customers.",
        [
            ("Set delivery targets with customers", "target"),
            ("Negotiate sales contracts", "contract"),
        ],
    ),
    (
        "MKT-STAFF",
        "Staf Pemasaran",
        "MKT",
        "MKT-HEAD",
        3,
        "Keeps contact with customers and records their orders.",
        [
            ("Record customer orders", "order"),
            ("Confirm delivery details with customers", "confirmation"),
        ],
    ),
    (
        "PRD-HEAD",
        "Kepala Produksi",
        "PRD",
        "DIR-UT",
        1,
        "Plans and runs production.",
        [("Plan production batches", "plan"), ("Release finished goods", "batch")],
    ),
    (
        "PRD-SUP",
        "Supervisor Produksi",
        "PRD",
        "PRD-HEAD",
        1,
        "Supervises the production line.",
        [
            ("Supervise a production shift", "shift"),
            ("Inspect product quality", "inspection"),
        ],
    ),
    (
        "EXP-HEAD",
        "Kepala Ekspor",
        "EXP",
        "DIR-UT",
        1,
        "Owns the shipment procedure; prices shipping and approves shipments.",
        [
            ("Price shipping costs", "quotation"),
            ("Approve shipments above the value limit", "approval"),
            ("Memverifikasi harga pengiriman", "pengiriman"),
            ("Menyusun laporan kinerja ekspor", "laporan"),
            ("Memimpin rapat koordinasi ekspor", "rapat"),
        ],
    ),
    (
        "EXP-DOC",
        "Staf Dokumen Ekspor",
        "EXP",
        "EXP-HEAD",
        2,
        "Prepares shipping and customs documents.",
        [
            ("Prepare shipping documents", "document set"),
            ("Book forwarder pickup", "booking"),
            ("Mengajukan pemberitahuan ekspor barang (PEB)", "PEB"),
            ("Mengarsipkan berkas pengiriman", "berkas"),
        ],
    ),
    (
        "EXP-CUSTOMS",
        "Analis Kepabeanan",
        "EXP",
        "EXP-HEAD",
        1,
        "Checks tariff classifications and customs documents (vacant).",
        [
            ("Menyusun dokumen ekspor", "dokumen"),
            ("Memeriksa klasifikasi tarif (kode HS) barang ekspor", "jenis barang"),
            ("Mendampingi pemeriksaan fisik barang oleh Bea Cukai", "pemeriksaan"),
        ],
    ),
    (
        "EXP-ADM",
        "Pengadministrasi Ekspor",
        "EXP",
        "EXP-HEAD",
        1,
        "Keeps the export unit's correspondence, customer data and records.",
        [
            ("Mencatat surat masuk dan keluar", "surat"),
            ("Memperbarui data pelanggan ekspor", "data pelanggan"),
            ("Menyiapkan bahan rapat unit", "rapat"),
            ("Menyusun rekap pengiriman bulanan", "rekap"),
        ],
    ),
    (
        "WH-HEAD",
        "Kepala Gudang",
        "WH",
        "DIR-UT",
        1,
        "Runs the warehouse and decides when shipments can leave.",
        [
            ("Schedule outgoing shipments", "schedule"),
            ("Approve stock movements", "approval"),
        ],
    ),
    (
        "WH-COORD",
        "Koordinator Pengiriman",
        "WH",
        "WH-HEAD",
        1,
        "Coordinates loading and handover to forwarders.",
        [
            ("Coordinate loading", "shipment"),
            ("Hand goods over to the forwarder", "handover"),
        ],
    ),
    (
        "WH-PACKER",
        "Petugas Pengepakan",
        "WH-PACK",
        "WH-COORD",
        4,
        "Packs goods for shipment.",
        [("Pack goods for shipment", "pallet")],
    ),
    (
        "HR-HEAD",
        "Kepala SDM",
        "HR",
        "DIR-UT",
        1,
        "Manages people, positions and job descriptions.",
        [
            ("Maintain job descriptions", "job description"),
            ("Approve workload analyses", "analysis"),
        ],
    ),
    (
        "HR-ANALYST",
        "Analis SDM",
        "HR",
        "HR-HEAD",
        1,
        "Analyses workload and staffing needs.",
        [
            ("Compute workload analyses", "analysis"),
            ("Draft staffing proposals", "proposal"),
        ],
    ),
    (
        "FWD-OPS",
        "Koordinator Operasional",
        "FWD",
        None,
        1,
        "The forwarder's contact for pickups and deliveries.",
        [
            ("Confirm pickup schedule", "pickup"),
            ("Deliver goods to the customer", "delivery"),
        ],
    ),
    (
        "CUST-RCV",
        "Penerima Barang",
        "CUST-A",
        None,
        1,
        "Receives and confirms deliveries at the customer.",
        [("Confirm receipt of goods", "receipt")],
    ),
]
# (username or None, full name, e-mail, employee number, role, party code for partners)
PEOPLE: list[tuple[str | None, str, str, str, str | None, str | None]] = [
    (
        "admin",
        "Dewi Anggraini",
        "dewi@nusantara-makmur.test",
        "NM-0007",
        Role.ADMIN,
        None,
    ),
    (
        "hendra",
        "Hendra Wijaya",
        "hendra@nusantara-makmur.test",
        "NM-0001",
        Role.MEMBER,
        None,
    ),
    (
        "sari",
        "Sari Lestari",
        "sari@nusantara-makmur.test",
        "NM-0012",
        Role.MEMBER,
        None,
    ),
    (None, "Andi Pratama", "andi@nusantara-makmur.test", "NM-0031", None, None),
    ("agus", "Agus Salim", "agus@nusantara-makmur.test", "NM-0015", Role.MEMBER, None),
    ("rina", "Rina Kusuma", "rina@nusantara-makmur.test", "NM-0021", Role.MEMBER, None),
    (
        "yusuf",
        "Yusuf Hidayat",
        "yusuf@nusantara-makmur.test",
        "NM-0044",
        Role.MEMBER,
        None,
    ),
    (None, "Maya Sari", "maya@nusantara-makmur.test", "NM-0045", None, None),
    (
        "dimas",
        "Dimas Saputra",
        "dimas@nusantara-makmur.test",
        "NM-0046",
        Role.MEMBER,
        None,
    ),
    (
        "budi",
        "Budi Santoso",
        "budi@nusantara-makmur.test",
        "NM-0027",
        Role.MEMBER,
        None,
    ),
    (None, "Eko Prasetyo", "eko@nusantara-makmur.test", "NM-0052", None, None),
    (None, "Wati Handayani", "wati@nusantara-makmur.test", "NM-0053", None, None),
    (
        "fajar",
        "Fajar Nugroho",
        "fajar@nusantara-makmur.test",
        "NM-0033",
        Role.MEMBER,
        None,
    ),
    (
        "auditor",
        "Ratna Puspita",
        "ratna@nusantara-makmur.test",
        "NM-0090",
        Role.AUDITOR,
        None,
    ),
    ("joko", "Joko Susilo", "joko@ekspedisi-cepat.test", "", Role.PARTNER, "FWD"),
    ("lina", "Lina Marlina", "lina@sumber-rezeki.test", "", Role.PARTNER, "CUST-A"),
]
# (full name, position code, acting)
HOLDINGS = [
    ("Hendra Wijaya", "DIR-UT", False),
    ("Sari Lestari", "MKT-HEAD", False),
    ("Andi Pratama", "MKT-STAFF", False),
    ("Agus Salim", "PRD-HEAD", False),
    ("Rina Kusuma", "EXP-HEAD", False),
    ("Yusuf Hidayat", "EXP-DOC", False),
    ("Maya Sari", "EXP-DOC", False),
    ("Dimas Saputra", "EXP-ADM", False),
    ("Budi Santoso", "WH-COORD", False),
    ("Budi Santoso", "WH-HEAD", True),  # acting head of warehouse (Plt)
    ("Eko Prasetyo", "WH-PACKER", False),
    ("Wati Handayani", "WH-PACKER", False),
    ("Dewi Anggraini", "HR-HEAD", False),
    ("Fajar Nugroho", "HR-ANALYST", False),
    ("Joko Susilo", "FWD-OPS", False),
    ("Lina Marlina", "CUST-RCV", False),
]
LOGIN_NOTES = {
    "admin": "organisation administrator (Kepala SDM)",
    "hendra": (
        "member: Direktur Utama, top of the superior line; on official travel this "
        "week, approvals delegated to sari"
    ),
    "sari": "member: Kepala Pemasaran; decides approvals a.n. hendra this week",
    "agus": "member: Kepala Produksi",
    "rina": (
        "member: Kepala Ekspor, owner of the shipment and export-document "
        "procedures and of the approval route; validates her unit's workload "
        "entries; assigned export documents to dimas by hand"
    ),
    "yusuf": (
        "member: Staf Dokumen Ekspor; his workload entries wait for rina's "
        "validation; one briefing to acknowledge"
    ),
    "dimas": (
        "member: Pengadministrasi Ekspor (workload validated: underloaded); five "
        "export-document tasks given to him by hand"
    ),
    "budi": "member: Koordinator Pengiriman and acting (Plt) Kepala Gudang",
    "fajar": ("member: Analis SDM, the workload analyst of the Export unit's analysis"),
    "auditor": "auditor: reads everything, changes nothing",
    "joko": "external partner: PT Ekspedisi Cepat (forwarder)",
    "lina": "external partner: customer in Kota A",
}


def demo_exists() -> bool:
    return Organisation.objects.filter(slug=DEMO_SLUG).exists()


def logins() -> list[DemoLogin]:
    return [
        DemoLogin(username, role or "", LOGIN_NOTES.get(username, ""))
        for username, _name, _email, _number, role, _party in PEOPLE
        if username
    ]


@transaction.atomic
def load(*, today: dt.date | None = None) -> Organisation:
    """Create the demo organisation (call only when it does not exist)."""
    today = today or dt.date.today()
    start = today.replace(month=1, day=1) - dt.timedelta(days=365)
    users: dict[str, User] = {}
    for username, full_name, email, _number, _role, _party in PEOPLE:
        if username:
            user = User.objects.filter(username=username).first() or create_user(
                username=username,
                email=email,
                password=DEMO_PASSWORD,
                full_name=full_name,
                language="id" if username in {"budi", "joko", "yusuf"} else "en",
            )
            users[username] = user
    admin = users["admin"]
    organisation = org.create_organisation(
        "PT Nusantara Makmur", slug=DEMO_SLUG, actor=admin, time_zone="Asia/Jakarta"
    )
    parties: dict[str, Party] = {}
    for code, name, parent_code, description in UNITS:
        parties[code] = org.create_party(
            organisation,
            actor=admin,
            kind=PartyKind.INTERNAL_UNIT,
            name=name,
            code=code,
            parent=parties[parent_code] if parent_code else None,
            description=description,
        )
    for code, name, description in PARTNERS:
        parties[code] = org.create_party(
            organisation,
            actor=admin,
            kind=PartyKind.EXTERNAL_PARTNER,
            name=name,
            code=code,
            description=description,
        )
    positions: dict[str, Position] = {}
    for (
        code,
        title,
        party_code,
        superior_code,
        max_holders,
        summary,
        duties,
    ) in POSITIONS:
        position = org.create_position(
            organisation,
            actor=admin,
            party=parties[party_code],
            title=title,
            code=code,
            superior=positions[superior_code] if superior_code else None,
            job_summary=summary,
            max_holders=max_holders,
        )
        positions[code] = position
        for title_, unit in duties:
            org.create_duty(position, actor=admin, title=title_, output_unit=unit)
    heads = {
        "DIR": "DIR-UT",
        "MKT": "MKT-HEAD",
        "PRD": "PRD-HEAD",
        "EXP": "EXP-HEAD",
        "WH": "WH-HEAD",
        "HR": "HR-HEAD",
        "FWD": "FWD-OPS",
        "CUST-A": "CUST-RCV",
    }
    for party_code, position_code in heads.items():
        party = parties[party_code]
        org.update_party(
            party,
            actor=admin,
            expected_version=party.version,
            head_position=positions[position_code],
        )
    people: dict[str, Person] = {}
    for username, full_name, email, number, role, partner_code in PEOPLE:
        people[full_name] = org.create_person(
            organisation,
            actor=admin,
            full_name=full_name,
            email=email,
            employee_number=number,
            party=parties[partner_code] if partner_code else None,
            user=users.get(username) if username else None,
        )
        if username and username != "admin" and role:
            membership.add_member(
                organisation,
                actor=admin,
                user=users[username],
                role=role,
                party=parties[partner_code] if partner_code else None,
            )
    for full_name, position_code, acting in HOLDINGS:
        org.assign_holder(
            positions[position_code],
            actor=admin,
            person=people[full_name],
            start_date=today - dt.timedelta(days=ACTING_DAYS) if acting else start,
            is_acting=acting,
        )
    # a past holder, so position pages show history
    former = org.create_person(
        organisation,
        actor=admin,
        full_name="Bambang Sutrisno",
        email="bambang@nusantara-makmur.test",
        employee_number="NM-0005",
    )
    org.assign_holder(
        positions["WH-HEAD"],
        actor=admin,
        person=former,
        start_date=start,
        end_date=today - dt.timedelta(days=ACTING_DAYS + 1),
    )
    org.deactivate_person(former, actor=admin, expected_version=former.version)
    now = timezone.now()
    with _no_emails_about_the_past(organisation, list(users.values())):
        shipments = load_chains(
            organisation, users=users, positions=positions, parties=parties, now=now
        )
        load_coordination(
            organisation,
            shipments=shipments,
            users=users,
            positions=positions,
            people=people,
            now=now,
        )
        load_workload(
            organisation,
            users=users,
            parties=parties,
            positions=positions,
            now=now,
        )
        load_roles(
            organisation,
            users=users,
            positions=positions,
            people=people,
            now=now,
        )
        load_anticipation(
            organisation,
            shipments=shipments,
            users=users,
            parties=parties,
            people=people,
            now=now,
        )
        load_insight(
            organisation,
            shipments=shipments,
            users=users,
            parties=parties,
            positions=positions,
            people=people,
            now=now,
        )
    return organisation


# --- chains: the shipment procedure and its runs -----------------------------------

SHIPMENT_FIELDS = [
    ("quantity", "Jumlah barang", FieldType.INTEGER, "units"),
    ("destination", "Kota tujuan", FieldType.TEXT, ""),
    ("shipment_value", "Nilai pengiriman", FieldType.DECIMAL, "IDR"),
]
APPROVAL_THRESHOLD = 500_000_000
# (key, name, R position or party code, A position, duration, unit, duty (its title:
#  normally one of R's job description), predecessors, consulted/informed)
SHIPMENT_STEPS: list[
    tuple[str, str, str, str, str, str, str | None, list[str], list[tuple[str, str]]]
] = [
    (
        "set-target",
        "Tetapkan target pengiriman (set the delivery target)",
        "MKT-STAFF",
        "MKT-HEAD",
        "1",
        DurationUnit.WORKING_DAYS,
        "Confirm delivery details with customers",
        [],
        [("I", "EXP-HEAD")],
    ),
    (
        "produce",
        "Produksi barang (produce the goods)",
        "PRD-HEAD",
        "PRD-HEAD",
        "5",
        DurationUnit.WORKING_DAYS,
        "Release finished goods",
        [],
        # the warehouse is asked whether it has room for the batch (the step
        # requires consultation: CONSULTATION_STEPS)
        [("C", "WH-HEAD")],
    ),
    (
        "price-shipping",
        "Hitung biaya pengiriman (price the shipping)",
        "EXP-DOC",
        "EXP-HEAD",
        "1",
        DurationUnit.WORKING_DAYS,
        "Prepare shipping documents",
        [],
        [("C", "WH-HEAD")],
    ),
    (
        "schedule-shipment",
        "Jadwalkan pengiriman di gudang (schedule the shipment)",
        "WH-COORD",
        "WH-HEAD",
        "1",
        DurationUnit.WORKING_DAYS,
        # A duty of the Kepala Gudang's job description, not of the Koordinator
        # Pengiriman's: the role checks warn (duty_not_covered). Budi holds both
        # positions (the head as Plt), so the task still finds its candidate.
        "Schedule outgoing shipments",
        ["produce", "price-shipping"],
        [("I", "EXP-HEAD")],
    ),
    (
        "approve-shipment",
        "Persetujuan manajer ekspor (export manager approval)",
        "EXP-HEAD",
        "EXP-HEAD",
        "4",
        DurationUnit.WORKING_HOURS,
        "Approve shipments above the value limit",
        ["schedule-shipment"],
        [],
    ),
    (
        "forwarder-pickup",
        "Penjemputan oleh forwarder (forwarder pickup)",
        "FWD",
        "WH-HEAD",
        "1",
        DurationUnit.WORKING_DAYS,
        None,
        ["schedule-shipment", "approve-shipment"],
        [("I", "EXP-HEAD")],
    ),
    (
        "confirm-delivery",
        "Konfirmasi penerimaan pelanggan (delivery confirmation)",
        "CUST-A",
        "MKT-HEAD",
        "2",
        DurationUnit.WORKING_DAYS,
        None,
        ["forwarder-pickup"],
        [("I", "EXP-HEAD"), ("I", "WH-HEAD")],
    ),
]
# Steps whose consulted positions must answer before the task completes.
CONSULTATION_STEPS = {"produce"}
# The shipment procedure was published before the four months of history
# (rantai.demo.history) began.
PUBLISHED_DAYS_AGO = 130


@dataclass(frozen=True)
class Shipments:
    """What `load_chains` made: the published shipment procedure and its runs."""

    version: ProcedureVersion
    finished: Run
    in_progress: Run


def load_chains(
    organisation: Organisation,
    *,
    users: dict[str, User],
    positions: dict[str, Position],
    parties: dict[str, Party],
    now: dt.datetime | None = None,
) -> Shipments:
    """The shipment procedure (Pengiriman Produk), one run in progress and one
    finished run that missed its target by two days.

    The export manager's approval step applies to shipments above the value limit
    (its condition) and requires approval (`requires_approval`): completing it asks
    for approval along the route that `load_coordination` publishes.

    Both runs are driven through the services with a controllable clock (`now`),
    so their tasks carry past times while the audit trail records when the demo
    was loaded.
    """
    now = now or timezone.now()
    rina, admin = users["rina"], users["admin"]
    for year in sorted({now.year - 1, now.year, now.year + 1}):
        chains.load_public_holidays(organisation, actor=admin, year=year)
    procedure = chains.create_procedure(
        organisation,
        actor=rina,
        code="SHIP",
        name="Pengiriman Produk (shipment to a customer city)",
        owner_position=positions["EXP-HEAD"],
        description=(
            "From the delivery target to the customer's confirmation: marketing, "
            "production, export, the warehouse, the forwarder and the customer."
        ),
    )
    version = procedure.versions.get()
    for key, label, field_type, unit in SHIPMENT_FIELDS:
        chains.add_run_field(
            version,
            actor=rina,
            key=key,
            label=label,
            field_type=field_type,
            unit=unit,
        )
    steps = {}
    for (
        key,
        name,
        responsible,
        accountable,
        duration,
        unit,
        duty_title,
        _after,
        others,
    ) in SHIPMENT_STEPS:
        condition: dict[str, Any] = {}
        if key == "approve-shipment":
            condition = {
                "condition_field": "shipment_value",
                "condition_operator": ConditionOperator.GT,
                "condition_value": str(APPROVAL_THRESHOLD),
                "requires_approval": True,
            }
        # duty titles are unique in the demo's job descriptions
        duty = (
            Duty.objects.get(organisation=organisation, title=duty_title)
            if duty_title
            else None
        )
        step = chains.add_step(
            version,
            actor=rina,
            key=key,
            name=name,
            duration_value=duration,
            duration_unit=unit,
            duty=duty,
            evidence_description=EVIDENCE.get(key, ""),
            requires_consultation=key in CONSULTATION_STEPS,
            **condition,
        )
        steps[key] = step
        if responsible in parties:
            chains.add_step_role(
                step, actor=rina, role=RaciRole.RESPONSIBLE, party=parties[responsible]
            )
        else:
            chains.add_step_role(
                step,
                actor=rina,
                role=RaciRole.RESPONSIBLE,
                position=positions[responsible],
            )
        chains.add_step_role(
            step,
            actor=rina,
            role=RaciRole.ACCOUNTABLE,
            position=positions[accountable],
        )
        for role, code in others:
            chains.add_step_role(step, actor=rina, role=role, position=positions[code])
    for key, *_rest, after, _others in SHIPMENT_STEPS:
        for predecessor in after:
            chains.add_dependency(
                version,
                actor=rina,
                predecessor=steps[predecessor],
                successor=steps[key],
            )
    chains.publish(
        version,
        actor=rina,
        expected_version=None,
        now=now - dt.timedelta(days=PUBLISHED_DAYS_AGO),
    )
    version.refresh_from_db()
    # Publishing briefed everyone with a role in it; they read their briefings at
    # once (so no reminder is due when the runs below fire the timers).
    _acknowledge_briefings(organisation, now=now)
    finished = _finished_run(organisation, version, users=users, now=now)
    in_progress = _run_in_progress(organisation, version, users=users, now=now)
    return Shipments(version=version, finished=finished, in_progress=in_progress)


EVIDENCE = {
    "set-target": "The customer's order with quantity and delivery date.",
    "produce": "Production release note of the batch.",
    "price-shipping": "Forwarder quotation.",
    "schedule-shipment": "Loading schedule.",
    "forwarder-pickup": "Signed pickup note (surat jalan).",
    "confirm-delivery": "Customer's signed receipt.",
}


def _act(run: Run, key: str, action: str, user: User, moment: dt.datetime) -> None:
    task = Task.objects.get(run=run, key=key)
    if action == "start":
        chains.start_task(task, actor=user, expected_version=task.version, now=moment)
    else:
        chains.complete_task(
            task, actor=user, expected_version=task.version, now=moment
        )


def _answer(run: Run, key: str, user: User, moment: dt.datetime, answer: str) -> None:
    """The consulted `user` answers the open consultation of the run's task `key`
    (and has read the bell that asked for it)."""
    consultation = Consultation.objects.get(
        task__run=run, task__key=key, status=ConsultationStatus.REQUESTED
    )
    asked = Notification.objects.filter(
        recipient=user,
        event_type=events.CONSULTATION_REQUESTED,
        key=f"consultation:{consultation.pk}:requested",
        read_at__isnull=True,
    ).first()
    if asked is not None:
        notifications.mark_read(asked, actor=user, now=moment - dt.timedelta(minutes=5))
    consulting.answer(
        consultation,
        actor=user,
        answer=answer,
        expected_version=consultation.version,
        now=moment,
    )


def _finished_run(
    organisation: Organisation,
    version: ProcedureVersion,
    *,
    users: dict[str, User],
    now: dt.datetime,
) -> Run:
    """Ship 200 units to Kota A: production overran by two days, so the customer
    confirmed receipt two days after the due date."""
    cal = calendar_spec(organisation)
    local_day = (
        (now - dt.timedelta(days=28))
        .astimezone(zoneinfo.ZoneInfo(organisation.time_zone))
        .date()
    )
    # a Wednesday, so two days late is still a working day
    due_day = local_day - dt.timedelta(days=(local_day.weekday() - 2) % 7)
    due_at = chains.due_at_for_date(organisation, due_day)
    day = 480
    started = subtract_working_minutes(cal, due_at, 8 * day)
    run = chains.start_run(
        version,
        actor=users["rina"],
        title="Ship 200 units to Kota A",
        objective="Deliver 200 units to PT Sumber Rezeki in Kota A.",
        measure_quantity=200,
        measure_unit="units",
        due_at=due_at,
        field_values={
            "quantity": 200,
            "destination": "Kota A",
            "shipment_value": "300000000",
        },
        now=started,
    )

    def after(minutes: int) -> dt.datetime:
        return add_working_minutes(cal, started, minutes)

    final = due_at + dt.timedelta(days=2)
    _act(run, "produce", "start", users["agus"], after(15))
    _answer(
        run,
        "produce",
        users["budi"],
        after(90),
        "Hall B has room for 200 units from next Monday.",
    )
    _act(run, "set-target", "complete", users["sari"], after(400))
    _act(run, "price-shipping", "complete", users["rina"], after(450))
    _act(run, "produce", "complete", users["agus"], after(7 * day))
    _act(run, "schedule-shipment", "complete", users["budi"], after(7 * day + 420))
    _act(
        run,
        "forwarder-pickup",
        "complete",
        users["joko"],
        min(after(9 * day), final - dt.timedelta(hours=6)),
    )
    _act(run, "confirm-delivery", "complete", users["lina"], final)
    return run


def _run_in_progress(
    organisation: Organisation,
    version: ProcedureVersion,
    *,
    users: dict[str, User],
    now: dt.datetime,
) -> Run:
    """Ship 500 units to Kota A: target set and shipping priced, production under
    way, due in about two weeks."""
    cal = calendar_spec(organisation)
    started = subtract_working_minutes(cal, now, 4 * 480 + 120)
    local_today = now.astimezone(zoneinfo.ZoneInfo(organisation.time_zone)).date()
    run = chains.start_run(
        version,
        actor=users["rina"],
        title="Ship 500 units to Kota A",
        objective="Deliver 500 units to PT Sumber Rezeki in Kota A.",
        measure_quantity=500,
        measure_unit="units",
        due_at=chains.due_at_for_date(
            organisation, local_today + dt.timedelta(days=14)
        ),
        field_values={
            "quantity": 500,
            "destination": "Kota A",
            "shipment_value": "750000000",
        },
        now=started,
    )

    def after(minutes: int) -> dt.datetime:
        return add_working_minutes(cal, started, minutes)

    _act(run, "produce", "start", users["agus"], after(30))
    _act(run, "set-target", "complete", users["sari"], after(300))
    _act(run, "price-shipping", "start", users["rina"], after(480))
    _act(run, "price-shipping", "complete", users["rina"], after(900))
    chains.refresh_schedule(run, now=now)
    return run


# --- coordination: the approval route of high-value shipments ----------------------

ROUTE_CODE = "SHIP-HIGH"
ROUTE_STAGE_HOURS = (8, 16)  # the time limits of its two stages, in working hours
APPROVAL_RUN_TITLE = "Ship 800 units to Kota A"
DEMO_WORKER = "rantai-demo"  # the lease owner of the loader's one round of timers


@contextmanager
def _no_emails_about_the_past(
    organisation: Organisation, logins: list[User]
) -> Iterator[None]:
    """The demo's events are dated in the past: their notifications are in the app
    (the bell), but nobody is e-mailed about them when the demo is loaded. While it
    is built every login's urgent events go to the app only; then back to the
    default, e-mail at once — through the preference service, as if each person had
    switched it off and on again."""
    for user in logins:
        notifications.update_preference(
            organisation, actor=user, urgent=Delivery.IN_APP
        )
    yield
    for user in logins:
        notifications.update_preference(
            organisation, actor=user, urgent=Delivery.IMMEDIATE
        )


def _local_midnight(organisation: Organisation, day: dt.date) -> dt.datetime:
    zone = zoneinfo.ZoneInfo(organisation.time_zone)
    return dt.datetime.combine(day, dt.time(0), tzinfo=zone)


def load_coordination(
    organisation: Organisation,
    *,
    shipments: Shipments,
    users: dict[str, User],
    positions: dict[str, Position],
    people: dict[str, Person],
    now: dt.datetime,
) -> ApprovalRequest:
    """The coordination flow of the demo, all through the services:

    * the route SHIP-HIGH (owned by the export manager): the completion of a
      shipment step that requires approval, in a shipment worth more than the
      value limit, is approved first by the head of the warehouse (8 working hours,
      then escalated), then by the requester's superior — for the export manager,
      the Direktur Utama (16 working hours, then a reminder);
    * the Direktur Utama away on official travel this week, his approvals
      delegated to the Kepala Pemasaran; the Kepala Produksi on leave next week;
    * the run "Ship 800 units to Kota A", whose export approval waits for the
      acting (Plt) head of the warehouse: its first stage passed its time limit and
      was escalated to the director by the real timer service (`fire_due` with a
      clock after the deadline), after the export manager had nudged the
      approvers;
    * a notification of the finished run that missed its target.

    Returns the approval request of the run."""
    cal = calendar_spec(organisation)
    rina, budi = users["rina"], users["budi"]
    today = now.astimezone(zoneinfo.ZoneInfo(organisation.time_zone)).date()

    route = approval_routes.create_route(
        organisation,
        actor=rina,
        code=ROUTE_CODE,
        name="Pengiriman bernilai tinggi (shipments above the value limit)",
        subject_kind=SubjectKind.TASK_COMPLETION,
        owner_position=positions["EXP-HEAD"],
        description=(
            "A shipment worth more than Rp 500,000,000 leaves only once the head of "
            "the warehouse and then the export manager's superior have approved the "
            "export manager's sign-off."
        ),
    )
    draft = RouteVersion.objects.get(route=route, number=1)  # create_route's draft
    approval_routes.add_condition(
        draft,
        actor=rina,
        field="procedure",
        operator=ConditionOperator.EQ,
        value="SHIP",
    )
    approval_routes.add_condition(
        draft,
        actor=rina,
        field="run.shipment_value",
        operator=ConditionOperator.GT,
        value=APPROVAL_THRESHOLD,
    )
    approval_routes.add_stage(
        draft,
        actor=rina,
        name="Kepala Gudang (head of the warehouse)",
        rule=ApproverRule.POSITION,
        position=positions["WH-HEAD"],
        time_limit_hours=ROUTE_STAGE_HOURS[0],
        on_timeout=TimeoutAction.ESCALATE,
    )
    approval_routes.add_stage(
        draft,
        actor=rina,
        name="Atasan Kepala Ekspor (the export manager's superior)",
        rule=ApproverRule.SUPERIOR,
        levels=1,
        time_limit_hours=ROUTE_STAGE_HOURS[1],
        on_timeout=TimeoutAction.REMIND,
    )
    draft.refresh_from_db()
    draft = approval_routes.update_version(
        draft,
        actor=rina,
        expected_version=draft.version,
        # An escalated first stage asks the director, who decides the second stage
        # too: he may sign both.
        allow_repeat_approver=True,
        notes=(
            "When the warehouse stage is escalated it reaches the Direktur Utama, "
            "who also decides the second stage, so one person may fill both."
        ),
    )
    draft.refresh_from_db()
    approval_routes.publish(
        draft,
        actor=rina,
        expected_version=draft.version,
        now=now - dt.timedelta(days=60),
    )

    # The director travels this week; the head of marketing decides for him.
    delegations.record_absence(
        people["Hendra Wijaya"],
        actor=users["hendra"],
        kind=AbsenceKind.TRAVEL,
        starts_at=_local_midnight(organisation, today - dt.timedelta(days=2)),
        ends_at=_local_midnight(organisation, today + dt.timedelta(days=5)),
        delegate=people["Sari Lestari"],
        note="Pameran dagang di Surabaya (trade fair in Surabaya).",
        now=now,
    )
    org.record_absence(
        people["Agus Salim"],
        actor=users["agus"],
        kind=AbsenceKind.LEAVE,
        starts_at=_local_midnight(organisation, today + dt.timedelta(days=7)),
        ends_at=_local_midnight(organisation, today + dt.timedelta(days=10)),
        note="Cuti keluarga (family leave).",
        now=now,
    )

    request = _run_waiting_for_approval(
        organisation, shipments.version, users=users, now=now
    )

    # The finished run announced itself when it completed (approvals/announcements).
    # Budi read that the approval waits for him (and was nudged since).
    opened = Notification.objects.get(
        organisation=organisation,
        recipient=budi,
        event_type=events.APPROVAL_STAGE_OPENED,
    )
    notifications.mark_read(
        opened, actor=budi, now=add_working_minutes(cal, request.submitted_at, 30)
    )
    return request


def _run_waiting_for_approval(
    organisation: Organisation,
    version: ProcedureVersion,
    *,
    users: dict[str, User],
    now: dt.datetime,
) -> ApprovalRequest:
    """Ship 800 units to Kota A, worth Rp 1,200,000,000: produced, priced and
    scheduled; the export manager signed the shipment off, which asked for approval
    along SHIP-HIGH. The acting head of the warehouse has not decided: the export
    manager nudged him, and when the stage's time limit passed an hour of working
    time ago the timer service escalated it to the director (a new time limit runs
    from there)."""
    cal = calendar_spec(organisation)
    day = 480
    escalated_at = subtract_working_minutes(cal, now, 60)
    asked_at = subtract_working_minutes(
        cal, escalated_at, ROUTE_STAGE_HOURS[0] * 60 + 120
    )
    started = subtract_working_minutes(cal, asked_at, 6 * day)
    local_today = now.astimezone(zoneinfo.ZoneInfo(organisation.time_zone)).date()
    run = chains.start_run(
        version,
        actor=users["rina"],
        title=APPROVAL_RUN_TITLE,
        objective="Deliver 800 units to PT Sumber Rezeki in Kota A.",
        measure_quantity=800,
        measure_unit="units",
        due_at=chains.due_at_for_date(organisation, local_today + dt.timedelta(days=7)),
        field_values={
            "quantity": 800,
            "destination": "Kota A",
            "shipment_value": "1200000000",
        },
        now=started,
    )

    def after(minutes: int) -> dt.datetime:
        return add_working_minutes(cal, started, minutes)

    _act(run, "produce", "start", users["agus"], after(30))
    _answer(
        run,
        "produce",
        users["budi"],
        after(120),
        "800 units fit in halls A and B; tell us two days before release.",
    )
    _act(run, "set-target", "complete", users["sari"], after(240))
    _act(run, "price-shipping", "start", users["rina"], after(480))
    _act(run, "price-shipping", "complete", users["rina"], after(720))
    _act(run, "produce", "complete", users["agus"], after(4 * day + 300))
    _act(run, "schedule-shipment", "complete", users["budi"], after(5 * day + 240))
    # The sign-off requires approval: the task waits and the request is submitted.
    _act(run, "approve-shipment", "complete", users["rina"], asked_at)
    task = Task.objects.get(run=run, key="approve-shipment")
    request = ApprovalRequest.objects.select_related("organisation").get(
        subject_kind=SubjectKind.TASK_COMPLETION, subject_id=task.pk
    )
    approvals.nudge(
        request, actor=users["rina"], now=add_working_minutes(cal, asked_at, 240)
    )
    # The worker's rounds, as of a moment after the first stage's deadline. They
    # fire whatever is due by then: on a fresh database the demo's timer alone
    # (elsewhere, timers a running worker would have fired already).
    stage = RequestStage.objects.get(request=request, order=1)
    due = Timer.objects.filter(
        kind=TimerKind.APPROVAL_STAGE,
        subject_id=stage.pk,
        status=TimerStatus.PENDING,
        fire_at__lte=escalated_at,
    )
    while due.exists() and timers.fire_due(
        owner=DEMO_WORKER, now=escalated_at, limit=100
    ):
        pass
    stage.refresh_from_db()
    if stage.escalations != 1:
        raise RuntimeError(
            f"The demo's approval request {request.pk} was not escalated "
            f"(stage 1 due {stage.due_at}, escalated {stage.escalations} times)."
        )
    chains.refresh_schedule(run, now=now)
    request.refresh_from_db()
    return request


# --- workload: the analysis of the Export unit -------------------------------------

WORKLOAD_UNIT = "EXP"
# position code → (duty title, volume, per, standard time, time unit): the figures
# each incumbent (for the vacant position, the analyst) filled in. With the default
# method (Permenpan RB 1/2020: 300 effective minutes a day, 1,500 a week, 6,250 a
# month, 75,000 a year) they give:
# * Kepala Ekspor: 0.60 + 0.12 + 0.90 + 0.1536 + 0.16 = 1.9336 people for one
#   holder, EJ 1.93 (grade A) and an FTE above 1.28: overloaded;
# * Pengadministrasi Ekspor: 0.1667 + 0.096 + 0.06 + 0.0768 = 0.3995 for one
#   holder, EJ 0.40 (grade E) and an FTE below 1.00: underloaded;
# * Analis Kepabeanan (vacant): 0.40 + 0.216 + 0.1152 = 0.7312, one person short;
# * Staf Dokumen Ekspor: 0.80 + 0.20 + 0.3333 + 0.288 = 1.6213 for two holders,
#   EJ 0.81 (grade C).
WORKLOAD_FIGURES: dict[str, list[tuple[str, str, str, str, str]]] = {
    "EXP-HEAD": [
        ("Price shipping costs", "4", "day", "45", "minute"),
        ("Approve shipments above the value limit", "3", "week", "60", "minute"),
        ("Memverifikasi harga pengiriman", "6", "day", "45", "minute"),
        ("Menyusun laporan kinerja ekspor", "1", "month", "16", "hour"),
        ("Memimpin rapat koordinasi ekspor", "2", "week", "2", "hour"),
    ],
    "EXP-DOC": [
        ("Prepare shipping documents", "8", "day", "30", "minute"),
        ("Book forwarder pickup", "6", "day", "10", "minute"),
        ("Mengajukan pemberitahuan ekspor barang (PEB)", "25", "week", "20", "minute"),
        ("Mengarsipkan berkas pengiriman", "120", "month", "15", "minute"),
    ],
    "EXP-CUSTOMS": [
        ("Menyusun dokumen ekspor", "10", "week", "60", "minute"),
        (
            "Memeriksa klasifikasi tarif (kode HS) barang ekspor",
            "30",
            "month",
            "45",
            "minute",
        ),
        (
            "Mendampingi pemeriksaan fisik barang oleh Bea Cukai",
            "4",
            "month",
            "3",
            "hour",
        ),
    ],
    "EXP-ADM": [
        ("Mencatat surat masuk dan keluar", "10", "day", "5", "minute"),
        ("Memperbarui data pelanggan ekspor", "40", "month", "15", "minute"),
        ("Menyiapkan bahan rapat unit", "1", "week", "90", "minute"),
        ("Menyusun rekap pengiriman bulanan", "1", "month", "8", "hour"),
    ],
}


def _fill_sheet(
    sheet: PositionSheet, *, user: User, moment: dt.datetime
) -> PositionSheet:
    """The incumbent (or, for a vacant position, the analyst) fills in every
    entry of the sheet with the figures of WORKLOAD_FIGURES."""
    figures = {
        title: (volume, period, time, unit)
        for title, volume, period, time, unit in WORKLOAD_FIGURES[sheet.position.code]
    }
    for entry in Entry.objects.filter(sheet=sheet).order_by("sort_order", "id"):
        volume, period, time, unit = figures[entry.title]
        workload.set_entry(
            entry,
            actor=user,
            volume=Decimal(volume),
            volume_period=period,
            standard_time=Decimal(time),
            time_unit=unit,
            expected_version=entry.version,
            now=moment,
        )
    sheet.refresh_from_db()
    return sheet


def _submit_sheet(
    sheet: PositionSheet, *, user: User, moment: dt.datetime
) -> ApprovalRequest:
    workload.submit_sheet(sheet, actor=user, expected_version=sheet.version, now=moment)
    return ApprovalRequest.objects.get(
        subject_kind=SubjectKind.WORKLOAD_SHEET, subject_id=sheet.pk
    )


def load_workload(
    organisation: Organisation,
    *,
    users: dict[str, User],
    parties: dict[str, Party],
    positions: dict[str, Position],
    now: dt.datetime,
) -> Analysis:
    """The workload analysis (ABK) of the Export unit for the current year, half
    way, all through the services and dated over the last two weeks:

    * the HR analyst (fajar, Analis SDM) opened it: a sheet for each of the unit's
      four positions, an entry for each duty; the default approval routes were
      made (the superior of a position validates its entries, the analyst's
      superior approves the analysis);
    * the analyst filled in the vacant Analis Kepabeanan and the Pengadministrasi
      Ekspor (dimas) his own; both submitted, and the Kepala Ekspor (rina)
      validated both;
    * rina filled in her own sheet but has not submitted it (a draft);
    * yusuf filled in the sheet of the Staf Dokumen Ekspor yesterday and
      submitted it: it waits for rina's validation;
    * the analyst computed the analysis, so its page shows the results: the
      Kepala Ekspor overloaded (EJ above 1, grade A, FTE overload), the
      Pengadministrasi Ekspor underloaded (grade E, FTE underload)."""
    cal = calendar_spec(organisation)
    day = 480
    fajar, rina = users["fajar"], users["rina"]
    year = now.astimezone(zoneinfo.ZoneInfo(organisation.time_zone)).year
    opened_at = subtract_working_minutes(cal, now, 10 * day)

    def after(minutes: int) -> dt.datetime:
        return add_working_minutes(cal, opened_at, minutes)

    analysis = workload.open_analysis(
        parties[WORKLOAD_UNIT],
        actor=fajar,
        year=year,
        analyst_position=positions["HR-ANALYST"],
        now=opened_at,
    )
    sheets = {
        sheet.position.code: sheet
        for sheet in PositionSheet.objects.filter(analysis=analysis).select_related(
            "position"
        )
    }
    validated = []
    for code, user, offset in [
        ("EXP-CUSTOMS", fajar, 120),  # vacant: the analyst fills it in
        ("EXP-ADM", users["dimas"], day + 60),
    ]:
        sheet = _fill_sheet(sheets[code], user=user, moment=after(offset))
        validated.append(_submit_sheet(sheet, user=user, moment=after(offset + 30)))
    decided_at = after(3 * day + 90)
    for request in validated:
        # rina opens the bell's link, then decides
        notifications.mark_read(
            Notification.objects.get(
                organisation=organisation,
                recipient=rina,
                event_type=events.APPROVAL_STAGE_OPENED,
                key__startswith=f"approval:{request.pk}:",
            ),
            actor=rina,
            now=decided_at - dt.timedelta(minutes=10),
        )
        request.refresh_from_db()
        approvals.decide(
            request,
            actor=rina,
            outcome="approve",
            comment="Sesuai (checked against last year's records).",
            expected_version=request.version,
            now=decided_at,
        )
    _fill_sheet(sheets["EXP-HEAD"], user=rina, moment=after(6 * day + 200))
    yesterday = subtract_working_minutes(cal, now, day)
    sheet = _fill_sheet(sheets["EXP-DOC"], user=users["yusuf"], moment=yesterday)
    _submit_sheet(
        sheet,
        user=users["yusuf"],
        moment=add_working_minutes(cal, yesterday, 20),
    )
    workload.compute(analysis, actor=fajar, now=subtract_working_minutes(cal, now, 120))
    analysis.refresh_from_db()
    return analysis


# --- roles: export documents assigned by hand, briefings -----------------------------

DOCUMENT_STEPS: list[tuple[str, str, str, str, str, list[str]]] = [
    # (key, name, duration, unit, duty of the Staf Dokumen Ekspor, predecessors)
    (
        "prepare-documents",
        "Siapkan dokumen pengiriman (prepare the shipping documents)",
        "1",
        DurationUnit.WORKING_DAYS,
        "Prepare shipping documents",
        [],
    ),
    (
        "file-peb",
        "Ajukan PEB ke Bea Cukai (file the export declaration)",
        "2",
        DurationUnit.WORKING_HOURS,
        "Mengajukan pemberitahuan ekspor barang (PEB)",
        ["prepare-documents"],
    ),
]
# The orders whose documents Rina handed to Dimas by hand, outside the candidates.
DOCUMENT_ORDERS = ["PO-2411", "PO-2412", "PO-2415", "PO-2417", "PO-2418"]
OVERRIDE_REASON = (
    "Yusuf and Maya are on the PEB backlog this week; Dimas has time to spare "
    "(the workload analysis shows him underloaded)."
)
# The one briefing a demo login has not acknowledged: (username, procedure code).
UNACKNOWLEDGED_BRIEFING = ("yusuf", "DOC")


def load_roles(
    organisation: Organisation,
    *,
    users: dict[str, User],
    positions: dict[str, Position],
    people: dict[str, Person],
    now: dt.datetime,
) -> ProcedureVersion:
    """Roles with teeth (docs/user-guide/roles.md), through the services:

    * the procedure DOC (export documents of an order, owned by the export
      manager): the Staf Dokumen Ekspor prepare the documents and file the export
      declaration; published two days ago, which briefed everyone with a role in
      it;
    * five orders' documents started in the last working hours: the policy gave
      each to the least loaded Staf Dokumen Ekspor, then Rina assigned every one
      by hand to Dimas (Pengadministrasi Ekspor) — outside the candidates, so each
      is an override with her reason, and the fairness report flags how her
      picks concentrate on one person;
    * every briefing of a demo login is acknowledged except Yusuf's briefing about
      DOC, which waits on his focus page (people without a login cannot
      acknowledge theirs).

    The shipment procedure's consultation, informed positions and role-check
    warning are part of `load_chains` (SHIPMENT_STEPS). Returns DOC's version."""
    cal = calendar_spec(organisation)
    rina = users["rina"]
    procedure = chains.create_procedure(
        organisation,
        actor=rina,
        code="DOC",
        name="Dokumen ekspor (export documents of an order)",
        owner_position=positions["EXP-HEAD"],
        description=(
            "The shipping documents of a customer order and its export declaration "
            "(PEB), prepared by the export document staff."
        ),
    )
    version = procedure.versions.get()
    steps = {}
    for key, name, duration, unit, duty_title, after in DOCUMENT_STEPS:
        step = chains.add_step(
            version,
            actor=rina,
            key=key,
            name=name,
            duration_value=duration,
            duration_unit=unit,
            duty=Duty.objects.get(organisation=organisation, title=duty_title),
        )
        steps[key] = step
        chains.add_step_role(
            step,
            actor=rina,
            role=RaciRole.RESPONSIBLE,
            position=positions["EXP-DOC"],
        )
        chains.add_step_role(
            step,
            actor=rina,
            role=RaciRole.ACCOUNTABLE,
            position=positions["EXP-HEAD"],
        )
        for predecessor in after:
            chains.add_dependency(
                version, actor=rina, predecessor=steps[predecessor], successor=step
            )
    chains.publish(
        version, actor=rina, expected_version=None, now=now - dt.timedelta(days=2)
    )
    version.refresh_from_db()
    _acknowledge_briefings(organisation, now=now)

    local_today = now.astimezone(zoneinfo.ZoneInfo(organisation.time_zone)).date()
    dimas = people["Dimas Saputra"]
    for index, order in enumerate(DOCUMENT_ORDERS):
        started = subtract_working_minutes(
            cal, now, (len(DOCUMENT_ORDERS) - index) * 45
        )
        run = chains.start_run(
            version,
            actor=rina,
            title=f"Dokumen ekspor {order}",
            objective=f"The shipping documents and the PEB of order {order}.",
            measure_quantity=1,
            measure_unit="document set",
            due_at=chains.due_at_for_date(
                organisation, local_today + dt.timedelta(days=7)
            ),
            now=started,
        )
        task = Task.objects.get(run=run, key="prepare-documents")
        assigning.assign_task(
            task,
            actor=rina,
            person=dimas,
            reason=OVERRIDE_REASON,
            expected_version=task.version,
            now=started + dt.timedelta(minutes=10),
        )
    return version


def _acknowledge_briefings(organisation: Organisation, *, now: dt.datetime) -> None:
    """Every person with a login reads and acknowledges their briefings within a
    working hour and a half of receiving them (not after `now`) — except
    UNACKNOWLEDGED_BRIEFING."""
    cal = calendar_spec(organisation)
    username, procedure_code = UNACKNOWLEDGED_BRIEFING
    waiting = (
        Briefing.objects.filter(
            organisation=organisation,
            acknowledged_at__isnull=True,
            person__user__isnull=False,
        )
        .select_related("person__user", "procedure_version__procedure")
        .order_by("issued_at", "id")
    )
    for briefing in waiting:
        user = briefing.person.user
        if user is None:  # filtered out above; for the type checker
            continue
        version = briefing.procedure_version
        if (
            user.username == username
            and version is not None
            and version.procedure.code == procedure_code
        ):
            continue
        moment = min(add_working_minutes(cal, briefing.issued_at, 90), now)
        # they followed the bell's link
        bell = Notification.objects.filter(
            recipient=user,
            key=f"briefing:{briefing.pk}:issued",
            read_at__isnull=True,
        ).first()
        if bell is not None:
            notifications.mark_read(bell, actor=user, now=moment)
        briefings.acknowledge(
            briefing, actor=user, expected_version=briefing.version, now=moment
        )


# --- anticipation: evidence, an obstacle, a review, early warnings -------------------

PHONE_RECORD_TITLE = "Forwarder's truck for the Kota A pickup is delayed"
OBSTACLE_TITLE = "Forwarder's truck delayed"
NOTICE_NAME = "ekspedisi-cepat-notice.pdf"
NOTICE_LINES = [
    "PT Ekspedisi Cepat",
    "Operations - written notice to PT Nusantara Makmur",
    "",
    "Subject: pickup of 500 units for Kota A",
    "",
    "The truck assigned to this pickup is held for repairs at our depot.",
    "A replacement truck will collect the goods later than planned;",
    "we will confirm the new pickup time by phone and in writing.",
    "",
    "Operations coordinator, PT Ekspedisi Cepat",
]
MITIGATION = (
    "Book a second truck from another forwarder as a fallback for the Kota A "
    "pickup, to be released if PT Ekspedisi Cepat's replacement truck is confirmed."
)
REVIEW_SUMMARY = (
    "The shipment of 200 units to Kota A reached the customer two days after the "
    "due date. Production took seven working days instead of the five the "
    "procedure plans, and the steps after it had no room left to recover: the "
    "loading was planned and the forwarder booked only once production had "
    "completed."
)
REVIEW_LEARNED = (
    "The production estimate does not fit larger batches, and the warehouse and "
    "the forwarder hear about a batch too late to prepare. Telling them when "
    "production expects to release a batch gives back most of the lost time."
)
# (area, description, task key, next task key, party code)
REVIEW_FACTORS: list[tuple[str, str, str | None, str | None, str | None]] = [
    (
        FactorArea.STEP,
        "The production step is planned at five working days, but a batch of 200 "
        "units with its quality inspection took seven. The estimate does not "
        "include inspection time for larger batches.",
        "produce",
        None,
        None,
    ),
    (
        FactorArea.HANDOVER,
        "The warehouse learned that the goods were ready only when the production "
        "task was completed, so the loading could not be planned in advance and "
        "scheduling took most of another working day.",
        "produce",
        "schedule-shipment",
        None,
    ),
    (
        FactorArea.PARTY,
        "The forwarder needs a working day's notice to send a truck; the pickup "
        "could only be booked once the shipment was scheduled, which left no "
        "room to recover the time lost in production.",
        None,
        None,
        "FWD",
    ),
    (
        FactorArea.OUTSIDE,
        "Heavy rain on the road to Kota A slowed the last part of the delivery.",
        None,
        None,
        None,
    ),
]
# (description, owner's full name, due in days, proposed change to this step's key
#  ("" for the procedure as a whole, None for no proposal))
REVIEW_ACTIONS: list[tuple[str, str, int, str | None]] = [
    (
        "Plan the production step at seven working days for batches above 150 "
        "units, with the quality inspection as part of the estimate.",
        "Agus Salim",
        14,
        "produce",
    ),
    (
        "Tell the warehouse two working days before a batch is expected to be "
        "released, so the loading can be planned in advance.",
        "Budi Santoso",
        10,
        None,
    ),
    (
        "Confirm a truck for the next working day whenever the warehouse "
        "announces a shipment.",
        "Joko Susilo",
        10,
        None,
    ),
]


def _notice_pdf() -> bytes:
    """The forwarder's written notice: a one-page PDF, byte for byte the same each
    time (reportlab's invariant mode leaves out the creation date and the random
    document id), so its checksum is too."""
    import io

    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen.canvas import Canvas

    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, invariant=1)
    canvas.setTitle("Written notice: pickup for Kota A delayed")
    canvas.setAuthor("PT Ekspedisi Cepat")
    text = canvas.beginText(72, A4[1] - 96)
    text.setFont("Helvetica", 11)
    for line in NOTICE_LINES:
        text.textLine(line)
    canvas.drawText(text)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _delay_leaving_little_slack(
    run: Run, task: Task, *, organisation: Organisation, now: dt.datetime
) -> int:
    """The expected delay in whole working days that leaves the run less than a
    working day of slack before its due date (one day at least): computed from
    the run's slack as it stands, so that the obstacle puts the target at risk
    whatever day the demo is loaded."""
    assert run.due_at is not None
    cal = calendar_spec(organisation)
    day = minutes_per_working_day(cal)
    before = impact.what_if(run, task=task, delay_minutes=0, now=now)
    slack = working_minutes_between(cal, before.finish_before, run.due_at)
    return max(1, slack // day) * day


def load_anticipation(
    organisation: Organisation,
    *,
    shipments: Shipments,
    users: dict[str, User],
    parties: dict[str, Party],
    people: dict[str, Person],
    now: dt.datetime,
) -> Obstacle:
    """Data over hearsay and anticipation, through the services and dated over
    the last working hours (docs/user-guide/evidence.md, obstacles.md):

    * in the Kota A run under way (Ship 500 units), the acting head of the
      warehouse (budi) recorded what the forwarder's dispatcher said by phone —
      the truck for the pickup is delayed (a person's word, unverified) — and
      raised an obstacle on the forwarder's pickup citing it, with an expected
      delay computed from the run's slack so that the target is now at risk;
      he planned a mitigation (a second truck, owned by the export document
      staff, due the next working day). The forwarder (joko) then uploaded its
      written notice (a PDF) to the record and the export manager (rina)
      verified it. The obstacle stays open;
    * the Kepala Produksi recorded a measured value on the production task (the
      units finished so far), not checked by anyone yet;
    * the finished run that missed its target (Ship 200 units) had its review
      opened when it completed; the export manager wrote it — what happened,
      contributing factors in a step, a handover, a party and outside
      conditions, action items with owners (one a proposed change to the
      production step) — and completed it, without naming anyone;
    * the worker's early-warning scan ran once, so focus pages show warnings.

    Returns the obstacle."""
    cal = calendar_spec(organisation)
    budi, rina, joko, agus = users["budi"], users["rina"], users["joko"], users["agus"]
    run = shipments.in_progress
    pickup = Task.objects.get(run=run, key="forwarder-pickup")

    # The dispatcher's call, five working hours ago.
    called_at = subtract_working_minutes(cal, now, 300)
    phone = evidence.record_information(
        organisation,
        actor=budi,
        title=PHONE_RECORD_TITLE,
        statement=(
            "The dispatcher of PT Ekspedisi Cepat called: the truck planned for "
            "the pickup of the 500 units is held for repairs at their depot. A "
            "replacement truck will come later than planned; they will confirm "
            "the new pickup time."
        ),
        kind=RecordKind.CLAIM,
        source_kind=SourceKind.PERSON,
        source_detail="The dispatcher of PT Ekspedisi Cepat, by phone",
        source_party=parties["FWD"],
        run=run,
        task=pickup,
        observed_at=called_at,
        now=add_working_minutes(cal, called_at, 10),
    )
    raised_at = add_working_minutes(cal, called_at, 20)
    obstacle = obstacles.raise_obstacle(
        run,
        actor=budi,
        title=OBSTACLE_TITLE,
        description=(
            "PT Ekspedisi Cepat's truck for the Kota A pickup is held for repairs; "
            "their replacement truck comes later than planned. Everything after "
            "the pickup moves with it."
        ),
        expected_delay_minutes=_delay_leaving_little_slack(
            run, pickup, organisation=organisation, now=raised_at
        ),
        severity=Severity.HIGH,
        cause=Cause.TRANSPORT,
        task=pickup,
        records=[phone],
        now=raised_at,
    )
    obstacles.add_mitigation(
        obstacle,
        actor=budi,
        description=MITIGATION,
        owner=people["Yusuf Hidayat"],
        due_at=add_working_minutes(cal, now, 480),
        now=add_working_minutes(cal, raised_at, 15),
    )
    # The forwarder's written notice arrives, and someone other than the author
    # checks the record against it.
    evidence.add_evidence(
        phone,
        actor=joko,
        items=[
            NewFile(
                upload=ContentFile(_notice_pdf()),
                name=NOTICE_NAME,
                label="Written notice from PT Ekspedisi Cepat",
            )
        ],
        now=add_working_minutes(cal, called_at, 150),
    )
    phone.refresh_from_db()
    verify(
        phone,
        actor=rina,
        verdict=Verdict.VERIFIED,
        note=(
            "Checked against the written notice from PT Ekspedisi Cepat: the "
            "truck is held for repairs and a replacement truck will come later."
        ),
        expected_version=phone.version,
        now=add_working_minutes(cal, called_at, 200),
    )
    # Production counts what is finished so far (nobody has checked it yet).
    evidence.record_information(
        organisation,
        actor=agus,
        title="Units of the Kota A batch finished so far",
        statement=(
            "320 of the 500 units passed the quality inspection by the end of the "
            "morning shift."
        ),
        kind=RecordKind.MEASUREMENT,
        source_kind=SourceKind.OBSERVATION,
        source_detail="Count at the end of the morning shift, production line 2",
        run=run,
        task=Task.objects.get(run=run, key="produce"),
        observed_at=subtract_working_minutes(cal, now, 90),
        items=[
            NewValue(
                quantity=Decimal("320"),
                unit="units",
                label="Units passed inspection",
            )
        ],
        now=subtract_working_minutes(cal, now, 80),
    )
    chains.refresh_schedule(run, now=now)

    _complete_review(
        organisation,
        shipments=shipments,
        users=users,
        parties=parties,
        people=people,
        now=now,
    )
    # The worker's scan, as it would run every ten minutes.
    warnings.scan(now=now, organisation_ids=[organisation.pk])
    obstacle.refresh_from_db()
    return obstacle


def _complete_review(
    organisation: Organisation,
    *,
    shipments: Shipments,
    users: dict[str, User],
    parties: dict[str, Party],
    people: dict[str, Person],
    now: dt.datetime,
) -> Review:
    """The export manager writes and completes the review of the finished run that
    the run-completed handler opened, over the working days after it."""
    cal = calendar_spec(organisation)
    run = shipments.finished
    review = Review.objects.get(run=run, trigger=ReviewTrigger.MISSED_TARGET)
    rina = users["rina"]
    tasks = {task.key: task for task in Task.objects.filter(run=run)}
    steps = {step.key: step for step in shipments.version.steps.all()}
    local_today = now.astimezone(zoneinfo.ZoneInfo(organisation.time_zone)).date()
    review = reviews.update_review(
        review,
        actor=rina,
        expected_version=review.version,
        summary=REVIEW_SUMMARY,
        learned=REVIEW_LEARNED,
    )
    written_at = add_working_minutes(cal, review.opened_at, 480)
    for index, (area, description, task_key, next_key, party_code) in enumerate(
        REVIEW_FACTORS
    ):
        reviews.add_factor(
            review,
            actor=rina,
            area=area,
            description=description,
            task=tasks[task_key] if task_key else None,
            next_task=tasks[next_key] if next_key else None,
            party=parties[party_code] if party_code else None,
            now=add_working_minutes(cal, written_at, 10 * index),
        )
    for index, (description, owner, due_in, proposal) in enumerate(REVIEW_ACTIONS):
        reviews.add_action(
            review,
            actor=rina,
            description=description,
            owner=people[owner],
            due_on=local_today + dt.timedelta(days=due_in),
            proposes_change=proposal is not None,
            step=steps[proposal] if proposal else None,
            now=add_working_minutes(cal, written_at, 60 + 10 * index),
        )
    review.refresh_from_db()
    return reviews.complete_review(
        review,
        actor=rina,
        expected_version=review.version,
        now=add_working_minutes(cal, written_at, 120),
    )


# --- insight: four months of history, the quarter's targets ------------------------

TARGET_NAME = "Shipments to Kota A — {period}"
CHILD_TARGET_NAME = "Large shipments to Kota A — {period}"
LARGE_SHIPMENT = 500  # units: the export unit's own share of the target


@dataclass(frozen=True)
class Insight:
    """What `load_insight` made: the history and the targets of the quarter."""

    history: History
    target: Target
    child: Target


def _quarter(day: dt.date) -> tuple[dt.date, dt.date]:
    first_month = (day.month - 1) // 3 * 3 + 1
    start = dt.date(day.year, first_month, 1)
    following = dt.date(
        day.year + (first_month + 3 > 12), (first_month + 2) % 12 + 1, 1
    )
    return start, following - dt.timedelta(days=1)


def _quarter_label(day: dt.date) -> str:
    return f"Q{(day.month - 1) // 3 + 1} {day.year}"


def target_period(
    organisation: Organisation, kota_a: Run, *, now: dt.datetime
) -> tuple[dt.date, dt.date, str]:
    """The quarter of the load date (Asia/Jakarta), and its label. When the Kota A
    run under way is due after the quarter's end (the demo loaded in the last
    weeks of a quarter), the period runs on to the end of the next quarter, so
    that the run still counts toward it."""
    assert kota_a.due_at is not None
    zone = zoneinfo.ZoneInfo(organisation.time_zone)
    today = now.astimezone(zone).date()
    start, end = _quarter(today)
    label = _quarter_label(today)
    due_day = kota_a.due_at.astimezone(zone).date()
    if due_day > end:
        end = _quarter(due_day)[1]
        label = f"{label} – {_quarter_label(due_day)}"
    return start, end, label


def _target_quantity(
    organisation: Organisation,
    runs: list[Run],
    *,
    start: dt.date,
    end: dt.date,
) -> int:
    """What the runs can deliver in the period when every run under way finishes
    as projected — the completed runs' actual quantities within it and the
    planned quantities of the runs under way projected to finish by its end —
    rounded down to a hundred."""
    zone = zoneinfo.ZoneInfo(organisation.time_zone)
    total = Decimal(0)
    for run in runs:
        if run.completed_at is not None:
            if start <= run.completed_at.astimezone(zone).date() <= end:
                total += run.actual_quantity or 0
            continue
        finish = run.projected_finish_at or run.due_at
        if finish is not None and finish.astimezone(zone).date() <= end:
            total += run.measure_quantity
    return int(total) // 100 * 100


def load_insight(
    organisation: Organisation,
    *,
    shipments: Shipments,
    users: dict[str, User],
    parties: dict[str, Party],
    positions: dict[str, Position],
    people: dict[str, Person],
    now: dt.datetime,
) -> Insight:
    """The owner's dashboard and the targets (docs/user-guide/dashboard.md,
    targets.md), through the services:

    * four months of finished shipments (`rantai.demo.history`): some slow
      batches and handovers, a few late runs with their completed reviews, a few
      obstacles with their causes, raised and resolved;
    * the organisation's target for the quarter, "Shipments to Kota A — Q…",
      set by the Kepala Pemasaran and owned by her position: every shipment
      finished in the quarter contributes, and so does, through the export
      unit's own target of the large shipments (500 units or more, set by the
      Ekspor unit, owned by the Kepala Ekspor), each large shipment under way.
      Its quantity is what the runs deliver when every run under way finishes
      as projected, rounded down to a hundred: so the target is at risk,
      because the Kota A run (500 units) is at risk by its open obstacle, and
      cannot be met without it — whatever day the demo is loaded."""
    from rantai.chains import targets

    history = load_history(
        organisation,
        shipments.version,
        users=users,
        people=people,
        parties=parties,
        now=now,
    )
    sari, rina = users["sari"], users["rina"]
    kota_a = Run.objects.get(pk=shipments.in_progress.pk)
    start, end, label = target_period(organisation, kota_a, now=now)
    zone = zoneinfo.ZoneInfo(organisation.time_zone)
    in_period = [
        run
        for run in Run.objects.filter(
            organisation=organisation,
            procedure=shipments.version.procedure,
            completed_at__isnull=False,
        ).order_by("completed_at", "id")
        if start <= run.completed_at.astimezone(zone).date() <= end  # type: ignore[union-attr]
    ]
    large = list(
        Run.objects.filter(
            organisation=organisation,
            procedure=shipments.version.procedure,
            status=RunStatus.ACTIVE,
            measure_quantity__gte=LARGE_SHIPMENT,
        ).order_by("started_at", "id")
    )
    created_at = min(
        _local_midnight(organisation, start) + dt.timedelta(hours=9),
        now - dt.timedelta(hours=1),
    )
    target = targets.create_target(
        organisation,
        actor=sari,
        name=TARGET_NAME.format(period=label),
        description=(
            "Units delivered to PT Sumber Rezeki in Kota A and confirmed by the "
            "customer within the period, as agreed in the sales contract."
        ),
        measure_quantity=_target_quantity(
            organisation, in_period + large, start=start, end=end
        ),
        measure_unit="units",
        period_start=start,
        period_end=end,
        owner_position=positions["MKT-HEAD"],
        now=created_at,
    )
    child = targets.create_target(
        organisation,
        actor=rina,
        name=CHILD_TARGET_NAME.format(period=label),
        description=(
            "The export unit's share: the shipments of 500 units or more, which "
            "need the approval of shipments above the value limit."
        ),
        measure_quantity=sum(int(run.measure_quantity) for run in large),
        measure_unit="units",
        period_start=start,
        period_end=end,
        owner_position=positions["EXP-HEAD"],
        parent=target,
        party=parties["EXP"],
        now=created_at + dt.timedelta(minutes=30),
    )
    for run, toward in [(run, target) for run in in_period] + [
        (run, child) for run in large
    ]:
        run.refresh_from_db()
        targets.set_run_target(
            run, actor=rina, expected_version=run.version, target=toward, now=now
        )
    return Insight(history=history, target=target, child=child)

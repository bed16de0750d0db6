"""The demo organisation PT Nusantara Makmur, built through the same services as
everything else, so it obeys every rule and writes a verifiable audit trail."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction

from rantai.accounts.models import Organisation, Role, User
from rantai.accounts.services import create_user
from rantai.org import membership
from rantai.org import services as org
from rantai.org.models import Party, PartyKind, Person, Position

DEMO_SLUG = "nusantara-makmur"
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
PEOPLE = [
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
    (None, "Yusuf Hidayat", "yusuf@nusantara-makmur.test", "NM-0044", None, None),
    (None, "Maya Sari", "maya@nusantara-makmur.test", "NM-0045", None, None),
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
    "hendra": "member: Direktur Utama, top of the superior line",
    "sari": "member: Kepala Pemasaran",
    "agus": "member: Kepala Produksi",
    "rina": "member: Kepala Ekspor, owner of the shipment procedure",
    "budi": "member: Koordinator Pengiriman and acting (Plt) Kepala Gudang",
    "fajar": "member: Analis SDM (workload analyst)",
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
                language="id" if username in {"budi", "joko"} else "en",
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
    for username, full_name, email, number, role, party_code in PEOPLE:
        people[full_name] = org.create_person(
            organisation,
            actor=admin,
            full_name=full_name,
            email=email,
            employee_number=number,
            party=parties[party_code] if party_code else None,
            user=users.get(username) if username else None,
        )
        if username and username != "admin":
            membership.add_member(
                organisation,
                actor=admin,
                user=users[username],
                role=role,
                party=parties[party_code] if party_code else None,
            )
    for full_name, position_code, acting in HOLDINGS:
        org.assign_holder(
            positions[position_code],
            actor=admin,
            person=people[full_name],
            start_date=today - dt.timedelta(days=60) if acting else start,
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
        end_date=today - dt.timedelta(days=61),
    )
    org.deactivate_person(former, actor=admin, expected_version=former.version)
    return organisation

"""The demo organisation PT Nusantara Makmur: built through the services, so it obeys
every rule and its audit trail verifies."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.utils import timezone

from rantai.accounts.access import access_for
from rantai.accounts.models import Organisation, Role, User
from rantai.audit import services as audit
from rantai.audit.models import AuditEvent
from rantai.demo import loader
from rantai.org.models import Holding, Party, PartyKind, Person, Position

PROJECT_DIR = Path(__file__).resolve().parents[3]


pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker) -> Iterator[Organisation]:  # type: ignore[no-untyped-def]
    """The demo, loaded once for the module (its history makes a load take a
    while): its tests only read it. It lives in an outer transaction that is
    rolled back afterwards, so no other test sees it."""
    with django_db_blocker.unblock(), transaction.atomic():
        try:
            yield loader.load()
        finally:
            transaction.set_rollback(True)


def test_the_demo_organisation_has_the_units_of_the_story(demo):
    units = {
        party.name: party.parent.name if party.parent else None
        for party in Party.objects.filter(
            organisation=demo, kind=PartyKind.INTERNAL_UNIT
        )
    }

    assert units == {
        "Direksi": None,
        "Pemasaran": "Direksi",
        "Produksi": "Direksi",
        "Ekspor": "Direksi",
        "Gudang": "Direksi",
        "Seksi Pengepakan": "Gudang",
        "SDM": "Direksi",
    }
    assert (demo.name, demo.slug, demo.time_zone) == (
        "PT Nusantara Makmur",
        "nusantara-makmur",
        "Asia/Jakarta",
    )


def test_the_demo_has_a_forwarder_and_a_customer_in_kota_a(demo):
    partners = Party.objects.filter(organisation=demo, kind=PartyKind.EXTERNAL_PARTNER)

    assert sorted(partners.values_list("code", "name")) == [
        ("CUST-A", "PT Sumber Rezeki (Kota A)"),
        ("FWD", "PT Ekspedisi Cepat"),
    ]
    assert partners.get(code="CUST-A").description == "Customer in Kota A."


def test_the_demo_has_exactly_one_acting_holder(demo):
    acting = Holding.objects.filter(organisation=demo, is_acting=True)

    assert [(h.person.full_name, h.position.title) for h in acting] == [
        ("Budi Santoso", "Kepala Gudang")
    ]
    assert acting.current().count() == 1


def test_the_demo_obeys_the_holder_rules(demo):
    # every current definitive holder fits the position's capacity
    current = Holding.objects.filter(organisation=demo, is_acting=False).current()
    per_position = Counter(current.values_list("position_id", flat=True))
    for position in Position.objects.filter(organisation=demo):
        assert per_position.get(position.pk, 0) <= position.max_holders, position
    # every head position belongs to the party it heads
    for party in Party.objects.filter(organisation=demo, head_position__isnull=False):
        assert party.head_position is not None
        assert party.head_position.party_id == party.pk, party
    # the former head of the warehouse left before the acting head started
    former = Person.objects.get(organisation=demo, full_name="Bambang Sutrisno")
    assert former.is_active is False
    [past] = former.holdings.all()
    assert past.end_date == timezone.localdate() - dt.timedelta(
        days=loader.ACTING_DAYS + 1
    )


def test_every_demo_login_has_its_stated_role(demo):
    partner_parties = {
        "joko": "PT Ekspedisi Cepat",
        "lina": "PT Sumber Rezeki (Kota A)",
    }
    logins = loader.logins()

    assert [login.username for login in logins] == [
        "admin",
        "hendra",
        "sari",
        "agus",
        "rina",
        "yusuf",
        "dimas",
        "budi",
        "fajar",
        "auditor",
        "joko",
        "lina",
    ]
    for login in logins:
        user = User.objects.get(username=login.username)
        access = access_for(user, loader.DEMO_SLUG)
        assert access.role == login.role, login.username
        assert user.check_password(loader.DEMO_PASSWORD), login.username
        assert login.description, login.username
        if login.role == Role.PARTNER:
            assert access.partner_party_id is not None
            assert (
                Party.objects.get(pk=access.partner_party_id).name
                == (partner_parties[login.username])
            )
        # each login is the person of the same name in the organisation
        assert Person.objects.get(organisation=demo, user=user).full_name == (
            user.full_name
        )


def test_the_demo_audit_trail_verifies(demo):
    verification = audit.verify(demo)

    assert verification.ok
    assert (
        verification.events_checked
        == AuditEvent.objects.filter(organisation=demo).count()
    )
    assert loader.demo_exists()


def _rantai(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rantai", *args],
        env=env,
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_demo_reset_recreates_a_sqlite_database(tmp_path: Path):
    # The reset deletes the database file, so it runs in a child process on a file
    # database of its own, never on the test database.
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite reset runs in the SQLite suite run")
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env |= {"RANTAI_DATA_DIR": str(tmp_path), "RANTAI_TESTING": "1", "DEBUG": "1"}
    database = tmp_path / "rantai.sqlite3"

    # given a loaded demo to which something was added
    first = _rantai("demo", env=env)
    assert first.returncode == 0, first.stderr
    with sqlite3.connect(database) as db:
        loaded = db.execute(
            "SELECT count(*) FROM audit_auditevent UNION ALL "
            "SELECT count(*) FROM accounts_user"
        ).fetchall()
        db.execute(
            "INSERT INTO accounts_organisation (name, slug, time_zone, "
            "requires_admin_two_factor, is_active, audit_sequence, audit_head_hash, "
            "version, created_at, updated_at) VALUES ('Extra', 'extra', 'UTC', 0, 1, 0, "
            "'', 1, '2026-01-01', '2026-01-01')"
        )

    # when the demo is reset
    reset = _rantai("demo", "--reset", env=env)

    # then the database was recreated and holds the demo alone, loaded afresh
    assert reset.returncode == 0, reset.stderr
    assert reset.stdout.splitlines()[:3] == [
        "Database recreated.",
        "Loading the demo organisation PT Nusantara Makmur ...",
        "Demo loaded.",
    ]
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT slug FROM accounts_organisation").fetchall() == [
            ("nusantara-makmur",)
        ]
        assert (
            db.execute(
                "SELECT count(*) FROM audit_auditevent UNION ALL "
                "SELECT count(*) FROM accounts_user"
            ).fetchall()
            == loaded
        )


def test_the_demo_ships_500_units_to_kota_a_and_missed_one_target(demo):
    from rantai.chains.models import (
        Procedure,
        Run,
        RunResult,
        RunStatus,
        Task,
        VersionStatus,
    )

    procedure = Procedure.objects.get(organisation=demo, code="SHIP")
    version = procedure.versions.get()
    assert (procedure.owner_position.code, version.status) == (
        "EXP-HEAD",
        VersionStatus.PUBLISHED,
    )
    assert list(version.steps.values_list("key", flat=True)) == [
        "set-target",
        "produce",
        "price-shipping",
        "schedule-shipment",
        "approve-shipment",
        "forwarder-pickup",
        "confirm-delivery",
    ]
    current = Run.objects.get(organisation=demo, title="Ship 500 units to Kota A")
    assert current.status == RunStatus.ACTIVE
    assert dict(Task.objects.filter(run=current).values_list("key", "status")) == {
        "set-target": "done",
        "produce": "in_progress",
        "price-shipping": "done",
        "schedule-shipment": "pending",
        "approve-shipment": "pending",
        "forwarder-pickup": "pending",
        "confirm-delivery": "pending",
    }
    assert current.due_at - timezone.now() > dt.timedelta(days=12)
    finished = Run.objects.get(organisation=demo, title="Ship 200 units to Kota A")
    assert (finished.status, finished.result, finished.result_delay) == (
        RunStatus.COMPLETED,
        RunResult.MISSED,
        dt.timedelta(days=2),
    )
    # the approval did not apply: the shipment was worth 300,000,000
    approval = Task.objects.get(run=finished, key="approve-shipment")
    assert (approval.status, approval.skipped_reason) == (
        "skipped",
        "condition not met",
    )

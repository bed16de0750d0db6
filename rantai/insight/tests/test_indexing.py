"""The search index follows every audited change in the same transaction
(docs/design-insight.md, "Search"): each indexed kind gets one document with its
text; renames re-index what shows the name; publishing swaps the steps of the
current version; a rolled-back change leaves the index as it was; the engine's hot
path costs nothing; `reindex` and `reindex_missing` rebuild.

The world is `obstacles.tests.factories.world()`: the run "Ship 500 units to Kota A"
of the procedure SHIP (pack → ship → store, published) started at T0.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from rantai.audit import observers
from rantai.audit.models import AuditEvent
from rantai.chains import services as chains
from rantai.chains import targets as chains_targets
from rantai.chains.models import Step
from rantai.evidence import verification
from rantai.insight import indexing
from rantai.insight.models import SearchDocument
from rantai.obstacles import obstacles, reviews
from rantai.obstacles.tests import factories as f
from rantai.org import services as org
from rantai.org.models import PartyKind
from rantai.testing import small_org

pytestmark = pytest.mark.django_db

Row = tuple[int | None, str, str, str]  # parent_id, title, subtitle, body


class Rollback(Exception):
    pass


def documents(kind: str | None = None) -> dict[tuple[str, int], Row]:
    qs = SearchDocument.objects.all()
    if kind is not None:
        qs = qs.filter(kind=kind)
    return {
        (d.kind, d.object_id): (d.parent_id, d.title, d.subtitle, d.body) for d in qs
    }


def titles(kind: str) -> set[str]:
    return set(SearchDocument.objects.filter(kind=kind).values_list("title", flat=True))


def document(obj: Any, kind: str) -> Row:
    return documents(kind)[(kind, obj.pk)]


@pytest.fixture
def w() -> f.World:
    return f.world()


# --- every kind, with its text ---------------------------------------------------------


def test_the_world_built_through_the_services_is_indexed_kind_by_kind(
    w: f.World,
) -> None:
    o = w.o
    assert titles("party") == {
        "Head office",
        "Export",
        "Warehouse",
        "Fast Forwarding",
        "Other Carrier",
    }
    assert titles("person") == {
        "Rina Kusuma",
        "Budi Santoso",
        "Joko Susilo",
        "Ani",
        "Dedi",
        "Wati",
        "Olga",
    }
    assert titles("position") == {
        "Director",
        "Head of export",
        "Export clerk",
        "Forwarder operations",
        "Head of warehouse",
    }
    assert document(o.export, "party") == (None, "Export", "EXP", "")
    assert document(o.export_staff, "position") == (
        None,
        "Export clerk",
        "Export",
        "EXP-CLERK",
    )
    assert document(o.rina, "person") == (None, "Rina Kusuma", "", "")
    procedure = w.run.procedure
    assert document(procedure, "procedure") == (None, "Procedure SHIP", "SHIP", "")
    assert document(w.run, "run") == (
        None,
        "Ship 500 units to Kota A",
        "Procedure SHIP",
        "Deliver the order",
    )
    version_id = w.run.procedure_version_id
    assert documents("step") == {
        ("step", step.pk): (version_id, step.name, "Procedure SHIP", "")
        for step in Step.objects.filter(procedure_version_id=version_id)
    }
    assert titles("step") == {"Pack", "Ship", "Store"}
    assert SearchDocument.objects.filter(organisation=w.organisation).count() == 22
    assert set(SearchDocument.objects.values_list("organisation_id", flat=True)) == {
        w.organisation.pk
    }


def test_the_e_mail_address_of_a_person_is_not_indexed(w: f.World) -> None:
    person = org.create_person(
        w.organisation,
        actor=w.admin,
        full_name="Sari Dewi",
        email="sari.rahasia@example.com",
        employee_number="NIP-1987",
    )
    assert document(person, "person") == (None, "Sari Dewi", "NIP-1987", "")
    assert not SearchDocument.objects.filter(body__icontains="rahasia").exists()
    assert not SearchDocument.objects.filter(subtitle__icontains="rahasia").exists()


def test_an_information_record_is_indexed_when_recorded_and_not_rewritten_when_checked(
    w: f.World,
) -> None:
    record = f.record(w, title="Surat jalan dari forwarder")
    assert document(record, "record") == (
        None,
        "Surat jalan dari forwarder",
        "The forwarder's letter",
        "The truck leaves on the 12th.",
    )
    with CaptureQueriesContext(connection) as queries:
        verification.verify(
            record,
            actor=w.admin,
            verdict="verified",
            note="Checked with the forwarder by phone.",
            expected_version=None,
            now=f.T0 + dt.timedelta(hours=1),
        )
    assert [q for q in queries if "insight_search" in q["sql"]] == []


def test_an_obstacle_is_indexed_with_its_cause_in_both_languages_and_follows_edits(
    w: f.World,
) -> None:
    obstacle = f.make_obstacle(w, task=w.task("ship"))
    assert document(obstacle, "obstacle") == (
        None,
        "The truck is delayed",
        "Ship 500 units to Kota A",
        "The forwarder's truck broke down on the toll road.\n\n"
        "transport · transportasi",
    )
    obstacles.update_obstacle(
        obstacle,
        actor=w.o.member,
        expected_version=None,
        title="Truk mogok di tol",
        cause="equipment",
        now=f.T0 + dt.timedelta(hours=1),
    )
    assert document(obstacle, "obstacle") == (
        None,
        "Truk mogok di tol",
        "Ship 500 units to Kota A",
        "The forwarder's truck broke down on the toll road.\n\nequipment · peralatan",
    )


def test_a_review_is_indexed_with_its_summary_and_lessons(w: f.World) -> None:
    review = reviews.open_review(
        w.run, trigger="requested", actor=w.admin, now=f.T0 + dt.timedelta(hours=1)
    )
    assert document(review, "review") == (
        None,
        "Ship 500 units to Kota A",
        "requested · diajukan",
        "",
    )
    reviews.update_review(
        review,
        actor=w.admin,
        expected_version=None,
        summary="The customs form was incomplete.",
        learned="Check the form the day before.",
    )
    assert document(review, "review") == (
        None,
        "Ship 500 units to Kota A",
        "requested · diajukan",
        "The customs form was incomplete.\n\nCheck the form the day before.",
    )


def test_a_target_is_indexed_and_follows_its_party(w: f.World) -> None:
    target = chains_targets.create_target(
        w.organisation,
        actor=w.admin,
        name="Ekspor 10.000 unit ke Kota A",
        measure_quantity=10000,
        measure_unit="units",
        period_start=dt.date(2026, 1, 1),
        period_end=dt.date(2026, 3, 31),
        owner_position=w.o.export_head,
        party=w.o.export,
        description="Target kuartal pertama",
        now=f.T0,
    )
    assert document(target, "target") == (
        None,
        "Ekspor 10.000 unit ke Kota A",
        "Export",
        "Target kuartal pertama",
    )
    org.update_party(w.o.export, actor=w.admin, expected_version=None, name="Ekspor")
    assert document(target, "target")[2] == "Ekspor"
    assert document(w.o.export_staff, "position")[2] == "Ekspor"
    assert document(w.o.export_head, "position")[2] == "Ekspor"
    assert document(w.o.export, "party") == (None, "Ekspor", "EXP", "")


# --- dependants ----------------------------------------------------------------------------


def test_renaming_a_procedure_renames_it_on_its_runs_and_current_steps(
    w: f.World,
) -> None:
    procedure = w.run.procedure
    chains.update_procedure(
        procedure, actor=w.admin, expected_version=None, name="Pengiriman ekspor"
    )
    assert document(procedure, "procedure") == (
        None,
        "Pengiriman ekspor",
        "SHIP",
        "",
    )
    assert document(w.run, "run")[2] == "Pengiriman ekspor"
    assert {row[2] for row in documents("step").values()} == {"Pengiriman ekspor"}


def test_a_change_that_leaves_the_name_alone_touches_only_the_procedure(
    w: f.World,
) -> None:
    procedure = w.run.procedure
    with CaptureQueriesContext(connection) as queries:
        chains.update_procedure(
            procedure,
            actor=w.admin,
            expected_version=None,
            description="Barang keluar gudang",
        )
    assert document(procedure, "procedure")[3] == "Barang keluar gudang"
    touching = [q["sql"] for q in queries if "insight_search" in q["sql"]]
    assert len(touching) == 1  # the one upsert
    assert "chains_run" not in " ".join(q["sql"] for q in queries[-3:])


def test_publishing_a_new_version_swaps_the_steps_in_the_index(w: f.World) -> None:
    procedure = w.run.procedure
    old_version = w.run.procedure_version
    old_steps = set(old_version.steps.values_list("pk", flat=True))
    draft = chains.new_draft(procedure, actor=w.admin)
    # The published version stays current while the draft is edited.
    assert {pk for _kind, pk in documents("step")} == old_steps
    chains.add_step(
        draft,
        actor=w.admin,
        key="label",
        name="Label the boxes",
        duration_value=1,
        description="Tempel label pada setiap kotak",
    )
    assert "Label the boxes" not in titles("step")
    draft_steps = {step.key: step for step in draft.steps.all()}
    chains.update_step(
        draft_steps["pack"],
        actor=w.admin,
        expected_version=None,
        name="Pack and weigh",
    )
    assert titles("step") == {"Pack", "Ship", "Store"}

    from rantai.chains.models import RaciRole

    chains.add_step_role(
        draft_steps["label"],
        actor=w.admin,
        role=RaciRole.RESPONSIBLE,
        position=w.o.export_staff,
    )
    chains.add_step_role(
        draft_steps["label"],
        actor=w.admin,
        role=RaciRole.ACCOUNTABLE,
        position=w.o.export_head,
    )
    chains.publish(
        draft, actor=w.admin, expected_version=None, now=f.T0 + dt.timedelta(days=1)
    )
    assert documents("step") == {
        ("step", step.pk): (draft.pk, step.name, "Procedure SHIP", step.description)
        for step in draft.steps.all()
    }
    assert titles("step") == {"Pack and weigh", "Ship", "Store", "Label the boxes"}
    assert not SearchDocument.objects.filter(
        kind="step", object_id__in=old_steps
    ).exists()


def test_the_steps_of_a_draft_are_indexed_while_it_is_the_only_version(
    w: f.World,
) -> None:
    from rantai.roles.tests import factories as rf

    version = rf.procedure(
        w.o,
        [
            rf.StepRow(
                "check", responsible=w.o.export_staff, accountable=w.o.export_head
            )
        ],
        code="AUDIT",
        name="Pemeriksaan stok",
        publish=False,
    )
    step = version.steps.get()
    assert document(step, "step") == (version.pk, "Check", "Pemeriksaan stok", "")
    chains.update_step(
        step, actor=w.admin, expected_version=None, description="Hitung ulang"
    )
    assert document(step, "step")[3] == "Hitung ulang"
    chains.delete_step(step, actor=w.admin, expected_version=None)
    assert ("step", step.pk) not in documents("step")


def test_retiring_the_only_published_version_takes_its_steps_out(w: f.World) -> None:
    version = w.run.procedure_version
    chains.retire(version, actor=w.admin, expected_version=None)
    assert documents("step") == {}
    assert ("procedure", version.procedure_id) in documents("procedure")


# --- the same transaction -----------------------------------------------------------------


def test_a_change_rolled_back_leaves_the_index_as_it_was(w: f.World) -> None:
    before = documents()
    with pytest.raises(Rollback), transaction.atomic():
        org.update_party(
            w.o.export, actor=w.admin, expected_version=None, name="Ekspor"
        )
        chains.update_procedure(
            w.run.procedure, actor=w.admin, expected_version=None, name="Kirim"
        )
        assert document(w.o.export, "party")[1] == "Ekspor"
        assert document(w.run, "run")[2] == "Kirim"
        raise Rollback
    assert documents() == before


def test_a_refused_change_writes_nothing_to_the_index(w: f.World) -> None:
    from rantai.core.errors import Conflict

    before = documents()
    with pytest.raises(Conflict):
        org.update_party(w.o.export, actor=w.admin, expected_version=99, name="Late")
    assert documents() == before


def test_a_deactivated_object_stays_findable(w: f.World) -> None:
    person = org.create_person(w.organisation, actor=w.admin, full_name="Eko Prasetyo")
    org.deactivate_person(person, actor=w.admin, expected_version=None)
    party = org.create_party(
        w.organisation,
        actor=w.admin,
        kind=PartyKind.INTERNAL_UNIT,
        name="Gudang lama",
        code="OLD",
    )
    org.deactivate_party(party, actor=w.admin, expected_version=None)
    assert document(person, "person") == (None, "Eko Prasetyo", "", "")
    assert document(party, "party") == (None, "Gudang lama", "OLD", "")


# --- the hot path --------------------------------------------------------------------------


def _queries_of(work: Any) -> list[str]:
    """The statements of `work`, run in a transaction that is rolled back."""
    with (
        CaptureQueriesContext(connection) as captured,
        pytest.raises(Rollback),
        transaction.atomic(),
    ):
        work()
        raise Rollback
    return [q["sql"] for q in captured]


def test_completing_tasks_and_the_run_costs_the_index_nothing(
    w: f.World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def complete_all() -> None:
        at = f.T0 + dt.timedelta(hours=2)
        for key, actor in (
            ("pack", w.o.member),
            ("ship", w.o.partner),
            ("store", w.user(w.wati)),
        ):
            chains.complete_task(
                w.task(key), actor=actor, expected_version=None, now=at
            )

    _queries_of(complete_all)  # warm the caches
    with_index = _queries_of(complete_all)
    monkeypatch.delitem(observers._observers, "search-index")
    without_index = _queries_of(complete_all)
    assert [q for q in with_index if "insight_search" in q] == []
    assert len(with_index) == len(without_index)


def test_events_about_other_models_cost_no_query(w: f.World) -> None:
    task = w.task("pack")
    events = [
        AuditEvent(
            organisation_id=w.organisation.pk,
            sequence=n,
            verb=verb,
            target_type=target_type,
            target_id=str(task.pk),
        )
        for n, (verb, target_type) in enumerate(
            [
                ("task_completed", "chains.task"),
                ("task_started", "chains.task"),
                ("completed", "chains.run"),
                ("due_date_moved", "chains.run"),
                ("cited", "evidence.informationrecord"),
                ("escalated", "obstacles.obstacle"),
                ("created", "notifications.notification"),
            ],
            start=1,
        )
    ]
    with CaptureQueriesContext(connection) as queries:
        indexing.follow_audit(w.organisation, events)
    assert len(queries) == 0


def test_starting_a_run_adds_its_document_in_one_upsert(w: f.World) -> None:
    from rantai.roles.tests import factories as rf

    captured = _queries_of(
        lambda: rf.start_run(
            w.run.procedure_version, actor=w.admin, title="Kirim 200 unit ke Kota B"
        )
    )
    touching = [q for q in captured if "insight_search" in q]
    assert len(touching) == 1
    assert touching[0].startswith("INSERT INTO")


# --- rebuilding ----------------------------------------------------------------------------


def test_reindex_rebuilds_every_document_as_the_observer_wrote_it(
    w: f.World,
) -> None:
    f.make_obstacle(w)
    f.record(w)
    reviews.open_review(w.run, trigger="requested", actor=w.admin)
    other = small_org("globex", prefix="g-")
    built = documents()
    SearchDocument.objects.filter(organisation=w.organisation).update(
        title="stale", body="stale"
    )
    messages: list[str] = []
    assert indexing.reindex(w.organisation, progress=messages.append) == 25
    assert documents() == built
    assert messages == [
        "acme: 1 of kind “run” indexed",
        "acme: 1 of kind “procedure” indexed",
        "acme: 3 of kind “step” indexed",
        "acme: 7 of kind “person” indexed",
        "acme: 5 of kind “position” indexed",
        "acme: 5 of kind “party” indexed",
        "acme: 1 of kind “information record” indexed",
        "acme: 1 of kind “obstacle” indexed",
        "acme: 1 of kind “review” indexed",
    ]
    SearchDocument.objects.all().delete()
    assert indexing.reindex() == len(built)
    assert documents() == built
    assert SearchDocument.objects.filter(organisation=other.organisation).count() == 11


def test_reindex_drops_documents_of_objects_gone_behind_its_back(
    w: f.World,
) -> None:
    SearchDocument.objects.create(
        organisation=w.organisation, kind="run", object_id=999999, title="Ghost"
    )
    indexing.reindex(w.organisation)
    assert ("run", 999999) not in documents()


def test_reindex_missing_builds_only_the_organisations_without_documents(
    w: f.World,
) -> None:
    other = small_org("globex", prefix="g-")
    built = documents()
    key_org = {
        (d.kind, d.object_id): d.organisation_id for d in SearchDocument.objects.all()
    }
    assert indexing.reindex_missing() == 0
    SearchDocument.objects.filter(organisation=other.organisation).delete()
    SearchDocument.objects.filter(organisation=w.organisation).update(title="kept")
    assert indexing.reindex_missing() == 11
    assert documents() == {
        key: (
            row
            if key_org[key] == other.organisation.pk
            else (*row[:1], "kept", *row[2:])
        )
        for key, row in built.items()
    }


def test_document_for_refuses_what_is_not_indexed(w: f.World) -> None:
    with pytest.raises(TypeError):
        indexing.document_for(w.task("pack"))
    assert indexing.document_for(w.o.export).title == "Export"

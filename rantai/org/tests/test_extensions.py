"""The holders-changed hook: every change of who holds authority tells the
registered handlers, inside the change's transaction, after its rows are written;
changes that leave authority as it was tell nobody; a handler that fails undoes
the change."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterator

import pytest
from django.utils import timezone

from rantai.accounts.models import Membership, Role
from rantai.audit.models import AuditEvent
from rantai.core.errors import ValidationFailed
from rantai.org import extensions
from rantai.org import membership as memberships
from rantai.org import services as org
from rantai.org.extensions import HoldersChanged
from rantai.org.models import AbsenceKind, Holding, PartyKind
from rantai.testing import SmallOrg

JAKARTA = zoneinfo.ZoneInfo("Asia/Jakarta")
NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=JAKARTA)


class Recorder:
    """A handler that keeps every event and what it could read at that moment."""

    def __init__(self) -> None:
        self.events: list[HoldersChanged] = []
        self.holdings_seen: list[int] = []

    def __call__(self, event: HoldersChanged) -> None:
        self.events.append(event)
        self.holdings_seen.append(Holding.objects.count())

    def only(self) -> HoldersChanged:
        assert len(self.events) == 1, self.events
        return self.events[0]


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    recorder = Recorder()
    with extensions.isolated_registry() as registry:
        extensions.register_holders_changed_handler(recorder)
        assert registry.holders_changed == [recorder]
        yield recorder


def test_the_registry_is_isolated_and_restored() -> None:
    def handler(event: HoldersChanged) -> None:
        raise AssertionError("not called")

    real = extensions.registry
    with extensions.isolated_registry() as registry:
        extensions.register_holders_changed_handler(handler)
        assert extensions.registry is registry
        assert registry.holders_changed == [handler]
    assert extensions.registry is real
    assert handler not in real.holders_changed


def test_the_event_lists_each_position_once_in_order() -> None:
    event = extensions.holders_changed(7, [5, None, 3, 5], NOW)
    assert event == HoldersChanged(organisation_id=7, position_ids=(3, 5), at=NOW)


def test_appointing_a_holder_tells_the_handlers_after_the_row_is_written(
    acme: SmallOrg, recorder: Recorder
) -> None:
    before = Holding.objects.count()
    person = org.create_person(acme.organisation, actor=acme.admin, full_name="Sari")
    assert recorder.events == []  # a new person holds nothing

    org.assign_holder(
        acme.director, actor=acme.admin, person=person, start_date=dt.date(2026, 1, 5)
    )

    event = recorder.only()
    assert event.organisation_id == acme.organisation.pk
    assert event.position_ids == (acme.director.pk,)
    assert timezone.is_aware(event.at)
    assert recorder.holdings_seen == [before + 1]  # the handler sees the new row


def test_updating_and_ending_a_holding_tell_the_handlers(
    acme: SmallOrg, recorder: Recorder
) -> None:
    holding = Holding.objects.get(position=acme.export_staff, person=acme.budi)

    org.update_holding(
        holding, actor=acme.admin, expected_version=holding.version, is_acting=True
    )
    org.end_holding(
        holding,
        actor=acme.admin,
        expected_version=holding.version,
        end_date=dt.date(2026, 2, 1),
    )

    assert [e.position_ids for e in recorder.events] == [
        (acme.export_staff.pk,),
        (acme.export_staff.pk,),
    ]


def test_updates_that_leave_authority_as_it_was_tell_nobody(
    acme: SmallOrg, recorder: Recorder
) -> None:
    holding = Holding.objects.get(position=acme.export_staff, person=acme.budi)
    org.update_holding(
        holding, actor=acme.admin, expected_version=holding.version, is_acting=False
    )
    org.update_party(
        acme.export, actor=acme.admin, expected_version=1, name="Export department"
    )
    org.update_person(
        acme.budi,
        actor=acme.admin,
        expected_version=acme.budi.version,
        full_name="Budi S.",
    )
    assert recorder.events == []


def test_a_new_superior_tells_the_handlers_about_the_old_and_new_line(
    acme: SmallOrg, recorder: Recorder
) -> None:
    org.move_position(
        acme.export_staff,
        actor=acme.admin,
        expected_version=acme.export_staff.version,
        superior=acme.director,
    )
    assert recorder.only().position_ids == tuple(
        sorted((acme.export_staff.pk, acme.export_head.pk, acme.director.pk))
    )


def test_moving_a_position_to_another_party_with_the_same_superior_tells_nobody(
    acme: SmallOrg, recorder: Recorder
) -> None:
    org.move_position(
        acme.export_staff,
        actor=acme.admin,
        expected_version=acme.export_staff.version,
        party=acme.warehouse,
        superior=acme.export_head,
    )
    assert recorder.events == []


def test_deactivating_a_position_tells_the_handlers(
    acme: SmallOrg, recorder: Recorder
) -> None:
    spare = org.create_position(
        acme.organisation, actor=acme.admin, party=acme.export, title="Spare", code="SP"
    )
    org.deactivate_position(spare, actor=acme.admin, expected_version=spare.version)
    assert recorder.only().position_ids == (spare.pk,)


def test_a_new_head_of_a_party_tells_the_handlers_about_both_heads(
    acme: SmallOrg, recorder: Recorder
) -> None:
    org.update_party(
        acme.export,
        actor=acme.admin,
        expected_version=1,
        head_position=acme.export_head,
    )
    deputy = org.create_position(
        acme.organisation,
        actor=acme.admin,
        party=acme.export,
        title="Deputy",
        code="DP",
    )
    org.update_party(
        acme.export,
        actor=acme.admin,
        expected_version=acme.export.version,
        head_position=deputy,
    )
    assert [e.position_ids for e in recorder.events] == [
        (acme.export_head.pk,),
        tuple(sorted((acme.export_head.pk, deputy.pk))),
    ]


def test_a_deactivated_position_cannot_become_the_head_of_a_party(
    acme: SmallOrg, recorder: Recorder
) -> None:
    spare = org.create_position(
        acme.organisation, actor=acme.admin, party=acme.export, title="Spare", code="SP"
    )
    org.deactivate_position(spare, actor=acme.admin, expected_version=spare.version)
    recorder.events.clear()
    with pytest.raises(ValidationFailed) as refused:
        org.update_party(
            acme.export, actor=acme.admin, expected_version=1, head_position=spare
        )
    assert refused.value.errors == {"head_position": ["The position is deactivated."]}
    assert recorder.events == []


def test_linking_or_unlinking_a_holders_login_tells_the_handlers(
    acme: SmallOrg, recorder: Recorder
) -> None:
    # Rina (the member's person) holds the head of export.
    org.update_person(
        acme.rina, actor=acme.admin, expected_version=acme.rina.version, user=None
    )
    assert recorder.only().position_ids == (acme.export_head.pk,)


def test_recording_and_cancelling_an_absence_tell_the_handlers(
    acme: SmallOrg, recorder: Recorder
) -> None:
    absence = org.record_absence(
        acme.rina,
        actor=acme.member,
        kind=AbsenceKind.LEAVE,
        starts_at=NOW + dt.timedelta(days=1),
        ends_at=NOW + dt.timedelta(days=3),
        now=NOW,
    )
    org.cancel_absence(
        absence, actor=acme.member, expected_version=absence.version, now=NOW
    )
    assert recorder.events == [
        HoldersChanged(acme.organisation.pk, (acme.export_head.pk,), NOW),
        HoldersChanged(acme.organisation.pk, (acme.export_head.pk,), NOW),
    ]


def test_the_absence_event_names_only_positions_held_during_the_absence(
    acme: SmallOrg, recorder: Recorder
) -> None:
    org.assign_holder(
        acme.director,
        actor=acme.admin,
        person=acme.budi,
        start_date=dt.date(2026, 6, 1),
        is_acting=True,
    )
    recorder.events.clear()
    org.record_absence(
        acme.budi,
        actor=acme.admin,
        kind=AbsenceKind.TRAVEL,
        starts_at=dt.datetime(2026, 3, 10, 8, 0, tzinfo=JAKARTA),
        ends_at=dt.datetime(2026, 3, 12, 17, 0, tzinfo=JAKARTA),
        now=NOW,
    )
    # Budi holds the clerk's position now and the director's (acting) from June.
    assert recorder.only().position_ids == (acme.export_staff.pk,)


def test_a_failing_handler_undoes_the_change(acme: SmallOrg, audit_trail) -> None:  # type: ignore[no-untyped-def]
    def refuse(event: HoldersChanged) -> None:
        raise RuntimeError("handler failed")

    person = org.create_person(acme.organisation, actor=acme.admin, full_name="Sari")
    trail = audit_trail(acme.organisation)
    holdings = Holding.objects.count()
    with extensions.isolated_registry():
        extensions.register_holders_changed_handler(refuse)
        with pytest.raises(RuntimeError):
            org.assign_holder(
                acme.director,
                actor=acme.admin,
                person=person,
                start_date=dt.date(2026, 1, 5),
            )
    assert Holding.objects.count() == holdings
    trail.assert_nothing_new()


def test_changes_outside_authority_tell_nobody(
    acme: SmallOrg, recorder: Recorder
) -> None:
    events_before = AuditEvent.objects.count()
    unit = org.create_party(
        acme.organisation,
        actor=acme.admin,
        kind=PartyKind.INTERNAL_UNIT,
        name="Quality",
        code="QA",
    )
    org.create_position(
        acme.organisation, actor=acme.admin, party=unit, title="Inspector", code="QI"
    )
    org.update_position(
        acme.export_staff,
        actor=acme.admin,
        expected_version=acme.export_staff.version,
        title="Export officer",
    )
    assert AuditEvent.objects.count() == events_before + 3
    assert recorder.events == []


def test_changing_or_ending_a_holders_membership_tells_the_handlers(
    acme: SmallOrg, recorder: Recorder
) -> None:
    # Only administrators and members decide: Rina (the member's person, head of
    # export) loses authority when her role or membership changes.
    access = Membership.objects.get(organisation=acme.organisation, user=acme.member)
    memberships.change_role(
        access, actor=acme.admin, expected_version=access.version, role=Role.AUDITOR
    )
    assert recorder.only().position_ids == (acme.export_head.pk,)
    access.refresh_from_db()
    memberships.end_membership(
        access, actor=acme.admin, expected_version=access.version
    )
    assert [event.position_ids for event in recorder.events] == [
        (acme.export_head.pk,),
        (acme.export_head.pk,),
    ]


def test_a_role_change_that_keeps_the_role_and_a_member_without_positions_tell_nobody(
    acme: SmallOrg, recorder: Recorder
) -> None:
    access = Membership.objects.get(organisation=acme.organisation, user=acme.auditor)
    memberships.change_role(
        access, actor=acme.admin, expected_version=access.version, role=Role.MEMBER
    )
    assert recorder.events == []
    assert Membership.objects.get(pk=access.pk).role == Role.MEMBER

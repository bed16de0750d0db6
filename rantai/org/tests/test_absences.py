"""Absences (cuti, dinas luar): recorded and cancelled by the person themselves or
an administrator, audited with the note kept as personal data, never overlapping
for one person, and read as "away at a moment" with the moment it ends excluded."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import models

from rantai.accounts.models import Role
from rantai.audit.models import AuditVerb
from rantai.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from rantai.org import absences, extensions, membership
from rantai.org import services as org
from rantai.org.models import Absence, AbsenceKind, Person
from rantai.testing import SmallOrg, make_user

JAKARTA = zoneinfo.ZoneInfo("Asia/Jakarta")
NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=JAKARTA)
MON = dt.datetime(2026, 3, 9, 8, 0, tzinfo=JAKARTA)
FRI = dt.datetime(2026, 3, 13, 17, 0, tzinfo=JAKARTA)
SECOND = dt.timedelta(seconds=1)


@pytest.fixture(autouse=True)
def quiet_hooks() -> Iterator[None]:
    """Absences tell the holders-changed handlers; these tests are about absences."""
    with extensions.isolated_registry():
        yield


@pytest.fixture
def dewi(acme: SmallOrg) -> Person:
    """A second member with a person of her own."""
    user = make_user("dewi")
    membership.add_member(
        acme.organisation, actor=acme.admin, user=user, role=Role.MEMBER
    )
    return org.create_person(
        acme.organisation, actor=acme.admin, full_name="Dewi Lestari", user=user
    )


def row(instance: models.Model) -> dict[str, Any]:
    return type(instance)._default_manager.filter(pk=instance.pk).values().get()


def leave(person: Person, actor: Any, **overrides: Any) -> Absence:
    values: dict[str, Any] = {
        "kind": AbsenceKind.LEAVE,
        "starts_at": MON,
        "ends_at": FRI,
        "now": NOW,
    }
    values.update(overrides)
    return org.record_absence(person, actor=actor, **values)


# --- recording --------------------------------------------------------------------


def test_a_member_records_their_own_leave(acme: SmallOrg, audit_trail) -> None:  # type: ignore[no-untyped-def]
    trail = audit_trail(acme.organisation)

    absence = leave(acme.rina, acme.member, note="  Family wedding in Solo ")

    stored = Absence.objects.get(pk=absence.pk)
    assert (stored.person, stored.kind, stored.starts_at, stored.ends_at) == (
        acme.rina,
        AbsenceKind.LEAVE,
        MON,
        FRI,
    )
    assert stored.note == "Family wedding in Solo"
    assert stored.created_by == acme.member
    assert stored.cancelled_at is None
    assert stored.organisation == acme.organisation
    event = trail.only_new_event()
    assert event.verb == AuditVerb.ABSENCE_RECORDED
    assert event.target_id == str(absence.pk)
    assert event.changes == {
        "person": acme.rina.pk,
        "kind": "leave",
        "starts_at": "2026-03-09T01:00:00+00:00",
        "ends_at": "2026-03-13T10:00:00+00:00",
    }
    # The note says something about the person: it stays out of the hashed part.
    assert event.personal.changes == {"note": "Family wedding in Solo"}
    assert "Rina" in event.personal.target_label


def test_an_administrator_records_the_absence_of_someone_without_a_login(
    acme: SmallOrg,
) -> None:
    absence = leave(acme.budi, acme.admin, kind=AbsenceKind.TRAVEL)
    assert absence.person == acme.budi
    assert absence.kind == AbsenceKind.TRAVEL
    assert absence.created_by == acme.admin


def test_a_partner_records_their_own_absence(acme: SmallOrg) -> None:
    absence = leave(acme.joko, acme.partner, kind=AbsenceKind.SICK)
    assert absence.person == acme.joko


@pytest.mark.parametrize("who", ["member_for_someone_else", "auditor"])
def test_others_may_not_record_someone_s_absence(
    acme: SmallOrg,
    dewi: Person,
    audit_trail,  # type: ignore[no-untyped-def]
    who: str,
) -> None:
    actor = acme.member if who == "member_for_someone_else" else acme.auditor
    trail = audit_trail(acme.organisation)
    with pytest.raises(PermissionDenied) as refused:
        leave(dewi, actor)
    assert refused.value.message == (
        "Only the person themselves or an administrator can record their absence."
    )
    assert not Absence.objects.exists()
    trail.assert_nothing_new()


def test_someone_outside_the_organisation_learns_nothing(
    acme: SmallOrg, other_org: SmallOrg
) -> None:
    with pytest.raises(NotFound):
        leave(acme.rina, other_org.admin)
    assert not Absence.objects.exists()


def test_a_member_who_left_can_no_longer_record_their_absence(acme: SmallOrg) -> None:
    member = acme.organisation.memberships.get(user=acme.member)
    membership.end_membership(member, actor=acme.admin, expected_version=member.version)
    with pytest.raises(NotFound):
        leave(acme.rina, acme.member)


@pytest.mark.parametrize(
    ("overrides", "errors"),
    [
        (
            {"starts_at": dt.datetime(2026, 3, 9, 8, 0)},
            {"starts_at": ["Enter a date and time with its time zone."]},
        ),
        (
            {"ends_at": "2026-03-13"},
            {"ends_at": ["Enter a date and time."]},
        ),
        ({"ends_at": MON}, {"ends_at": ["The end must be after the start."]}),
        ({"ends_at": MON - SECOND}, {"ends_at": ["The end must be after the start."]}),
        ({"kind": "holiday"}, {"kind": ["Value 'holiday' is not a valid choice."]}),
        (
            {"note": "x" * 301},
            {"note": ["Ensure this value has at most 300 characters (it has 301)."]},
        ),
    ],
    ids=["naive", "not-a-datetime", "zero-length", "reversed", "kind", "long-note"],
)
def test_an_absence_needs_a_valid_period_kind_and_note(
    acme: SmallOrg,
    audit_trail,  # type: ignore[no-untyped-def]
    overrides: dict[str, Any],
    errors: dict[str, list[str]],
) -> None:
    trail = audit_trail(acme.organisation)
    with pytest.raises(ValidationFailed) as refused:
        leave(acme.rina, acme.member, **overrides)
    assert refused.value.errors == errors
    assert not Absence.objects.exists()
    trail.assert_nothing_new()


def test_a_deactivated_person_cannot_be_recorded_away(acme: SmallOrg) -> None:
    gone = org.create_person(acme.organisation, actor=acme.admin, full_name="Gone")
    org.deactivate_person(gone, actor=acme.admin, expected_version=gone.version)
    with pytest.raises(ValidationFailed) as refused:
        leave(gone, acme.admin)
    assert refused.value.errors == {"person": ["The person is deactivated."]}


def test_absences_of_one_person_do_not_overlap(acme: SmallOrg, dewi: Person) -> None:
    first = leave(acme.rina, acme.member)

    with pytest.raises(ValidationFailed) as refused:
        leave(acme.rina, acme.admin, starts_at=FRI - SECOND, ends_at=FRI + SECOND)
    assert refused.value.errors == {
        "starts_at": [
            "This person is already recorded as away during part of that period."
        ]
    }

    # Back to back is fine, and so is someone else in the same week.
    leave(acme.rina, acme.member, starts_at=FRI, ends_at=FRI + dt.timedelta(days=1))
    leave(dewi, dewi.user)
    # A cancelled absence no longer blocks its period.
    org.cancel_absence(first, actor=acme.member, expected_version=1, now=NOW)
    leave(acme.rina, acme.member, kind=AbsenceKind.SICK)
    assert Absence.objects.filter(person=acme.rina).count() == 3


# --- cancelling -------------------------------------------------------------------


def test_the_person_cancels_their_absence(acme: SmallOrg, audit_trail) -> None:  # type: ignore[no-untyped-def]
    absence = leave(acme.rina, acme.member)
    trail = audit_trail(acme.organisation)

    org.cancel_absence(absence, actor=acme.member, expected_version=1, now=NOW)

    stored = Absence.objects.get(pk=absence.pk)
    assert stored.cancelled_at == NOW
    assert stored.version == 2
    assert absence.version == 2 and absence.cancelled_at == NOW
    event = trail.only_new_event()
    assert event.verb == AuditVerb.ABSENCE_CANCELLED
    assert event.changes == {"cancelled_at": [None, "2026-03-02T02:00:00+00:00"]}


def test_an_administrator_cancels_an_absence_under_way(acme: SmallOrg) -> None:
    absence = leave(acme.rina, acme.member)
    org.cancel_absence(
        absence, actor=acme.admin, expected_version=1, now=MON + dt.timedelta(days=1)
    )
    assert Absence.objects.get(pk=absence.pk).cancelled_at == MON + dt.timedelta(days=1)


def test_another_member_may_not_cancel_someone_s_absence(
    acme: SmallOrg, dewi: Person
) -> None:
    absence = leave(acme.rina, acme.member)
    before = row(absence)
    with pytest.raises(PermissionDenied) as refused:
        org.cancel_absence(absence, actor=dewi.user, expected_version=1, now=NOW)  # type: ignore[arg-type]
    assert refused.value.message == (
        "Only the person themselves or an administrator can cancel their absence."
    )
    assert row(absence) == before


def test_cancelling_twice_or_after_the_end_is_refused(acme: SmallOrg) -> None:
    absence = leave(acme.rina, acme.member)
    org.cancel_absence(absence, actor=acme.member, expected_version=1, now=NOW)
    with pytest.raises(ValidationFailed) as twice:
        org.cancel_absence(absence, actor=acme.member, expected_version=2, now=NOW)
    assert twice.value.errors == {"__all__": ["The absence is already cancelled."]}

    past = leave(acme.rina, acme.member)
    with pytest.raises(ValidationFailed) as over:
        org.cancel_absence(past, actor=acme.member, expected_version=1, now=FRI)
    assert over.value.errors == {
        "__all__": ["The absence is over; it can no longer be cancelled."]
    }


def test_cancelling_with_a_stale_version_is_a_conflict(
    acme: SmallOrg,
    audit_trail,  # type: ignore[no-untyped-def]
) -> None:
    absence = leave(acme.rina, acme.member)
    stale = Absence.objects.get(pk=absence.pk)
    org.cancel_absence(absence, actor=acme.admin, expected_version=1, now=NOW)
    trail = audit_trail(acme.organisation)

    with pytest.raises(Conflict):
        org.cancel_absence(stale, actor=acme.member, expected_version=1, now=NOW)

    assert Absence.objects.get(pk=absence.pk).version == 2
    trail.assert_nothing_new()


# --- reading ----------------------------------------------------------------------


def test_who_is_away_at_a_moment(acme: SmallOrg, dewi: Person) -> None:
    leave(acme.rina, acme.member)
    cancelled = leave(dewi, dewi.user)
    org.cancel_absence(
        cancelled, actor=acme.admin, expected_version=1, now=MON + dt.timedelta(days=2)
    )
    people = [acme.rina.pk, dewi.pk, acme.budi.pk]

    def away(at: dt.datetime) -> set[int]:
        return absences.people_away(acme.organisation.pk, people, at=at)

    assert away(MON - SECOND) == set()
    assert away(MON) == {acme.rina.pk, dewi.pk}
    # Dewi's absence counted until the moment it was cancelled.
    assert away(MON + dt.timedelta(days=2) - SECOND) == {acme.rina.pk, dewi.pk}
    assert away(MON + dt.timedelta(days=2)) == {acme.rina.pk}
    assert away(FRI - SECOND) == {acme.rina.pk}
    assert away(FRI) == set()
    assert absences.people_away(acme.organisation.pk, [], at=MON) == set()


def test_people_away_is_scoped_to_the_organisation(
    acme: SmallOrg, other_org: SmallOrg
) -> None:
    leave(other_org.rina, other_org.member)
    assert (
        absences.people_away(acme.organisation.pk, [other_org.rina.pk], at=MON) == set()
    )
    assert absences.people_away(
        other_org.organisation.pk, [other_org.rina.pk], at=MON
    ) == {other_org.rina.pk}


def test_a_persons_current_and_coming_absences(acme: SmallOrg) -> None:
    past = leave(
        acme.rina,
        acme.member,
        starts_at=MON - dt.timedelta(days=14),
        ends_at=MON - dt.timedelta(days=10),
    )
    now_on = leave(acme.rina, acme.member)
    later = leave(
        acme.rina,
        acme.member,
        kind=AbsenceKind.TRAVEL,
        starts_at=FRI + dt.timedelta(days=3),
        ends_at=FRI + dt.timedelta(days=5),
    )
    org.cancel_absence(later, actor=acme.member, expected_version=1, now=NOW)

    assert absences.absence_at(acme.rina.pk, at=MON + SECOND) == now_on
    assert absences.absence_at(acme.rina.pk, at=FRI) is None
    assert absences.absences_of(acme.rina.pk, since=MON) == [now_on]
    assert absences.absences_of(acme.rina.pk) == [past, now_on]
    assert absences.absences_of(acme.rina.pk, include_cancelled=True) == [
        past,
        now_on,
        later,
    ]


def test_reading_at_a_naive_moment_is_a_programming_error(acme: SmallOrg) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        absences.people_away(
            acme.organisation.pk, [acme.rina.pk], at=dt.datetime(2026, 3, 9)
        )

"""Delegation of approval authority: who may delegate to whom, that it works from
its start until the very second before its end (in the organisation's time zone),
that revoking or cancelling its absence stops it, that it can be limited to routes,
and that it is never chained."""

from __future__ import annotations

import datetime as dt
import threading
import zoneinfo
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connection, models

from rantai.accounts.models import Role
from rantai.approvals import delegation as delegations
from rantai.approvals import routes
from rantai.approvals.models import Delegation, Route, SubjectKind
from rantai.audit import services as audit
from rantai.audit.models import AuditVerb
from rantai.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from rantai.org import extensions as org_extensions
from rantai.org import membership
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
    """Absences tell the holders-changed handlers; these tests are about delegation."""
    with org_extensions.isolated_registry():
        yield


def member_person(o: SmallOrg, username: str, role: str = Role.MEMBER) -> Person:
    user = make_user(username)
    membership.add_member(o.organisation, actor=o.admin, user=user, role=role)
    return org.create_person(
        o.organisation, actor=o.admin, full_name=username.title(), user=user
    )


@pytest.fixture
def dewi(acme: SmallOrg) -> Person:
    return member_person(acme, "dewi")


@pytest.fixture
def wawan(acme: SmallOrg) -> Person:
    return member_person(acme, "wawan")


def row(instance: models.Model) -> dict[str, Any]:
    return type(instance)._default_manager.filter(pk=instance.pk).values().get()


def delegate(o: SmallOrg, to: Person, **overrides: Any) -> Delegation:
    """Rina (the member) delegates to `to` for the week of MON."""
    values: dict[str, Any] = {
        "actor": o.member,
        "delegate": to,
        "starts_at": MON,
        "ends_at": FRI,
        "now": NOW,
    }
    values.update(overrides)
    delegator = values.pop("delegator", o.rina)
    return delegations.delegate(delegator, **values)


def active_ids(
    person: Person, at: dt.datetime, route_id: int | None = None
) -> list[int]:
    return [d.pk for d in delegations.active_for(person.pk, at=at, route_id=route_id)]


def new_route(o: SmallOrg, code: str) -> Route:
    return routes.create_route(
        o.organisation,
        actor=o.admin,
        code=code,
        name=code,
        subject_kind=SubjectKind.DEVIATION,
    )


# --- delegating -------------------------------------------------------------------


def test_a_member_delegates_their_authority(
    acme: SmallOrg, dewi: Person, audit_trail
) -> None:  # type: ignore[no-untyped-def]
    trail = audit_trail(acme.organisation)

    made = delegate(acme, dewi, note=" While I am in Surabaya ")

    stored = Delegation.objects.get(pk=made.pk)
    assert (stored.delegator, stored.delegate, stored.starts_at, stored.ends_at) == (
        acme.rina,
        dewi,
        MON,
        FRI,
    )
    assert (stored.note, stored.created_by, stored.revoked_at, stored.absence) == (
        "While I am in Surabaya",
        acme.member,
        None,
        None,
    )
    assert list(stored.routes.all()) == []
    event = trail.only_new_event()
    assert event.verb == AuditVerb.DELEGATED
    assert event.changes == {
        "delegator": acme.rina.pk,
        "delegate": dewi.pk,
        "starts_at": "2026-03-09T01:00:00+00:00",
        "ends_at": "2026-03-13T10:00:00+00:00",
        "routes": [],
        "absence": None,
    }
    assert event.personal.changes == {"note": "While I am in Surabaya"}
    assert event.personal.target_label == "Rina Kusuma → Dewi"


def test_an_administrator_delegates_for_someone_without_a_login(
    acme: SmallOrg, dewi: Person
) -> None:
    made = delegate(acme, dewi, delegator=acme.budi, actor=acme.admin)
    assert (made.delegator, made.created_by) == (acme.budi, acme.admin)


def test_others_may_not_delegate_someone_s_authority(
    acme: SmallOrg,
    dewi: Person,
    wawan: Person,
    audit_trail,  # type: ignore[no-untyped-def]
) -> None:
    trail = audit_trail(acme.organisation)
    for actor in (wawan.user, acme.auditor, acme.partner):
        with pytest.raises(PermissionDenied) as refused:
            delegate(acme, dewi, actor=actor)
        assert refused.value.message == (
            "Only the person themselves or an administrator can delegate their "
            "authority."
        )
    assert not Delegation.objects.exists()
    trail.assert_nothing_new()


def test_outsiders_learn_nothing(
    acme: SmallOrg, other_org: SmallOrg, dewi: Person
) -> None:
    with pytest.raises(NotFound):
        delegate(acme, dewi, actor=other_org.admin)


@pytest.mark.parametrize(
    ("case", "errors"),
    [
        ("self", {"delegate": ["A person cannot delegate to themselves."]}),
        ("other_org", {"delegate": ["This belongs to another organisation."]}),
        (
            "no_login",
            {
                "delegate": [
                    "Budi Santoso has no login with a member's rights in this organisation, so they cannot decide."
                ]
            },
        ),
        (
            "partner",
            {
                "delegate": [
                    "Joko Susilo has no login with a member's rights in this organisation, so they cannot decide."
                ]
            },
        ),
        (
            "auditor",
            {
                "delegate": [
                    "Aud has no login with a member's rights in this organisation, so they cannot decide."
                ]
            },
        ),
        (
            "left",
            {
                "delegate": [
                    "Dewi has no login with a member's rights in this organisation, so they cannot decide."
                ]
            },
        ),
        ("deactivated", {"delegate": ["The person is deactivated."]}),
        ("naive", {"starts_at": ["Enter a date and time with its time zone."]}),
        ("reversed", {"ends_at": ["The end must be after the start."]}),
        ("past", {"ends_at": ["The end must be in the future."]}),
        ("foreign_route", {"routes": ["This belongs to another organisation."]}),
        ("inactive_route", {"routes": ["The route “OFF” is deactivated."]}),
        (
            "someone_else_s_absence",
            {"absence": ["The absence is not the delegator's."]},
        ),
        ("cancelled_absence", {"absence": ["The absence is cancelled."]}),
        (
            "absence_with_delegation",
            {"absence": ["The absence already has a delegation."]},
        ),
    ],
)
def test_a_delegation_is_checked(
    acme: SmallOrg,
    other_org: SmallOrg,
    dewi: Person,
    audit_trail,  # type: ignore[no-untyped-def]
    case: str,
    errors: dict[str, list[str]],
) -> None:
    overrides: dict[str, Any] = {}
    if case == "self":
        overrides["delegate"] = acme.rina
    elif case == "other_org":
        overrides["delegate"] = other_org.rina
    elif case == "no_login":
        overrides["delegate"] = acme.budi
    elif case == "partner":
        overrides["delegate"] = acme.joko
    elif case == "auditor":
        overrides["delegate"] = member_person(acme, "aud", Role.AUDITOR)
    elif case == "left":
        ended = acme.organisation.memberships.get(user=dewi.user)
        membership.end_membership(
            ended, actor=acme.admin, expected_version=ended.version
        )
    elif case == "deactivated":
        gone = org.create_person(acme.organisation, actor=acme.admin, full_name="Gone")
        org.deactivate_person(gone, actor=acme.admin, expected_version=1)
        overrides["delegate"] = gone
    elif case == "naive":
        overrides["starts_at"] = MON.replace(tzinfo=None)
    elif case == "reversed":
        overrides["ends_at"] = MON - SECOND
    elif case == "past":
        overrides["now"] = FRI
    elif case == "foreign_route":
        overrides["routes"] = [new_route(other_org, "THEIRS")]
    elif case == "inactive_route":
        off = new_route(acme, "OFF")
        routes.update_route(off, actor=acme.admin, expected_version=1, is_active=False)
        overrides["routes"] = [new_route(acme, "ON"), off]
    elif case == "someone_else_s_absence":
        overrides["absence"] = org.record_absence(
            dewi, actor=acme.admin, kind=AbsenceKind.LEAVE, starts_at=MON, ends_at=FRI
        )
    elif case == "cancelled_absence":
        absence = org.record_absence(
            acme.rina,
            actor=acme.member,
            kind=AbsenceKind.LEAVE,
            starts_at=MON,
            ends_at=FRI,
        )
        org.cancel_absence(absence, actor=acme.member, expected_version=1, now=NOW)
        overrides["absence"] = absence
    elif case == "absence_with_delegation":
        absence = delegations.record_absence(
            acme.rina,
            actor=acme.member,
            kind=AbsenceKind.LEAVE,
            starts_at=MON,
            ends_at=FRI,
            delegate=member_person(acme, "wawan"),
            now=NOW,
        )
        overrides["absence"] = absence
    existing = Delegation.objects.count()
    trail = audit_trail(acme.organisation)

    with pytest.raises(ValidationFailed) as refused:
        delegate(acme, dewi, **overrides)

    assert refused.value.errors == errors
    assert Delegation.objects.count() == existing
    trail.assert_nothing_new()


# --- when it works ----------------------------------------------------------------


def test_a_delegation_works_from_its_start_until_the_second_before_its_end(
    acme: SmallOrg, dewi: Person
) -> None:
    assert acme.organisation.time_zone == "Asia/Jakarta"
    made = delegate(acme, dewi)

    assert active_ids(dewi, MON - SECOND) == []
    assert active_ids(dewi, MON) == [made.pk]
    assert active_ids(dewi, FRI - SECOND) == [made.pk]
    # Friday 17:00 in Jakarta is 10:00 UTC: it stops on that minute exactly.
    assert active_ids(dewi, FRI) == []
    assert active_ids(dewi, dt.datetime(2026, 3, 13, 10, 0, tzinfo=dt.UTC)) == []
    assert active_ids(dewi, dt.datetime(2026, 3, 13, 9, 59, 59, tzinfo=dt.UTC)) == [
        made.pk
    ]
    assert active_ids(dewi, FRI + SECOND) == []
    # It lets Dewi decide for Rina, not Rina for Dewi.
    assert active_ids(acme.rina, MON) == []


def test_a_delegation_can_be_limited_to_routes(
    acme: SmallOrg,
    dewi: Person,
    wawan: Person,
    audit_trail,  # type: ignore[no-untyped-def]
) -> None:
    exports, imports, other = (
        new_route(acme, code) for code in ("EXP", "IMP", "OTHER")
    )
    trail = audit_trail(acme.organisation)
    limited = delegate(acme, dewi, routes=[exports, imports, exports])
    everything = delegate(acme, wawan, delegator=acme.budi, actor=acme.admin)

    assert set(limited.routes.all()) == {exports, imports}
    assert trail.new_events()[0].changes["routes"] == sorted([exports.pk, imports.pk])
    assert active_ids(dewi, MON, exports.pk) == [limited.pk]
    assert active_ids(dewi, MON, imports.pk) == [limited.pk]
    assert active_ids(dewi, MON, other.pk) == []
    assert active_ids(dewi, MON) == [limited.pk]  # no route given: whatever the routes
    assert active_ids(wawan, MON, other.pk) == [everything.pk]


def test_delegations_are_never_chained(
    acme: SmallOrg, dewi: Person, wawan: Person
) -> None:
    # Rina delegates to Dewi, and Dewi delegates to Wawan.
    rina_to_dewi = delegate(acme, dewi)
    dewi_to_wawan = delegate(acme, wawan, delegator=dewi, actor=dewi.user)

    # Wawan may act for Dewi only, never for Rina through Dewi.
    assert [d.delegator for d in delegations.active_for(wawan.pk, at=MON)] == [dewi]
    assert active_ids(wawan, MON) == [dewi_to_wawan.pk]
    assert active_ids(dewi, MON) == [rina_to_dewi.pk]


def test_active_for_needs_an_aware_moment(acme: SmallOrg, dewi: Person) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        delegations.active_for(dewi.pk, at=MON.replace(tzinfo=None))


def test_stand_ins_are_the_delegates_working_for_the_route_in_one_query(
    acme: SmallOrg,
    dewi: Person,
    wawan: Person,
    django_assert_num_queries,  # type: ignore[no-untyped-def]
) -> None:
    exports, other = (new_route(acme, code) for code in ("EXP", "OTHER"))
    # Rina → Dewi for the exports route only; Budi → Wawan for every route; Dewi →
    # Wawan too (never chained: Wawan does not stand in for Rina through Dewi).
    delegate(acme, dewi, routes=[exports])
    delegate(acme, wawan, delegator=acme.budi, actor=acme.admin)
    delegate(acme, wawan, delegator=dewi, actor=dewi.user)

    with django_assert_num_queries(1):
        found = delegations.stand_ins(
            [acme.rina.pk, acme.budi.pk, acme.rina.pk], at=MON, route_id=exports.pk
        )

    assert found == sorted([dewi.pk, wawan.pk])
    assert delegations.stand_ins([acme.rina.pk], at=MON, route_id=other.pk) == []
    assert (
        delegations.stand_ins([acme.rina.pk], at=MON - SECOND, route_id=exports.pk)
        == []
    )
    assert delegations.stand_ins([acme.rina.pk], at=FRI, route_id=exports.pk) == []
    assert delegations.stand_ins([dewi.pk], at=MON, route_id=other.pk) == [wawan.pk]
    # Nobody asked about: no query at all.
    with django_assert_num_queries(0):
        assert delegations.stand_ins([], at=MON, route_id=exports.pk) == []


def test_stand_ins_follow_absences_and_stop_when_revoked_or_cancelled(
    acme: SmallOrg, dewi: Person, wawan: Person
) -> None:
    route = new_route(acme, "EXP")
    absence = delegations.record_absence(
        acme.rina,
        actor=acme.member,
        kind=AbsenceKind.LEAVE,
        starts_at=MON,
        ends_at=FRI,
        delegate=dewi,
        now=NOW,
    )
    revoked = delegate(acme, wawan, delegator=acme.budi, actor=acme.admin)
    back_early = dt.datetime(2026, 3, 11, 13, 0, tzinfo=JAKARTA)
    people = [acme.rina.pk, acme.budi.pk]
    assert delegations.stand_ins(people, at=MON, route_id=route.pk) == sorted(
        [dewi.pk, wawan.pk]
    )

    org.cancel_absence(absence, actor=acme.member, expected_version=1, now=back_early)
    delegations.revoke(revoked, actor=acme.admin, expected_version=1, now=back_early)

    assert delegations.stand_ins(
        people, at=back_early - SECOND, route_id=route.pk
    ) == sorted([dewi.pk, wawan.pk])
    assert delegations.stand_ins(people, at=back_early, route_id=route.pk) == []


def test_stand_ins_needs_an_aware_moment(acme: SmallOrg) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        delegations.stand_ins([acme.rina.pk], at=MON.replace(tzinfo=None), route_id=1)


# --- revoking ---------------------------------------------------------------------


def test_revoking_stops_a_delegation_at_once(
    acme: SmallOrg, dewi: Person, audit_trail
) -> None:  # type: ignore[no-untyped-def]
    made = delegate(acme, dewi)
    noon = dt.datetime(2026, 3, 10, 12, 0, tzinfo=JAKARTA)
    trail = audit_trail(acme.organisation)

    delegations.revoke(made, actor=acme.member, expected_version=1, now=noon)

    stored = Delegation.objects.get(pk=made.pk)
    assert (stored.revoked_at, stored.version) == (noon, 2)
    event = trail.only_new_event()
    assert (event.verb, event.changes) == (
        AuditVerb.DELEGATION_REVOKED,
        {"revoked_at": [None, "2026-03-10T05:00:00+00:00"]},
    )
    # Decisions taken before stay explained: it worked until the revocation.
    assert active_ids(dewi, noon - SECOND) == [made.pk]
    assert active_ids(dewi, noon) == []


def test_revoking_twice_is_refused(acme: SmallOrg, dewi: Person) -> None:
    made = delegate(acme, dewi)
    delegations.revoke(made, actor=acme.admin, expected_version=1, now=NOW)
    with pytest.raises(ValidationFailed) as refused:
        delegations.revoke(made, actor=acme.admin, expected_version=2, now=NOW)
    assert refused.value.errors == {"__all__": ["The delegation is already revoked."]}


def test_two_people_revoking_at_once_one_of_them_gets_a_conflict(
    acme: SmallOrg,
    dewi: Person,
    audit_trail,  # type: ignore[no-untyped-def]
) -> None:
    made = delegate(acme, dewi)
    seen_by_admin = Delegation.objects.get(pk=made.pk)
    seen_by_rina = Delegation.objects.get(pk=made.pk)
    delegations.revoke(seen_by_admin, actor=acme.admin, expected_version=1, now=NOW)
    trail = audit_trail(acme.organisation)

    with pytest.raises(Conflict):
        delegations.revoke(
            seen_by_rina, actor=acme.member, expected_version=1, now=NOW + SECOND
        )

    assert Delegation.objects.get(pk=made.pk).revoked_at == NOW
    trail.assert_nothing_new()


def test_only_the_delegator_or_an_administrator_revokes(
    acme: SmallOrg, dewi: Person
) -> None:
    made = delegate(acme, dewi)
    before = row(made)
    # Not even the delegate: they would rather give it back through the delegator.
    with pytest.raises(PermissionDenied) as refused:
        delegations.revoke(made, actor=dewi.user, expected_version=1, now=NOW)  # type: ignore[arg-type]
    assert refused.value.message == (
        "Only the person who delegated or an administrator can revoke a delegation."
    )
    assert row(made) == before


def test_an_ended_delegation_cannot_be_revoked(acme: SmallOrg, dewi: Person) -> None:
    made = delegate(acme, dewi)
    with pytest.raises(ValidationFailed) as refused:
        delegations.revoke(made, actor=acme.member, expected_version=1, now=FRI)
    assert refused.value.errors == {"__all__": ["The delegation has already ended."]}


# --- absences with a stand-in -----------------------------------------------------


def test_an_absence_with_a_delegate_delegates_for_exactly_its_period(
    acme: SmallOrg,
    dewi: Person,
    audit_trail,  # type: ignore[no-untyped-def]
) -> None:
    trail = audit_trail(acme.organisation)

    absence = delegations.record_absence(
        acme.rina,
        actor=acme.member,
        kind=AbsenceKind.TRAVEL,
        starts_at=MON,
        ends_at=FRI,
        delegate=dewi,
        note="Dinas luar",
        now=NOW,
    )

    made = Delegation.objects.get(absence=absence)
    assert (made.delegator, made.delegate, made.starts_at, made.ends_at, made.note) == (
        acme.rina,
        dewi,
        MON,
        FRI,
        "",
    )
    assert (absence.kind, absence.note) == (AbsenceKind.TRAVEL, "Dinas luar")
    assert [e.verb for e in trail.new_events()] == [
        AuditVerb.ABSENCE_RECORDED,
        AuditVerb.DELEGATED,
    ]
    assert active_ids(dewi, MON) == [made.pk]


def test_an_absence_without_a_delegate_delegates_nothing(acme: SmallOrg) -> None:
    absence = delegations.record_absence(
        acme.rina,
        actor=acme.member,
        kind=AbsenceKind.LEAVE,
        starts_at=MON,
        ends_at=FRI,
        now=NOW,
    )
    assert Absence.objects.filter(pk=absence.pk).exists()
    assert not Delegation.objects.exists()


def test_an_absence_and_its_delegation_are_recorded_both_or_neither(
    acme: SmallOrg,
    audit_trail,  # type: ignore[no-untyped-def]
) -> None:
    trail = audit_trail(acme.organisation)
    with pytest.raises(ValidationFailed) as refused:
        delegations.record_absence(
            acme.rina,
            actor=acme.member,
            kind=AbsenceKind.LEAVE,
            starts_at=MON,
            ends_at=FRI,
            delegate=acme.budi,  # no login: cannot decide
            now=NOW,
        )
    assert list(refused.value.errors) == ["delegate"]
    assert not Absence.objects.exists()
    assert not Delegation.objects.exists()
    trail.assert_nothing_new()

    # An absence that is already over cannot hand over authority either.
    with pytest.raises(ValidationFailed) as over:
        delegations.record_absence(
            acme.rina,
            actor=acme.member,
            kind=AbsenceKind.LEAVE,
            starts_at=MON,
            ends_at=FRI,
            delegate=member_person(acme, "wawan"),
            now=FRI + SECOND,
        )
    assert over.value.errors == {"ends_at": ["The end must be in the future."]}
    assert not Absence.objects.exists()


def test_cancelling_the_absence_stops_its_delegation(
    acme: SmallOrg, dewi: Person
) -> None:
    absence = delegations.record_absence(
        acme.rina,
        actor=acme.member,
        kind=AbsenceKind.LEAVE,
        starts_at=MON,
        ends_at=FRI,
        delegate=dewi,
        now=NOW,
    )
    made = Delegation.objects.get(absence=absence)
    back_early = dt.datetime(2026, 3, 11, 13, 0, tzinfo=JAKARTA)

    org.cancel_absence(absence, actor=acme.member, expected_version=1, now=back_early)

    assert active_ids(dewi, back_early - SECOND) == [made.pk]
    assert active_ids(dewi, back_early) == []
    assert active_ids(dewi, FRI - SECOND) == []
    assert Delegation.objects.get(pk=made.pk).revoked_at is None  # stopped, not revoked


def test_a_person_s_delegations_given_and_received(
    acme: SmallOrg, dewi: Person, wawan: Person
) -> None:
    given = delegate(acme, dewi)
    received = delegate(
        acme, acme.rina, delegator=wawan, actor=wawan.user, starts_at=MON + SECOND
    )
    revoked = delegate(acme, wawan)
    delegations.revoke(revoked, actor=acme.member, expected_version=1, now=NOW)
    ended = delegate(acme, dewi, starts_at=NOW, ends_at=MON)

    mine = delegations.delegations_of(acme.rina.pk, at=NOW)
    assert (mine.given, mine.received) == ([ended, given], [received])
    later = delegations.delegations_of(acme.rina.pk, at=MON)
    assert (later.given, later.received) == ([given], [received])
    assert delegations.delegations_of(dewi.pk, at=MON).received == [given]


# --- real races (PostgreSQL: threads share the test database only there) -----------

on_postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs real row locks and concurrent transactions (PostgreSQL)",
)


def run_in_threads(work: Callable[[int], object], count: int) -> list[object]:
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def target(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = work(index)
        except BaseException as error:  # inspected by the test
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a writer hung"
    return results


@pytest.mark.postgres_only
@on_postgresql_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_revocations_revoke_once(acme: SmallOrg, dewi: Person) -> None:
    made = delegate(acme, dewi)

    def revoke(index: int) -> object:
        seen = Delegation.objects.get(pk=made.pk)
        actor = acme.admin if index % 2 else acme.member
        return delegations.revoke(seen, actor=actor, expected_version=1, now=NOW)

    results = run_in_threads(revoke, 4)

    assert sum(isinstance(result, Delegation) for result in results) == 1
    assert all(isinstance(result, Delegation | Conflict) for result in results), results
    assert Delegation.objects.get(pk=made.pk).version == 2
    assert audit.verify(acme.organisation).ok


@pytest.mark.postgres_only
@on_postgresql_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_overlapping_absences_are_recorded_once(
    acme: SmallOrg, dewi: Person
) -> None:
    def record(index: int) -> object:
        return delegations.record_absence(
            acme.rina,
            actor=acme.member,
            kind=AbsenceKind.LEAVE,
            starts_at=MON + index * SECOND,
            ends_at=FRI,
            delegate=dewi,
            now=NOW,
        )

    results = run_in_threads(record, 4)

    assert sum(isinstance(result, Absence) for result in results) == 1
    assert all(isinstance(result, Absence | ValidationFailed) for result in results), (
        results
    )
    assert Absence.objects.filter(person=acme.rina).count() == 1
    assert Delegation.objects.count() == 1
    assert audit.verify(acme.organisation).ok

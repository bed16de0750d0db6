"""“Away & delegation”: each person records their own absences (with a stand-in)
and delegations, sees the ones they hold, and administrators do it for anyone.
Times are typed and shown in the organisation's time zone. Every refused change
writes nothing."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from rantai.accounts.models import Role, User
from rantai.approvals import delegation as delegation_services
from rantai.approvals import routes
from rantai.approvals.models import Delegation, Route, SubjectKind
from rantai.audit.models import AuditEvent
from rantai.org import membership
from rantai.org import services as org
from rantai.org.models import Absence, AbsenceKind, Person
from rantai.testing import SmallOrg, make_user

CONFLICT = "This record was changed by someone else in the meantime."
JAKARTA = zoneinfo.ZoneInfo("Asia/Jakarta")


def url(name: str, small: SmallOrg, *args: object) -> str:
    return reverse(name, args=[small.organisation.slug, *args])


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.content.decode()


def assert_csp_clean(response) -> None:  # type: ignore[no-untyped-def]
    html = text(response)
    assert " style=" not in html
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None
    assert re.search(r"\son[a-z]+=", html) is None


def field_errors(html: str, name: str) -> str:
    """The markup of one field (its errors are inside), which must be marked as
    having an error."""
    start = html.find(f'<div data-field="{name}" class="field')
    assert start >= 0, f"no field {name}"
    ends = [
        index
        for index in (
            html.find("<div data-field=", start + 1),
            html.find("</form>", start),
        )
        if index >= 0
    ]
    markup = html[start : min(ends)]
    assert "has-error" in markup.split(">", 1)[0], f"no error on the field {name}"
    return markup


def snapshot() -> dict[str, list]:
    return {
        "absences": list(Absence.objects.order_by("pk").values_list()),
        "delegations": list(Delegation.objects.order_by("pk").values_list()),
        "events": list(AuditEvent.objects.order_by("pk").values_list("pk", flat=True)),
    }


def local(year: int, month: int, day: int, hour: int = 8) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=JAKARTA)


@pytest.fixture
def dewi(acme: SmallOrg) -> tuple[User, Person]:
    """A member with a person, who may stand in for others."""
    user = make_user("dewi")
    membership.add_member(
        acme.organisation, actor=acme.admin, user=user, role=Role.MEMBER
    )
    person = org.create_person(
        acme.organisation, actor=acme.admin, full_name="Dewi Lestari", user=user
    )
    return user, person


@pytest.fixture
def route(acme: SmallOrg) -> Route:
    return routes.create_route(
        acme.organisation,
        actor=acme.admin,
        code="DEV",
        name="Deviations",
        subject_kind=SubjectKind.DEVIATION,
    )


# --- reading ---------------------------------------------------------------------------


def test_a_member_sees_their_own_page(client, acme, dewi):
    delegation_services.record_absence(
        acme.rina,
        actor=acme.member,
        kind=AbsenceKind.TRAVEL,
        starts_at=local(2030, 3, 2),
        ends_at=local(2030, 3, 6, 17),
        delegate=dewi[1],
    )
    client.force_login(acme.member)

    response = client.get(url("away", acme))

    html = text(response)
    assert response.status_code == 200
    assert "Rina Kusuma" in html
    assert "Official travel" in html
    # shown in the organisation's time zone (Asia/Jakarta)
    assert "2 Mar 2030 08:00" in html and "6 Mar 2030 17:00" in html
    assert "Dewi Lestari" in html
    assert "Record an absence" in html and "Delegate approvals" in html
    assert 'type="datetime-local"' in html
    assert_csp_clean(response)


def test_the_delegate_sees_what_they_hold(client, acme, dewi, route):
    delegation_services.delegate(
        acme.rina,
        actor=acme.member,
        delegate=dewi[1],
        starts_at=local(2030, 1, 1),
        ends_at=local(2030, 1, 10),
        routes=[route],
    )
    client.force_login(dewi[0])

    html = text(client.get(url("away", acme)))

    held = html[html.index('id="received"') :]
    assert "Rina Kusuma" in held
    assert "Deviations" in held
    assert "Revoke" not in held


def test_people_without_a_person_or_rights_see_only_what_they_may(client, acme):
    client.force_login(acme.auditor)  # no person
    html = text(client.get(url("away", acme)))
    assert "not linked to a person" in html
    assert "Record an absence" not in html

    client.force_login(acme.partner)  # Joko: his absences, no delegations
    html = text(client.get(url("away", acme)))
    assert "Record an absence" in html
    assert "Delegate approvals" not in html


def test_someone_elses_page_is_for_administrators(client, acme, other_org):
    budi_page = url("away-person", acme, acme.budi.pk)
    client.force_login(acme.member)
    before = snapshot()
    assert client.get(budi_page).status_code == 403
    refused = client.post(
        url("absence-create", acme, acme.budi.pk),
        {
            "kind": "leave",
            "starts_at": "2030-03-02T08:00",
            "ends_at": "2030-03-03T08:00",
        },
    )
    assert refused.status_code == 403
    assert snapshot() == before

    client.force_login(acme.admin)
    response = client.get(budi_page)
    assert response.status_code == 200
    assert "Budi Santoso" in text(response)
    assert "(as an administrator)" in text(response)
    chosen = client.get(url("away", acme) + f"?person={acme.budi.pk}")
    assert chosen["Location"] == budi_page

    client.force_login(other_org.admin)
    assert client.get(url("away-person", acme, acme.budi.pk)).status_code == 404
    assert client.get(url("away-person", other_org, acme.budi.pk)).status_code == 404


def test_the_page_runs_a_fixed_number_of_queries(
    client, acme, dewi, route, django_assert_num_queries
):
    def add(day: int) -> None:
        delegation_services.record_absence(
            acme.rina,
            actor=acme.member,
            kind=AbsenceKind.LEAVE,
            starts_at=local(2030, 4, day),
            ends_at=local(2030, 4, day, 17),
            delegate=dewi[1],
        )
        delegation_services.delegate(
            acme.rina,
            actor=acme.member,
            delegate=dewi[1],
            starts_at=local(2030, 5, day),
            ends_at=local(2030, 5, day, 17),
            routes=[route],
        )

    add(1)
    client.force_login(acme.member)
    with CaptureQueriesContext(connection) as first:
        assert client.get(url("away", acme)).status_code == 200
    for day in range(2, 6):
        add(day)
    with django_assert_num_queries(len(first.captured_queries)):
        response = client.get(url("away", acme))
    assert text(response).count("<td>Deviations</td>") == 5


# --- absences --------------------------------------------------------------------------


def test_recording_an_absence_with_a_stand_in_in_local_time(client, acme, dewi):
    client.force_login(acme.member)

    response = client.post(
        url("absence-create", acme, acme.rina.pk),
        {
            "kind": "leave",
            "starts_at": "2030-03-02T08:00",
            "ends_at": "2030-03-06T17:00",
            "delegate": dewi[1].pk,
            "note": "Family",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == url("away", acme) + "#absences"
    absence = Absence.objects.get(person=acme.rina)
    assert absence.starts_at == dt.datetime(2030, 3, 2, 1, 0, tzinfo=dt.UTC)
    assert absence.ends_at == dt.datetime(2030, 3, 6, 10, 0, tzinfo=dt.UTC)
    delegation = Delegation.objects.get(absence=absence)
    assert (delegation.delegate, delegation.starts_at, delegation.ends_at) == (
        dewi[1],
        absence.starts_at,
        absence.ends_at,
    )


def test_a_bad_period_is_refused_on_its_field(client, acme):
    client.force_login(acme.member)
    delegation_services.record_absence(
        acme.rina,
        actor=acme.member,
        kind=AbsenceKind.LEAVE,
        starts_at=local(2030, 3, 2),
        ends_at=local(2030, 3, 4),
    )
    before = snapshot()

    backwards = client.post(
        url("absence-create", acme, acme.rina.pk),
        {
            "kind": "leave",
            "starts_at": "2030-03-10T08:00",
            "ends_at": "2030-03-09T08:00",
        },
    )
    assert backwards.status_code == 200
    assert "The end must be after the start." in field_errors(
        text(backwards), "ends_at"
    )

    overlapping = client.post(
        url("absence-create", acme, acme.rina.pk),
        {
            "kind": "sick",
            "starts_at": "2030-03-03T08:00",
            "ends_at": "2030-03-05T08:00",
        },
    )
    assert "already recorded as away" in field_errors(text(overlapping), "starts_at")

    garbled = client.post(
        url("absence-create", acme, acme.rina.pk),
        {"kind": "leave", "starts_at": "next week", "ends_at": ""},
    )
    assert "Enter a valid date/time." in field_errors(text(garbled), "starts_at")
    assert "This field is required." in field_errors(text(garbled), "ends_at")
    assert snapshot() == before


def test_cancelling_an_absence_and_a_stale_cancel_conflicts(client, acme, dewi):
    absence = delegation_services.record_absence(
        acme.rina,
        actor=acme.member,
        kind=AbsenceKind.LEAVE,
        starts_at=local(2030, 3, 2),
        ends_at=local(2030, 3, 4),
        delegate=dewi[1],
    )
    client.force_login(acme.member)
    page = url("absence-cancel", acme, absence.pk)
    assert client.get(page).status_code == 200

    response = client.post(page, {"version": absence.version})

    assert response.status_code == 302
    absence.refresh_from_db()
    assert absence.cancelled_at is not None
    html = text(client.get(url("away", acme)))
    assert "No absences now or coming." in html
    given = html[html.index('id="given"') : html.index("Delegate approvals")]
    assert "Dewi Lestari" not in given
    assert "None now or coming." in given

    before = snapshot()
    stale = client.post(page, {"version": absence.version - 1})
    assert stale.status_code == 409
    assert CONFLICT in text(stale)
    assert snapshot() == before


def test_nobody_cancels_someone_elses_absence(client, acme, dewi):
    absence = delegation_services.record_absence(
        acme.rina,
        actor=acme.member,
        kind=AbsenceKind.LEAVE,
        starts_at=local(2030, 3, 2),
        ends_at=local(2030, 3, 4),
    )
    client.force_login(dewi[0])
    before = snapshot()
    page = url("absence-cancel", acme, absence.pk)
    assert client.get(page).status_code == 403
    assert client.post(page, {"version": absence.version}).status_code == 403
    assert snapshot() == before


# --- delegations -----------------------------------------------------------------------


def test_delegating_for_some_routes_and_revoking(client, acme, dewi, route):
    client.force_login(acme.member)

    response = client.post(
        url("delegation-create", acme, acme.rina.pk),
        {
            "delegate": dewi[1].pk,
            "starts_at": "2030-01-01T08:00",
            "ends_at": "2030-01-10T17:00",
            "routes": [route.pk],
            "note": "Audit season",
        },
    )

    assert response.status_code == 302
    delegation = Delegation.objects.get(delegator=acme.rina)
    assert delegation.delegate == dewi[1]
    assert list(delegation.routes.all()) == [route]
    assert delegation.starts_at == dt.datetime(2030, 1, 1, 1, 0, tzinfo=dt.UTC)
    given = text(client.get(url("away", acme)))
    assert "Audit season" in given

    revoke = url("delegation-revoke", acme, delegation.pk)
    assert client.post(revoke, {"version": delegation.version}).status_code == 302
    delegation.refresh_from_db()
    assert delegation.revoked_at is not None

    before = snapshot()
    stale = client.post(revoke, {"version": delegation.version - 1})
    assert stale.status_code == 409
    assert snapshot() == before


def test_a_delegation_ending_in_the_past_is_refused_on_the_end(client, acme, dewi):
    client.force_login(acme.member)
    before = snapshot()
    yesterday = timezone.now().astimezone(JAKARTA) - dt.timedelta(days=1)

    response = client.post(
        url("delegation-create", acme, acme.rina.pk),
        {
            "delegate": dewi[1].pk,
            "starts_at": (yesterday - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
            "ends_at": yesterday.strftime("%Y-%m-%dT%H:%M"),
        },
    )

    assert response.status_code == 200
    delegation_form = text(response)[text(response).index('id="given"') :]
    assert "The end must be in the future." in field_errors(delegation_form, "ends_at")
    assert snapshot() == before


def test_only_people_who_may_decide_are_offered_as_delegates(client, acme, dewi):
    client.force_login(acme.member)
    html = text(client.get(url("away", acme)))
    form = html[html.index('id="delegation-delegate"') :]
    options = form[: form.index("</select>")]
    assert "Dewi Lestari" in options
    assert "Budi Santoso" not in options  # no login
    assert "Joko Susilo" not in options  # a partner
    assert "Rina Kusuma" not in options  # herself


def test_a_partner_cannot_delegate(client, acme, dewi):
    client.force_login(acme.partner)
    before = snapshot()
    response = client.post(
        url("delegation-create", acme, acme.joko.pk),
        {
            "delegate": dewi[1].pk,
            "starts_at": "2030-01-01T08:00",
            "ends_at": "2030-01-02T08:00",
        },
    )
    assert response.status_code == 403
    assert snapshot() == before


def test_an_indonesian_member_sees_the_page_and_its_errors_in_indonesian(client, acme):
    acme.member.language = "id"
    acme.member.save(update_fields=["language"])
    client.force_login(acme.member)
    before = snapshot()

    response = client.post(
        url("absence-create", acme, acme.rina.pk),
        {"kind": "leave", "starts_at": "2030-03-10T08:00", "ends_at": ""},
    )

    html = text(response)
    assert response.status_code == 200
    assert '<html lang="id">' in html
    assert "Tidak ada yang disimpan." in html
    assert "Isian ini wajib diisi." in field_errors(html, "ends_at")
    assert snapshot() == before

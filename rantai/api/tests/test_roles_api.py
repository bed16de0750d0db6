# mypy: disable-error-code="attr-defined"
# (the test client's responses have .json(); django-stubs types them as HttpResponse)
"""Roles through the API (docs/design-roles.md, "Interfaces"): the RACI matrix and
editing a draft's cells, whose roles, role checks and acknowledged warnings,
briefings, assignment rationale and manual assignment, consultations,
rebalancing, the fairness report and the policy — each with its success, its
problem+json refusals (a refused request writes nothing), partners' scoping,
another organisation (404), stale versions (409) and idempotent replays.

The world (the whole roles wiring, as in production): acme's Export unit has two
clerks, Ani and Eko (logins), who cover the duty "Book freight"; Lia (login) is
the legal officer; Rina (SmallOrg's member) heads Export and owns the procedure
SHIP: "book" (clerk, consulting legal, with the duty) and "pack" (clerk, no
duty) start together, then the forwarder (an external partner, Joko) ships.
Published and started at T0 (Monday 2 March 2026, 08:00 in Jakarta): the
policy gives "book" to Ani and "pack" to Eko.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rantai.accounts.models import User
from rantai.api.tests.conftest import Api, api_for, audit_head, problem_of
from rantai.audit.models import AuditEvent, AuditVerb
from rantai.chains import services as chains
from rantai.chains.models import ProcedureVersion, RaciRole, Step, StepRole, Task
from rantai.org import services as org
from rantai.org.models import Person
from rantai.roles import assigning
from rantai.roles.models import (
    Assignment,
    Briefing,
    CheckAcknowledgement,
    Consultation,
    RebalanceProposal,
    RoleSettings,
)
from rantai.roles.tests import factories as f
from rantai.testing import SmallOrg

BASE = "/orgs/acme"
KEY = {"Idempotency-Key": "9c2d7e4a-1b3f-4a5c-8d6e-7f8a9b0c1d2e"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class World(f.ShippingWorld):
    @property
    def procedure_id(self) -> int:
        return self.version.procedure_id

    def api(self, who: Person | User) -> Api:
        user = f.user_of(who) if isinstance(who, Person) else who
        return api_for(user)

    def step(self, key: str, version: ProcedureVersion | None = None) -> Step:
        return Step.objects.get(procedure_version=version or self.version, key=key)

    def path(self, rest: str, number: int | None = None) -> str:
        number = number or self.version.number
        return f"{BASE}/procedures/{self.procedure_id}/versions/{number}/{rest}"


@pytest.fixture
def w(db) -> World:
    return World(**vars(f.shipping_world()))


@pytest.fixture
def other(db) -> SmallOrg:
    return f.organisation("globex", prefix="g-")


def _state() -> list[Any]:
    """Everything a roles write could have changed."""
    return [
        sorted(StepRole.objects.values_list("pk", "step_id", "role", "position_id")),
        sorted(Task.objects.values_list("pk", "version", "assignee_id", "status")),
        sorted(Assignment.objects.values_list("pk")),
        sorted(Briefing.objects.values_list("pk", "version", "acknowledged_at")),
        sorted(
            CheckAcknowledgement.objects.values_list("pk", "withdrawn_at", "reason")
        ),
        sorted(Consultation.objects.values_list("pk", "version", "status")),
        sorted(RebalanceProposal.objects.values_list("pk", "version", "status")),
        sorted(RoleSettings.objects.values_list("pk", "version")),
    ]


class Unchanged:
    """Asserts that a refused request wrote nothing, the audit trail included."""

    def __init__(self, w: World) -> None:
        self.w = w
        self.state = _state()
        self.head = audit_head(w.o.organisation)

    def check(self) -> None:
        assert _state() == self.state
        assert audit_head(self.w.o.organisation) == self.head


def _refused(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = problem_of(response)
    if code is not None:
        assert body["code"] == code
    return body


def _items(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == len(body["items"])
    return body["items"]  # type: ignore[no-any-return]


# --- the world as the policy left it ----------------------------------------------------


def test_the_world_is_as_described(w):
    assert w.task("book").assignee_id == w.ani.pk
    assert w.task("pack").assignee_id == w.eko.pk
    assert w.task("ship").responsible_party_id == w.o.forwarder.pk


# --- the RACI matrix -----------------------------------------------------------------


def _clerk(w: World) -> dict[str, Any]:
    return {
        "key": f"position:{w.clerk.pk}",
        "kind": "position",
        "id": w.clerk.pk,
        "title": "Clerk",
        "code": "CLK",
        "party_id": w.o.export.pk,
        "party_name": "Export",
        "is_external": False,
    }


def test_the_matrix_has_the_steps_in_order_and_every_position_and_party(w):
    head, clerk, legal = (
        f"position:{w.o.export_head.pk}",
        f"position:{w.clerk.pk}",
        f"position:{w.legal.pk}",
    )
    forwarder = f"party:{w.o.forwarder.pk}"

    response = w.api(w.ani).get(w.path("raci"))

    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ("procedure_code", "number", "status")} == {
        "procedure_code": "SHIP",
        "number": 1,
        "status": "published",
    }
    assert body["is_editable"] is False
    # by party (Export, Fast Forwarding, Head office), then title
    assert [c["key"] for c in body["columns"]] == [clerk, head, forwarder, legal]
    assert body["columns"][0] == _clerk(w)
    assert body["columns"][2]["is_external"] is True
    assert [
        (r["key"], r["requires_consultation"], r["cells"]) for r in body["rows"]
    ] == [
        ("book", True, {clerk: ["R"], head: ["A"], legal: ["C"]}),
        ("pack", False, {clerk: ["R"], head: ["A"]}),
        ("ship", False, {head: ["A"], forwarder: ["R"]}),
    ]


def test_a_partner_sees_only_its_own_partys_column_and_steps(w):
    response = api_for(w.o.partner).get(w.path("raci"))

    assert response.status_code == 200
    body = response.json()
    assert [c["key"] for c in body["columns"]] == [f"party:{w.o.forwarder.pk}"]
    assert [row["key"] for row in body["rows"]] == ["ship"]


def test_the_matrix_as_an_excel_file(w):
    response = w.api(w.ani).get(w.path("raci"), format="xlsx")

    assert response.status_code == 200
    assert response["Content-Type"] == XLSX
    assert response["Content-Disposition"] == 'attachment; filename="raci-SHIP-v1.xlsx"'
    assert response.content[:2] == b"PK"


def test_an_unknown_version_or_another_organisations_procedure_is_404(w, other):
    version = f.procedure(
        other, [f.StepRow("a", other.export_staff, other.export_head)]
    )

    _refused(w.api(w.ani).get(w.path("raci", number=9)), 404)
    _refused(
        w.api(w.ani).get(f"{BASE}/procedures/{version.procedure_id}/versions/1/raci"),
        404,
    )
    _refused(api_for(other.admin).get(w.path("raci")), 404)


def test_a_bad_format_is_422(w):
    body = _refused(w.api(w.ani).get(w.path("raci"), format="doc"), 422)

    assert list(body["errors"]) == ["format"]


def _draft(w: World) -> ProcedureVersion:
    return chains.new_draft(w.version.procedure, actor=w.o.admin)


def test_the_owner_sets_a_cell_of_a_draft(w):
    draft = _draft(w)
    pack = w.step("pack", draft)
    rina = api_for(w.o.member)

    assert rina.get(w.path("raci", number=2)).json()["is_editable"] is True
    response = rina.request(
        "put",
        w.path("raci/cells", number=2),
        {"step_id": pack.pk, "position_id": w.legal.pk, "roles": ["I", "C"]},
    )

    assert response.status_code == 200, response.content
    row = next(r for r in response.json()["rows"] if r["key"] == "pack")
    assert row["cells"][f"position:{w.legal.pk}"] == ["C", "I"]
    assert sorted(
        StepRole.objects.filter(step=pack, position=w.legal).values_list(
            "role", flat=True
        )
    ) == ["C", "I"]

    cleared = rina.request(
        "put",
        w.path("raci/cells", number=2),
        {"step_id": pack.pk, "position_id": w.legal.pk, "roles": []},
    )

    assert cleared.status_code == 200
    assert not StepRole.objects.filter(step=pack, position=w.legal).exists()


def test_setting_a_cell_is_refused_to_others_and_on_published_versions(w, other):
    draft = _draft(w)
    pack = w.step("pack", draft)
    cell = {"step_id": pack.pk, "position_id": w.legal.pk, "roles": ["C"]}
    before = Unchanged(w)

    # a clerk is not the procedure's owner; auditors and partners never edit
    _refused(w.api(w.ani).request("put", w.path("raci/cells", number=2), cell), 403)
    for user in (w.o.auditor, w.o.partner):
        _refused(
            api_for(user).request("put", w.path("raci/cells", number=2), cell), 403
        )
    _refused(
        api_for(other.admin).request("put", w.path("raci/cells", number=2), cell), 404
    )
    # the published version is frozen
    published = {**cell, "step_id": w.step("pack").pk}
    _refused(api_for(w.o.member).request("put", w.path("raci/cells"), published), 422)
    before.check()


def test_setting_a_cell_validates_its_input(w):
    draft = _draft(w)
    pack, book = w.step("pack", draft), w.step("book")
    rina = api_for(w.o.member)
    path = w.path("raci/cells", number=2)
    before = Unchanged(w)

    unknown_role = rina.request(
        "put", path, {"step_id": pack.pk, "position_id": w.legal.pk, "roles": ["X"]}
    )
    second_accountable = rina.request(
        "put", path, {"step_id": pack.pk, "position_id": w.legal.pk, "roles": ["A"]}
    )
    other_versions_step = rina.request(
        "put", path, {"step_id": book.pk, "position_id": w.legal.pk, "roles": ["C"]}
    )
    neither = rina.request("put", path, {"step_id": pack.pk, "roles": ["C"]})

    assert list(_refused(unknown_role, 422)["errors"]) == ["roles.0"]
    assert list(_refused(second_accountable, 422)["errors"]) == ["roles"]
    assert list(_refused(other_versions_step, 422)["errors"]) == ["step_id"]
    _refused(neither, 422)
    before.check()


# --- whose roles --------------------------------------------------------------------------


def _roles(items: list[dict[str, Any]]) -> list[tuple[str, str, str, bool]]:
    return [
        (item["step_key"], item["role"], item["position_title"], item["acting"])
        for item in items
    ]


def test_my_roles_through_the_positions_i_hold(w):
    assert _roles(_items(w.api(w.ani).get(f"{BASE}/me/roles"))) == [
        ("book", "R", "Clerk", False),
        ("pack", "R", "Clerk", False),
    ]
    assert _roles(_items(api_for(w.o.member).get(f"{BASE}/me/roles"))) == [
        ("book", "A", "Head of export", False),
        ("pack", "A", "Head of export", False),
        ("ship", "A", "Head of export", False),
    ]
    # the auditor has no person: no roles
    assert _items(api_for(w.o.auditor).get(f"{BASE}/me/roles")) == []


def test_a_persons_roles_with_acting_holders(w):
    dedi = f.person(w.o, "dedi", login=False)
    f.hold(w.o, w.legal, dedi, acting=True)

    items = _items(w.api(w.ani).get(f"{BASE}/people/{dedi.pk}/roles"))

    assert _roles(items) == [("book", "C", "Legal officer", True)]
    assert items[0]["procedure_code"] == "SHIP"
    assert items[0]["version_number"] == 1


def test_a_partys_roles_and_partners_see_only_their_own(w):
    partner = api_for(w.o.partner)

    own = _items(partner.get(f"{BASE}/parties/{w.o.forwarder.pk}/roles"))

    assert [(i["step_key"], i["role"], i["position_id"]) for i in own] == [
        ("ship", "R", None)
    ]
    _refused(partner.get(f"{BASE}/parties/{w.o.export.pk}/roles"), 404)
    _refused(partner.get(f"{BASE}/people/{w.ani.pk}/roles"), 404)
    exported = _items(api_for(w.o.admin).get(f"{BASE}/parties/{w.o.export.pk}/roles"))
    assert [(i["step_key"], i["role"]) for i in exported] == [
        ("book", "R"),
        ("book", "A"),
        ("pack", "R"),
        ("pack", "A"),
        ("ship", "A"),
    ]


def test_roles_of_another_organisations_person_are_404(w, other):
    _refused(w.api(w.ani).get(f"{BASE}/people/{other.rina.pk}/roles"), 404)
    _refused(api_for(other.admin).get(f"{BASE}/me/roles"), 404)


# --- role checks ----------------------------------------------------------------------------


def _finding(items: list[dict[str, Any]], rule: str) -> dict[str, Any]:
    return next(item for item in items if item["rule"] == rule)


def test_the_organisations_role_checks(w):
    items = _items(w.api(w.ani).get(f"{BASE}/role-checks"))

    pack = w.step("pack")
    finding = _finding(items, "duty_not_covered")
    assert finding["severity"] == "warning"
    assert finding["subject"] == f"v{w.version.pk}:step:{pack.pk}:position:{w.clerk.pk}"
    assert (finding["fix_kind"], finding["fix_id"]) == ("step", pack.pk)
    assert (finding["version_id"], finding["step_id"]) == (w.version.pk, pack.pk)
    assert finding["is_acknowledged"] is False
    assert finding["acknowledgement"] is None
    assert finding["message"] and finding["explanation"]
    assert all(item["severity"] == "warning" for item in items)
    assert _items(w.api(w.ani).get(f"{BASE}/role-checks", severity="error")) == []


def test_a_drafts_role_checks_show_its_errors(w):
    draft = _draft(w)
    accountable = StepRole.objects.get(
        step=w.step("pack", draft), role=RaciRole.ACCOUNTABLE
    )
    chains.remove_step_role(accountable, actor=w.o.admin)

    items = _items(
        api_for(w.o.auditor).get(w.path("role-checks", number=2), severity="error")
    )

    assert [(i["rule"], i["step_id"]) for i in items] == [
        ("accountable_count", w.step("pack", draft).pk)
    ]


def test_partners_and_other_organisations_see_no_role_checks(w, other):
    bad = _refused(w.api(w.ani).get(f"{BASE}/role-checks", severity="fatal"), 422)
    assert list(bad["errors"]) == ["severity"]
    _refused(
        api_for(other.admin).post(
            f"{BASE}/role-checks/acknowledgements", _acknowledge_body(w)
        ),
        404,
    )
    _refused(api_for(w.o.partner).get(f"{BASE}/role-checks"), 404)
    _refused(api_for(w.o.partner).get(w.path("role-checks")), 404)
    _refused(api_for(other.admin).get(f"{BASE}/role-checks"), 404)


def _acknowledge_body(w: World, **changes: Any) -> dict[str, Any]:
    return {
        "rule": "duty_not_covered",
        "subject": f"v{w.version.pk}:step:{w.step('pack').pk}:position:{w.clerk.pk}",
        "reason": "Packing needs no particular skill.",
        "procedure_version_id": w.version.pk,
        **changes,
    }


def test_the_owner_acknowledges_a_warning_and_a_retry_replays(w):
    rina = api_for(w.o.member)

    first = rina.post(f"{BASE}/role-checks/acknowledgements", _acknowledge_body(w), KEY)
    head = audit_head(w.o.organisation)
    second = rina.post(
        f"{BASE}/role-checks/acknowledgements", _acknowledge_body(w), KEY
    )

    assert first.status_code == second.status_code == 201
    assert second.content == first.content
    assert second["Idempotent-Replayed"] == "true"
    assert audit_head(w.o.organisation) == head
    body = first.json()
    assert first["Location"].endswith(f"/role-checks/acknowledgements/{body['id']}")
    assert (body["rule"], body["is_active"], body["acknowledged_by_id"]) == (
        "duty_not_covered",
        True,
        w.o.member.pk,
    )
    assert CheckAcknowledgement.objects.count() == 1
    finding = _finding(_items(rina.get(f"{BASE}/role-checks")), "duty_not_covered")
    assert finding["is_acknowledged"] is True
    assert finding["acknowledgement"]["id"] == body["id"]
    open_only = _items(rina.get(f"{BASE}/role-checks", acknowledged="false"))
    assert "duty_not_covered" not in [item["rule"] for item in open_only]
    assert rina.get(first["Location"].split("/api/v1")[1]).json() == body


def test_acknowledging_is_refused_to_non_owners_and_validated(w):
    path = f"{BASE}/role-checks/acknowledgements"
    before = Unchanged(w)

    _refused(w.api(w.ani).post(path, _acknowledge_body(w)), 403)
    _refused(api_for(w.o.auditor).post(path, _acknowledge_body(w)), 403)
    no_reason = api_for(w.o.member).post(path, _acknowledge_body(w, reason=" "))
    no_version = api_for(w.o.admin).post(
        path, _acknowledge_body(w, procedure_version_id=None)
    )
    an_error = api_for(w.o.admin).post(
        path, _acknowledge_body(w, rule="accountable_count")
    )
    unknown = api_for(w.o.admin).post(path, _acknowledge_body(w, subject="v1:step:1"))

    assert list(_refused(no_reason, 422)["errors"]) == ["reason"]
    assert list(_refused(no_version, 422)["errors"]) == ["procedure_version_id"]
    assert list(_refused(an_error, 422)["errors"]) == ["rule"]
    assert list(_refused(unknown, 422)["errors"]) == ["subject"]
    before.check()


def test_withdrawing_an_acknowledgement(w):
    admin = api_for(w.o.admin)
    created = admin.post(f"{BASE}/role-checks/acknowledgements", _acknowledge_body(w))
    path = f"{BASE}/role-checks/acknowledgements/{created.json()['id']}/withdraw"

    _refused(w.api(w.ani).post(path), 403)
    withdrawn = admin.post(path)
    again = admin.post(path)

    assert withdrawn.status_code == 200
    assert withdrawn.json()["is_active"] is False
    assert withdrawn.json()["withdrawn_by_id"] == w.o.admin.pk
    _refused(again, 422)
    listed = _items(
        admin.get(f"{BASE}/role-checks/acknowledgements", is_active="false")
    )
    assert [item["id"] for item in listed] == [created.json()["id"]]


# --- briefings ----------------------------------------------------------------------------


def _briefing(w: World, person: Person) -> Briefing:
    return Briefing.objects.get(person=person, procedure_version=w.version)


def test_my_briefings_and_one_briefing_in_plain_sentences(w):
    ani = w.api(w.ani)
    briefing = _briefing(w, w.ani)

    items = _items(ani.get(f"{BASE}/briefings"))
    detail = ani.get(f"{BASE}/briefings/{briefing.pk}")

    assert [(i["id"], i["reason"], i["is_acknowledged"]) for i in items] == [
        (briefing.pk, "version_published", False)
    ]
    assert items[0]["title"] == "Your roles in Procedure SHIP (version 1)"
    assert detail.status_code == 200
    assert detail["ETag"] == f'"{briefing.version}"'
    body = detail.json()
    assert body["may_acknowledge"] is True
    assert body["content"]["positions"][0]["title"] == "Clerk"
    assert [section["title"] for section in body["sections"]][:2] == [
        "Your positions",
        "Your job description",
    ]
    assert body["sections"][0]["sentences"] == ["You hold the position Clerk."]


def test_a_new_holder_is_briefed_about_the_position(w):
    fia = f.person(w.o, "fia")
    f.hold(w.o, w.clerk, fia)

    items = _items(w.api(fia).get(f"{BASE}/briefings"))

    assert [(i["reason"], i["title"], i["holding_id"] is not None) for i in items] == [
        ("started_holding", "Your roles as Clerk", True)
    ]
    detail = w.api(fia).get(f"{BASE}/briefings/{items[0]['id']}").json()
    assert [(r["step_key"], r["role"]) for r in detail["content"]["roles"]] == [
        ("book", "R"),
        ("pack", "R"),
    ]


def test_the_printable_briefing(w):
    response = w.api(w.ani).get(
        f"{BASE}/briefings/{_briefing(w, w.ani).pk}", format="pdf"
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")


def test_someone_elses_briefing_is_404_but_the_process_owner_reads_it(w, other):
    briefing = _briefing(w, w.eko)

    _refused(w.api(w.ani).get(f"{BASE}/briefings/{briefing.pk}"), 404)
    _refused(api_for(other.admin).get(f"{BASE}/briefings/{briefing.pk}"), 404)
    owner = api_for(w.o.member).get(f"{BASE}/briefings/{briefing.pk}")
    assert owner.status_code == 200
    assert owner.json()["may_acknowledge"] is False


def test_acknowledging_my_briefing(w):
    briefing = _briefing(w, w.ani)
    path = f"{BASE}/briefings/{briefing.pk}/acknowledge"
    ani = w.api(w.ani)
    before = Unchanged(w)

    _refused(ani.post(path), 428)
    _refused(ani.post(path, {"version": briefing.version + 1}), 409)
    _refused(api_for(w.o.admin).post(path, {"version": briefing.version}), 403)
    before.check()
    done = ani.post(path, headers={"If-Match": f'"{briefing.version}"'})

    assert done.status_code == 200, done.content
    assert done.json()["is_acknowledged"] is True
    assert done["ETag"] == f'"{briefing.version + 1}"'
    briefing.refresh_from_db()
    assert briefing.acknowledged_by_id == f.user_of(w.ani).pk
    assert AuditEvent.objects.filter(
        organisation=w.o.organisation, verb=AuditVerb.ACKNOWLEDGED
    ).exists()
    _refused(ani.post(path, {"version": briefing.version}), 422, "acknowledged")
    assert _items(ani.get(f"{BASE}/briefings", acknowledged="false")) == []


def test_the_process_owner_reminds_and_sees_who_acknowledged(w):
    f.user_of(w.eko)
    briefing = _briefing(w, w.eko)
    rina = api_for(w.o.member)
    before = Unchanged(w)

    # a clerk does not see a colleague's briefing; an auditor sees but never acts
    _refused(w.api(w.ani).post(f"{BASE}/briefings/{briefing.pk}/remind"), 404)
    _refused(api_for(w.o.auditor).post(f"{BASE}/briefings/{briefing.pk}/remind"), 403)
    before.check()
    reminded = rina.post(f"{BASE}/briefings/{briefing.pk}/remind", headers=KEY)
    replayed = rina.post(f"{BASE}/briefings/{briefing.pk}/remind", headers=KEY)
    status = rina.get(w.path("briefings"))

    assert reminded.status_code == 200, reminded.content
    assert reminded.json()["reminders_sent"] == 1
    assert replayed.json() == reminded.json()
    briefing.refresh_from_db()
    assert briefing.reminders_sent == 1
    assert status.status_code == 200
    body = status.json()
    assert (body["number"], body["may_remind"]) == (1, True)
    assert body["acknowledged"] == 0
    assert body["issued"] == len(body["people"]) == 4
    eko = next(p for p in body["people"] if p["person_id"] == w.eko.pk)
    assert (eko["briefing_id"], eko["reminders"], eko["has_login"]) == (
        briefing.pk,
        1,
        True,
    )
    _refused(w.api(w.ani).get(w.path("briefings")), 403)
    _refused(api_for(w.o.partner).get(w.path("briefings")), 404)


# --- assignments --------------------------------------------------------------------------


def test_why_a_task_has_its_assignee(w):
    response = w.api(w.ani).get(f"{BASE}/tasks/{w.task('book').pk}/assignments")

    assert response.status_code == 200
    body = response.json()
    task = w.task("book")
    assert response["ETag"] == f'"{task.version}"'
    assert (body["task_version"], body["assignee_id"]) == (task.version, w.ani.pk)
    current = body["current"]
    assert (current["kind"], current["rule"], current["outcome"]) == (
        "automatic",
        "least_loaded",
        "chosen",
    )
    assert (current["person_id"], current["person_name"]) == (w.ani.pk, "Ani")
    assert current["minutes"] == 480
    assert [
        (c["person_name"], c["load"], c["open"], c["covers_duty"], c["eligible"])
        for c in current["candidates"]
    ] == [("Ani", 0, 0, True, True), ("Eko", 0, 0, True, True)]
    assert body["history"] == [current]
    assert (
        body["explanation"][0] == "Assigned to Ani by the policy (least loaded first)."
    )


def test_the_owner_assigns_by_hand_and_an_outsider_needs_a_reason(w):
    task = w.task("book")
    path = f"{BASE}/tasks/{task.pk}/assign"
    rina = api_for(w.o.member)

    to_eko = rina.post(path, {"person_id": w.eko.pk, "version": task.version}, KEY)
    replayed = rina.post(path, {"person_id": w.eko.pk, "version": task.version}, KEY)

    assert to_eko.status_code == 200, to_eko.content
    assert replayed.content == to_eko.content
    assert replayed["Idempotent-Replayed"] == "true"
    assert Assignment.objects.filter(task=task).count() == 2  # automatic, manual
    body = to_eko.json()
    assert body["task"]["assignee_id"] == w.eko.pk
    assert to_eko["ETag"] == f'"{task.version + 1}"'
    assert (body["assignment"]["kind"], body["assignment"]["is_override"]) == (
        "manual",
        False,
    )
    assert body["assignment"]["previous_person_id"] == w.ani.pk

    before = Unchanged(w)
    no_reason = rina.post(path, {"person_id": w.o.budi.pk, "version": task.version + 1})
    assert list(_refused(no_reason, 422)["errors"]) == ["reason"]
    before.check()
    override = rina.post(
        path,
        {
            "person_id": w.o.budi.pk,
            "reason": "Eko is needed at the port.",
            "version": task.version + 1,
        },
    )
    assert override.status_code == 200, override.content
    assert override.json()["assignment"]["is_override"] is True
    history = w.api(w.ani).get(f"{BASE}/tasks/{task.pk}/assignments").json()["history"]
    assert [(h["kind"], h["person_id"]) for h in history] == [
        ("manual", w.o.budi.pk),
        ("manual", w.eko.pk),
        ("automatic", w.ani.pk),
    ]


def test_assigning_is_refused_to_others_stale_versions_and_unknown_people(w, other):
    task = w.task("book")
    path = f"{BASE}/tasks/{task.pk}/assign"
    body = {"person_id": w.eko.pk, "version": task.version}
    before = Unchanged(w)

    _refused(w.api(w.lia).post(path, body), 403)
    _refused(api_for(w.o.auditor).post(path, body), 403)
    _refused(api_for(w.o.partner).post(path, body), 403)
    _refused(api_for(w.o.member).post(path, {**body, "version": task.version + 1}), 409)
    _refused(api_for(w.o.member).post(path, {"person_id": w.eko.pk}), 428)
    partner_person = api_for(w.o.member).post(path, {**body, "person_id": w.o.joko.pk})
    foreign = api_for(w.o.member).post(path, {**body, "person_id": other.budi.pk})
    assert list(_refused(partner_person, 422)["errors"]) == ["person_id"]
    assert list(_refused(foreign, 422)["errors"]) == ["person_id"]
    _refused(api_for(other.admin).post(path, body), 404)
    _refused(api_for(other.admin).get(f"{BASE}/tasks/{task.pk}/assignments"), 404)
    before.check()


# --- consultations ------------------------------------------------------------------------


def test_what_waits_for_my_input_and_answering_it(w):
    lia = w.api(w.lia)
    consultation = Consultation.objects.get(task=w.task("book"))

    waiting = _items(lia.get(f"{BASE}/consultations"))

    assert [
        (c["id"], c["task_name"], c["position_title"], c["status"]) for c in waiting
    ] == [(consultation.pk, "Book", "Legal officer", "requested")]
    assert _items(w.api(w.ani).get(f"{BASE}/consultations")) == []

    path = f"{BASE}/consultations/{consultation.pk}/answer"
    before = Unchanged(w)
    _refused(w.api(w.ani).post(path, {"answer": "Fine", "version": 1}), 403)
    _refused(lia.post(path, {"answer": "Fine", "version": 2}), 409)
    assert list(
        _refused(lia.post(path, {"answer": " ", "version": 1}), 422)["errors"]
    ) == ["answer"]
    _refused(api_for(w.o.partner).post(path, {"answer": "Fine", "version": 1}), 404)
    before.check()

    answered = lia.post(path, {"answer": "The contract allows it.", "version": 1}, KEY)
    replayed = lia.post(path, {"answer": "The contract allows it.", "version": 1}, KEY)

    assert answered.status_code == 200, answered.content
    assert (answered.json()["status"], answered.json()["answer"]) == (
        "answered",
        "The contract allows it.",
    )
    assert answered["ETag"] == '"2"'
    assert replayed.content == answered.content
    assert _items(lia.get(f"{BASE}/consultations")) == []


# --- rebalancing --------------------------------------------------------------------------


def _both_to_ani(w: World) -> None:
    pack = w.task("pack")
    assigning.assign_task(
        pack, actor=w.o.admin, person=w.ani, expected_version=pack.version
    )


def test_an_administrator_proposes_and_applies_a_rebalancing(w):
    _both_to_ani(w)
    admin = api_for(w.o.admin)

    proposed = admin.post(f"{BASE}/units/{w.o.export.pk}/rebalance", headers=KEY)
    replayed = admin.post(f"{BASE}/units/{w.o.export.pk}/rebalance", headers=KEY)

    assert proposed.status_code == 201, proposed.content
    assert replayed.content == proposed.content
    assert RebalanceProposal.objects.count() == 1
    body = proposed.json()
    assert proposed["Location"].endswith(f"/rebalance-proposals/{body['id']}")
    assert (body["unit_code"], body["status"], body["may_decide"]) == (
        "EXP",
        "proposed",
        True,
    )
    assert len(body["moves"]) == 1
    move = body["moves"][0]
    assert (move["from_person_name"], move["to_person_name"], move["minutes"]) == (
        "Ani",
        "Eko",
        480,
    )
    loads = {
        load["person_name"]: (load["before"], load["after"]) for load in body["loads"]
    }
    assert loads["Ani"] == (960, 480)
    assert loads["Eko"] == (0, 480)
    assert (body["max_before"], body["max_after"]) == (960, 480)
    assert body["gini_after"] < body["gini_before"]

    path = f"{BASE}/rebalance-proposals/{body['id']}"
    _refused(admin.post(f"{path}/apply", {"version": body["version"] + 1}), 409)
    applied = admin.post(f"{path}/apply", headers={"If-Match": f'"{body["version"]}"'})

    assert applied.status_code == 200, applied.content
    assert applied.json()["status"] == "applied"
    assert Task.objects.get(pk=move["task_id"]).assignee_id == w.eko.pk
    _refused(admin.post(f"{path}/discard", {"version": applied.json()["version"]}), 422)


def test_a_proposal_whose_task_changed_is_not_applied(w):
    _both_to_ani(w)
    admin = api_for(w.o.admin)
    body = admin.post(f"{BASE}/units/{w.o.export.pk}/rebalance").json()
    moved = Task.objects.get(pk=body["moves"][0]["task_id"])
    chains.start_task(moved, actor=f.user_of(w.ani), expected_version=moved.version)
    before = Unchanged(w)

    response = admin.post(
        f"{BASE}/rebalance-proposals/{body['id']}/apply", {"version": body["version"]}
    )

    _refused(response, 409)
    before.check()


def test_rebalancing_is_for_administrators_and_the_units_head(w, other):
    admin = api_for(w.o.admin)
    body = admin.post(f"{BASE}/units/{w.o.export.pk}/rebalance").json()
    path = f"{BASE}/rebalance-proposals/{body['id']}"
    before = Unchanged(w)

    _refused(w.api(w.ani).post(f"{BASE}/units/{w.o.export.pk}/rebalance"), 403)
    _refused(api_for(w.o.auditor).post(f"{BASE}/units/{w.o.export.pk}/rebalance"), 403)
    _refused(w.api(w.ani).get(path), 403)
    _refused(w.api(w.ani).post(f"{path}/discard", {"version": body["version"]}), 403)
    _refused(api_for(w.o.partner).get(path), 404)
    _refused(api_for(other.admin).get(path), 404)
    _refused(admin.post(f"{BASE}/units/{w.o.forwarder.pk}/rebalance"), 404)
    before.check()
    assert api_for(w.o.auditor).get(path).json()["may_decide"] is False

    # the holders of the unit's head position may
    org.update_party(
        w.o.export,
        actor=w.o.admin,
        expected_version=w.o.export.version,
        head_position=w.o.export_head,
    )
    discarded = api_for(w.o.member).post(
        f"{path}/discard", {"version": body["version"]}
    )
    assert discarded.status_code == 200, discarded.content
    assert discarded.json()["status"] == "discarded"


# --- the fairness report -------------------------------------------------------------------

MARCH = {"since": "2026-03-01", "until": "2026-03-31"}


def test_the_fairness_report_of_a_period(w):
    book = w.task("book")
    assigning.assign_task(
        book,
        actor=w.o.member,
        person=w.o.budi,
        reason="Ani is at the port.",
        expected_version=book.version,
        now=f.at(60),
    )

    response = api_for(w.o.auditor).get(f"{BASE}/fairness", **MARCH)

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["since"], body["until"], body["assignments"]) == (
        "2026-03-01",
        "2026-03-31",
        2,
    )
    # the reassigned task counts for Budi now; every holder appears
    assert [(p["person_name"], p["tasks"], p["minutes"]) for p in body["people"]] == [
        ("Budi Santoso", 1, 480),
        ("Eko", 1, 480),
        ("Ani", 0, 0),
        ("Lia", 0, 0),
        ("Rina Kusuma", 0, 0),
    ]
    assert body["gini"] == "0.6000"
    assert body["lorenz"] == [
        ["0.0000", "0.0000"],
        ["0.2000", "0.0000"],
        ["0.4000", "0.0000"],
        ["0.6000", "0.0000"],
        ["0.8000", "0.5000"],
        ["1.0000", "1.0000"],
    ]
    assert body["overrides"] == [
        {
            "assigner_id": w.o.member.pk,
            "assigner_name": "Member",
            "manual": 1,
            "overrides": 1,
            "share": "1.0000",
        }
    ]
    assert [
        (c["assigner_id"], c["picks"], c["flagged"]) for c in body["concentration"]
    ] == [(w.o.member.pk, 1, False)]


def test_the_fairness_report_as_excel_and_for_a_unit(w):
    admin = api_for(w.o.admin)

    workbook = admin.get(f"{BASE}/fairness", format="xlsx", **MARCH)
    unit = admin.get(f"{BASE}/fairness", unit=w.o.warehouse.pk, **MARCH)

    assert workbook.status_code == 200
    assert workbook["Content-Type"] == XLSX
    assert workbook.content[:2] == b"PK"
    assert unit.status_code == 200
    assert (unit.json()["unit_id"], unit.json()["assignments"]) == (
        w.o.warehouse.pk,
        0,
    )


def test_the_fairness_report_is_refused_to_members_and_validated(w, other):
    _refused(w.api(w.ani).get(f"{BASE}/fairness", **MARCH), 403)
    _refused(w.api(w.ani).get(f"{BASE}/fairness", unit=w.o.export.pk, **MARCH), 403)
    _refused(api_for(w.o.partner).get(f"{BASE}/fairness", **MARCH), 404)
    _refused(api_for(other.admin).get(f"{BASE}/fairness", **MARCH), 404)
    admin = api_for(w.o.admin)
    backwards = admin.get(f"{BASE}/fairness", since="2026-03-31", until="2026-03-01")
    assert list(_refused(backwards, 422)["errors"]) == ["until"]
    partner_unit = admin.get(f"{BASE}/fairness", unit=w.o.forwarder.pk, **MARCH)
    assert list(_refused(partner_unit, 422)["errors"]) == ["unit"]
    assert list(_refused(admin.get(f"{BASE}/fairness"), 422)["errors"]) == [
        "since",
        "until",
    ]


# --- the policy -------------------------------------------------------------------------------


def test_the_policy_with_its_defaults_and_an_administrators_change(w):
    admin = api_for(w.o.admin)
    read = admin.get(f"{BASE}/roles/settings")

    assert read.status_code == 200
    body = read.json()
    assert {k: v for k, v in body.items() if k != "updated_at"} == {
        "assignment_rule": "least_loaded",
        "require_duty_coverage": True,
        "load_window_days": 10,
        "consulted_bottleneck_steps": 8,
        "briefing_reminder_days": 3,
        "escalate_late_tasks": True,
        "version": 1,
    }
    changed = admin.patch(
        f"{BASE}/roles/settings",
        {"assignment_rule": "round_robin", "load_window_days": 20},
        headers={"If-Match": read["ETag"]},
    )

    assert changed.status_code == 200, changed.content
    assert (
        changed.json()["assignment_rule"],
        changed.json()["load_window_days"],
        changed.json()["version"],
    ) == ("round_robin", 20, 2)
    assert changed["ETag"] == '"2"'


def test_changing_the_policy_is_refused_to_others_and_validated(w, other):
    admin = api_for(w.o.admin)
    admin.get(f"{BASE}/roles/settings")  # created with the defaults
    before = Unchanged(w)

    _refused(
        api_for(w.o.member).patch(
            f"{BASE}/roles/settings", {"version": 1, "load_window_days": 5}
        ),
        403,
    )
    _refused(
        admin.patch(f"{BASE}/roles/settings", {"version": 2, "load_window_days": 5}),
        409,
    )
    _refused(admin.patch(f"{BASE}/roles/settings", {"load_window_days": 5}), 428)
    out_of_range = admin.patch(
        f"{BASE}/roles/settings", {"version": 1, "load_window_days": 0}
    )
    assert list(_refused(out_of_range, 422)["errors"]) == ["load_window_days"]
    empty = admin.patch(
        f"{BASE}/roles/settings", {"version": 1, "assignment_rule": None}
    )
    assert list(_refused(empty, 422)["errors"]) == ["assignment_rule"]
    _refused(api_for(w.o.partner).get(f"{BASE}/roles/settings"), 404)
    _refused(api_for(other.admin).get(f"{BASE}/roles/settings"), 404)
    before.check()


# --- steps say whether they require consultation -------------------------------------------


def test_steps_carry_requires_consultation(w):
    draft = _draft(w)
    admin = api_for(w.o.admin)

    read = admin.get(f"{BASE}/steps/{w.step('book').pk}")
    added = admin.post(
        f"{BASE}/procedure-versions/{draft.pk}/steps",
        {
            "key": "check",
            "name": "Check",
            "duration_value": "1",
            "requires_consultation": True,
        },
    )
    pack = w.step("pack", draft)
    updated = admin.patch(
        f"{BASE}/steps/{pack.pk}",
        {"requires_consultation": True, "version": pack.version},
    )

    assert read.json()["requires_consultation"] is True
    assert added.status_code == 201, added.content
    assert added.json()["requires_consultation"] is True
    assert updated.status_code == 200, updated.content
    assert Step.objects.get(pk=pack.pk).requires_consultation is True


# --- query counts ----------------------------------------------------------------------------


def _queries(api: Api, path: str, **params: Any) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = api.get(path, **params)
    assert response.status_code == 200, response.content
    return len(captured)


def test_lists_read_a_fixed_number_of_queries(w):
    """More steps, people and assignments do not mean more queries."""
    ani, rina = w.api(w.ani), api_for(w.o.member)
    paths = {
        "matrix": (rina, w.path("raci")),
        "my roles": (ani, f"{BASE}/me/roles"),
        "checks": (rina, f"{BASE}/role-checks"),
        "briefings": (ani, f"{BASE}/briefings"),
        "assignments": (ani, f"{BASE}/tasks/{w.task('book').pk}/assignments"),
        "status": (rina, w.path("briefings")),
    }
    for api, path in paths.values():
        api.get(path)  # the token's first use of the minute is touched once
    small = {name: _queries(api, path) for name, (api, path) in paths.items()}

    more = [f.person(w.o, f"extra{index}") for index in range(3)]
    for person in more[:1]:
        f.hold(w.o, w.clerk, person)
    pack = w.task("pack")
    assigning.assign_task(
        pack, actor=w.o.admin, person=w.ani, expected_version=pack.version
    )
    second = f.procedure(
        w.o,
        [
            f.StepRow("a", responsible=w.clerk, accountable=w.o.export_head),
            f.StepRow(
                "b",
                responsible=w.clerk,
                accountable=w.o.export_head,
                consulted=[w.legal],
            ),
        ],
        code="RET",
    )
    assert second.status == "published"
    large = {name: _queries(api, path) for name, (api, path) in paths.items()}

    assert large == small
    assert json.dumps(small)  # the figures, should a change need them

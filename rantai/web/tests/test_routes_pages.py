"""The approval route pages: who reads and changes what, the draft editor (stages
with the fields their rule needs, conditions on the kind's fields, settings),
publishing, new drafts, retiring, and the readable summary of a published version.
Every refused change writes nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from rantai.accounts.models import Role
from rantai.approvals import routes, subjects
from rantai.approvals.models import (
    ApproverRule,
    Route,
    RouteCondition,
    RouteStage,
    RouteVersion,
    StageMode,
    SubjectKind,
    TimeoutAction,
)
from rantai.audit.models import AuditEvent
from rantai.chains.models import VersionStatus
from rantai.org import membership
from rantai.org import services as org
from rantai.org.models import Position
from rantai.testing import SmallOrg, make_user

CONFLICT = "This record was changed by someone else in the meantime."


def url(name: str, small: SmallOrg, *args: object) -> str:
    return reverse(name, args=[small.organisation.slug, *args])


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.content.decode()


def assert_csp_clean(response) -> None:  # type: ignore[no-untyped-def]
    html = text(response)
    assert " style=" not in html
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None
    assert re.search(r"\son[a-z]+=", html) is None


def snapshot() -> dict[str, list]:
    """Every row a route page could change."""
    return {
        model.__name__: list(model.objects.order_by("pk").values_list())
        for model in (Route, RouteVersion, RouteStage, RouteCondition)
    } | {"events": list(AuditEvent.objects.order_by("pk").values_list("pk", flat=True))}


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


def _unused(*args: object) -> object:
    raise AssertionError("not used by the pages")


@pytest.fixture(autouse=True)
def deviation_fields() -> Iterator[None]:
    """Deviations offer `procedure` and `kind` to conditions (as the real adapter
    does), whatever else is registered."""
    adapter = subjects.Adapter(
        kind=SubjectKind.DEVIATION,
        load=_unused,  # type: ignore[arg-type]
        organisation_id=_unused,  # type: ignore[arg-type]
        run_id=_unused,  # type: ignore[arg-type]
        title=_unused,  # type: ignore[arg-type]
        fields=_unused,  # type: ignore[arg-type]
        version=_unused,  # type: ignore[arg-type]
        accountable_position_id=_unused,  # type: ignore[arg-type]
        on_approved=_unused,  # type: ignore[arg-type]
        on_rejected=_unused,  # type: ignore[arg-type]
        field_names=lambda: {"procedure": "procedure (its code)", "kind": "kind"},
    )
    with subjects.isolated_adapters(adapter):
        yield


@pytest.fixture
def warehouse_head(acme: SmallOrg) -> Position:
    return org.create_position(
        acme.organisation,
        actor=acme.admin,
        party=acme.warehouse,
        title="Head of warehouse",
        code="WH-HEAD",
    )


def build_route(
    acme: SmallOrg,
    position: Position,
    *,
    code: str = "DEV",
    publish: bool = True,
    owner: Position | None = None,
) -> RouteVersion:
    route = routes.create_route(
        acme.organisation,
        actor=acme.admin,
        code=code,
        name=f"Deviations {code}",
        subject_kind=SubjectKind.DEVIATION,
        priority=10,
        owner_position=owner or acme.export_head,
    )
    draft = routes.draft_of(route)
    assert draft is not None
    routes.add_stage(
        draft,
        actor=acme.admin,
        name="Warehouse check",
        rule=ApproverRule.POSITION,
        position=position,
        time_limit_hours=8,
        on_timeout=TimeoutAction.ESCALATE,
    )
    routes.add_stage(
        draft,
        actor=acme.admin,
        name="Superior",
        rule=ApproverRule.SUPERIOR,
        levels=2,
        mode=StageMode.ALL,
    )
    routes.add_condition(
        draft, actor=acme.admin, field="procedure", operator="eq", value="SHIP"
    )
    if publish:
        routes.publish(draft, actor=acme.admin, expected_version=None)
        draft.refresh_from_db()
    return draft


@pytest.fixture
def published(acme: SmallOrg, warehouse_head: Position) -> RouteVersion:
    return build_route(acme, warehouse_head)


@pytest.fixture
def draft(acme: SmallOrg, warehouse_head: Position) -> RouteVersion:
    return build_route(acme, warehouse_head, publish=False)


def stages_of(version: RouteVersion) -> list[RouteStage]:
    return list(RouteStage.objects.filter(route_version=version).order_by("order"))


SUMMARY_1 = (
    "Stage 1: the holders of Head of warehouse — one of them — 8 working hours, "
    "then escalate"
)
SUMMARY_2 = (
    "Stage 2: the requester&#x27;s superior 2 levels up — all of them — no time limit"
)


# --- reading -----------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "member", "auditor"])
def test_the_route_pages_show_to_the_organisation(client, acme, published, role):
    route = published.route
    client.force_login(getattr(acme, role))
    pages = [
        (
            url("route-list", acme),
            ["Deviations DEV", "Deviation from a procedure", "version 1", ">10<"],
        ),
        (
            url("route-detail", acme, route.pk),
            [SUMMARY_1, SUMMARY_2, "procedure = SHIP"],
        ),
        (url("route-version", acme, published.pk), ["Frozen.", SUMMARY_1, SUMMARY_2]),
    ]
    for page, expected in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        for snippet in expected:
            assert snippet in text(response), (page, snippet)
        assert_csp_clean(response)


def test_a_partner_and_another_organisation_see_no_routes(
    client, acme, other_org, published
):
    client.force_login(acme.partner)
    for page in (
        url("route-list", acme),
        url("route-detail", acme, published.route.pk),
        url("route-version", acme, published.pk),
    ):
        assert client.get(page).status_code == 404, page
    client.force_login(other_org.admin)
    assert client.get(url("route-version", other_org, published.pk)).status_code == 404
    assert (
        client.get(url("route-detail", other_org, published.route.pk)).status_code
        == 404
    )
    client.force_login(other_org.admin)
    assert client.get(url("route-list", acme)).status_code == 404


def test_the_list_groups_routes_by_kind_with_published_version_and_draft(
    client, acme, published, warehouse_head
):
    routes.new_draft(published.route, actor=acme.admin)
    due = routes.create_route(
        acme.organisation,
        actor=acme.admin,
        code="DUE",
        name="Due dates",
        subject_kind=SubjectKind.DUE_DATE_CHANGE,
        priority=5,
    )
    client.force_login(acme.member)

    html = text(client.get(url("route-list", acme)))

    deviation = html.index('id="kind-deviation"')
    due_date = html.index('id="kind-due_date_change"')
    assert deviation < due_date  # in the order of the kinds
    row = re.search(r"<tr>.*?Deviations DEV.*?</tr>", html, re.S).group(0)  # type: ignore[union-attr]
    assert "version 1" in row and "draft 2" in row
    due_row = re.search(r"<tr>.*?Due dates.*?</tr>", html, re.S).group(0)  # type: ignore[union-attr]
    assert "none yet" in due_row and "administrators only" in due_row
    assert due.pk


def test_the_list_runs_a_fixed_number_of_queries(
    client, acme, warehouse_head, django_assert_num_queries
):
    build_route(acme, warehouse_head, code="R1")
    client.force_login(acme.admin)
    with CaptureQueriesContext(connection) as first:
        assert client.get(url("route-list", acme)).status_code == 200
    for index in range(2, 6):
        build_route(acme, warehouse_head, code=f"R{index}")
    with django_assert_num_queries(len(first.captured_queries)):
        response = client.get(url("route-list", acme))
    assert text(response).count("Deviations R") == 5
    # session, user, membership, routes, positions of the create form
    assert len(first.captured_queries) == 5


def test_the_navigation_shows_routes_to_administrators_and_route_owners(
    client, acme, published
):
    nav_link = f'<a id="nav-routes" href="{url("route-list", acme)}"'
    bell = url("notification-count", acme)
    client.force_login(acme.admin)
    page = text(client.get(url("procedure-list", acme)))
    assert nav_link in page
    assert f'hx-get="{bell}"' in page  # an admin's bell brings no routes link

    # a member's navigation keeps a place; the bell fills it for a route's owner
    client.force_login(acme.member)  # Rina holds the owner position
    page = text(client.get(url("procedure-list", acme)))
    assert nav_link not in page
    assert '<span id="nav-routes" hidden></span>' in page
    assert f'hx-get="{bell}?routes=1"' in page
    answer = text(client.get(bell + "?routes=1"))
    assert 'id="nav-routes" hx-swap-oob="true"' in answer

    dewi = make_user("dewi")
    membership.add_member(
        acme.organisation, actor=acme.admin, user=dewi, role=Role.MEMBER
    )
    client.force_login(dewi)  # holds nothing
    assert "nav-routes" not in text(client.get(bell + "?routes=1"))
    client.force_login(acme.auditor)
    page = text(client.get(url("procedure-list", acme)))
    assert "nav-routes" not in page


# --- creating and editing a route ----------------------------------------------------


def test_an_admin_creates_a_route_with_an_empty_draft(client, acme):
    client.force_login(acme.admin)

    response = client.post(
        url("route-create", acme),
        {
            "name": "Deviations",
            "code": "DEV",
            "subject_kind": SubjectKind.DEVIATION,
            "priority": "20",
            "owner_position": acme.export_head.pk,
            "description": "Skips and additions",
        },
    )

    route = Route.objects.get(organisation=acme.organisation, code="DEV")
    version = route.versions.get()
    assert response.status_code == 302
    assert response["Location"] == url("route-version", acme, version.pk)
    assert (route.name, route.priority, route.owner_position) == (
        "Deviations",
        20,
        acme.export_head,
    )
    assert (version.number, version.status) == (1, VersionStatus.DRAFT)


def test_a_duplicate_code_is_shown_on_the_code_field(client, acme, published):
    client.force_login(acme.admin)
    before = snapshot()

    response = client.post(
        url("route-create", acme),
        {"name": "Again", "code": "DEV", "subject_kind": "deviation", "priority": "1"},
    )

    assert response.status_code == 200
    html = text(response)
    assert "Nothing was saved." in html
    assert "Another route already uses this code." in field_errors(html, "code")
    assert snapshot() == before


def test_a_member_creates_routes_only_for_a_position_they_hold(client, acme):
    # Rina (member) holds the head of export position, not the director's
    client.force_login(acme.member)
    before = snapshot()
    refused = client.post(
        url("route-create", acme),
        {
            "name": "Board",
            "code": "BRD",
            "subject_kind": "deviation",
            "priority": "1",
            "owner_position": acme.director.pk,
        },
    )
    assert refused.status_code == 200
    assert "Select a valid choice" in field_errors(text(refused), "owner_position")
    assert snapshot() == before

    accepted = client.post(
        url("route-create", acme),
        {
            "name": "Export",
            "code": "EXP",
            "subject_kind": "deviation",
            "priority": "1",
            "owner_position": acme.export_head.pk,
        },
    )
    assert accepted.status_code == 302
    assert Route.objects.filter(code="EXP").exists()


def test_who_may_not_change_a_route_is_refused(client, acme, draft):
    dewi = make_user("dewi")
    membership.add_member(
        acme.organisation, actor=acme.admin, user=dewi, role=Role.MEMBER
    )
    stage = stages_of(draft)[0]
    before = snapshot()
    for user in (dewi, acme.auditor):
        client.force_login(user)
        assert client.get(url("route-create", acme)).status_code == 403
        assert "Create a route" not in text(client.get(url("route-list", acme)))
        for page in (
            url("route-edit", acme, draft.route.pk),
            url("route-stage-create", acme, draft.pk),
            url("route-stage-edit", acme, stage.pk),
            url("route-version-publish", acme, draft.pk),
        ):
            assert client.get(page).status_code == 403, page
        response = client.post(
            url("route-stage-create", acme, draft.pk),
            {"name": "Mine", "rule": "superior", "levels": "1", "mode": "any"},
        )
        assert response.status_code == 403
        # the draft is shown read-only
        page = text(client.get(url("route-version", acme, draft.pk)))
        assert "Add a stage" not in page
        assert "Warehouse check" in page
    assert snapshot() == before


def test_the_owner_edits_the_route_and_a_stale_edit_conflicts(client, acme, draft):
    route = draft.route
    client.force_login(acme.member)  # Rina holds the owner position
    form = {
        "name": "Deviations renamed",
        "code": "DEV",
        "priority": "3",
        "owner_position": acme.export_head.pk,
        "description": "",
        "version": route.version,
    }
    assert client.post(url("route-edit", acme, route.pk), form).status_code == 302
    route.refresh_from_db()
    assert (route.name, route.priority) == ("Deviations renamed", 3)

    before = snapshot()
    stale = client.post(url("route-edit", acme, route.pk), {**form, "name": "Again"})
    assert stale.status_code == 409
    assert CONFLICT in text(stale)
    assert snapshot() == before


def test_deactivating_and_reactivating_a_route(client, acme, published):
    route = published.route
    client.force_login(acme.admin)
    response = client.post(
        url("route-deactivate", acme, route.pk), {"version": route.version}
    )
    assert response.status_code == 302
    route.refresh_from_db()
    assert not route.is_active
    client.post(url("route-reactivate", acme, route.pk), {"version": route.version})
    route.refresh_from_db()
    assert route.is_active


# --- the draft editor -----------------------------------------------------------------


def test_the_draft_editor_keeps_the_content_security_policy(client, acme, draft):
    client.force_login(acme.admin)
    stage = stages_of(draft)[0]
    condition = RouteCondition.objects.get(route_version=draft)
    for page in (
        url("route-list", acme),
        url("route-create", acme),
        url("route-detail", acme, draft.route.pk),
        url("route-edit", acme, draft.route.pk),
        url("route-version", acme, draft.pk),
        url("route-version-publish", acme, draft.pk),
        url("route-stage-create", acme, draft.pk),
        url("route-stage-edit", acme, stage.pk),
        url("route-stage-delete", acme, stage.pk),
        url("route-condition-create", acme, draft.pk),
        url("route-condition-delete", acme, condition.pk),
    ):
        response = client.get(page)
        assert response.status_code == 200, page
        assert_csp_clean(response)


def test_the_draft_editor_lists_stages_in_order_with_their_rules(client, acme, draft):
    client.force_login(acme.admin)
    html = text(client.get(url("route-version", acme, draft.pk)))
    assert html.index("Warehouse check") < html.index("Superior</th>")
    assert "the holders of Head of warehouse" in html
    assert "the requester&#x27;s superior 2 levels up" in html
    assert "8 working hours, then escalate" in html
    assert "procedure = SHIP" in html
    assert "Ready to publish" in html
    # the first stage moves only down, the last only up
    first, second = stages_of(draft)
    move = url("route-stage-move", acme, first.pk)
    assert html.count(f'action="{move}"') == 1
    assert html.count(f'action="{url("route-stage-move", acme, second.pk)}"') == 1


def test_the_stage_form_shows_only_the_fields_of_the_chosen_rule(client, acme, draft):
    client.force_login(acme.admin)
    page = url("route-stage-create", acme, draft.pk)

    html = text(client.get(page))
    # the default rule (superior) shows its levels; the others wait in <noscript>
    visible = re.sub(r"<noscript>.*?</noscript>", "", html, flags=re.S)
    assert 'data-field="levels"' in visible
    assert 'data-field="position"' not in visible
    assert 'data-field="position"' in html  # without JavaScript: every field
    assert f'hx-get="{page}"' in html

    # htmx asks again when the rule changes: only the rule's fields come back
    partial = client.get(
        page,
        {"rule": "position", "mode": "quorum", "name": "Check"},
        headers={"HX-Request": "true", "HX-Target": "stage-rule-fields"},
    )
    fragment = text(partial)
    assert fragment.lstrip().startswith('<div id="stage-rule-fields"')
    assert 'data-field="position"' in fragment
    assert 'data-field="quorum"' in fragment
    assert 'data-field="levels"' not in fragment  # not even in <noscript>
    assert "<noscript>" not in fragment
    assert "<html" not in fragment
    assert partial["Vary"].count("HX-Target") == 1


def test_an_editor_adds_a_stage_and_unused_fields_are_left_out(
    client, acme, draft, warehouse_head
):
    client.force_login(acme.member)  # Rina holds the owner position
    response = client.post(
        url("route-stage-create", acme, draft.pk),
        {
            "name": "Director",
            "rule": "person",
            "person": acme.rina.pk,
            # left over from another rule in a browser without JavaScript
            "position": warehouse_head.pk,
            "levels": "4",
            "mode": "any",
            "quorum": "3",
            "time_limit_hours": "16",
            "on_timeout": "notify_owner",
        },
    )
    assert response.status_code == 302
    stage = stages_of(draft)[-1]
    assert response["Location"] == url("route-version", acme, draft.pk) + "#stage-3"
    assert (stage.order, stage.rule, stage.person_id, stage.position_id) == (
        3,
        ApproverRule.PERSON,
        acme.rina.pk,
        None,
    )
    assert (stage.levels, stage.quorum, stage.time_limit_hours) == (1, None, 16)


def test_a_stage_missing_what_its_rule_names_is_refused_on_that_field(
    client, acme, draft
):
    client.force_login(acme.admin)
    before = snapshot()

    response = client.post(
        url("route-stage-create", acme, draft.pk),
        {
            "name": "Position",
            "rule": "position",
            "mode": "quorum",
            "on_timeout": "remind",
        },
    )

    assert response.status_code == 200
    html = text(response)
    assert "Choose the position whose holders approve." in field_errors(
        html, "position"
    )
    assert "N of them needs the number of approvals (at least 1)." in field_errors(
        html, "quorum"
    )
    assert snapshot() == before


def test_editing_a_stage_and_a_stale_edit_conflicts(client, acme, draft):
    client.force_login(acme.admin)
    stage = stages_of(draft)[1]
    form = {
        "name": "Two up",
        "rule": "superior",
        "levels": "1",
        "mode": "any",
        "on_timeout": "remind",
        "time_limit_hours": "4",
        "version": stage.version,
    }
    assert client.post(url("route-stage-edit", acme, stage.pk), form).status_code == 302
    stage.refresh_from_db()
    assert (stage.name, stage.levels, stage.mode, stage.time_limit_hours) == (
        "Two up",
        1,
        StageMode.ANY,
        4,
    )
    before = snapshot()
    stale = client.post(url("route-stage-edit", acme, stage.pk), {**form, "name": "X"})
    assert stale.status_code == 409
    assert CONFLICT in text(stale)
    assert snapshot() == before


def test_moving_and_deleting_stages(client, acme, draft):
    client.force_login(acme.admin)
    _first, second = stages_of(draft)

    moved = client.post(
        url("route-stage-move", acme, second.pk),
        {"order": "1", "version": second.version},
    )
    assert moved.status_code == 302
    assert [s.name for s in stages_of(draft)] == ["Superior", "Warehouse check"]

    before = snapshot()
    stale = client.post(
        url("route-stage-move", acme, second.pk),
        {"order": "2", "version": second.version},
    )
    assert stale.status_code == 409
    assert CONFLICT in text(stale)
    assert snapshot() == before

    superior = stages_of(draft)[0]
    deleted = client.post(
        url("route-stage-delete", acme, superior.pk), {"version": superior.version}
    )
    assert deleted.status_code == 302
    remaining = stages_of(draft)
    assert [(s.order, s.name) for s in remaining] == [(1, "Warehouse check")]


def test_conditions_name_the_kinds_fields_or_a_run_field(client, acme, draft):
    client.force_login(acme.admin)
    html = text(client.get(url("route-version", acme, draft.pk)))
    assert '<option value="kind">kind (kind)</option>' in html
    assert '<option value="run.">' in html

    added = client.post(
        url("route-condition-create", acme, draft.pk),
        {
            "field": "run.",
            "run_key": "shipment_value",
            "operator": "gt",
            "value": "500",
        },
    )
    assert added.status_code == 302
    listed = client.post(
        url("route-condition-create", acme, draft.pk),
        {"field": "kind", "operator": "in", "value": "skip_step, add_step"},
    )
    assert listed.status_code == 302
    conditions = {
        c.field: (c.operator, c.value)
        for c in RouteCondition.objects.filter(route_version=draft)
    }
    assert conditions["run.shipment_value"] == ("gt", 500)
    assert conditions["kind"] == ("in", ["skip_step", "add_step"])
    page = text(client.get(url("route-version", acme, draft.pk)))
    assert "run.shipment_value &gt; 500" in page
    assert "kind is one of skip_step, add_step" in page


@pytest.fixture
def workload_kind_without_fields() -> Iterator[None]:
    """Workload analyses without their adapter (the workload app registers one
    with its list of fields): a kind whose fields are not listed."""
    with subjects.isolated_adapters():
        subjects._adapters.pop(SubjectKind.WORKLOAD_ANALYSIS, None)
        yield


def test_a_kind_without_a_list_of_fields_takes_a_typed_field_name(
    client,
    acme,
    workload_kind_without_fields,  # type: ignore[no-untyped-def]
):
    route = routes.create_route(
        acme.organisation,
        actor=acme.admin,
        code="WL",
        name="Workload",
        subject_kind=SubjectKind.WORKLOAD_ANALYSIS,
    )
    version = routes.draft_of(route)
    assert version is not None
    client.force_login(acme.admin)
    page = text(client.get(url("route-version", acme, version.pk)))
    assert '<input type="text" name="field"' in page

    response = client.post(
        url("route-condition-create", acme, version.pk),
        {"field": "hours_over", "operator": "gte", "value": "10"},
    )
    assert response.status_code == 302
    condition = RouteCondition.objects.get(route_version=version)
    assert (condition.field, condition.operator, condition.value) == (
        "hours_over",
        "gte",
        10,
    )
    refused = client.post(
        url("route-condition-create", acme, version.pk),
        {"field": "Hours Over!", "operator": "eq", "value": "1"},
    )
    assert "Enter a field name" in field_errors(text(refused), "field")


def test_a_bad_condition_is_refused_on_its_field(client, acme, draft):
    client.force_login(acme.admin)
    before = snapshot()

    not_a_number = client.post(
        url("route-condition-create", acme, draft.pk),
        {"field": "procedure", "operator": "gt", "value": "many"},
    )
    assert not_a_number.status_code == 200
    assert "Enter a number." in field_errors(text(not_a_number), "value")

    no_key = client.post(
        url("route-condition-create", acme, draft.pk),
        {"field": "run.", "operator": "eq", "value": "1"},
    )
    assert "Give the key of the run field." in field_errors(text(no_key), "run_key")
    assert snapshot() == before


def test_removing_a_condition(client, acme, draft):
    client.force_login(acme.admin)
    condition = RouteCondition.objects.get(route_version=draft)
    response = client.post(url("route-condition-delete", acme, condition.pk))
    assert response.status_code == 302
    assert not RouteCondition.objects.filter(route_version=draft).exists()


def test_the_draft_settings_allow_repeat_approvers(client, acme, draft):
    client.force_login(acme.admin)
    response = client.post(
        url("route-version-settings", acme, draft.pk),
        {
            "allow_repeat_approver": "on",
            "notes": "Small team",
            "version": draft.version,
        },
    )
    assert response.status_code == 302
    draft.refresh_from_db()
    assert (draft.allow_repeat_approver, draft.notes) == (True, "Small team")
    stale = client.post(
        url("route-version-settings", acme, draft.pk),
        {"notes": "Again", "version": draft.version - 1},
    )
    assert stale.status_code == 409
    assert CONFLICT in text(stale)


# --- publishing, new drafts, retiring --------------------------------------------------


def test_an_empty_draft_cannot_be_published(client, acme):
    route = routes.create_route(
        acme.organisation,
        actor=acme.admin,
        code="EMPTY",
        name="Empty",
        subject_kind=SubjectKind.DEVIATION,
    )
    version = routes.draft_of(route)
    assert version is not None
    client.force_login(acme.admin)
    before = snapshot()

    page = text(client.get(url("route-version-publish", acme, version.pk)))
    assert "The route has no stages yet." in page
    response = client.post(
        url("route-version-publish", acme, version.pk), {"version": version.version}
    )

    assert response.status_code == 422
    assert "Nothing was published." in text(response)
    assert snapshot() == before


def test_publish_new_draft_and_retire(client, acme, draft):
    client.force_login(acme.member)  # Rina, the owner
    published = client.post(
        url("route-version-publish", acme, draft.pk), {"version": draft.version}
    )
    assert published.status_code == 302
    draft.refresh_from_db()
    assert draft.status == VersionStatus.PUBLISHED

    # a published version is read-only: editing it sends back to its page
    stage = stages_of(draft)[0]
    refused = client.get(url("route-stage-edit", acme, stage.pk))
    assert refused.status_code == 302
    assert "Frozen." in text(client.get(url("route-version", acme, draft.pk)))

    new = client.post(url("route-new-draft", acme, draft.route.pk), {"notes": "v2"})
    assert new.status_code == 302
    second = RouteVersion.objects.get(route=draft.route, number=2)
    assert new["Location"] == url("route-version", acme, second.pk)
    assert [s.name for s in stages_of(second)] == ["Warehouse check", "Superior"]

    retired = client.post(
        url("route-version-retire", acme, draft.pk), {"version": draft.version}
    )
    assert retired.status_code == 302
    draft.refresh_from_db()
    assert draft.status == VersionStatus.RETIRED


def test_a_stale_publication_conflicts(client, acme, draft):
    client.force_login(acme.admin)
    before = snapshot()
    response = client.post(
        url("route-version-publish", acme, draft.pk), {"version": draft.version + 1}
    )
    assert response.status_code == 409
    assert CONFLICT in text(response)
    assert snapshot() == before


# --- in Indonesian ---------------------------------------------------------------------


def test_an_indonesian_editor_sees_the_editor_and_its_errors_in_indonesian(
    client, acme, draft
):
    budi = make_user("budi-id", language="id")
    membership.add_member(
        acme.organisation, actor=acme.admin, user=budi, role=Role.ADMIN
    )
    client.force_login(budi)
    before = snapshot()

    response = client.post(
        url("route-stage-create", acme, draft.pk),
        {"name": "", "rule": "person", "mode": "any", "on_timeout": "remind"},
    )

    html = text(response)
    assert response.status_code == 200
    assert '<html lang="id">' in html
    assert "Tidak ada yang disimpan." in html
    assert "Isian ini wajib diisi." in field_errors(html, "name")
    assert snapshot() == before

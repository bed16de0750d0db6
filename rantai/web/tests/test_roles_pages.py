"""The roles pages: a version's RACI matrix (read, edited cell by cell while a
draft, exported), "my roles", a person's and a party's roles, the role checks with
their acknowledgements, a version's own findings, publishing refused by a role
check, and the assignment policy — who sees what, and that every refused change
writes nothing."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from rantai.audit.models import AuditEvent
from rantai.chains.models import ProcedureVersion, Step, StepRole, VersionStatus
from rantai.roles import policy
from rantai.roles.models import AssignmentRule, CheckAcknowledgement, RoleSettings
from rantai.roles.tests import factories as f
from rantai.testing import SmallOrg
from rantai.web.tests.test_procedure_pages import assert_csp_clean

pytestmark = pytest.mark.django_db

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def o() -> SmallOrg:
    return f.organisation()


def url(name: str, o: SmallOrg, *args: object) -> str:
    return reverse(name, args=[o.organisation.slug, *args])


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.content.decode()


def shipping(o: SmallOrg, *, publish: bool = True, code: str = "SHIP"):  # type: ignore[no-untyped-def]
    """quote: clerk R, head A, director C, head I; pickup: the forwarder (party) R,
    head A, forwarder operations I; check: head R and A, director I. Owned by the
    Head of export (the member, Rina, holds it)."""
    return f.procedure(
        o,
        [
            f.StepRow(
                "quote",
                responsible=o.export_staff,
                accountable=o.export_head,
                consulted=[o.director],
                informed=[o.export_head],
                requires_consultation=True,
            ),
            f.StepRow(
                "pickup",
                responsible=o.forwarder,
                accountable=o.export_head,
                informed=[o.forwarder_ops],
                after=["quote"],
            ),
            f.StepRow(
                "check",
                responsible=o.export_head,
                accountable=o.export_head,
                informed=[o.director],
                after=["pickup"],
            ),
        ],
        code=code,
        publish=publish,
    )


def steps_of(version: ProcedureVersion) -> dict[str, Step]:
    return {step.key: step for step in version.steps.all()}


def roles_on(step: Step) -> set[tuple[str, str]]:
    return {
        (row.role, (row.position or row.party).code)  # type: ignore[union-attr]
        for row in StepRole.objects.filter(step=step).select_related(
            "position", "party"
        )
    }


def all_roles(version: ProcedureVersion) -> list[tuple]:
    return list(
        StepRole.objects.filter(step__procedure_version=version)
        .order_by("pk")
        .values_list("pk", "step_id", "role", "position_id", "party_id")
    )


def events() -> list[int]:
    return list(AuditEvent.objects.order_by("pk").values_list("pk", flat=True))


def row_html(html: str, step: Step) -> str:
    found = re.search(rf'<tr id="raci-row-{step.pk}".*?</tr>', html, re.S)
    assert found, f"no row for {step.key}"
    return found.group(0)


def headings(html: str) -> list[str]:
    """The column headings of the matrix (a partner's own column: "the party
    itself")."""
    return [
        re.sub(r"<[^>]+>", "", heading).strip()
        for heading in re.findall(
            r'<th scope="col" class="raci-column">(.*?)<div class="code">', html
        )
    ]


def badges(html: str) -> list[str]:
    return re.findall(r'<abbr class="badge badge-role badge-role-([RACI])"', html)


def cell_boxes(html: str, step: Step, kind: str, pk: int) -> dict[str, bool]:
    """The role checkboxes of one cell: letter -> ticked."""
    cell = re.search(rf'<td id="raci-{step.pk}-{kind}-{pk}".*?</td>', html, re.S).group(
        0
    )  # type: ignore[union-attr]
    return {
        letter: checked == " checked"
        for letter, checked in re.findall(
            r'name="roles" value="([RACI])" id="[^"]+"( checked)?', cell
        )
    }


def count_queries(client, page: str) -> int:  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connection) as queries:
        response = client.get(page)
    assert response.status_code == 200
    return len(queries)


# --- the RACI matrix: reading ------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "member", "auditor"])
def test_the_matrix_of_a_published_version_shows_to_the_organisation(client, o, role):
    version = shipping(o)
    steps = steps_of(version)
    client.force_login(getattr(o, role))

    response = client.get(url("raci-matrix", o, version.pk))

    assert response.status_code == 200
    html = text(response)
    # columns grouped by party: Export (clerk, head), the forwarder (itself and
    # its operations), head office (director)
    assert headings(html) == [
        "Export clerk",
        "Head of export",
        "the party itself",
        "Forwarder operations",
        "Director",
    ]
    assert re.findall(
        r'<th scope="colgroup" colspan="(\d)"[^>]*>([^<]+?)\s*<', html
    ) == [
        ("2", "Export"),
        ("2", "Fast Forwarding"),
        ("1", "Head office"),
    ]
    assert badges(row_html(html, steps["quote"])) == ["R", "A", "I", "C"]
    assert badges(row_html(html, steps["pickup"])) == ["A", "R", "I"]
    assert badges(row_html(html, steps["check"])) == ["R", "A", "I"]
    assert "consultation required" in row_html(html, steps["quote"])
    # published: read-only, with the legend and the exports
    assert 'name="roles"' not in html
    assert "Frozen." in html
    assert "Accountable" in html and "answers for the result" in html
    assert "?format=xlsx" in html and "?format=pdf" in html
    assert_csp_clean(response)


def test_a_partner_sees_only_its_party_in_the_matrix(client, o):
    version = shipping(o)
    steps = steps_of(version)
    client.force_login(o.partner)

    html = text(client.get(url("raci-matrix", o, version.pk)))

    assert headings(html) == ["the party itself", "Forwarder operations"]
    assert badges(row_html(html, steps["pickup"])) == ["R", "I"]
    assert f'id="raci-row-{steps["quote"].pk}"' not in html
    assert "Head of export" not in html
    assert "Export clerk" not in html


def test_a_partner_gets_404_for_matrices_its_party_has_no_part_in(client, o):
    internal = f.procedure(
        o,
        [f.StepRow("inside", responsible=o.export_staff, accountable=o.export_head)],
        code="INT",
    )
    draft = shipping(o, publish=False, code="DRAFT")
    client.force_login(o.partner)

    assert client.get(url("raci-matrix", o, internal.pk)).status_code == 404
    assert client.get(url("raci-matrix", o, draft.pk)).status_code == 404
    assert (
        client.get(url("raci-matrix", o, internal.pk) + "?format=xlsx").status_code
        == 404
    )


def test_another_organisation_sees_no_matrix(client, o):
    other = f.organisation("globex", prefix="g-")
    version = shipping(o)
    client.force_login(other.admin)

    assert client.get(url("raci-matrix", other, version.pk)).status_code == 404
    assert client.get(url("raci-matrix", o, version.pk)).status_code == 404


@pytest.mark.parametrize(
    ("wanted", "content_type", "ending", "magic"),
    [("xlsx", XLSX, ".xlsx", b"PK"), ("pdf", "application/pdf", ".pdf", b"%PDF")],
)
def test_the_matrix_exports_to_excel_and_pdf(
    client, o, wanted, content_type, ending, magic
):
    version = shipping(o)
    client.force_login(o.auditor)

    response = client.get(url("raci-matrix", o, version.pk) + f"?format={wanted}")

    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert response["Content-Disposition"] == (
        f'attachment; filename="raci-ship-v1{ending}"'
    )
    assert response.content.startswith(magic)


def test_a_partners_export_holds_only_its_party(client, o):
    from io import BytesIO

    from openpyxl import load_workbook

    version = shipping(o)
    client.force_login(o.partner)

    response = client.get(url("raci-matrix", o, version.pk) + "?format=xlsx")

    sheet = load_workbook(BytesIO(response.content)).active
    values = {cell for row in sheet.iter_rows(values_only=True) for cell in row}
    assert "Forwarder operations" in values
    assert "Head of export" not in values
    assert "Quote" not in values


# --- the RACI matrix: editing a draft ----------------------------------------------


@pytest.mark.parametrize("role", ["admin", "member"])
def test_an_editor_sees_the_draft_matrix_as_checkboxes(client, o, role):
    draft = shipping(o, publish=False)
    steps = steps_of(draft)
    client.force_login(getattr(o, role))  # the member holds the owner position

    html = text(client.get(url("raci-matrix", o, draft.pk)))

    assert cell_boxes(html, steps["quote"], "position", o.director.pk) == {
        "R": False,
        "A": False,
        "C": True,
        "I": False,
    }
    assert cell_boxes(html, steps["check"], "position", o.export_head.pk) == {
        "R": True,
        "A": True,
        "C": False,
        "I": False,
    }
    # a partner's own column offers only "responsible"
    assert cell_boxes(html, steps["pickup"], "party", o.forwarder.pk) == {"R": True}
    assert 'id="raci-add"' in html


def test_an_editor_sets_a_cell_without_javascript(client, o, audit_trail):
    draft = shipping(o, publish=False)
    steps = steps_of(draft)
    trail = audit_trail(o.organisation)
    client.force_login(o.member)

    response = client.post(
        url("raci-cell", o, draft.pk),
        {
            "step": steps["quote"].pk,
            "position": o.director.pk,
            "roles": ["C", "I"],
        },
    )

    assert response.status_code == 302
    assert response["Location"] == (
        url("raci-matrix", o, draft.pk) + f"#raci-row-{steps['quote'].pk}"
    )
    assert roles_on(steps["quote"]) == {
        ("R", "EXP-CLERK"),
        ("A", "EXP-HEAD"),
        ("C", "DIR"),
        ("I", "DIR"),
        ("I", "EXP-HEAD"),
    }
    assert len(trail.new_events()) == 1
    page = text(client.get(response["Location"]))
    assert "The roles of “Quote” were saved." in page


def shown_columns(client, o: SmallOrg, version: ProcedureVersion) -> str:  # type: ignore[no-untyped-def]
    """The columns the matrix page shows, as htmx sends them with each cell."""
    html = text(client.get(url("raci-matrix", o, version.pk)))
    return re.search(r'id="raci-columns" name="columns" value="([^"]*)"', html).group(  # type: ignore[union-attr]
        1
    )


def test_htmx_sets_a_cell_and_gets_its_row_back(client, o):
    draft = shipping(o, publish=False)
    steps = steps_of(draft)
    client.force_login(o.admin)
    columns = shown_columns(client, o, draft)

    response = client.post(
        url("raci-cell", o, draft.pk),
        {
            "step": steps["check"].pk,
            "position": o.export_head.pk,
            "roles": ["A"],
            "columns": columns,
        },
        HTTP_HX_TARGET=f"raci-row-{steps['check'].pk}",
        **HTMX,
    )

    assert response.status_code == 200
    html = text(response)
    assert html.startswith(f'<tr id="raci-row-{steps["check"].pk}"')
    assert "<html" not in html
    assert cell_boxes(html, steps["check"], "position", o.export_head.pk) == {
        "R": False,
        "A": True,
        "C": False,
        "I": False,
    }
    # the step lost its responsible: the row says so
    assert "Nobody is responsible." in html
    assert roles_on(steps["check"]) == {("A", "EXP-HEAD"), ("I", "DIR")}
    # one cell per column of the page
    assert html.count('<td id="raci-') == len(columns.split()) == 5


def test_a_column_emptied_by_htmx_stays_until_the_page_is_reloaded(client, o):
    draft = shipping(o, publish=False)
    steps = steps_of(draft)
    client.force_login(o.admin)
    columns = shown_columns(client, o, draft)
    clerk = f"position:{o.export_staff.pk}"
    assert clerk in columns.split()

    response = client.post(
        url("raci-cell", o, draft.pk),
        {"step": steps["quote"].pk, "position": o.export_staff.pk, "columns": columns},
        **HTMX,
    )

    # the clerk's only role is gone, its cell stays to tick it again
    assert cell_boxes(
        text(response), steps["quote"], "position", o.export_staff.pk
    ) == {
        "R": False,
        "A": False,
        "C": False,
        "I": False,
    }
    assert text(response).count('<td id="raci-') == 5
    assert clerk not in shown_columns(client, o, draft).split()


def test_htmx_reloads_a_page_that_misses_a_column(client, o):
    draft = shipping(o, publish=False)
    steps = steps_of(draft)
    client.force_login(o.admin)
    columns = shown_columns(client, o, draft)
    stale = " ".join(
        key for key in columns.split() if key != f"position:{o.director.pk}"
    )

    response = client.post(
        url("raci-cell", o, draft.pk),
        {
            "step": steps["check"].pk,
            "position": o.export_head.pk,
            "roles": ["R", "A"],
            "columns": stale,
        },
        **HTMX,
    )

    assert response.status_code == 204
    assert response["HX-Refresh"] == "true"
    assert roles_on(steps["check"]) == {
        ("R", "EXP-HEAD"),
        ("A", "EXP-HEAD"),
        ("I", "DIR"),
    }


def test_unticking_every_role_empties_the_cell(client, o):
    draft = shipping(o, publish=False)
    steps = steps_of(draft)
    client.force_login(o.admin)

    client.post(
        url("raci-cell", o, draft.pk),
        {"step": steps["quote"].pk, "position": o.director.pk},
    )

    assert ("C", "DIR") not in roles_on(steps["quote"])


def test_a_second_accountable_is_refused_in_place_and_nothing_changes(client, o):
    draft = shipping(o, publish=False)
    steps = steps_of(draft)
    before, logged = all_roles(draft), events()
    client.force_login(o.admin)
    sent = {"step": steps["quote"].pk, "position": o.director.pk, "roles": ["A"]}
    columns = shown_columns(client, o, draft)

    with_htmx = client.post(
        url("raci-cell", o, draft.pk), sent | {"columns": columns}, **HTMX
    )
    without = client.post(url("raci-cell", o, draft.pk), sent)

    for response in (with_htmx, without):
        cell = re.search(
            rf'<td id="raci-{steps["quote"].pk}-position-{o.director.pk}".*?</td>',
            text(response),
            re.S,
        ).group(0)  # type: ignore[union-attr]
        assert "has-error" in cell
        assert "already has its accountable position" in cell
        # the refused change is not shown as made
        assert cell_boxes(cell, steps["quote"], "position", o.director.pk)["A"] is False
    assert with_htmx.status_code == 200  # htmx swaps only successful answers
    assert without.status_code == 422
    assert all_roles(draft) == before
    assert events() == logged


def test_a_partner_party_cannot_be_accountable(client, o):
    draft = shipping(o, publish=False)
    steps = steps_of(draft)
    before = all_roles(draft)
    client.force_login(o.admin)

    response = client.post(
        url("raci-cell", o, draft.pk),
        {"step": steps["pickup"].pk, "party": o.forwarder.pk, "roles": ["R", "A"]},
    )

    assert response.status_code == 422
    assert "An external party can only be responsible for a step." in text(response)
    assert all_roles(draft) == before


def test_the_add_form_gives_a_new_position_roles(client, o):
    draft = shipping(o, publish=False)
    steps = steps_of(draft)
    client.force_login(o.admin)

    response = client.post(
        url("raci-cell", o, draft.pk),
        {"step": steps["check"].pk, "position": o.export_staff.pk, "roles": ["C"]},
        follow=True,
    )

    assert ("C", "EXP-CLERK") in roles_on(steps["check"])
    assert cell_boxes(text(response), steps["check"], "position", o.export_staff.pk)[
        "C"
    ]


def test_the_add_form_needs_a_position_or_a_partner(client, o):
    draft = shipping(o, publish=False)
    steps = steps_of(draft)
    before = all_roles(draft)
    client.force_login(o.admin)

    response = client.post(
        url("raci-cell", o, draft.pk), {"step": steps["check"].pk, "roles": ["C"]}
    )

    assert response.status_code == 422
    assert "Choose a position or an external partner (one of them)." in text(response)
    assert all_roles(draft) == before


def test_a_published_matrix_cannot_be_changed(client, o):
    version = shipping(o)
    steps = steps_of(version)
    before, logged = all_roles(version), events()
    client.force_login(o.admin)

    response = client.post(
        url("raci-cell", o, version.pk),
        {"step": steps["quote"].pk, "position": o.director.pk, "roles": ["I"]},
    )

    assert response.status_code == 302
    assert response["Location"] == url("raci-matrix", o, version.pk)
    assert "can no longer change" in text(client.get(response["Location"]))
    assert all_roles(version) == before
    assert events() == logged


@pytest.mark.parametrize("role", ["auditor", "partner"])
def test_readers_cannot_change_a_draft_matrix(client, o, role):
    draft = shipping(o, publish=False)
    steps = steps_of(draft)
    before = all_roles(draft)
    client.force_login(getattr(o, role))

    response = client.post(
        url("raci-cell", o, draft.pk),
        {"step": steps["quote"].pk, "position": o.director.pk, "roles": ["I"]},
    )

    assert response.status_code == 403
    assert all_roles(draft) == before


def test_a_member_who_does_not_own_the_procedure_reads_the_draft(client, o):
    draft = shipping(o, publish=False)
    steps = steps_of(draft)
    clerk = f.person(o, "ani")
    f.hold(o, o.export_staff, clerk)
    before = all_roles(draft)
    client.force_login(f.user_of(clerk))

    page = text(client.get(url("raci-matrix", o, draft.pk)))
    response = client.post(
        url("raci-cell", o, draft.pk),
        {"step": steps["quote"].pk, "position": o.director.pk, "roles": ["I"]},
    )

    assert 'name="roles"' not in page
    assert "Only administrators and the holders of the owner position" in page
    assert response.status_code == 403
    assert all_roles(draft) == before


# session, user, membership + the version + the matrix (version, steps, roles)
MATRIX_QUERIES = 7
# a draft for an administrator: the positions and partners of the add form
DRAFT_MATRIX_QUERIES = MATRIX_QUERIES + 2


def chain(o: SmallOrg, size: int, code: str, *, publish: bool):  # type: ignore[no-untyped-def]
    return f.procedure(
        o,
        [
            f.StepRow(
                f"s{n}",
                responsible=o.export_staff if n % 2 else o.forwarder,
                accountable=o.export_head,
                informed=[o.director] if n % 3 else [o.forwarder_ops],
            )
            for n in range(size)
        ],
        code=code,
        publish=publish,
    )


@pytest.mark.parametrize(
    ("publish", "expected"), [(True, MATRIX_QUERIES), (False, DRAFT_MATRIX_QUERIES)]
)
def test_the_matrix_query_count_does_not_grow_with_its_size(
    client, o, publish, expected
):
    client.force_login(o.admin)
    short = chain(o, 2, "SHORT", publish=publish)
    long = chain(o, 30, "LONG", publish=publish)

    small = count_queries(client, url("raci-matrix", o, short.pk))
    big = count_queries(client, url("raci-matrix", o, long.pk))

    assert small == big == expected


# --- the version page ---------------------------------------------------------------


def test_the_version_page_links_the_matrix_and_loads_its_role_checks(client, o):
    version = shipping(o)
    client.force_login(o.member)

    html = text(client.get(url("procedure-version", o, version.pk)))

    assert f'href="{url("raci-matrix", o, version.pk)}"' in html
    checks_url = url("version-role-checks", o, version.pk)
    assert f'hx-get="{checks_url}"' in html
    assert f'href="{checks_url}"' in html  # the same without JavaScript
    assert f'href="{url("briefing-version", o, version.pk)}"' in html


def test_the_version_role_checks_answer_htmx_with_the_panel_only(client, o):
    version = shipping(o)  # no duty named: each responsible position is warned
    client.force_login(o.admin)

    panel = client.get(
        url("version-role-checks", o, version.pk),
        HTTP_HX_TARGET="role-checks",
        **HTMX,
    )
    page = client.get(url("version-role-checks", o, version.pk))

    assert text(panel).startswith('<section id="role-checks"')
    assert "<html" not in text(panel)
    assert "Step “Quote” of Procedure SHIP, version 1 names no duty" in text(panel)
    assert "Acknowledge this warning" in text(panel)
    assert "<h1>" in text(page)
    assert "Step “Quote” of Procedure SHIP, version 1 names no duty" in text(page)


def test_publishing_shows_the_role_checks_refusal_and_changes_nothing(client, o):
    draft = f.procedure(
        o,
        [
            f.StepRow(
                "book",
                responsible=o.export_staff,
                accountable=o.forwarder_ops,
            )
        ],
        code="EXT",
        publish=False,
    )
    client.force_login(o.admin)

    page = client.get(url("procedure-version-publish", o, draft.pk))
    refused = client.post(
        url("procedure-version-publish", o, draft.pk), {"version": draft.version}
    )

    message = "but Forwarder operations of the outside partner Fast Forwarding"
    assert message in text(page)
    assert refused.status_code == 422
    assert message in text(refused)
    draft.refresh_from_db()
    assert draft.status == VersionStatus.DRAFT


def test_the_step_form_sets_requires_consultation(client, o):
    draft = shipping(o, publish=False)
    client.force_login(o.admin)

    response = client.post(
        url("step-create", o, draft.pk),
        {
            "key": "review",
            "name": "Review",
            "duration_value": "1",
            "duration_unit": "working_days",
            "requires_consultation": "on",
        },
    )

    assert response.status_code == 302
    step = Step.objects.get(procedure_version=draft, key="review")
    assert step.requires_consultation is True
    edit = text(client.get(url("step-edit", o, step.pk)))
    assert re.search(r'name="requires_consultation"[^>]*checked', edit)


# --- whose roles --------------------------------------------------------------------


def test_my_roles_lists_the_steps_of_the_positions_i_hold(client, o):
    shipping(o)
    client.force_login(o.member)  # Rina, Head of export

    response = client.get(url("my-roles", o))

    html = text(response)
    assert response.status_code == 200
    rows = re.findall(
        r'<th scope="row"><span class="code">([a-z]+)</span>.*?badge-role-([RACI])"',
        html,
        re.S,
    )
    assert rows == [
        ("quote", "A"),
        ("quote", "I"),
        ("pickup", "A"),
        ("check", "R"),
        ("check", "A"),
    ]
    assert 'aria-current="page">Roles<' in html  # the main navigation
    assert_csp_clean(response)


def test_my_roles_without_a_person_says_so(client, o):
    shipping(o)
    client.force_login(o.auditor)

    html = text(client.get(url("my-roles", o)))

    assert "Your login is not linked to a person of this organisation" in html


def test_a_partner_sees_its_own_roles_and_its_party(client, o):
    shipping(o)
    client.force_login(o.partner)  # Joko, Forwarder operations

    mine = text(client.get(url("my-roles", o)))
    party = client.get(url("party-roles", o, o.forwarder.pk))

    assert "Pickup" in mine and "Forwarder operations" in mine
    assert "Quote" not in mine
    assert party.status_code == 200
    assert "the party itself" in text(party)
    for page in (
        url("party-roles", o, o.export.pk),
        url("person-roles", o, o.rina.pk),
    ):
        assert client.get(page).status_code == 404, page


@pytest.mark.parametrize("role", ["admin", "member", "auditor"])
def test_a_persons_and_a_partys_roles(client, o, role):
    shipping(o)
    client.force_login(getattr(o, role))

    person = client.get(url("person-roles", o, o.budi.pk))
    party = client.get(url("party-roles", o, o.export.pk))

    assert person.status_code == party.status_code == 200
    assert "Roles of Budi Santoso" in text(person)
    assert badges(text(person).split("What R, A, C and I mean")[0]).count("R") >= 1
    assert "Quote" in text(person) and "Check" not in text(person)
    assert "Roles of Export" in text(party)
    assert "Export clerk" in text(party) and "Head of export" in text(party)


def test_another_organisation_sees_no_roles(client, o):
    other = f.organisation("globex", prefix="g-")
    client.force_login(other.admin)

    assert client.get(url("person-roles", other, o.rina.pk)).status_code == 404
    assert client.get(url("party-roles", other, o.export.pk)).status_code == 404
    assert client.get(url("my-roles", o)).status_code == 404


# --- role checks -------------------------------------------------------------------


def warning_subject(o: SmallOrg, version: ProcedureVersion) -> str:
    step = steps_of(version)["quote"]
    return f"v{version.pk}:step:{step.pk}:position:{o.export_staff.pk}"


@pytest.mark.parametrize("role", ["admin", "member", "auditor"])
def test_the_role_checks_page_groups_findings_by_severity_and_rule(client, o, role):
    shipping(o)
    f.procedure(  # the vacant Director answers for a step of a published version
        o,
        [f.StepRow("sign", responsible=o.export_head, accountable=o.director)],
        code="SIGN",
    )
    client.force_login(getattr(o, role))

    response = client.get(url("role-checks", o))

    html = text(response)
    assert response.status_code == 200
    assert '<h2 id="warnings-title">Warnings' in html
    assert "<h3>Duty in the job description</h3>" in html
    assert "<h3>Vacant responsible or accountable</h3>" in html
    assert "People carry out the tasks their job description names." in html
    assert "Director has no holder" in html
    # fix links: the step on its version, the vacant position's page
    assert f'href="{url("position-detail", o, o.director.pk)}">Go to the position' in (
        html
    )
    assert "Go to the step" in html
    acknowledge = 'action="{}"'.format(url("role-check-acknowledge", o))
    assert (acknowledge in html) == (role in ("admin", "member"))
    assert_csp_clean(response)


def test_partners_and_other_organisations_see_no_role_checks(client, o):
    other = f.organisation("globex", prefix="g-")
    version = shipping(o)
    client.force_login(o.partner)
    assert client.get(url("role-checks", o)).status_code == 404
    assert client.get(url("version-role-checks", o, version.pk)).status_code == 404
    assert client.get(url("role-settings", o)).status_code == 404
    client.force_login(other.admin)
    assert client.get(url("role-checks", o)).status_code == 404
    assert client.get(url("version-role-checks", other, version.pk)).status_code == 404


def test_a_fix_link_leads_to_the_step_in_the_draft(client, o):
    version = shipping(o)
    from rantai.chains import services as chains

    draft = chains.new_draft(version.procedure, actor=o.admin)
    drafted = steps_of(draft)["quote"]
    client.force_login(o.admin)

    html = text(client.get(url("role-checks", o)))

    assert f'href="{url("step-edit", o, drafted.pk)}">Change it in the draft' in html


def test_acknowledging_needs_a_reason_and_writes_nothing_without(client, o):
    version = shipping(o)
    subject = warning_subject(o, version)
    logged = events()
    client.force_login(o.member)  # the procedure's owner

    response = client.post(
        url("role-check-acknowledge", o),
        {
            "rule": "duty_not_covered",
            "subject": subject,
            "procedure_version": version.pk,
            "reason": "  ",
        },
    )

    assert response.status_code == 200
    html = text(response)
    assert "Give the reason for accepting this warning." in html
    # shown at the warning, its form open
    finding = re.search(
        r'<li class="finding finding-warning" id="finding-duty_not_covered-'
        + re.escape(subject.replace(":", "-"))
        + '".*?</li>',
        html,
        re.S,
    ).group(0)  # type: ignore[union-attr]
    assert '<details class="inline-form" open tabindex="-1" data-focus-on-load>' in (
        finding
    )
    assert "Give the reason for accepting this warning." in finding
    assert CheckAcknowledgement.objects.count() == 0
    assert events() == logged


def test_acknowledge_then_withdraw_a_warning(client, o):
    version = shipping(o)
    subject = warning_subject(o, version)
    client.force_login(o.member)

    response = client.post(
        url("role-check-acknowledge", o),
        {
            "rule": "duty_not_covered",
            "subject": subject,
            "procedure_version": version.pk,
            "reason": "The clerk quotes as part of shipping preparation.",
        },
    )

    assert response.status_code == 302
    acknowledgement = CheckAcknowledgement.objects.get()
    assert (acknowledgement.rule, acknowledgement.subject) == (
        "duty_not_covered",
        subject,
    )
    assert acknowledgement.acknowledged_by == o.member
    html = text(client.get(response["Location"]))
    assert "The warning is acknowledged." in html
    acknowledged = html.split('id="acknowledged"')[1]
    assert "Acknowledged by Member on" in acknowledged
    assert "The clerk quotes as part of shipping preparation." in acknowledged
    withdraw = url("role-check-withdraw", o, acknowledgement.pk)
    assert f'action="{withdraw}"' in acknowledged

    response = client.post(withdraw)

    assert response.status_code == 302
    acknowledgement.refresh_from_db()
    assert acknowledgement.withdrawn_by == o.member
    assert acknowledgement.withdrawn_at is not None
    html = text(client.get(response["Location"]))
    assert "the warning is open again" in html
    assert 'id="acknowledged"' not in html


def test_acknowledging_from_the_version_comes_back_to_it(client, o):
    version = shipping(o)
    client.force_login(o.admin)

    response = client.post(
        url("role-check-acknowledge", o),
        {
            "rule": "duty_not_covered",
            "subject": warning_subject(o, version),
            "procedure_version": version.pk,
            "reason": "Accepted for now",
            "back": "version",
        },
    )

    assert response["Location"] == (
        url("procedure-version", o, version.pk) + "#role-checks"
    )


@pytest.mark.parametrize("role", ["auditor", "member"])
def test_who_may_not_acknowledge_gets_403_and_nothing_changes(client, o, role):
    version = f.procedure(
        o,
        [f.StepRow("inside", responsible=o.export_staff, accountable=o.director)],
        code="DIR",
        owner=o.director,  # the member (Head of export) does not own it
    )
    step = steps_of(version)["inside"]
    logged = events()
    client.force_login(getattr(o, role))

    response = client.post(
        url("role-check-acknowledge", o),
        {
            "rule": "duty_not_covered",
            "subject": f"v{version.pk}:step:{step.pk}:position:{o.export_staff.pk}",
            "procedure_version": version.pk,
            "reason": "Because",
        },
    )

    assert response.status_code == 403
    assert CheckAcknowledgement.objects.count() == 0
    assert events() == logged


# session, user, membership + the checks of the organisation with some work to
# weigh (settings, versions, steps, roles, positions, holders, tasks, calendar,
# absences, acknowledgements) + the viewer (person, holdings) + the fix links
# (steps, their drafts) + the settings shown
CHECKS_QUERIES = 17


def test_the_role_checks_query_count_does_not_grow(client, o):
    client.force_login(o.admin)
    f.start_run(shipping(o, code="A"), actor=o.admin)  # work: capacity is weighed
    small = count_queries(client, url("role-checks", o))
    for n in range(6):
        shipping(o, code=f"B{n}")
        chain(o, 8, f"C{n}", publish=True)
    big = count_queries(client, url("role-checks", o))

    assert small == big == CHECKS_QUERIES


# --- the assignment policy ----------------------------------------------------------


def test_an_administrator_changes_the_policy(client, o, audit_trail):
    settings = policy.settings_for(o.organisation)
    trail = audit_trail(o.organisation)
    client.force_login(o.admin)

    page = text(client.get(url("role-settings", o)))
    response = client.post(
        url("role-settings", o),
        {
            "version": settings.version,
            "assignment_rule": AssignmentRule.ROUND_ROBIN,
            "require_duty_coverage": "",
            "load_window_days": "15",
            "consulted_bottleneck_steps": "4",
            "briefing_reminder_days": "2",
            "escalate_late_tasks": "on",
        },
    )

    assert 'name="assignment_rule"' in page
    assert response.status_code == 302
    settings.refresh_from_db()
    assert settings.assignment_rule == AssignmentRule.ROUND_ROBIN
    assert settings.require_duty_coverage is False
    assert settings.load_window_days == 15
    assert settings.consulted_bottleneck_steps == 4
    assert settings.briefing_reminder_days == 2
    assert settings.escalate_late_tasks is True
    assert len(trail.new_events()) == 1


def test_a_bad_or_stale_policy_is_refused_on_the_form(client, o):
    settings = policy.settings_for(o.organisation)
    client.force_login(o.admin)
    base = {
        "assignment_rule": AssignmentRule.LEAST_LOADED,
        "load_window_days": "10",
        "consulted_bottleneck_steps": "8",
        "briefing_reminder_days": "3",
    }

    too_long = client.post(
        url("role-settings", o),
        base | {"version": settings.version, "load_window_days": "500"},
    )
    stale = client.post(
        url("role-settings", o), base | {"version": settings.version + 1}
    )

    assert too_long.status_code == 200
    assert "Nothing was saved." in text(too_long)
    assert stale.status_code == 409
    settings.refresh_from_db()
    assert settings.load_window_days == 10
    assert settings.version == 1


@pytest.mark.parametrize("role", ["member", "auditor"])
def test_members_and_auditors_read_the_policy(client, o, role):
    client.force_login(getattr(o, role))

    page = client.get(url("role-settings", o))
    refused = client.post(
        url("role-settings", o),
        {"version": 1, "assignment_rule": AssignmentRule.ROUND_ROBIN},
    )

    assert page.status_code == 200
    assert 'name="assignment_rule"' not in text(page)
    assert "least loaded first" in text(page)
    assert "Only administrators change the assignment policy." in text(page)
    assert refused.status_code == 403
    assert (
        RoleSettings.objects.get(organisation=o.organisation).assignment_rule
        == AssignmentRule.LEAST_LOADED
    )


def test_the_policy_needs_membership_of_the_organisation(client, o):
    other = f.organisation("globex", prefix="g-")
    client.force_login(other.admin)
    assert client.get(url("role-settings", o)).status_code == 404

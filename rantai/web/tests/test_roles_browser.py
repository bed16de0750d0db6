"""The owner of a procedure edits a draft's RACI matrix in a real browser: each
ticked box is saved at once (htmx swaps the step's row), a second accountable is
refused in the cell it was ticked in, and the matrix after a reload is what was
saved. Drives Debian's Chromium through Playwright, like test_browser.py."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from rantai.accounts.models import User
from rantai.chains.models import StepRole
from rantai.roles.tests import factories as f
from rantai.testing import PASSWORD
from rantai.web.tests.test_browser import OUTPUT, browser_page  # noqa: F401

pytestmark = pytest.mark.browser


def log_in(page: Page, base: str, user: User) -> None:
    page.goto(f"{base}/login/")
    page.get_by_label("User name").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{base}/o/acme/focus/")


def saved(response) -> bool:  # type: ignore[no-untyped-def]
    """The answer to a cell sent by htmx."""
    return response.url.endswith("/raci/cells/") and response.ok


def roles_of(step_id: int) -> set[tuple[str, str]]:
    return {
        (row.role, (row.position or row.party).code)  # type: ignore[union-attr]
        for row in StepRole.objects.filter(step_id=step_id).select_related(
            "position", "party"
        )
    }


@pytest.mark.django_db(transaction=True)
def test_the_owner_edits_a_draft_matrix_cell_by_cell(
    live_server,
    browser_page,  # noqa: F811
):
    o = f.organisation()
    draft = f.procedure(
        o,
        [
            f.StepRow(
                "quote",
                responsible=o.export_staff,
                accountable=o.export_head,
                consulted=[o.director],
            ),
            f.StepRow(
                "pickup",
                responsible=o.forwarder,
                accountable=o.export_head,
                informed=[o.forwarder_ops],
                after=["quote"],
            ),
        ],
        publish=False,
    )
    steps = {step.key: step for step in draft.steps.all()}
    quote = steps["quote"].pk
    page, base = browser_page, live_server.url
    OUTPUT.mkdir(parents=True, exist_ok=True)

    # Rina holds the owner position: from the draft's page she opens its matrix
    log_in(page, base, o.member)
    page.goto(f"{base}/o/acme/procedures/versions/{draft.pk}/")
    page.locator(".page-actions").get_by_role("link", name="RACI matrix").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("RACI matrix")
    row = page.locator(f"#raci-row-{quote}")
    expect(row).to_contain_text("Quote")

    # When she ticks "informed" for the Director on "Quote", it is saved at once
    director = page.locator(f"#raci-{quote}-position-{o.director.pk}")
    with page.expect_response(saved):
        director.get_by_label("Informed").check()
    expect(director.get_by_label("Informed")).to_be_checked()
    assert ("I", "DIR") in roles_of(quote)
    assert ("C", "DIR") in roles_of(quote)

    # When she also makes the Director accountable, the cell says why not
    with page.expect_response(saved):
        director.get_by_label("Accountable").check()
    refusal = page.locator(f"#raci-{quote}-position-{o.director.pk} .errorlist")
    expect(refusal).to_contain_text("already has its accountable position")
    expect(
        page.locator(f"#raci-{quote}-position-{o.director.pk}").get_by_label(
            "Accountable"
        )
    ).not_to_be_checked()
    assert ("A", "DIR") not in roles_of(quote)
    page.screenshot(path=str(OUTPUT / "raci-matrix-refused.png"), full_page=True)
    # (a screenshot leaves empty style attributes that htmx would copy on the next
    # swap, which the CSP reports: start again from a fresh page)
    page.reload()

    # When she takes "responsible" away from the clerk, the row warns at once
    clerk = page.locator(f"#raci-{quote}-position-{o.export_staff.pk}")
    with page.expect_response(saved):
        clerk.get_by_label("Responsible").uncheck()
    expect(page.locator(f"#raci-row-{quote}")).to_contain_text("Nobody is responsible.")
    assert ("R", "EXP-CLERK") not in roles_of(quote)
    # and back
    page.locator(f"#raci-{quote}-position-{o.export_staff.pk}").get_by_label(
        "Responsible"
    ).check()
    expect(page.locator(f"#raci-row-{quote}")).not_to_contain_text(
        "Nobody is responsible."
    )

    # After a reload the matrix shows what was saved
    page.reload()
    cell = page.locator(f"#raci-{quote}-position-{o.director.pk}")
    expect(cell.get_by_label("Consulted")).to_be_checked()
    expect(cell.get_by_label("Informed")).to_be_checked()
    expect(cell.get_by_label("Accountable")).not_to_be_checked()
    assert roles_of(quote) == {
        ("R", "EXP-CLERK"),
        ("A", "EXP-HEAD"),
        ("C", "DIR"),
        ("I", "DIR"),
    }
    page.screenshot(path=str(OUTPUT / "raci-matrix-draft.png"), full_page=True)
    assert page.console_errors == []  # type: ignore[attr-defined]

"""Three people complete a three-stage approval route in a real browser, each from
their own Focus page: Rina (the requester's superior) approves, Wawan (head of the
warehouse) returns it to her for revision, she approves again, Wawan approves and
Sari (the director) approves last — and the run's due date moves. Drives Debian's
Chromium through Playwright, like test_browser.py."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import Page, expect

from rantai.accounts.models import User
from rantai.approvals.models import RequestStatus
from rantai.testing import PASSWORD, small_org
from rantai.web.tests.test_approval_pages import REASON, ask, build_coord, start_run
from rantai.web.tests.test_browser import OUTPUT, browser_page  # noqa: F401

pytestmark = pytest.mark.browser


def log_in(page: Page, base: str, user: User) -> None:
    page.goto(f"{base}/login/")
    page.get_by_label("User name").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    # everyone lands on their Focus page
    expect(page).to_have_url(f"{base}/o/acme/focus/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Focus")


def log_out(page: Page, base: str) -> None:
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{base}/login/")


def decide_from_focus(
    page: Page,
    title: str,
    decision: str,
    *,
    comment: str = "",
    return_to: str = "",
    screenshot: str = "",
) -> None:
    """Open the approval waiting on the Focus page, decide it, and come back."""
    waiting = page.locator("#approvals")
    expect(waiting).to_contain_text(title)
    page.get_by_role("link", name=f"Decide {title}").click()
    expect(page.get_by_role("heading", level=2, name="Your decision")).to_be_visible()
    page.get_by_label(decision, exact=True).check()
    if comment:
        page.get_by_label("Comment").fill(comment)
    if return_to:
        page.get_by_label("Return to").select_option(label=return_to)
    if screenshot:
        page.screenshot(path=str(OUTPUT / screenshot), full_page=True)
    page.get_by_role("button", name="Record my decision").click()
    # back on the Focus page, with what happened
    expect(page.get_by_role("heading", level=1)).to_contain_text("Focus")
    expect(page.locator(".messages")).to_contain_text(title)


@pytest.mark.django_db(transaction=True)
def test_three_people_complete_a_three_stage_route_from_their_focus_pages(
    live_server,
    browser_page,  # noqa: F811
):
    coord = build_coord(small_org("acme"))
    team = coord.team
    run = start_run(coord)
    due_before = run.due_at
    request = ask(coord, run)
    title = request.title
    page, base = browser_page, live_server.url
    OUTPUT.mkdir(parents=True, exist_ok=True)

    # Rina, the requester's superior, approves stage 1 from her Focus page
    log_in(page, base, coord.rina)
    expect(page.locator("#approvals")).to_contain_text("left")
    page.screenshot(path=str(OUTPUT / "focus-approver.png"), full_page=True)
    decide_from_focus(page, title, "Approve", screenshot="approval-decision-form.png")
    expect(page.locator(".messages")).to_contain_text("You approved")
    expect(page.locator("#approvals")).to_contain_text("No approval waits for you.")
    log_out(page, base)

    # Wawan returns it to stage 1 for revision, with a comment
    log_in(page, base, team.wawan)
    decide_from_focus(
        page,
        title,
        "Return for revision",
        comment="Confirm the new date with the forwarder first",
        return_to="stage 1: Superior",
    )
    expect(page.locator(".messages")).to_contain_text("for revision")
    log_out(page, base)

    # Rina sees it again and approves once more
    log_in(page, base, coord.rina)
    decide_from_focus(page, title, "Approve", comment="Forwarder confirmed")
    log_out(page, base)

    # Wawan approves this time
    log_in(page, base, team.wawan)
    decide_from_focus(page, title, "Approve")
    log_out(page, base)

    # Sari, the director, approves the last stage: the due date moves
    log_in(page, base, team.sari)
    decide_from_focus(page, title, "Approve", comment="Agreed")
    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED
    run.refresh_from_db()
    assert run.due_at == due_before + dt.timedelta(days=7)

    # The coordination map tells the whole story
    page.goto(f"{base}/o/acme/approvals/{request.pk}/")
    expect(page.locator("#standing-title + dl")).to_contain_text(
        "The request is approved."
    )
    route = page.locator("#route")
    expect(route).to_contain_text("Stage 1: Superior")
    expect(route).to_contain_text("Stage 3: Director")
    expect(route).to_contain_text("took")
    decisions = page.locator("#decisions")
    expect(decisions).to_contain_text("Confirm the new date with the forwarder first")
    expect(decisions).to_contain_text("back to stage 1")
    expect(decisions).to_contain_text("no longer counts")
    expect(page.locator("#standing-title + dl")).to_contain_text(REASON)
    page.screenshot(path=str(OUTPUT / "approval-coordination-map.png"), full_page=True)
    page.goto(f"{base}/o/acme/runs/{run.pk}/coordination/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Coordination map")
    page.screenshot(path=str(OUTPUT / "run-coordination-map.png"), full_page=True)
    assert page.console_errors == []  # type: ignore[attr-defined]

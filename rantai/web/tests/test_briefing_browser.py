"""A new holder receives and acknowledges their briefing, in a real browser: the
administrator appoints Nina (who has a login) to the Clerk position, which is
responsible for a step of a published procedure; Nina logs in, finds the briefing
on her Focus page, reads her roles in plain language and acknowledges them; Rina,
the process owner, sees on the version's briefing page that Nina acknowledged.
Drives Debian's Chromium through Playwright, like test_browser.py."""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from rantai.roles.models import Briefing, BriefingReason
from rantai.roles.tests import factories as f
from rantai.web.tests.test_browser import OUTPUT, browser_page  # noqa: F401
from rantai.web.tests.test_browser_approvals import log_in, log_out

pytestmark = pytest.mark.browser


@pytest.mark.django_db(transaction=True)
def test_a_new_holder_receives_and_acknowledges_their_briefing(
    live_server,
    browser_page,  # noqa: F811
):
    o = f.organisation()
    clerk = f.position(
        o,
        party=o.export,
        title="Clerk",
        code="CLK",
        superior=o.export_head,
        duties=["Book freight"],
    )
    version = f.procedure(
        o,
        [
            f.StepRow(
                "book",
                responsible=clerk,
                accountable=o.export_head,
                duty=f.duty_of(clerk, "Book freight"),
                consulted=[o.director],
            ),
            f.StepRow(
                "ship",
                responsible=o.forwarder,
                accountable=o.export_head,
                after=["book"],
            ),
        ],
        now=timezone.now(),
    )
    nina = f.person(o, "nina")  # a login, no position yet
    assert not Briefing.objects.filter(person=nina).exists()
    page, base = browser_page, live_server.url
    OUTPUT.mkdir(parents=True, exist_ok=True)
    today = timezone.localdate().isoformat()

    # The administrator appoints Nina as Clerk from the position's page
    log_in(page, base, o.admin)
    page.goto(f"{base}/o/acme/positions/{clerk.pk}/")
    page.get_by_role("link", name="Appoint a holder").click()
    page.get_by_label("Person").select_option(label="Nina")
    page.get_by_label("From").fill(today)
    page.get_by_role("button", name="Appoint").click()
    expect(page.locator(".messages")).to_contain_text("The holder was appointed.")
    log_out(page, base)
    briefing = Briefing.objects.get(person=nina)
    assert briefing.reason == BriefingReason.STARTED_HOLDING

    # Nina logs in: her Focus page asks her to acknowledge the briefing
    log_in(page, base, f.user_of(nina))
    waiting = page.locator("#briefings")
    expect(waiting).to_contain_text("Briefings to acknowledge")
    expect(waiting).to_contain_text("Your roles as Clerk")
    page.screenshot(path=str(OUTPUT / "focus-briefing.png"), full_page=True)
    waiting.get_by_role("link", name="Your roles as Clerk").click()

    # She reads her roles in plain language, with her job description
    expect(page.get_by_role("heading", level=1)).to_contain_text("Your roles as Clerk")
    main = page.locator("main")
    expect(main).to_contain_text("You hold the position Clerk.")
    expect(main).to_contain_text("As Clerk: Book freight.")
    expect(main).to_contain_text("You are responsible for “Book” (as Clerk).")
    expect(main).to_contain_text("You hand over to “Ship” (Fast Forwarding).")
    expect(main).to_contain_text("Head of export approves.")
    expect(main).to_contain_text("Ask Director for their input before you complete it.")
    page.screenshot(path=str(OUTPUT / "briefing.png"), full_page=True)
    page.get_by_role("button", name="I have read and understood my roles").click()
    expect(page.locator(".messages")).to_contain_text(
        "Thank you: your briefing is acknowledged."
    )
    expect(main).to_contain_text("You acknowledged this briefing on")
    expect(
        page.get_by_role("button", name="I have read and understood my roles")
    ).to_have_count(0)
    page.goto(f"{base}/o/acme/focus/")
    expect(page.locator("#briefings")).to_have_count(0)
    log_out(page, base)
    briefing.refresh_from_db()
    assert briefing.acknowledged_at is not None
    assert briefing.acknowledged_by == f.user_of(nina)

    # Rina, the process owner, sees that Nina acknowledged
    log_in(page, base, o.member)
    page.goto(f"{base}/o/acme/briefings/")
    page.get_by_role("link", name="Procedure SHIP v1").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(
        "Briefings of Procedure SHIP v1"
    )
    acknowledged = page.locator("#acknowledged")
    expect(acknowledged).to_contain_text("Nina")
    expect(acknowledged).to_contain_text("new holder of Clerk")
    expect(page.locator("#waiting")).not_to_contain_text("Nina")
    page.screenshot(path=str(OUTPUT / "briefing-status.png"), full_page=True)
    assert page.console_errors == []  # type: ignore[attr-defined]
    assert version.pk == briefing.content["roles"][0]["version_id"]

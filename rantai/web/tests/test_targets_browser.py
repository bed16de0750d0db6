"""A target at risk in a real browser, followed down to what causes it: the
Head of export (Rina) logs in, opens Targets, sees the quarter "at risk", opens
it, reads why — the run "Ship 300 units to Kota B" is at risk — follows the run
line to the run, and from the explanation reaches the obstacle that holds it
up (the cartons have not arrived). Drives Debian's Chromium through
Playwright, like test_browser.py, and keeps screenshots for a person to look at.
"""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from rantai.obstacles.tests import factories
from rantai.web.tests.test_browser import OUTPUT, browser_page  # noqa: F401
from rantai.web.tests.test_obstacle_browser import log_in
from rantai.web.tests.test_obstacle_pages import live
from rantai.web.tests.test_target_pages import make_target, point

pytestmark = pytest.mark.browser


@pytest.mark.django_db(transaction=True)
def test_follow_a_target_at_risk_down_to_the_obstacle_that_causes_it(
    live_server,
    browser_page,  # noqa: F811
):
    w = live(factories.world())
    quarter = make_target(w, "Kota B this quarter", 1000)
    point(w.run, quarter, w)
    obstacle = factories.make_obstacle(
        w,
        task=w.task("pack"),
        title="The cartons have not arrived",
        delay=600,  # more than a working day: the run turns at risk
        now=timezone.now(),
    )
    page, base = browser_page, live_server.url
    OUTPUT.mkdir(parents=True, exist_ok=True)

    # Rina opens Targets from the menu: the quarter is at risk
    log_in(page, base, w.o.member)
    page.get_by_role("link", name="Targets", exact=True).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Targets")
    card = page.locator(f"#target-{quarter.pk}")
    expect(card).to_contain_text("at risk")
    expect(card).to_contain_text("0 of 1,000 units done (0%)")
    expect(card.locator("svg .target-bar-at-risk")).to_have_count(1)
    page.screenshot(path=str(OUTPUT / "targets-list.png"), full_page=True)

    # She opens it and reads why: the run at risk, with its obstacle under it
    card.get_by_role("link", name="Kota B this quarter").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Kota B this quarter")
    why = page.locator("#explanation")
    expect(why).to_contain_text("“Ship 300 units to Kota B” is at risk")
    expect(why).to_contain_text("Nothing under way covers the remaining 700 units.")
    expect(
        why.get_by_role("link", name="The cartons have not arrived", exact=True)
    ).to_be_visible()
    page.screenshot(path=str(OUTPUT / "target-detail.png"), full_page=True)

    # The run line leads to the run, which counts toward the quarter
    why.get_by_role("link", name="“Ship 300 units to Kota B” is at risk").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Ship 300 units to Kota B"
    )
    expect(page.locator("#run-target")).to_contain_text("Kota B this quarter")
    expect(page.locator("#obstacles")).to_contain_text("The cartons have not arrived")

    # Back on the target, the obstacle line leads to the obstacle itself
    page.go_back()
    page.locator("#explanation").get_by_role(
        "link", name="The cartons have not arrived", exact=True
    ).click()
    expect(page).to_have_url(f"{base}/o/acme/obstacles/{obstacle.pk}/")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "The cartons have not arrived"
    )
    assert page.console_errors == []  # type: ignore[attr-defined]

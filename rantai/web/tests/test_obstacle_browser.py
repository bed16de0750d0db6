"""An obstacle in a real browser, as the issue tells it: Rina raises an obstacle
on a task of a run (the cartons for packing have not arrived) and sees its
what-if before saving — which tasks move, the new projected finish, that it
puts the target at risk — and the run turns at risk; she records the
supplier's written notice with its file; the administrator (someone else)
verifies it; Rina closes the obstacle with it as evidence and the run's
status recovers. On the way: the early warning on her
focus page and the review the severe obstacle opened, with its gentle hint
against blame. Drives Debian's Chromium through Playwright, like
test_browser.py, and keeps screenshots of the pages for a person to look at.
"""

from __future__ import annotations

import re

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from rantai.accounts.models import User
from rantai.chains.models import ScheduleStatus
from rantai.evidence.models import InformationRecord, RecordStatus
from rantai.evidence.tests.factories import sample_pdf_bytes
from rantai.obstacles import warnings
from rantai.obstacles.models import Obstacle, ObstacleStatus, Review
from rantai.obstacles.tests import factories
from rantai.testing import PASSWORD
from rantai.web.tests.test_browser import OUTPUT, browser_page  # noqa: F401
from rantai.web.tests.test_obstacle_pages import live

pytestmark = pytest.mark.browser


def log_in(page: Page, base: str, user: User) -> None:
    page.goto(f"{base}/login/")
    page.get_by_label("User name").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{base}/o/acme/focus/")


def log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(OUTPUT / name), full_page=True)
    # (a screenshot leaves empty style attributes that htmx would copy on the next
    # swap, which the CSP reports: go on from a fresh page)
    page.reload()


@pytest.mark.django_db(transaction=True)
def test_raise_see_the_risk_back_it_with_verified_evidence_and_close_it(
    live_server,
    browser_page,  # noqa: F811
    settings,
    tmp_path,
):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    w = live(factories.world())  # on track, two working days of slack
    pack = w.task("pack")
    page, base = browser_page, live_server.url
    OUTPUT.mkdir(parents=True, exist_ok=True)

    def what_if_answered(response) -> bool:  # type: ignore[no-untyped-def]
        return "/obstacles/what-if/" in response.url and response.ok

    # Rina opens the "pack" task (she is its accountable) and raises an obstacle
    log_in(page, base, w.o.member)
    page.goto(f"{base}/o/acme/tasks/{pack.pk}/")
    page.get_by_role("link", name="Raise an obstacle on this task").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(
        "Raise an obstacle on “Pack”"
    )
    page.get_by_label("Title").fill("The cartons have not arrived")
    page.get_by_label("Description").fill(
        "The supplier called: the delivery of cartons comes a day late."
    )
    page.get_by_label("Severity").select_option("high")
    page.get_by_label("Cause").select_option("material")

    # When she types the expected delay, the what-if shows its impact at once
    what_if = page.locator("#what-if")
    expect(what_if).to_contain_text("Enter the expected delay")
    with page.expect_response(what_if_answered):
        page.get_by_label("Expected delay").fill("14")
    expect(what_if).to_contain_text("This puts the target at risk")
    moved = page.locator("#what-if table.impact-moved tbody th")
    expect(moved).to_have_text(["Pack", "Ship", "Store"])
    expect(what_if).to_contain_text("1 working day 6 hours")  # 14 hours, 8 a day
    expect(what_if.locator(".badge-schedule-at_risk")).to_be_visible()
    # in working days it is another matter: the run would be late
    with page.expect_response(what_if_answered):
        page.get_by_label("Delay unit").select_option("working_days")
    expect(page.locator("#what-if")).to_contain_text("14 working days")
    expect(page.locator("#what-if")).to_contain_text("after the due date")
    with page.expect_response(what_if_answered):
        page.get_by_label("Delay unit").select_option("working_hours")
    expect(page.locator("#what-if")).to_contain_text("1 working day 6 hours")
    assert not Obstacle.objects.exists()  # nothing saved yet
    page.screenshot(path=str(OUTPUT / "obstacle-raise-what-if.png"), full_page=True)

    page.get_by_role("button", name="Raise the obstacle").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "The cartons have not arrived"
    )
    obstacle = Obstacle.objects.get()
    assert obstacle.expected_delay_minutes == 14 * 60
    expect(page.locator("#impact")).to_contain_text("This puts the target at risk")

    # The run turns at risk
    page.get_by_role("link", name=w.run.title).first.click()
    expect(page.locator(".target-box")).to_have_class(re.compile("target-at_risk"))
    expect(page.locator("#obstacles")).to_contain_text("The cartons have not arrived")
    w.run.refresh_from_db()
    assert w.run.schedule_status == ScheduleStatus.AT_RISK
    shot(page, "run-at-risk.png")

    # The worker's scan warns her: "pack" has used most of its slack
    warnings.scan(now=timezone.now(), organisation_ids=[w.organisation.pk])
    page.goto(f"{base}/o/acme/focus/")
    focus_warnings = page.locator("#warnings")
    expect(focus_warnings).to_contain_text("Slack nearly used up")
    expect(focus_warnings).to_contain_text("“Pack” of “Ship 300 units to Kota B”")
    expect(focus_warnings).to_contain_text("Start or finish it now")
    expect(page.locator("#obstacles")).to_contain_text("The cartons have not arrived")
    shot(page, "focus-warning.png")
    page.locator("#warnings").get_by_role("button", name="Acknowledge").first.click()
    expect(page.locator("#warnings")).to_contain_text("acknowledged")

    # She records the supplier's written notice, with the letter as a file
    page.goto(f"{base}/o/acme/obstacles/{obstacle.pk}/")
    page.locator("#records").get_by_role(
        "link", name="Record new information for this run"
    ).click()
    page.get_by_label("Title").fill("The supplier's written notice")
    page.get_by_label("Information").fill("The cartons come tomorrow at 10.")
    page.get_by_label("A document").check()
    page.get_by_label("Who said it, or which document or system").fill(
        "The supplier's letter of today"
    )
    page.set_input_files(
        "#id_evidence-0-file",
        files=[
            {
                "name": "notice.pdf",
                "mimeType": "application/pdf",
                "buffer": sample_pdf_bytes("Notice 118"),
            }
        ],
    )
    page.get_by_role("button", name="Record the information").click()
    expect(page.get_by_text("The information was recorded.")).to_be_visible()
    record = InformationRecord.objects.get(title="The supplier's written notice")
    assert record.evidence.get().original_name == "notice.pdf"
    assert record.status == RecordStatus.UNVERIFIED
    log_out(page)

    # The administrator checks it against the letter and verifies it
    log_in(page, base, w.admin)
    page.goto(f"{base}/o/acme/information/{record.pk}/")
    page.get_by_label("Verified").check()
    page.get_by_label("What you checked it against").fill(
        "Called the supplier back: the letter is theirs."
    )
    page.get_by_role("button", name="Record my verdict").click()
    expect(page.locator(".badge-record-verified").first).to_be_visible()
    record.refresh_from_db()
    assert record.status == RecordStatus.VERIFIED
    assert record.verified_by == w.admin
    log_out(page)

    # Rina closes the obstacle with the verified notice as its evidence
    log_in(page, base, w.o.member)
    page.goto(f"{base}/o/acme/obstacles/{obstacle.pk}/")
    shot(page, "obstacle-detail.png")
    close = page.locator("#close")
    close.get_by_text("Resolve, with evidence").click()
    close.get_by_label("How it was resolved").fill(
        "The cartons came at 10; packing goes on."
    )
    close.get_by_label("The supplier's written notice (verified)").check()
    close.get_by_role("button", name="Resolve").click()
    resolution = page.locator("#resolution")
    expect(resolution).to_contain_text("The cartons came at 10; packing goes on.")
    expect(resolution).to_contain_text("The supplier's written notice")
    expect(page.locator(".rests-on-hearsay")).to_have_count(0)
    obstacle.refresh_from_db()
    assert obstacle.status == ObstacleStatus.RESOLVED
    assert list(obstacle.resolution_records.all()) == [record]

    # The run's status recovers
    page.goto(f"{base}/o/acme/runs/{w.run.pk}/")
    expect(page.locator(".target-box")).to_have_class(re.compile("target-on_track"))
    w.run.refresh_from_db()
    assert w.run.schedule_status == ScheduleStatus.ON_TRACK

    # The severe obstacle opened a blameless review; it hints gently at blame
    review = Review.objects.get(obstacle=obstacle)
    page.goto(f"{base}/o/acme/reviews/{review.pk}/")
    page.get_by_role("textbox", name="What happened").fill(
        "The buyer was careless: the cartons were ordered too late."
    )
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".blame-hint")).to_contain_text("“careless” sounds like blame")
    expect(page.get_by_label("Keep as written")).to_be_visible()
    page.screenshot(path=str(OUTPUT / "review-hint.png"), full_page=True)
    page.get_by_role("textbox", name="What happened").fill(
        "The cartons were ordered when packing was due; no step orders them sooner."
    )
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("The review was saved.")).to_be_visible()
    page.locator("#factors").get_by_text("Add what contributed").click()
    page.get_by_label("A step", exact=True).check()
    page.locator("#factor-task").select_option(str(pack.pk))
    page.get_by_role("textbox", name="What contributed").fill(
        "Packing starts without a check that the material is in stock."
    )
    page.locator("#factors").get_by_role("button", name="Add").click()
    expect(page.locator("#factors")).to_contain_text("material is in stock")
    shot(page, "review.png")
    assert page.console_errors == []  # type: ignore[attr-defined]

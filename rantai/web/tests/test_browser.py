"""A person in a real browser: log in, read the organisation chart, switch to Bahasa
Indonesia, open a position, log out. Drives Debian's Chromium through Playwright."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from rantai.testing import PASSWORD, small_org

CHROMIUM_CANDIDATES = ["/usr/lib/chromium/chromium", "/usr/bin/chromium"]
OUTPUT = Path(os.environ.get("RANTAI_TEST_OUTPUT", "var/test-output"))

pytestmark = pytest.mark.browser


def _chromium() -> str:
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    found = shutil.which("chromium")
    assert found, "Chromium is missing: run scripts/setup.sh --with-browser"
    return found


@pytest.fixture
def browser_page(monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the ORM calls the test
    # makes itself (building data, checking results) are still plain synchronous ones.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=_chromium(),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(15_000)
        errors: list[str] = []
        page.on(
            "console",
            lambda msg: errors.append(msg.text) if msg.type == "error" else None,
        )
        page.console_errors = errors  # type: ignore[attr-defined]
        yield page
        context.close()
        browser.close()


@pytest.mark.django_db(transaction=True)
def test_a_member_logs_in_reads_the_chart_in_both_languages_and_logs_out(
    live_server, browser_page
):
    acme = small_org("acme")
    page = browser_page

    # Given the login page, when the member logs in
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("User name").fill(acme.member.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    # then they land on their Focus page; the chart shows units, positions and holders
    expect(page).to_have_url(f"{live_server.url}/o/acme/focus/")
    page.get_by_role("link", name="Organisation chart").click()
    expect(page).to_have_url(f"{live_server.url}/o/acme/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Organisation chart")
    expect(page.locator("main")).to_contain_text("Export")
    expect(page.locator("main")).to_contain_text("Head of export")
    expect(page.locator("main")).to_contain_text("Rina Kusuma")
    expect(page.locator("main")).to_contain_text("Fast Forwarding")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / "org-chart.png"), full_page=True)

    # When they switch to Bahasa Indonesia, the labels are Indonesian, and it sticks
    page.get_by_role("button", name="Bahasa Indonesia").first.click()
    expect(page.locator("html")).to_have_attribute("lang", "id")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Bagan organisasi")
    page.screenshot(path=str(OUTPUT / "org-chart-id.png"), full_page=True)
    acme.member.refresh_from_db()
    assert acme.member.language == "id"

    # When they open a position, they see its job description, holder and superior
    page.get_by_role("link", name="Head of export").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Head of export")
    expect(page.locator("main")).to_contain_text("Price shipping")
    expect(page.locator("main")).to_contain_text("Rina Kusuma")
    expect(page.locator("main")).to_contain_text("Director")

    # When they log out, they are back at the login page and the chart is closed to them
    page.get_by_role("button", name="Keluar").click()
    expect(page).to_have_url(f"{live_server.url}/login/")
    page.goto(f"{live_server.url}/o/acme/")
    expect(page).to_have_url(f"{live_server.url}/login/?next=/o/acme/")
    assert page.console_errors == []  # type: ignore[attr-defined]

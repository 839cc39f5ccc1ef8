"""In Chromium, on the demo service centre: a supervisor opens Reports from the navigation, picks a range,
reads every report page with its charts drawn by Chart.js (the canvas an image with a summary, its table
next to it), downloads a CSV, and gets a clear error for a range that runs backwards; every page passes
axe-core. With CASEWORK_SCREENSHOTS=1 the pages are saved as docs/screenshots/reports-*.png."""
import csv
from datetime import date, timedelta

import pytest
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from caseworker.demo import DEMO_PASSWORD, STAFF, staff_email
from caseworker.reports import PAGES
from tests.browser.test_console_shell import demo_server  # noqa: F401  (the live server with the demo seeded)

pytestmark = pytest.mark.browser

SUPERVISOR = staff_email(next(m for m in STAFF if m.first == "Dana"))


def _sign_in(page: Page, url: str) -> None:
    page.goto(url + "/login")
    page.get_by_label("Email").fill(SUPERVISOR)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1, name="My cases")).to_be_visible()


_DRAWN = ("() => typeof Chart === 'undefined' ? 0 : [...document.querySelectorAll('canvas[data-chart]')]"
          ".filter(c => Chart.getChart(c) !== undefined && c.width > 0).length")


def _charts_drawn(page: Page) -> int:
    """How many canvases Chart.js has drawn a chart on, once every canvas has one or the wait times out (the
    canvases are in the page before the script at its end has run: on a loaded machine, a check made as
    soon as they show found no Chart yet)."""
    try:
        page.wait_for_function(f"() => ({_DRAWN})() === document.querySelectorAll('canvas[data-chart]').length",
                               timeout=10_000)
    except PlaywrightTimeoutError:
        pass                       # the assertion below says how many were drawn
    return page.evaluate(_DRAWN)


def test_a_supervisor_reads_every_report_with_charts_and_tables(demo_server, page: Page, axe, screenshot):
    page.set_viewport_size({"width": 1280, "height": 900})
    _sign_in(page, demo_server.url)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Reports").click()
    expect(page.get_by_role("heading", level=1, name="Reports: Volume")).to_be_visible()

    end = date.today()
    page.get_by_label("From").fill((end - timedelta(days=89)).isoformat())
    page.get_by_label("To").fill(end.isoformat())
    page.get_by_role("button", name="Show report").click()
    expect(page.get_by_text(f"Showing {end - timedelta(days=89)} to {end}.")).to_be_visible()

    for slug, report in PAGES.items():
        page.get_by_role("navigation", name="Reports").get_by_role("link", name=report.title, exact=True).click()
        expect(page.get_by_role("heading", level=1, name=f"Reports: {report.title}")).to_be_visible()
        expect(page.get_by_role("link", name=report.title, exact=True)).to_have_attribute("aria-current", "page")
        canvases = page.locator("canvas[data-chart]")
        expect(canvases.first).to_be_visible()
        assert _charts_drawn(page) == canvases.count() >= 1, slug
        assert "The table below gives the figures." in canvases.first.get_attribute("aria-label")
        screenshot(page, f"reports-{slug}.png")
        for summary in page.locator("details.report-figures > summary").all():     # long tables fold away
            summary.focus()
            page.keyboard.press("Enter")
        for name in report.tables:
            expect(page.locator(f"#table-{name} tbody tr").first).to_be_visible()
        assert axe() == [], slug

    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV of response and resolution times by district (area)").click()
    assert download.value.suggested_filename.startswith("casework-equity-by-district-")
    with open(download.value.path(), encoding="utf-8", newline="") as file:
        header, *rows = csv.reader(file)
    assert header[:4] == ["District (area)", "Cases", "Answered", "First response, median (minutes)"]
    assert len(rows) >= 3


def test_a_range_that_runs_backwards_is_explained_next_to_the_field(demo_server, page: Page, axe):
    _sign_in(page, demo_server.url)
    page.goto(demo_server.url + "/reports/sla")
    page.get_by_label("From").fill("2026-03-10")
    page.get_by_label("To").fill("2026-03-01")
    page.get_by_label("To").press("Enter")                          # keyboard only
    expect(page.get_by_role("alert")).to_contain_text("To: The end date is before the start date.")
    expect(page.get_by_label("To")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("To")).to_have_value("2026-03-01")
    page.get_by_role("link", name="To: The end date is before the start date.").click()
    expect(page.get_by_label("To")).to_be_focused()
    assert axe() == []

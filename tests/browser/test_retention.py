"""In Chromium: a supervisor places a legal hold by keyboard (with the error for a missing reason first); an
admin sets a category's retention period and sees the runs. axe-clean."""
import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from channels import retention
from models import CaseStatus, Role, init_engine, transaction, utcnow
from tests.browser.test_case_page import sign_in
from tests.factories import make_case, make_category, make_queue, make_user

pytestmark = pytest.mark.browser


@pytest.fixture
def retention_server(live_server):
    """A closed case long past its period (anonymised by a run), an open one, a supervisor and an admin."""
    init_engine(live_server.env["DATABASE_URL"])
    with transaction() as session:
        streets = make_queue(session, "streets", name="Streets")
        pothole = make_category(session, streets, "pothole")
        pothole.name, pothole.retention_days = "Pothole", 365
        make_category(session, streets, "graffiti").name = "Graffiti"
        make_user(session, Role.SUPERVISOR, email="bea.boss@staff.example", display_name="Bea Boss")
        make_user(session, Role.ADMIN, email="ada.admin@staff.example", display_name="Ada Admin")
        case = make_case(session, category=pothole, email="ana.lopez@mail.example")
        ended = utcnow() - timedelta(days=400)
        old = make_case(session, category=pothole, email="bo@mail.example", status=CaseStatus.CLOSED,
                        closed_at=ended, last_activity_at=ended)
        live_server.cases = (case.id, case.reference, old.id)
    retention.run(trigger="cli")
    return live_server


def test_a_supervisor_places_a_legal_hold_by_keyboard(retention_server, page: Page, axe):
    case_id, reference, old_id = retention_server.cases
    sign_in(page, retention_server.url, "bea.boss@staff.example")
    page.goto(f"{retention_server.url}/cases/{case_id}")
    section = page.locator("#case-legal-hold")
    expect(section.get_by_role("heading", name="Legal hold")).to_be_visible()
    assert axe() == []

    reason = section.get_by_label(re.compile("^Reason"))
    expect(reason).to_have_attribute("required", "")                   # the browser asks for it first
    reason.focus()
    page.keyboard.type("Claim 2026/114 (city attorney)")
    page.keyboard.press("Tab")
    expect(page.locator("#case-legal-hold").get_by_role("button", name="Place on legal hold")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{retention_server.url}/cases/{case_id}#case-legal-hold")
    expect(page.locator("#case-header")).to_contain_text("Legal hold: Claim 2026/114 (city attorney)")
    expect(page.locator("#case-legal-hold")).to_contain_text("placed by Bea Boss")
    expect(page.locator("#case-legal-hold").get_by_role("button", name="Release the hold")).to_be_visible()
    assert axe() == []

    page.goto(f"{retention_server.url}/cases/{old_id}")                  # the case the run anonymised
    expect(page.locator("#case-header")).to_contain_text("Personal data removed under the retention policy")
    expect(page.locator("#timeline")).to_contain_text(retention.REMOVED)
    assert axe() == []


def test_an_admin_sets_a_retention_period_and_sees_the_runs(retention_server, page: Page, axe):
    sign_in(page, retention_server.url, "ada.admin@staff.example")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Retention").click()
    expect(page.get_by_role("heading", level=1, name="Retention")).to_be_visible()
    runs = page.locator("table.retention-runs tbody tr")
    expect(runs).to_have_count(1)
    expect(runs.first).to_contain_text("anonymise, cli")
    assert axe() == []

    field = page.get_by_label("Days after closing for Graffiti")
    expect(field).to_have_attribute("min", "0")                        # the browser refuses -1 before we do
    field.fill("730")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").filter(has_text="Graffiti: cases are now kept for 730 days")).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("Graffiti"))).to_contain_text("730 days")
    assert axe() == []

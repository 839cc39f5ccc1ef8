"""In Chromium: a demo user signs in by keyboard and sees their inbox; the pages pass axe-core."""
import re

import pytest
from playwright.sync_api import Page, expect

from caseworker.demo import DEMO_PASSWORD, STAFF, staff_email

pytestmark = pytest.mark.browser

CASEWORKER = staff_email(next(m for m in STAFF if m.first == "María"))


@pytest.fixture
def demo_server(live_server):
    live_server.flask("seed-demo", "--constituents", "150", "--cases", "1500")
    return live_server


def test_a_caseworker_signs_in_by_keyboard_and_sees_the_inbox(demo_server, page: Page, axe, tmp_path):
    page.goto(demo_server.url + "/")
    expect(page).to_have_url(re.compile(r"/login\?next=%2F"))
    expect(page).to_have_title("Sign in · Casework")
    assert axe() == []

    page.keyboard.press("Tab")                                   # the first stop is the skip link
    expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Email")).to_be_focused()
    page.keyboard.type(CASEWORKER)
    page.keyboard.press("Tab")
    page.keyboard.type(DEMO_PASSWORD)
    page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile(re.escape(demo_server.url) + r"/inbox/(#main)?$"))  # a fragment survives redirects
    expect(page.get_by_role("heading", level=1, name="My cases")).to_be_visible()
    expect(page.get_by_role("banner")).to_contain_text("María García")
    rows = page.locator("table.cases tbody tr")
    expect(rows.first).to_be_visible()
    assert rows.count() >= 1
    expect(page.locator("#inbox-count")).to_have_text(re.compile(r"^\d+ open cases? assigned to you\.$"))
    expect(page.locator("#connection-status")).to_have_text("Live")     # the Socket.IO link is up
    assert axe() == []
    page.screenshot(path=str(tmp_path / "inbox.png"), full_page=True)

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(demo_server.url + "/login")
    expect(page.get_by_role("status").filter(has_text="You are signed out.")).to_be_visible()


def test_a_wrong_password_is_explained_next_to_the_field(demo_server, page: Page, axe):
    page.goto(demo_server.url + "/login")
    page.get_by_label("Email").fill(CASEWORKER)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("The email or password is not right")
    expect(page.get_by_label("Password")).to_have_attribute("aria-invalid", "true")
    assert axe() == []

"""In Chromium: an admin issues an Open311 API key by keyboard, copies it once, and revokes it; axe finds nothing."""
import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

ADMIN, PASSWORD = "admin@staff.example", "a-long-admin-password"


@pytest.fixture
def admin_server(live_server):
    live_server.env = live_server.env | {"CASEWORK_NEW_PASSWORD": PASSWORD}
    live_server.flask("users", "create", ADMIN, "--role", "admin", "--name", "Ada Admin")
    return live_server


def test_an_admin_issues_and_revokes_a_key_by_keyboard(admin_server, page: Page, axe):
    page.goto(admin_server.url + "/admin/api-keys/")
    page.get_by_label("Email").fill(ADMIN)
    page.get_by_label("Password").fill(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1, name="Open311 API keys")).to_be_visible()
    expect(page.get_by_role("link", name="API keys")).to_have_attribute("aria-current", "page")
    assert axe() == []

    page.get_by_role("button", name="Issue key").focus()
    page.keyboard.press("Enter")                                   # an empty name is explained next to the field
    expect(page.get_by_role("alert")).to_contain_text("This field is required.")
    expect(page.get_by_label("Who the key is for")).to_have_attribute("aria-invalid", "true")
    assert axe() == []

    page.get_by_label("Who the key is for").fill("Riverton 311 app")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Copy the new key now")).to_be_visible()
    expect(page.locator("#new-key")).to_have_text(re.compile(r"^o311_[\w-]{32}$"))
    expect(page.get_by_role("cell", name="Riverton 311 app", exact=True)).to_be_visible()
    assert axe() == []

    page.get_by_role("button", name="Revoke key for Riverton 311 app").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").filter(has_text="no longer works")).to_be_visible()
    expect(page.get_by_role("cell", name=re.compile(r"^revoked"))).to_be_visible()
    assert axe() == []

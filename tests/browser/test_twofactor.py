"""In Chromium, by keyboard only: a caseworker sets up two-factor sign-in (scanning is replaced by reading the
key shown on the page), keeps the recovery codes, signs in again with a code from the app after a wrong one,
and once more with a recovery code. Every page passes axe-core."""
import re
import time

import pyotp
import pytest
from playwright.sync_api import Page, expect

from models import Role, Session, init_engine, transaction
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.browser


@pytest.fixture
def caseworker(live_server):
    init_engine(live_server.env["DATABASE_URL"])
    with transaction() as session:
        email = make_user(session, Role.CASEWORKER, email="jo@staff.example", display_name="Jo Park").email
    Session.remove()
    return live_server, email


def _tab_to(page: Page, locator, limit: int = 60) -> None:
    """Press Tab until `locator` has the focus, as a keyboard user would."""
    for _ in range(limit):
        if locator.evaluate("el => el === document.activeElement"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {locator}")


def _sign_in(page: Page, url: str, email: str) -> None:
    page.goto(url + "/login")
    _tab_to(page, page.get_by_label("Email"))
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")


def _type_code(page: Page, code: str) -> None:
    field = page.get_by_label("Code from your authenticator app, or a recovery code")
    expect(field).to_be_focused()                                     # the page puts the focus there
    page.keyboard.press("Control+A")
    page.keyboard.type(code)
    page.keyboard.press("Enter")


def test_set_up_and_sign_in_with_two_factor_by_keyboard(caseworker, page: Page, axe, screenshot):
    server, email = caseworker
    _sign_in(page, server.url, email)
    expect(page).to_have_url(re.compile(r"/inbox/"))
    link = page.get_by_role("link", name="Two-factor sign-in")
    _tab_to(page, link)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1, name="Two-factor sign-in")).to_be_visible()
    assert axe() == []

    _tab_to(page, page.get_by_role("button", name="Set up two-factor sign-in"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1, name="Set up two-factor sign-in")).to_be_visible()
    expect(page.get_by_role("img", name="QR code for your authenticator app")).to_be_visible()
    assert axe() == []
    screenshot(page, "twofactor-setup.png")
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    app = pyotp.TOTP(secret)
    _tab_to(page, page.get_by_label("6-digit code from your authenticator app"))
    page.keyboard.type(app.now())
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", level=1, name="Two-factor sign-in is on")).to_be_visible()
    codes = page.get_by_role("list", name="Recovery codes").get_by_role("listitem").all_inner_texts()
    assert len(codes) == 10
    assert axe() == []
    _tab_to(page, page.get_by_role("button", name="Sign out"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(server.url + "/login")

    _sign_in(page, server.url, email)
    expect(page.get_by_role("heading", level=1, name="Enter your sign-in code")).to_be_visible()
    assert axe() == []
    _type_code(page, "000000" if app.now() != "000000" else "111111")
    expect(page.get_by_role("alert")).to_contain_text("That code is not right")
    expect(page.get_by_label("Code from your authenticator app, or a recovery code")).to_have_attribute(
        "aria-invalid", "true")
    assert axe() == []
    _type_code(page, app.at(time.time() + pyotp.TOTP(secret).interval))   # the code the set-up used is spent
    expect(page).to_have_url(re.compile(r"/inbox/"))
    expect(page.get_by_role("banner")).to_contain_text("Jo Park")

    _tab_to(page, page.get_by_role("button", name="Sign out"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(server.url + "/login")
    _sign_in(page, server.url, email)
    _type_code(page, codes[0])
    expect(page).to_have_url(re.compile(r"/inbox/"))
    expect(page.get_by_role("status").filter(has_text="recovery code")).to_contain_text("9 are left")
    assert axe() == []

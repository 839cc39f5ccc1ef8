"""In Chromium: a caseworker finds a constituent and opens the 360° view by keyboard; and, live, a signed
incoming-call webhook routes the call, the agent accepts the offer, and the caller's 360° view pops.
Every page passes axe-core."""
import re
import time
from urllib.parse import urlencode

import pytest
import requests
from playwright.sync_api import Page, expect

from channels import phone
from channels.base import ContactAddress, NormalizedContact
from channels.intake import ingest
from models import Case, Channel, ContactKind, ContactPoint, Presence, Role, init_engine, transaction
from tests.factories import PASSWORD, make_category, make_queue, make_user

pytestmark = pytest.mark.browser

SECRET = "browser-phone-secret"


@pytest.fixture
def live_env(live_env):
    return live_env | {"CASEWORK_PHONE_WEBHOOK_SECRET": SECRET, "CASEWORK_DEFAULT_PHONE_REGION": "US",
                       "CASEWORK_PHONE_QUEUE": "phone"}


def _seed(live_server, role: Role) -> dict:
    """Ada (email and phone) with a streets case, a look-alike record, and a staff member of streets and phone."""
    init_engine(live_server.env["DATABASE_URL"])
    with transaction() as session:
        streets, phone_queue = make_queue(session, "streets", name="Streets"), make_queue(session, "phone", name="Phone")
        category = make_category(session, streets, "pothole")
        results = [ingest(session, NormalizedContact(
            channel=Channel.WEBFORM, sender=ContactAddress(ContactKind.EMAIL, email, "Ada Lovelace"),
            subject="Pothole on Elm Street", body_text="A deep pothole.", external_id=f"webform-seed-{n}",
            category_code=category.code)) for n, email in enumerate(["ada@mail.example", "a.lovelace@mail.example"])]
        ada = session.get(Case, results[0].case_id).constituent_id
        session.add(ContactPoint(constituent_id=ada, kind=ContactKind.PHONE, value="+14155550134"))
        staff = make_user(session, role, email="staff@staff.example", presence=Presence.AVAILABLE,
                          queues=[streets, phone_queue])
        return {"email": staff.email, "ada": ada}


def _sign_in_by_keyboard(page: Page, email: str) -> None:
    page.get_by_label("Email").focus()
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")


def test_a_caseworker_finds_a_constituent_and_opens_the_360_view_by_keyboard(live_server, page: Page, axe, tmp_path):
    seeded = _seed(live_server, Role.CASEWORKER)
    page.goto(live_server.url + "/constituents/")
    _sign_in_by_keyboard(page, seeded["email"])
    expect(page.get_by_role("heading", level=1, name="Find a constituent")).to_be_visible()
    assert axe() == []

    page.get_by_label("Name, email address or phone number").focus()
    page.keyboard.type("(415) 555-0134")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="1 record found")).to_be_visible()
    link = page.get_by_role("link", name="Ada Lovelace")
    page.get_by_label("Name, email address or phone number").focus()
    page.keyboard.press("Tab")                       # the search button, then the first result
    page.keyboard.press("Tab")
    expect(link).to_be_focused()
    assert axe() == []
    page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile(rf"/constituents/{seeded['ada']}$"))
    expect(page.get_by_role("heading", level=1, name="Ada Lovelace")).to_be_visible()
    expect(page.get_by_role("heading", name="Contact points")).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text("+14155550134")
    expect(page.get_by_role("main")).to_contain_text("C-")
    duplicates = page.get_by_role("region", name="Possible duplicates")
    expect(duplicates).to_contain_text("similar name")
    assert axe() == []
    page.screenshot(path=str(tmp_path / "constituent-360.png"), full_page=True)


def _signed_call(base_url: str, **fields) -> dict:
    body = urlencode({"CallSid": "CAbrowser0001", "From": "415-555-0134", "To": "+14155550100"} | fields).encode()
    now = int(time.time())
    response = requests.post(f"{base_url}/inbound/phone/call", data=body, timeout=10, headers={
        "Content-Type": phone.CONTENT_TYPE, phone.TIMESTAMP_HEADER: str(now),
        phone.SIGNATURE_HEADER: phone.sign(SECRET, now, body)})
    assert response.status_code == 200, response.text
    return response.json()


def test_an_incoming_call_pops_the_callers_360_view_when_the_agent_takes_it(live_server, page: Page, axe, tmp_path):
    seeded = _seed(live_server, Role.AGENT)
    page.goto(live_server.url + "/login")
    _sign_in_by_keyboard(page, seeded["email"])
    expect(page.locator("#connection-status")).to_have_text("Live")

    call = _signed_call(live_server.url)                # raw provider input, signed as the provider signs it
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Ada Lovelace")
    expect(page.locator("#notices")).to_contain_text("Incoming call")
    expect(page.get_by_role("button", name="Accept")).to_be_focused()
    assert axe() == []
    page.keyboard.press("Enter")                        # Accept: the call is the agent's

    expect(page).to_have_url(re.compile(rf"/constituents/{seeded['ada']}\?call={call['call_id']}$"))
    expect(page.get_by_role("heading", level=1, name="Ada Lovelace")).to_be_visible()
    expect(page.get_by_role("region", name="Call in progress")).to_be_visible()
    assert axe() == []
    page.screenshot(path=str(tmp_path / "call-pop.png"), full_page=True)

    page.get_by_role("link", name="Take call notes", exact=True).focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1, name="Call notes")).to_be_visible()
    page.get_by_label("Call notes").fill("Asked when the pothole will be fixed.")
    page.get_by_label("Call length (minutes:seconds, e.g. 4:30)").fill("3:15")
    assert axe() == []
    page.get_by_role("button", name="Save call notes").click()
    expect(page.get_by_role("status").first).to_contain_text("Call notes saved.")
    expect(page.get_by_role("main")).to_contain_text("Asked when the pothole will be fixed.")

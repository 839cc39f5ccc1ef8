"""In Chromium, issue 5's main journeys end to end against a live server, by keyboard where a caseworker would:
sign in, pick up a waiting case from the queue, reply by email and see the mail arrive at a loopback SMTP
server (sent by a real RQ worker), add a note, change the status, then open the constituent's 360° view and
merge a duplicate record. axe-core runs on every page on the way. The screenshots in docs/screenshots come
from here."""
import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from models import Case, Presence, Role, init_engine, transaction
from routing import engine
from tests.channels import mailtools as mt
from tests.factories import PASSWORD, make_case, make_category, make_queue, make_user

pytestmark = pytest.mark.browser


@pytest.fixture
def live_env(live_env, sink):
    """Outbound mail goes to the loopback SMTP server; no acknowledgements, only the replies."""
    return live_env | {"CASEWORK_SMTP_HOST": "127.0.0.1", "CASEWORK_SMTP_PORT": str(sink.port),
                       "CASEWORK_MAIL_ACKNOWLEDGE": "false", "CASEWORK_MAIL_SERVICE_ADDRESS": mt.SERVICE}


def _seed(live_server) -> dict:
    """A benefits queue with María's own cases, one waiting from Ana López, and a second record of Ana's."""
    init_engine(live_server.env["DATABASE_URL"])
    with transaction() as session:
        benefits = make_queue(session, "benefits", name="Benefits")
        housing = make_category(session, benefits, "housing")
        maria = make_user(session, Role.CASEWORKER, email="maria.garcia@staff.example", display_name="María García",
                          languages=["es", "en"], presence=Presence.OFFLINE, queues=[benefits])
        for name, email, subject, body in [
                ("Tom Baker", "tom.baker@mail.example", "Council tax reduction form",
                 "I sent the form twice; has it arrived?"),
                ("Priya Shah", "priya.shah@mail.example", "Change of address", "We moved to 4 Mill Lane on 1 March."),
                ("Sam Okafor", "sam.okafor@mail.example", "Backdated payment",
                 "My payment for January is still missing.")]:
            mine = make_case(session, category=housing, email=email, subject=subject, body=body)
            mine.constituent.display_name = name
            engine.assign_manually(session, mine.id, maria.id, maria.id)
        waiting = make_case(session, category=housing, email="ana.lopez@mail.example",
                            subject="Housing benefit stopped",
                            body="My housing benefit stopped this month. What do I need to send you?")
        earlier = make_case(session, category=housing, email="a.lopez@mail.example", subject="Rent statement",
                            body="Here is my rent statement for the claim.")
        waiting.constituent.display_name = "Ana López"
        earlier.constituent.display_name = "Ana Lopez"          # her other mailbox, without the accent
        session.flush()
        return {"case_id": waiting.id, "reference": waiting.reference, "ana": waiting.constituent_id,
                "duplicate": earlier.constituent_id, "earlier": earlier.reference}


def _press(page: Page, locator) -> None:
    """Move the keyboard focus to a link or button and press Enter, as a keyboard user does."""
    locator.focus()
    expect(locator).to_be_focused()
    page.keyboard.press("Enter")


def _sign_in(page: Page, url: str) -> None:
    page.goto(url + "/login")
    page.get_by_label("Email").focus()
    page.keyboard.type("maria.garcia@staff.example")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1, name="My cases")).to_be_visible()


def _flashed(page: Page, text: str) -> None:
    expect(page.get_by_role("status").filter(has_text=text).first).to_be_visible()


def test_a_caseworker_takes_a_case_from_the_queue_replies_notes_and_changes_its_status(live_server, sink,
                                                                                      page: Page, axe, screenshot):
    seeded = _seed(live_server)
    _sign_in(page, live_server.url)
    expect(page.get_by_role("main")).to_contain_text("Backdated payment")
    assert axe() == []

    _press(page, page.get_by_role("navigation").get_by_role("link", name="Queues"))
    expect(page.get_by_role("heading", level=1, name="Queues")).to_be_visible()
    assert axe() == []
    _press(page, page.get_by_role("link", name=seeded["reference"]))

    expect(page).to_have_url(f"{live_server.url}/cases/{seeded['case_id']}")
    header = page.locator("#case-header")
    expect(header).to_contain_text("waiting in the queue")
    assert axe() == []
    _press(page, page.get_by_role("button", name="Take this case"))
    _flashed(page, "The case is yours now.")
    expect(header).to_contain_text("María García")
    expect(page.get_by_role("button", name="Take this case")).to_have_count(0)
    assert axe() == []

    reply = page.get_by_label("Reply to the constituent")
    reply.focus()
    page.keyboard.type("Dear Ana, please send us your last three payslips and we will restart the payments.")
    _press(page, page.get_by_role("button", name="Send reply"))
    _flashed(page, "Your reply is queued for sending.")
    live_server.flask("worker", "--burst", "channels")             # a real RQ worker delivers it
    (mail,) = sink.wait_for(1)
    assert mail["To"] == "ana.lopez@mail.example" and seeded["reference"] in mail["Subject"]
    assert "please send us your last three payslips" in mail.get_body(("plain",)).get_content()
    page.reload()
    expect(page.locator("#timeline .delivery-sent")).to_have_count(1)
    assert axe() == []

    page.get_by_role("textbox", name=re.compile("^Internal note")).focus()
    page.keyboard.type("Called the landlord: rent is paid up to date.")
    _press(page, page.get_by_role("button", name="Add note"))
    _flashed(page, "Note added.")
    expect(page.locator("#timeline")).to_contain_text("Called the landlord: rent is paid up to date.")
    assert axe() == []

    page.get_by_label("New status").select_option(label="waiting for the constituent")
    _press(page, page.get_by_role("button", name="Change status"))
    _flashed(page, "Status is now waiting for the constituent.")
    expect(header).to_contain_text("pending constituent")
    assert axe() == []
    screenshot(page, "case.png")

    _press(page, page.get_by_role("navigation").get_by_role("link", name="My cases"))
    expect(page.get_by_role("link", name=seeded["reference"])).to_be_visible()
    assert axe() == []
    screenshot(page, "inbox.png")


def test_a_caseworker_opens_the_360_view_from_a_case_and_merges_a_duplicate_record(live_server, page: Page, axe,
                                                                                   screenshot):
    seeded = _seed(live_server)
    _sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/cases/{seeded['case_id']}")
    _press(page, page.locator("#case-header").get_by_role("link", name="Ana López"))

    expect(page).to_have_url(f"{live_server.url}/constituents/{seeded['ana']}")
    expect(page.get_by_role("heading", level=1, name="Ana López")).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text("Housing benefit stopped")
    duplicates = page.get_by_role("region", name="Possible duplicates")
    expect(duplicates).to_contain_text("similar name")
    assert axe() == []

    _press(page, duplicates.get_by_role("link", name=re.compile("Compare and merge")))
    expect(page.get_by_role("heading", level=1, name="Merge two records")).to_be_visible()
    assert axe() == []
    keep = page.get_by_role("radio", name=f"Ana López (record {seeded['ana']})")
    keep.focus()
    page.keyboard.press("Space")
    expect(keep).to_be_checked()
    _press(page, page.get_by_role("button", name="Merge the records"))

    expect(page).to_have_url(f"{live_server.url}/constituents/{seeded['ana']}")
    _flashed(page, f"Record {seeded['duplicate']} was merged into this one.")
    main = page.get_by_role("main")
    expect(main).to_contain_text("a.lopez@mail.example")                  # the other record's contact point
    expect(main).to_contain_text(seeded["earlier"])                        # and its case
    expect(page.get_by_role("button", name=re.compile("Undo merge"))).to_be_visible()
    assert axe() == []
    screenshot(page, "constituent-360.png")
    with transaction() as session:
        assert set(session.execute(select(Case.constituent_id).where(
            Case.reference.in_([seeded["reference"], seeded["earlier"]]))).scalars()) == {seeded["ana"]}

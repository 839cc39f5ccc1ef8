"""In Chromium: a queue view updates live when a case arrives, keeps the agent's place, and filters by keyboard.

The case is committed to the live server's database and announced the way a worker announces it: the
`case_opened` signal, through the write-only emitter, over the real Socket.IO message queue (Redis).
"""
import re

import pytest
from playwright.sync_api import Page, expect

from caseworker import create_app, realtime
from channels import signals as channel_signals
from models import Channel, Role, transaction
from tests.conftest import app_config
from tests.factories import PASSWORD, make_case, make_queue, make_user

pytestmark = pytest.mark.browser


@pytest.fixture
def live_env(live_env):
    return live_env | {"CASEWORK_INBOX_PAGE_SIZE": "3"}


@pytest.fixture
def office(live_server, redis_url, monkeypatch):
    """An agent in the Streets queue with five waiting cases, and a way to open more as intake would."""
    create_app(app_config(live_server.env["DATABASE_URL"], redis_url))    # binds this process to the same DB
    with transaction() as session:
        streets = make_queue(session, "streets", name="Streets")
        make_user(session, Role.AGENT, email="agent@staff.example", display_name="Ada Agent", queues=[streets])
        for n in range(5):
            make_case(session, queue_id=streets.id, subject=f"Streetlight out {n}",
                      channel=Channel.CHAT if n == 0 else Channel.EMAIL)
        queue_id = streets.id
    monkeypatch.setattr(realtime, "_emitter", realtime._emitter)       # restored after the test
    realtime.use_write_only_emitter(redis_url)

    def open_case(subject: str) -> int:
        with transaction() as session:
            case_id = make_case(session, queue_id=queue_id, subject=subject).id
        channel_signals.case_opened.send(case_id)      # after commit, as the email worker does (no queue id)
        return case_id

    return {"url": live_server.url, "queue_id": queue_id, "open_case": open_case}


def sign_in(page: Page, url: str) -> None:
    page.goto(url + "/login")
    page.get_by_label("Email").fill("agent@staff.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1, name="My cases")).to_be_visible()


def test_a_new_case_appears_live_and_never_moves_rows_under_a_reader(office, page: Page, axe):
    sign_in(page, office["url"])
    page.goto(f"{office['url']}/queues/{office['queue_id']}?sort=newest")
    expect(page.get_by_role("heading", level=1, name="Queue: Streets")).to_be_visible()
    expect(page.locator("#connection-status")).to_have_text("Live")
    rows = page.locator("table.cases tbody tr")
    expect(rows).to_have_count(3)
    expect(page.locator("#inbox-count")).to_have_text("5 open cases in this queue.")
    expect(page.get_by_role("button", name="Show them")).to_be_hidden()
    assert axe() == []

    # Not reading the list: the new case simply appears at the top, and is announced.
    first = office["open_case"]("Fallen tree on Oak Avenue")
    expect(rows.first).to_have_attribute("data-case-id", str(first))
    expect(rows.first).to_contain_text("Fallen tree on Oak Avenue")
    expect(page.locator("#inbox-count")).to_have_text("6 open cases in this queue.")
    expect(page.locator("#live-announcer")).to_have_text("1 new case.")

    # Reading it (focus inside the list): the rows stay put; a button offers the new case.
    page.get_by_role("link", name="Next page").focus()
    second = office["open_case"]("Blocked drain on Pine Road")
    expect(page.get_by_text("1 new case.", exact=True)).to_be_visible()
    expect(page.locator("#live-announcer")).to_have_text(re.compile(r"^1 new case\. Use the Show them button"))
    expect(rows.first).to_have_attribute("data-case-id", str(first))
    expect(page.get_by_role("link", name="Next page")).to_be_focused()
    assert axe() == []
    page.get_by_role("button", name="Show them").focus()
    page.keyboard.press("Enter")
    expect(rows.first).to_have_attribute("data-case-id", str(second))
    expect(page.get_by_role("button", name="Show them")).to_be_hidden()
    expect(page.locator("#inbox-count")).to_have_text("7 open cases in this queue.")


def test_the_filters_work_by_keyboard(office, page: Page, axe):
    sign_in(page, office["url"])
    page.goto(f"{office['url']}/queues/")
    search = page.get_by_label("Search subject and messages")
    search.focus()
    page.keyboard.type("streetlight")
    for _field in ("Queue", "Status", "Channel"):               # the fields after it, in order
        page.keyboard.press("Tab")
    expect(page.get_by_label("Channel")).to_be_focused()
    page.keyboard.press("ArrowDown")                            # "Any channel" -> "Email"
    page.keyboard.press("ArrowDown")                            # -> "Webform"
    page.keyboard.press("ArrowDown")                            # -> "Chat"
    expect(page.get_by_label("Channel")).to_have_value("chat")
    page.get_by_role("button", name="Apply filters").focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"channel=chat"))
    expect(page.locator("table.cases tbody tr")).to_have_count(1)
    expect(page.locator("#inbox-count")).to_have_text("1 case matches these filters.")
    expect(page.locator("#live-announcer")).to_have_text("1 case matches these filters.")
    assert axe() == []

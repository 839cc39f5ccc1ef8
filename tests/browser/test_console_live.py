"""In Chromium, the console shell live: the presence switch by keyboard, offers of chats made by the real
routing engine and pushed through the real Socket.IO message queue (as a worker does), accepted and
declined in an accessible dialog, the new-assignment notice, and the keyboard-shortcut help."""
import re
import time

import pytest
import redis as redis_lib
from playwright.sync_api import Page, expect
from sqlalchemy import select

import routing
from caseworker import realtime
from caseworker.extensions import socketio
from models import (Case, CaseStatus, Channel, DecisionOutcome, Presence, RoutingDecision, User, init_engine, reading,
                    transaction)
from routing import engine
from routing import settings as routing_settings
from tests.factories import PASSWORD
from tests.routing.builders import make_agent, make_routed_queue, open_case

pytestmark = pytest.mark.browser


@pytest.fixture
def worker_side(live_server, redis_url):
    """This test process plays the worker: the live server's database, and emits through Redis."""
    init_engine(live_server.env["DATABASE_URL"])
    realtime.use_write_only_emitter(redis_url)
    before = routing_settings.current
    routing_settings.configure(offer_timeout_seconds=120)      # time enough for axe to run mid-offer
    yield redis_lib.Redis.from_url(redis_url)
    routing_settings.current = before
    realtime._emitter = socketio


def _agent() -> str:
    with transaction() as session:
        queue = make_routed_queue(session, "benefits", name="Benefits")
        rosa = make_agent(session, "Rosa Delgado", [queue], presence=Presence.OFFLINE,
                          capacity={"chat": 3, "email": 5})
        return rosa.email


def _route_new_case(rq_redis, channel: Channel, subject: str) -> int:
    """Open a case through intake and route it as the routing worker would; returns its id."""
    with transaction() as session:
        case_id = open_case(session, "benefits", channel=channel, subject=subject).id
    routing.perform(rq_redis, engine.route_case, case_id)
    return case_id


def _eventually(read, expected, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        with reading() as session:
            value = read(session)
        if value == expected or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def _case_state(case_id):
    return lambda session: tuple(session.execute(select(Case.status, Case.assignee_id).where(Case.id == case_id)).one())


def _outcome(case_id):
    return lambda session: session.execute(select(RoutingDecision.outcome).where(
        RoutingDecision.case_id == case_id).order_by(RoutingDecision.id)).scalars().first()


def test_an_agent_goes_available_and_answers_offers_from_the_dialog(live_server, worker_side, page: Page, axe,
                                                                     tmp_path):
    email = _agent()
    page.goto(live_server.url + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#connection-status")).to_have_text("Live")

    # The presence switch, by keyboard: the select shows the presence the server knows.
    switch = page.get_by_label("Presence")
    expect(switch).to_have_value("offline")
    switch.focus()
    page.keyboard.press("a")                              # type-ahead: Available
    expect(switch).to_have_value("available")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Set", exact=True)).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#presence-switch")).to_have_attribute("data-presence", "available")
    expect(page.locator("#live-announcer")).to_have_text("You are now Available.")
    rosa_id = _eventually(lambda s: s.execute(select(User.id).where(User.email == email)).scalar_one(), None, 0)
    assert _eventually(lambda s: s.get(User, rosa_id).presence, Presence.AVAILABLE) is Presence.AVAILABLE
    page.reload()
    expect(page.get_by_label("Presence")).to_have_value("available")         # rendered by the server
    expect(page.locator("#connection-status")).to_have_text("Live")

    # An offer made by the engine appears as a dialog with its countdown, the focus on Accept.
    first = _route_new_case(worker_side, Channel.CHAT, "Where is my housing benefit payment?")
    dialog = page.get_by_role("alertdialog", name="Chat offer")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Where is my housing benefit payment?")
    expect(dialog).to_contain_text("Benefits")
    expect(page.locator("#offer-countdown")).to_have_text(re.compile(r"^1\d\d seconds left to answer$"))
    expect(page.get_by_role("button", name="Accept")).to_be_focused()
    assert axe() == []
    page.screenshot(path=str(tmp_path / "offer.png"))
    page.keyboard.press("Enter")                                             # Accept
    assert _eventually(_case_state(first), (CaseStatus.ASSIGNED, rosa_id)) == (CaseStatus.ASSIGNED, rosa_id)
    expect(dialog).to_be_hidden()
    expect(page.locator("#connection-status")).to_have_text("Live")          # the case page (or inbox) is live

    # Two offers at once queue up; the first is declined with Escape, the next with its button.
    second = _route_new_case(worker_side, Channel.CHAT, "Appointment for a council tax reduction")
    expect(dialog).to_contain_text("Appointment for a council tax reduction")
    third = _route_new_case(worker_side, Channel.CHAT, "Change of address for my pension")
    expect(page.locator("#offer-more")).to_have_text("1 more offer waiting after this one.")
    page.keyboard.press("Escape")
    assert _eventually(_outcome(second), DecisionOutcome.DECLINED) is DecisionOutcome.DECLINED
    expect(dialog).to_contain_text("Change of address for my pension")
    expect(page.locator("#offer-more")).to_be_hidden()
    expect(page.get_by_role("button", name="Accept")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")                                             # Decline
    assert _eventually(_outcome(third), DecisionOutcome.DECLINED) is DecisionOutcome.DECLINED
    expect(dialog).to_be_hidden()
    assert _eventually(_case_state(second), (CaseStatus.NEW, None)) == (CaseStatus.NEW, None)


def test_a_new_assignment_is_shown_and_announced_and_the_help_lists_the_shortcuts(live_server, worker_side,
                                                                                    page: Page, axe, tmp_path):
    email = _agent()
    with transaction() as session:
        session.execute(User.__table__.update().where(User.email == email).values(presence=Presence.AVAILABLE))
    page.goto(live_server.url + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#connection-status")).to_have_text("Live")

    case_id = _route_new_case(worker_side, Channel.EMAIL, "Missed bin collection on Elm Street")
    with reading() as session:
        reference = session.get(Case, case_id).reference
    notices = page.get_by_role("region", name="Notifications")
    expect(notices).to_contain_text(f"New case assigned to you: {reference} Missed bin collection on Elm Street")
    expect(page.locator("#live-announcer")).to_have_text(
        f"New case {reference} assigned to you: Missed bin collection on Elm Street")
    assert axe() == []
    page.screenshot(path=str(tmp_path / "notice.png"))

    page.locator("#main").focus()
    page.keyboard.press("?")
    help_dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(help_dialog).to_be_visible()
    rows = help_dialog.locator("#shortcuts-list tr")
    expect(rows.filter(has_text="Show this list of keyboard shortcuts")).to_have_count(1)
    expect(rows.filter(has_text="Go to my cases")).to_contain_text("g then i")
    expect(rows.filter(has_text="Set yourself available")).to_have_count(1)
    expect(help_dialog).to_contain_text("Escape declines the offer")
    assert axe() == []
    page.screenshot(path=str(tmp_path / "help.png"))
    page.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()

    # Typing in a field never fires a shortcut.
    page.get_by_label("Presence").focus()
    page.keyboard.press("?")
    expect(help_dialog).to_be_hidden()
    page.get_by_role("button", name="Dismiss notification").click()
    expect(notices).to_be_hidden()

    # A change made elsewhere (another tab, the grace-period job) shows in the header at once.
    with reading() as session:
        rosa_id = session.execute(select(User.id).where(User.email == email)).scalar_one()
    routing.perform(worker_side, engine.set_presence, rosa_id, Presence.AWAY)
    expect(page.locator("#presence-switch")).to_have_attribute("data-presence", "away")
    expect(page.get_by_label("Presence")).to_have_value("away")
    expect(page.locator("#live-announcer")).to_have_text("Your presence is now Away.")

    page.locator("#main").focus()
    page.keyboard.press("a")                                    # the global shortcut: available again
    expect(page.locator("#presence-switch")).to_have_attribute("data-presence", "available")
    assert _eventually(lambda s: s.get(User, rosa_id).presence, Presence.AVAILABLE) is Presence.AVAILABLE

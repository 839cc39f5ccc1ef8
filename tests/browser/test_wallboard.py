"""In Chromium: a supervisor watches the wallboard while `flask simulate` sends traffic that a real `flask worker`
routes. The figures change without a reload, the page fetches them at most about once a second however busy
the system is, it catches up after a reconnect, a threshold newly crossed is spoken once, and it passes axe-core."""
import subprocess
import sys

import pytest
import redis as redis_lib
from playwright.sync_api import Page, expect

import routing
from caseworker import realtime
from caseworker.extensions import socketio
from models import Role, init_engine, transaction
from routing import engine
from tests.conftest import ROOT
from tests.factories import PASSWORD, make_user
from tests.routing.builders import make_agent, make_routed_queue, open_case

pytestmark = pytest.mark.browser

FIGURES = "/wallboard/figures"
ALERT_SECONDS = 2


@pytest.fixture
def live_env(live_env):
    """The server alerts when a queue's oldest wait reaches two seconds."""
    return live_env | {"CASEWORK_WALLBOARD_OLDEST_WAIT_ALERT_SECONDS": str(ALERT_SECONDS)}


@pytest.fixture
def worker_side(live_server, redis_url):
    """This test process plays the worker: the live server's database, and emits through Redis."""
    init_engine(live_server.env["DATABASE_URL"])
    realtime.use_write_only_emitter(redis_url)
    yield redis_lib.Redis.from_url(redis_url)
    realtime._emitter = socketio


def _seed() -> str:
    with transaction() as session:
        streets = make_routed_queue(session, "streets", name="Streets")
        for n in range(3):
            make_agent(session, f"Agent {n}", [streets], languages=("en", "es", "it"))
        return make_user(session, Role.SUPERVISOR, display_name="Bea Boss").email


def _total(page: Page, name: str) -> int:
    return int(page.locator(f'#wallboard-queues [data-total="{name}"]').inner_text())


def _fetch_starts(page: Page) -> list[float]:
    """When the page started each figures fetch (ms), from the browser's own clock."""
    return page.evaluate(f"""() => performance.getEntriesByType("resource")
        .filter(e => e.name.includes("{FIGURES}")).map(e => e.startTime)""")


def _open_wallboard(page: Page, url: str, email: str) -> None:
    page.goto(url + "/login?next=/wallboard/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1, name="Wallboard")).to_be_visible()
    expect(page.locator("#connection-status")).to_have_text("Live")


def test_the_wallboard_follows_the_simulator_live_and_throttled(live_server, page: Page, axe, tmp_path, screenshot):
    init_engine(live_server.env["DATABASE_URL"])
    email = _seed()
    fetches = []
    page.on("request", lambda request: fetches.append(request.url) if FIGURES in request.url else None)
    _open_wallboard(page, live_server.url, email)
    expect(page.get_by_role("table", name="Agents: presence, load against capacity per channel, open cases and chats"))\
        .to_contain_text("Agent 0")
    assert axe() == []
    page.evaluate("() => { window.notReloaded = true; }")
    started = page.evaluate("() => performance.now()")

    with open(tmp_path / "worker.log", "wb") as log:
        worker = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "worker", "routing"], cwd=ROOT,
                                  env=live_server.env, stdout=log, stderr=subprocess.STDOUT)
        try:
            live_server.flask("simulate", "--rate", "5", "--duration", "8", "--seed", "7")
            queues = page.get_by_role("table", name="Queues by channel: waiting now, handled in the last 15 minutes, "
                                                    "SLA and offers")
            expect(queues).to_be_visible()
            expect(page.locator('#wallboard-queues [data-total="handled"]')).not_to_have_text("0", timeout=15000)
        finally:
            worker.terminate()
            worker.wait(15)
    assert page.evaluate("() => window.notReloaded") is True           # the figures changed in place
    assert _total(page, "handled") > 0 and _total(page, "waiting") >= 0
    screenshot(page, "wallboard.png")
    assert axe() == []

    # However many pushes arrived, at most about one fetch a second (the trailing throttle).
    starts = _fetch_starts(page)
    elapsed = (page.evaluate("() => performance.now()") - started) / 1000
    assert len(starts) >= 2 and len(fetches) == len(starts)
    assert len(fetches) <= elapsed + 1, (len(fetches), elapsed)
    gaps = [later - earlier for earlier, later in zip(starts, starts[1:])]
    assert min(gaps) >= 950, gaps

    # After a reconnect the page fetches what it may have missed.
    before = len(fetches)
    page.evaluate("() => { Casework.socket.disconnect(); }")
    expect(page.locator("#connection-status")).to_have_text("Reconnecting…")
    page.evaluate("() => { Casework.socket.connect(); }")
    expect(page.locator("#connection-status")).to_have_text("Live")
    page.wait_for_timeout(1500)
    assert len(fetches) > before


def test_a_threshold_newly_crossed_is_listed_and_spoken_once(live_server, worker_side, page: Page, axe):
    with transaction() as session:
        make_routed_queue(session, "benefits", name="Benefits")
        email = make_user(session, Role.SUPERVISOR, display_name="Bea Boss").email
    _open_wallboard(page, live_server.url, email)
    alert = page.get_by_role("alert")
    expect(page.locator("#wallboard-alerts")).to_have_text("No queue is over a threshold.")
    expect(alert).to_have_text("")

    with transaction() as session:           # nobody can take it: it waits
        case = open_case(session, "benefits")
        case_id, queue_id = case.id, case.queue_id
    routing.perform(worker_side, engine.route_case, case_id)
    realtime.push_case_opened(case_id, queue_id=queue_id)
    expect(page.locator('#wallboard-queues [data-total="waiting"]')).to_have_text("1")
    expect(alert).to_have_text("")                                   # not waited long enough yet

    page.wait_for_timeout(ALERT_SECONDS * 1000 + 200)
    realtime.push_case_opened(case_id, queue_id=queue_id)            # any push: the page re-fetches
    listed = page.locator("#wallboard-alerts li")
    expect(listed).to_have_count(1)
    expect(listed).to_contain_text("Benefits, email: oldest wait")
    expect(alert).to_contain_text("Benefits, email: oldest wait")
    spoken, shown = alert.inner_text(), listed.inner_text()
    assert axe() == []

    page.wait_for_timeout(1200)
    realtime.push_case_opened(case_id, queue_id=queue_id)            # still over: listed, not spoken again
    expect(listed).not_to_have_text(shown)                           # the wait grew
    expect(alert).to_have_text(spoken)

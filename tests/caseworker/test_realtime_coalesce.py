"""Coalescing of broadcast pushes, against a real Redis: leading edge at once, bursts collapsed, the trailing
edge always delivered, personal events untouched, and the window shared by separate processes."""
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis as redis_lib

from caseworker import realtime, realtime_coalesce
from caseworker.extensions import socketio
from tests.conftest import app_config

ROOT = Path(__file__).resolve().parents[2]
WINDOW_MS = 300


class Heard:
    """What an emit callback was asked to send, with when."""

    def __init__(self):
        self.events: list[tuple[float, str, dict, str]] = []
        self.lock = threading.Lock()

    def __call__(self, event: str, data: dict, room: str) -> None:
        with self.lock:
            self.events.append((time.monotonic(), event, data, room))

    def of(self, event: str, room: str) -> list[dict]:
        return [data for _at, name, data, to in self.events if name == event and to == room]


@pytest.fixture
def flusher(redis):
    """A flusher (the web process's trailing edge) running on the test Redis; yields what it emitted."""
    heard = Heard()
    running = realtime_coalesce.Flusher(redis, WINDOW_MS, heard)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    yield heard
    running.stop()
    thread.join(5)


def test_the_first_change_goes_out_at_once(redis):
    heard = Heard()
    assert realtime_coalesce.announce(redis, WINDOW_MS, heard, "queue.changed", {"queue_id": 3}, "team:3", 3)
    assert heard.of("queue.changed", "team:3") == [{"queue_id": 3}]


def test_a_burst_is_one_push_at_once_and_one_at_the_end_of_the_window_with_the_latest_ids(redis, flusher):
    started = time.monotonic()
    for case_id in range(1, 51):
        realtime_coalesce.announce(redis, WINDOW_MS, flusher, "wallboard.changed", {"case_id": case_id}, "supervisors")
    assert flusher.of("wallboard.changed", "supervisors") == [{"case_id": 1}]
    assert realtime_coalesce.wait_for(redis, 5)
    time.sleep(0.1)
    pushes = [(at, data) for at, name, data, _room in flusher.events if name == "wallboard.changed"]
    assert [data for _at, data in pushes] == [{"case_id": 1}, {"case_id": 50}]       # the last change, never lost
    assert pushes[1][0] - started < 2 * WINDOW_MS / 1000 + 1.0         # about a window after (a busy CPU)


def test_a_steady_stream_is_one_push_a_window(redis, flusher):
    began = time.monotonic()
    while time.monotonic() - began < 1.5:
        realtime_coalesce.announce(redis, WINDOW_MS, flusher, "queue.changed", {"queue_id": 1}, "team:1", 1)
        time.sleep(0.01)
    assert realtime_coalesce.wait_for(redis, 5)
    time.sleep(0.1)
    times = [at for at, name, _data, _room in flusher.events]
    assert 4 <= len(times) <= 1.5 * 1000 / WINDOW_MS + 2              # ~150 changes: about one per window
    assert all(b - a > WINDOW_MS / 1000 * 0.5 for a, b in zip(times, times[1:]))
    assert time.monotonic() - times[-1] < WINDOW_MS / 1000 + 1.0     # the trailing edge went out


def test_rooms_and_queues_have_windows_of_their_own(redis):
    heard = Heard()
    for room, key in (("team:1", 1), ("team:2", 2), ("supervisors", 1), ("supervisors", 2)):
        realtime_coalesce.announce(redis, WINDOW_MS, heard, "queue.changed", {"queue_id": key}, room, key)
    assert len(heard.events) == 4


def test_a_parked_change_waits_for_a_flusher_and_is_emitted_by_exactly_one(redis):
    first, second = Heard(), Heard()
    realtime_coalesce.announce(redis, WINDOW_MS, first, "queue.changed", {"queue_id": 1}, "team:1", 1)
    assert not realtime_coalesce.announce(redis, WINDOW_MS, first, "queue.changed", {"queue_id": 1, "case_id": 9},
                                          "team:1", 1)
    assert realtime_coalesce.flush_due(redis, WINDOW_MS, second) == 0           # not due before the window ends
    time.sleep(WINDOW_MS / 1000 + 0.05)
    flushed = [realtime_coalesce.flush_due(redis, WINDOW_MS, heard) for heard in (second, first, second)]
    assert flushed == [1, 0, 0]
    assert second.of("queue.changed", "team:1") == [{"queue_id": 1, "case_id": 9}]


def test_a_window_of_zero_emits_every_change(redis):
    heard = Heard()
    for case_id in range(3):
        realtime_coalesce.announce(redis, 0, heard, "wallboard.changed", {"case_id": case_id}, "supervisors")
    assert len(heard.events) == 3 and not redis.exists(realtime_coalesce.DUE)


def test_with_redis_away_the_change_is_emitted_directly():
    heard = Heard()
    away = redis_lib.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    assert realtime_coalesce.announce(away, WINDOW_MS, heard, "wallboard.changed", {"case_id": 1}, "supervisors")
    assert heard.events


ANNOUNCE_ELSEWHERE = """
import sys, redis
from caseworker import realtime_coalesce
emitted = []
r = redis.Redis.from_url(sys.argv[1])
r.ping()
print("ready", flush=True)
sys.stdin.readline()
leading = realtime_coalesce.announce(r, int(sys.argv[2]), lambda *push: emitted.append(push), "queue.changed",
                                     {"queue_id": 5, "case_id": 77}, "team:5", 5)
print(int(leading), len(emitted))
"""


def test_two_processes_share_one_window_and_the_flusher_announces_the_exiting_ones_change(redis, redis_url, flusher):
    other = subprocess.Popen([sys.executable, "-c", ANNOUNCE_ELSEWHERE, redis_url, str(WINDOW_MS)], cwd=ROOT,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert other.stdout.readline().strip() == "ready"
    realtime_coalesce.announce(redis, WINDOW_MS, flusher, "queue.changed", {"queue_id": 5, "case_id": 76}, "team:5", 5)
    out, _err = other.communicate("go\n", timeout=60)
    assert out.split() == ["0", "0"]          # inside this process's window: parked, and the process exited
    assert realtime_coalesce.wait_for(redis, 5)
    time.sleep(0.1)
    assert flusher.of("queue.changed", "team:5") == [{"queue_id": 5, "case_id": 76}, {"queue_id": 5, "case_id": 77}]


@pytest.fixture
def coalescing_app(database_url, redis_url, redis):
    from caseworker import create_app
    return create_app(app_config(database_url, redis_url, REALTIME_COALESCE_MS=WINDOW_MS))


@pytest.fixture
def published(redis_url):
    """Every push published on the Socket.IO Redis channel by the write-only emitter (as a worker emits)."""
    realtime.use_write_only_emitter(redis_url)
    subscriber = redis_lib.Redis.from_url(redis_url).pubsub(ignore_subscribe_messages=True)
    subscriber.subscribe("flask-socketio")
    seen = []

    def collect(settle: float = 0.5) -> list[tuple[str, dict, str]]:
        deadline = time.monotonic() + settle
        while time.monotonic() < deadline:
            message = subscriber.get_message(timeout=0.05)
            if message:
                pushed = json.loads(message["data"])
                seen.append((pushed["event"], pushed["data"][0], pushed["room"]))
        return seen

    yield collect
    subscriber.close()
    realtime._emitter = socketio


def test_personal_pushes_are_never_coalesced_and_broadcasts_are(coalescing_app, redis, published):
    with coalescing_app.app_context():
        for case_id in (41, 42, 43):
            realtime.push_case_assigned(case_id, caseworker_id=7, queue_id=3)
            realtime.push_case_offered(case_id, offer_id=case_id, caseworker_id=8, expires_at="later")
            realtime.push_offer_closed(case_id, offer_id=case_id, caseworker_id=8)
            realtime.push_call_incoming(case_id, call_id=case_id, constituent_id=None, caseworker_id=8)
            realtime.push_presence_changed(7, presence="away")
            realtime.push_wallboard_changed(case_id)
        seen = published()
    assert [d["case_id"] for e, d, room in seen if e == "case.assigned" and room == "caseworker:7"] == [41, 42, 43]
    for event in ("offer.new", "offer.closed", "call.incoming"):
        assert [d["case_id"] for e, d, room in seen if e == event] == [41, 42, 43]
    assert len([1 for e, _d, room in seen if e == "agent.presence" and room == "supervisors"]) == 3
    assert [d for e, d, room in seen if e == "queue.changed"] == [{"queue_id": 3, "case_id": 41}]
    assert [d for e, d, room in seen if e == "wallboard.changed"] == [{"case_id": 41}]
    with coalescing_app.app_context():          # the trailing edge, as a web process's flusher sends it
        time.sleep(WINDOW_MS / 1000 + 0.05)
        realtime_coalesce.flush_due(redis, WINDOW_MS, realtime._emit)
        seen = published()
    assert [d for e, d, room in seen if e == "queue.changed"][-1] == {"queue_id": 3, "case_id": 43}
    assert [d for e, d, room in seen if e == "wallboard.changed"][-1] == {"case_id": 43}

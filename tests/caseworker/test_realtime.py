"""Realtime: sockets are refused unless signed in, rooms are the server's choice, and events raised by
RQ jobs reach the console, in-process and from a separate `flask worker` through Redis."""
import json
import time

import pytest
import redis as redis_lib
import requests
import socketio as socketio_client
from rq import SimpleWorker

from caseworker import realtime
from caseworker.extensions import socketio
from models import (
    Case,
    CaseStatus,
    DecisionOutcome,
    Presence,
    Role,
    RoutingDecision,
    Session,
    init_engine,
    transaction,
)
from routing import request_assignment
from tests.conftest import Auth, csrf_token
from tests.factories import PASSWORD, make_case, make_category, make_queue, make_user


def _events(socket_client, name: str, timeout: float = 5.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [e["args"][0] for e in socket_client.get_received() if e["name"] == name]
        if found:
            return found
        time.sleep(0.05)
    return []


def _routable_case(session, presence=Presence.AVAILABLE):
    queue = make_queue(session, "streets")
    category = make_category(session, queue, "pothole")
    user = make_user(session, Role.CASEWORKER, email="cw@staff.example", presence=presence, queues=[queue])
    case = make_case(session, category=category)
    session.commit()
    return user, queue, case


def test_an_anonymous_socket_is_refused(app, client):
    socket_client = socketio.test_client(app, flask_test_client=client)
    assert not socket_client.is_connected()


def test_a_signed_in_socket_joins_its_own_and_its_teams_rooms(app, client, db_session):
    user, queue, _case = _routable_case(db_session)
    Auth(client).login(user.email, PASSWORD)
    socket_client = socketio.test_client(app, flask_test_client=client)
    assert socket_client.is_connected()
    socketio.emit("probe", {"to": "me"}, to=f"caseworker:{user.id}")
    socketio.emit("probe", {"to": "team"}, to=f"team:{queue.id}")
    socketio.emit("probe", {"to": "someone else"}, to="caseworker:999999")
    assert sorted(e["to"] for e in _events(socket_client, "probe")) == ["me", "team"]


def test_a_routing_job_assigns_and_the_assignee_hears_of_it(app, client, db_session, redis_url):
    user, queue, case = _routable_case(db_session)
    Auth(client).login(user.email, PASSWORD)
    socket_client = socketio.test_client(app, flask_test_client=client)
    rq_redis = redis_lib.Redis.from_url(redis_url)
    request_assignment(rq_redis, case.id)
    SimpleWorker(["routing"], connection=rq_redis).work(burst=True)
    assert _events(socket_client, "case.assigned") == [{"case_id": case.id}]
    db_session.rollback()
    assigned = db_session.get(Case, case.id)
    assert (assigned.status, assigned.assignee_id) == (CaseStatus.ASSIGNED, user.id)
    decision = db_session.query(RoutingDecision).filter_by(case_id=case.id).one()
    assert (decision.outcome, decision.user_id) == (DecisionOutcome.ASSIGNED, user.id)


def test_with_nobody_available_the_case_waits_and_the_decision_says_so(app, db_session, redis_url):
    _user, _queue, case = _routable_case(db_session, presence=Presence.OFFLINE)
    rq_redis = redis_lib.Redis.from_url(redis_url)
    request_assignment(rq_redis, case.id)
    SimpleWorker(["routing"], connection=rq_redis).work(burst=True)
    db_session.rollback()
    assert db_session.get(Case, case.id).status is CaseStatus.NEW
    decision = db_session.query(RoutingDecision).filter_by(case_id=case.id).one()
    assert decision.outcome is DecisionOutcome.NO_CANDIDATE


@pytest.fixture
def write_only_emitter(redis_url):
    realtime.use_write_only_emitter(redis_url)
    yield
    realtime._emitter = socketio


def test_the_write_only_emitter_publishes_to_redis(write_only_emitter, redis_url):
    subscriber = redis_lib.Redis.from_url(redis_url).pubsub(ignore_subscribe_messages=True)
    subscriber.subscribe("flask-socketio")
    realtime.push_case_assigned(41, caseworker_id=7, queue_id=3)
    messages = []
    deadline = time.monotonic() + 5
    while len(messages) < 2 and time.monotonic() < deadline:
        message = subscriber.get_message(timeout=0.2)
        if message:
            messages.append(json.loads(message["data"]))
    subscriber.close()
    assert [(m["event"], m["data"], m["room"]) for m in messages] == [
        ("case.assigned", [{"case_id": 41}], "caseworker:7"), ("queue.changed", [{"queue_id": 3, "case_id": 41}], "team:3")]


def _signed_in_http(base_url: str, email: str):
    http = requests.Session()
    page = http.get(f"{base_url}/login")
    response = http.post(f"{base_url}/login", data={"email": email, "password": PASSWORD,
                                                   "csrf_token": csrf_token(page.text)}, allow_redirects=False)
    assert response.status_code == 302
    return http


@pytest.mark.integration
def test_an_event_from_a_separate_worker_process_reaches_a_live_browser_socket(live_server):
    init_engine(live_server.env["DATABASE_URL"])
    with transaction() as session:
        user, _queue, case = _routable_case(session)
        user_email, case_id = user.email, case.id
    Session.remove()
    http = _signed_in_http(live_server.url, user_email)
    received = []
    sio = socketio_client.Client(http_session=http, reconnection=False)
    sio.on("case.assigned", received.append)
    # Sessions are bound to the user agent ("strong" protection), as a browser's socket would send it.
    sio.connect(live_server.url, transports=["websocket"], headers={"User-Agent": http.headers["User-Agent"]})
    try:
        request_assignment(redis_lib.Redis.from_url(live_server.env["REDIS_URL"]), case_id)
        live_server.flask("worker", "--burst", "routing")
        deadline = time.monotonic() + 10
        while not received and time.monotonic() < deadline:
            time.sleep(0.05)
        assert received == [{"case_id": case_id}]
    finally:
        sio.disconnect()


@pytest.mark.integration
def test_an_anonymous_live_socket_is_refused(live_server):
    sio = socketio_client.Client(reconnection=False)
    with pytest.raises(socketio_client.exceptions.ConnectionError):
        sio.connect(live_server.url, transports=["websocket"])

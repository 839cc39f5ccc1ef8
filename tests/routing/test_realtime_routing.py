"""Routing over Socket.IO: presence.set, offer.accept, offer.decline, the offer.new push, and going
offline when the last console closes (grace period, RQ scheduled job).
"""
import time

import redis as redis_lib
from rq import Queue, SimpleWorker
from rq.registry import ScheduledJobRegistry

from caseworker import realtime  # noqa: F401  (handlers must be declared before any app binds the server)
from caseworker.extensions import socketio
from models import Case, CaseStatus, Channel, Presence, User
from routing import engine, presence
from tests.conftest import Auth
from tests.factories import PASSWORD
from tests.routing.builders import make_agent, make_routed_queue, open_case


def _read(session, model, id_, *attributes) -> tuple:
    """Read committed state, and end the read at once: on PostgreSQL an open read would hold a SAVEPOINT
    around the handlers' later units of work, and rolling it back would undo them."""
    session.commit()
    session.expire_all()
    row = session.get(model, id_)
    values = tuple(getattr(row, a) for a in attributes)
    session.commit()
    return values


def _events(socket_client, name: str) -> list[dict]:
    return [e["args"][0] for e in socket_client.get_received() if e["name"] == name]


def _signed_in_socket(app, client, user):
    Auth(client).login(user.email, PASSWORD)
    socket_client = socketio.test_client(app, flask_test_client=client)
    assert socket_client.is_connected()
    return socket_client


def _agent(db_session, presence_=Presence.OFFLINE):
    queue = make_routed_queue(db_session, "chat")
    user = make_agent(db_session, "Rosa Delgado", [queue], presence=presence_)
    db_session.commit()
    return user


def test_presence_set_makes_an_agent_available_and_a_waiting_chat_is_offered_to_them(app, client, db_session, redis_url):
    user = _agent(db_session)
    chat = open_case(db_session, "chat", channel=Channel.CHAT)
    db_session.commit()
    socket_client = _signed_in_socket(app, client, user)
    assert socket_client.emit("presence.set", {"presence": "dancing"}, callback=True) == {
        "ok": False, "error": "unknown presence"}
    assert _read(db_session, User, user.id, "presence") == (Presence.OFFLINE,)
    assert socket_client.emit("presence.set", {"presence": "available"}, callback=True) == {
        "ok": True, "presence": "available"}
    assert _events(socket_client, "agent.presence") == [{"user_id": user.id, "presence": "available"}]
    rq_redis = redis_lib.Redis.from_url(redis_url)
    SimpleWorker(["routing"], connection=rq_redis).work(burst=True)       # the fill job the change enqueued
    [offer] = _events(socket_client, "offer.new")
    assert offer["case_id"] == chat.id and offer["expires_at"]
    assert socket_client.emit("offer.accept", {"offer_id": offer["offer_id"]}, callback=True) == {"ok": True}
    assert _events(socket_client, "case.assigned") == [{"case_id": chat.id}]
    assert _read(db_session, Case, chat.id, "status", "assignee_id") == (CaseStatus.ASSIGNED, user.id)


def test_offer_decline_is_refused_for_someone_elses_offer_and_works_for_ones_own(app, client, db_session):
    user = _agent(db_session, Presence.AVAILABLE)
    other = make_agent(db_session, "Other", [], presence=Presence.AVAILABLE)
    chat = open_case(db_session, "chat", channel=Channel.CHAT)
    [offer] = engine.route_case(db_session, chat.id).offered
    db_session.commit()
    assert Auth(client).login(other.email, PASSWORD).status_code == 302
    intruder = socketio.test_client(app, flask_test_client=client)
    assert intruder.emit("offer.decline", {"offer_id": offer.decision_id}, callback=True) == {
        "ok": False, "error": "refused"}
    assert _read(db_session, Case, chat.id, "offered_to_id") == (user.id,)         # refused: still offered to Rosa
    intruder.disconnect()
    Auth(client).logout()
    socket_client = _signed_in_socket(app, client, user)
    socket_client.emit("offer.decline", {"offer_id": offer.decision_id})
    assert _events(socket_client, "offer.closed") == [{"offer_id": offer.decision_id, "case_id": chat.id}]
    assert _read(db_session, Case, chat.id, "offered_to_id") == (None,)


def test_closing_the_last_console_marks_the_agent_offline_after_the_grace_period(app, client, db_session, redis_url):
    app.config["PRESENCE_GRACE_SECONDS"] = 1
    user = _agent(db_session, Presence.AVAILABLE)
    rq_redis = redis_lib.Redis.from_url(redis_url)
    first, second = _signed_in_socket(app, client, user), socketio.test_client(app, flask_test_client=client)
    assert presence.open_sockets(rq_redis, user.id) == 2
    first.disconnect()
    assert ScheduledJobRegistry(queue=Queue("routing", connection=rq_redis)).count == 0
    second.disconnect()
    assert ScheduledJobRegistry(queue=Queue("routing", connection=rq_redis)).count == 1
    time.sleep(1.2)
    SimpleWorker(["routing"], connection=rq_redis).work(burst=True, with_scheduler=True)
    assert _read(db_session, User, user.id, "presence") == (Presence.OFFLINE,)


def test_a_console_that_reconnects_within_the_grace_period_keeps_the_agent_available(app, client, db_session, redis_url):
    app.config["PRESENCE_GRACE_SECONDS"] = 1
    user = _agent(db_session, Presence.AVAILABLE)
    rq_redis = redis_lib.Redis.from_url(redis_url)
    _signed_in_socket(app, client, user).disconnect()
    socketio.test_client(app, flask_test_client=client)           # the page reloaded
    time.sleep(1.2)
    SimpleWorker(["routing"], connection=rq_redis).work(burst=True, with_scheduler=True)
    assert _read(db_session, User, user.id, "presence") == (Presence.AVAILABLE,)

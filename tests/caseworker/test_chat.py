"""Live chat end to end over Socket.IO: the constituent (signed chat token, "/chat" namespace) and the
agent (signed in, the console's namespace), routed by the real engine with a real Redis and RQ worker."""
import re

import pytest
import redis as redis_lib
from rq import Queue, SimpleWorker
from sqlalchemy import func, select

from caseworker import public, realtime  # noqa: F401  (handlers must be declared before any app binds the server)
from caseworker.extensions import socketio
from models import (
    AuditEvent,
    Case,
    CaseStatus,
    Channel,
    ChatSession,
    ChatState,
    DeliveryStatus,
    Direction,
    Interaction,
    Presence,
    QueueMember,
    UserCapacity,
)
from tests.conftest import Auth, csrf_token
from tests.factories import PASSWORD
from tests.routing.builders import make_agent, make_routed_queue

CHAT = "/chat"


@pytest.fixture(autouse=True)
def fresh_services(monkeypatch):
    monkeypatch.setattr(public, "_services_cache", (0.0, {}))


@pytest.fixture
def rq_redis(redis_url):
    return redis_lib.Redis.from_url(redis_url)


@pytest.fixture
def desk(db_session):
    """A chat queue with one Spanish-speaking agent, Rosa, available."""
    queue = make_routed_queue(db_session, "chat")
    other = make_routed_queue(db_session, "permits")
    rosa = make_agent(db_session, "Rosa Delgado", [queue], languages=("es", "en"), presence=Presence.AVAILABLE)
    luca = make_agent(db_session, "Luca Bianchi", [other], languages=("es", "it"), presence=Presence.AVAILABLE)
    db_session.commit()
    return {"queue": queue, "other": other, "rosa": rosa, "luca": luca}




def _start_chat(app, lang="es", **fields):
    """A constituent fills in the pre-chat form; returns their HTTP client and their "/chat" socket."""
    http = app.test_client()
    page = http.get(f"/chat?lang={lang}").get_data(as_text=True)
    token = re.search(r'name="token" type="hidden" value="([^"]+)"', page).group(1)
    form = {"csrf_token": csrf_token(page), "token": token, "name": "Ana López", "email": "", "language": lang,
            "topic": "chat", "question": "¿Cuándo recogen la basura?"} | fields
    response = http.post(f"/chat?lang={lang}", data=form)
    assert response.status_code == 302 and response.headers["Location"].startswith("/chat/live")
    live = http.get("/chat/live").get_data(as_text=True)
    chat_token = re.search(r'data-token="([^"]+)"', live).group(1)
    sock = socketio.test_client(app, namespace=CHAT, auth={"token": chat_token}, flask_test_client=http)
    assert sock.is_connected(CHAT)
    return http, sock, chat_token


def _received(sock, name: str, namespace: str | None = None) -> list:
    return [e["args"][0] if e["args"] else None for e in sock.get_received(namespace) if e["name"] == name]


def _agent_socket(app, client, user):
    Auth(client).login(user.email, PASSWORD)
    sock = socketio.test_client(app, flask_test_client=client)
    assert sock.is_connected()
    return sock


def _sync(sock, after=0) -> dict:
    return sock.emit("chat.sync", {"after": after}, namespace=CHAT, callback=True)


def _fresh(session, model, id_):
    session.commit()
    session.expire_all()
    row = session.get(model, id_)
    session.commit()
    return row


def test_a_chat_socket_needs_a_valid_token_and_the_console_still_refuses_anonymous_sockets(app, client, db_session, desk):
    assert not socketio.test_client(app, namespace=CHAT, auth={"token": "forged.token.value"}).is_connected(CHAT)
    assert not socketio.test_client(app, namespace=CHAT).is_connected(CHAT)
    assert not socketio.test_client(app, flask_test_client=client).is_connected()
    _http, sock, _token = _start_chat(app)
    assert sock.is_connected(CHAT)


def test_the_prechat_form_speaks_three_languages_and_explains_errors(app, db_session, desk):
    http = app.test_client()
    assert '<html lang="es">' in http.get("/chat?lang=es").get_data(as_text=True)
    italian = http.get("/chat?lang=it").get_data(as_text=True)
    assert '<html lang="it">' in italian and "Chatta con noi" in italian
    page = http.get("/chat?lang=en").get_data(as_text=True)
    response = http.post("/chat", data={"csrf_token": csrf_token(page), "name": "", "language": "en", "topic": "chat"})
    assert response.status_code == 400 and "Tell us your name." in response.get_data(as_text=True)
    assert http.post("/chat", data={"name": "No token", "language": "en", "topic": "chat"}).status_code == 400
    assert http.get("/chat/live").status_code == 302                       # no chat yet: back to the form


def test_the_prechat_post_is_rate_limited(app, db_session, desk):
    app.config["CHAT_RATE_LIMIT"] = "1 per minute"
    _start_chat(app)
    http = app.test_client()
    page = http.get("/chat").get_data(as_text=True)
    assert http.post("/chat", data={"csrf_token": csrf_token(page), "name": "X", "language": "en",
                                    "topic": "chat"}).status_code == 429


def test_a_message_is_stored_before_it_is_acknowledged_and_a_resend_is_one_message(app, db_session, desk,
                                                                                   worker_commits):
    _http, sock, _token = _start_chat(app)
    with worker_commits(desk["rosa"].id):
        ack = sock.emit("chat.message", {"client_id": "c-1", "text": "Hola"}, namespace=CHAT, callback=True)
    assert ack["ok"] and db_session.get(Interaction, ack["id"]).body_text == "Hola"
    sock.disconnect(CHAT)                                                  # the line drops; the page resends
    sock.connect(namespace=CHAT, auth={"token": _token})
    assert sock.emit("chat.message", {"client_id": "c-1", "text": "Hola"}, namespace=CHAT, callback=True) == ack
    assert sock.emit("chat.message", {"client_id": "c-2", "text": " "}, namespace=CHAT, callback=True) == {
        "ok": False, "error": "the message is empty"}
    reply = _sync(sock)
    assert [(m["text"], m["mine"]) for m in reply["messages"]] == [("¿Cuándo recogen la basura?", True), ("Hola", True)]
    assert _sync(sock, after=ack["id"])["messages"] == []                # after the last seen id: nothing new
    assert (reply["state"], reply["position"], reply["available"]) == ("waiting", 1, True)


def test_a_flood_of_messages_is_refused_without_losing_what_came_before(app, db_session, desk):
    app.config["CHAT_MESSAGES_PER_MINUTE"] = 2
    _http, sock, _token = _start_chat(app)
    acks = [sock.emit("chat.message", {"client_id": f"f{n}", "text": "hola"}, namespace=CHAT, callback=True)
            for n in range(3)]
    assert [a["ok"] for a in acks] == [True, True, False] and acks[2]["error"] == "too fast"
    assert len(_sync(sock)["messages"]) == 3                     # the question and the two taken


def test_offered_accepted_talked_transcribed_and_ended(app, client, db_session, desk, rq_redis, worker_commits):
    rosa = desk["rosa"]
    agent = _agent_socket(app, client, rosa)
    _http, sock, _token = _start_chat(app)
    case_id = _sync(sock)["case_id"]
    SimpleWorker(["routing"], connection=rq_redis).work(burst=True)        # the routing engine offers the chat
    [offer] = _received(agent, "offer.new")
    assert offer["case_id"] == case_id
    assert agent.emit("chat.join", {"case_id": case_id}, callback=True) == {"ok": False, "error": "not your chat"}
    assert agent.emit("offer.accept", {"offer_id": offer["offer_id"]}, callback=True) == {"ok": True}
    assert _received(sock, "chat.state", CHAT) == [{}]                      # the constituent is told at once
    reply = _sync(sock)
    assert (reply["state"], reply["agent"], reply["position"]) == ("active", "Rosa Delgado", None)

    assert agent.emit("chat.join", {"case_id": case_id}, callback=True) == {"ok": True}
    sock.emit("chat.typing", {"typing": True}, namespace=CHAT)
    assert {"case_id": case_id, "typing": True} in _received(agent, "chat.typing")
    with worker_commits(rosa.id):
        answer = agent.emit("chat.message", {"case_id": case_id, "client_id": "a-1", "text": "Hola Ana, soy Rosa."},
                            callback=True)
    assert answer["ok"]
    assert _received(sock, "chat.message", CHAT) == [{"id": answer["id"], "side": "agent"}]
    agent.emit("chat.typing", {"case_id": case_id, "typing": True})
    assert _received(sock, "chat.typing", CHAT) == [{"typing": True}]
    mine = sock.emit("chat.message", {"client_id": "c-1", "text": "Gracias"}, namespace=CHAT, callback=True)
    assert {"case_id": case_id, "id": mine["id"], "side": "constituent"} in _received(agent, "chat.message")
    with worker_commits(rosa.id):
        assert agent.emit("chat.read", {"case_id": case_id, "upto": mine["id"]}, callback=True) == {"ok": True}
    assert _received(sock, "chat.read", CHAT) == [{"side": "agent", "upto": mine["id"]}]
    assert _sync(sock)["agent_read_upto"] == mine["id"]

    transcript = client.get(f"/console/chat/{case_id}/transcript").get_data(as_text=True)
    assert "Hola Ana, soy Rosa." in transcript and "Gracias" in transcript
    panel = client.get(f"/console/chat/{case_id}")
    assert panel.status_code == 200 and 'id="chat-reply-text"' in panel.get_data(as_text=True)
    assert db_session.execute(select(func.count()).where(AuditEvent.object_id == str(case_id),
                                                         AuditEvent.actor_id == rosa.id)).scalar() >= 1
    rows = db_session.execute(select(Interaction.direction, Interaction.body_text).where(
        Interaction.case_id == case_id).order_by(Interaction.id)).all()
    assert rows == [(Direction.INBOUND, "¿Cuándo recogen la basura?"), (Direction.OUTBOUND, "Hola Ana, soy Rosa."),
                    (Direction.INBOUND, "Gracias")]
    assert _fresh(db_session, UserCapacity, (rosa.id, Channel.CHAT)).used == 1

    page = client.get(f"/console/chat/{case_id}").get_data(as_text=True)
    response = client.post(f"/console/chat/{case_id}/end", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 302
    assert _fresh(db_session, UserCapacity, (rosa.id, Channel.CHAT)).used == 0          # the slot is free
    case = _fresh(db_session, Case, case_id)
    assert (case.status, case.assignee_id) == (CaseStatus.ASSIGNED, rosa.id)             # kept for follow-up
    assert {} in _received(sock, "chat.state", CHAT)
    assert _sync(sock)["state"] == "ended"
    assert sock.emit("chat.message", {"client_id": "c-9", "text": "¿Hola?"}, namespace=CHAT, callback=True) == {
        "ok": False, "error": "closed"}


def test_the_agent_transfers_the_chat_live_to_a_person(app, client, db_session, desk, rq_redis):
    rosa, luca = desk["rosa"], desk["luca"]
    agent = _agent_socket(app, client, rosa)
    _http, sock, _token = _start_chat(app)
    case_id = _sync(sock)["case_id"]
    SimpleWorker(["routing"], connection=rq_redis).work(burst=True)
    [offer] = _received(agent, "offer.new")
    agent.emit("offer.accept", {"offer_id": offer["offer_id"]}, callback=True)
    sock.get_received(CHAT)
    page = client.get(f"/console/chat/{case_id}").get_data(as_text=True)
    assert "Luca Bianchi" not in page                    # not a member of the chat queue: not offered as a target
    db_session.add(QueueMember(queue_id=desk["queue"].id, user_id=luca.id))
    db_session.commit()
    page = client.get(f"/console/chat/{case_id}").get_data(as_text=True)
    response = client.post(f"/console/chat/{case_id}/transfer", data={
        "chat-transfer-csrf_token": re.search(r'name="chat-transfer-csrf_token" type="hidden" value="([^"]+)"', page)[1],
        "chat-transfer-queue_id": "0", "chat-transfer-user_id": str(luca.id)})
    assert response.status_code == 302
    case = _fresh(db_session, Case, case_id)
    assert case.assignee_id == luca.id
    assert _fresh(db_session, UserCapacity, (rosa.id, Channel.CHAT)).used == 0
    assert {} in _received(sock, "chat.state", CHAT)
    assert _sync(sock)["agent"] == "Luca Bianchi"
    assert agent.emit("chat.message", {"case_id": case_id, "client_id": "late", "text": "x"}, callback=True) == {
        "ok": False, "error": "not your chat"}


def test_the_agent_transfers_the_chat_live_to_another_queue(app, client, db_session, desk, rq_redis):
    rosa, luca = desk["rosa"], desk["luca"]
    agent = _agent_socket(app, client, rosa)
    _http, sock, _token = _start_chat(app)
    case_id = _sync(sock)["case_id"]
    SimpleWorker(["routing"], connection=rq_redis).work(burst=True)
    [offer] = _received(agent, "offer.new")
    agent.emit("offer.accept", {"offer_id": offer["offer_id"]}, callback=True)
    page = client.get(f"/console/chat/{case_id}").get_data(as_text=True)
    response = client.post(f"/console/chat/{case_id}/transfer", data={
        "chat-transfer-csrf_token": re.search(r'name="chat-transfer-csrf_token" type="hidden" value="([^"]+)"', page)[1],
        "chat-transfer-queue_id": str(desk["other"].id), "chat-transfer-user_id": "0"})
    assert response.status_code == 302
    case = _fresh(db_session, Case, case_id)
    assert (case.queue_id, case.assignee_id, case.offered_to_id) == (desk["other"].id, None, luca.id)
    reply = _sync(sock)
    assert (reply["state"], reply["position"]) == ("waiting", 1)          # back in line, in the new queue


def test_with_nobody_available_the_constituent_leaves_a_message_answered_by_email(app, db_session, desk, rq_redis):
    for user in (desk["rosa"], desk["luca"]):
        db_session.get(type(user), user.id).presence = Presence.OFFLINE
    db_session.commit()
    _http, sock, _token = _start_chat(app)
    reply = _sync(sock)
    assert (reply["state"], reply["position"], reply["available"]) == ("waiting", 1, False)
    SimpleWorker(["routing"], connection=rq_redis).work(burst=True)      # nobody to offer it to
    assert sock.emit("chat.leave", {"email": "nope", "text": "Hola", "client_id": "l-1"}, namespace=CHAT,
                     callback=True) == {"ok": False, "error": "email"}
    assert sock.emit("chat.leave", {"email": "ana@mail.example", "text": "Escríbanme, por favor", "client_id": "l-1"},
                     namespace=CHAT, callback=True) == {"ok": True}
    case = _fresh(db_session, Case, reply["case_id"])
    chat = db_session.execute(select(ChatSession).where(ChatSession.case_id == case.id)).scalar_one()
    assert (case.channel, case.status, chat.state) == (Channel.EMAIL, CaseStatus.NEW, ChatState.MESSAGE_LEFT)
    ack = db_session.execute(select(Interaction).where(Interaction.case_id == case.id,
                                                       Interaction.direction == Direction.OUTBOUND)).scalar_one()
    assert (ack.delivery_status, ack.meta["to"]) == (DeliveryStatus.QUEUED, "ana@mail.example")
    assert [j.args for j in Queue("channels", connection=rq_redis).get_jobs()] == [(ack.id,)]
    assert _sync(sock)["state"] == "message_left"


def test_a_chat_the_constituent_abandons_before_anyone_answers_leaves_the_queue(app, db_session, desk, rq_redis):
    _http, sock, _token = _start_chat(app)
    case_id = _sync(sock)["case_id"]
    SimpleWorker(["routing"], connection=rq_redis).work(burst=True)             # offered to Rosa
    assert sock.emit("chat.end", {}, namespace=CHAT, callback=True) == {"ok": True}
    case = _fresh(db_session, Case, case_id)
    assert (case.status, case.offered_to_id) == (CaseStatus.RESOLVED, None)
    assert _fresh(db_session, UserCapacity, (desk["rosa"].id, Channel.CHAT)).used == 0


def test_an_agent_cannot_open_a_chat_panel_they_may_not_see(app, client, db_session, desk):
    _http, sock, _token = _start_chat(app)
    case_id = _sync(sock)["case_id"]
    Auth(client).login(desk["luca"].email, PASSWORD)
    assert client.get(f"/console/chat/{case_id}").status_code == 404
    assert client.get(f"/console/chat/{case_id}/transcript").status_code == 404


def test_the_widget_loader_and_the_embedded_page_may_be_framed(app, db_session, desk):
    http = app.test_client()
    loader = http.get("/chat/widget.js")
    assert loader.status_code == 200 and loader.mimetype == "text/javascript" and b"/chat?embed=1" in loader.data
    loader.close()
    embedded = http.get("/chat?embed=1&lang=es")
    assert "frame-ancestors 'self'" in embedded.headers["Content-Security-Policy"]
    assert "site-header" not in embedded.get_data(as_text=True)
    assert "frame-ancestors 'none'" in http.get("/chat").headers["Content-Security-Policy"]

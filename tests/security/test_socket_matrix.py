"""The authorisation matrix of Socket.IO: every event handler the server has, for anonymous and each role.

Every (namespace, event) registered on the SocketIO object must have a decision in DECISIONS, so a new handler
without one fails `test_every_socket_event_has_a_decision` (as test_authz_matrix does for routes). Then each
decision is probed through flask_socketio's test client against the real app, database and Redis: the staff
namespace refuses anonymous sockets, case rooms need the case to be visible, routing events act only on the
signed-in user's own offers and presence, chat events only on a chat assigned to the agent; a constituent's
"/chat" socket reaches only the conversation its signed token names, whatever its payloads say.
"""
import pytest
from rq import SimpleWorker

from caseworker import realtime  # noqa: F401  (handlers must be declared before any app binds the server)
from caseworker.extensions import socketio
from models import Case, Channel, Presence, QueueMember, Role, User
from routing import engine
from tests.caseworker.test_chat import CHAT, _received, _start_chat, _sync, desk, fresh_services, rq_redis  # noqa: F401
from tests.conftest import Auth
from tests.factories import PASSWORD, make_case, make_category, make_queue, make_user
from tests.routing.builders import make_agent, make_routed_queue, open_case
from tests.routing.test_realtime_routing import _read

ROLES = [Role.AGENT, Role.CASEWORKER, Role.SUPERVISOR, Role.ADMIN]
STAFF = "/"
OWN_CHAT = "the socket's own chat only: fixed at connect from the signed token; no payload names another chat"

DECISIONS: dict[tuple[str, str], str] = {
    (STAFF, "connect"): "signed-in staff only (not anonymous, not half-signed-in, not owing 2FA set-up); "
                        "the server picks the rooms",
    (STAFF, "disconnect"): "no input; presence bookkeeping of the signed-in user",
    (STAFF, "presence.set"): "the signed-in agent's own presence only",
    (STAFF, "offer.accept"): "only the user the offer is for (routing.engine refuses others)",
    (STAFF, "offer.decline"): "only the user the offer is for (routing.engine refuses others)",
    (STAFF, "case.watch"): "joins case:<id> only for a case the user can see (access.can_see_case)",
    (STAFF, "case.unwatch"): "a case the user can see",
    (STAFF, "case.typing"): "a case the user can see",
    (STAFF, "chat.join"): "the chat's assignee only",
    (STAFF, "chat.message"): "the chat's assignee only (chatting.post refuses others)",
    (STAFF, "chat.typing"): "the chat's current assignee only",
    (STAFF, "chat.read"): "the chat's assignee only",
    (CHAT, "connect"): "a valid signed chat token; joins only that chat's room",
    (CHAT, "disconnect"): "no input",
    (CHAT, "chat.sync"): OWN_CHAT, (CHAT, "chat.message"): OWN_CHAT, (CHAT, "chat.typing"): OWN_CHAT,
    (CHAT, "chat.read"): OWN_CHAT, (CHAT, "chat.end"): OWN_CHAT, (CHAT, "chat.leave"): OWN_CHAT,
}


def registered_events() -> set[tuple[str, str]]:
    """Every (namespace, event) the SocketIO object has a handler for: decorated functions and class namespaces."""
    events = {(namespace or STAFF, event) for event, _handler, namespace in socketio.handlers}
    for handler in socketio.namespace_handlers:
        events |= {(handler.namespace, name[3:]) for name in dir(handler) if name.startswith("on_")}
    return events


def _socket(app, client, user):
    assert Auth(client).login(user.email, PASSWORD).status_code == 302
    sock = socketio.test_client(app, flask_test_client=client)
    assert sock.is_connected()
    return sock


def _names(sock, namespace=None) -> list[str]:
    return [e["name"] for e in sock.get_received(namespace)]


def test_every_socket_event_has_a_decision():
    registered = registered_events()
    assert registered - set(DECISIONS) == set(), "socket events without an authorisation decision"
    assert set(DECISIONS) - registered == set(), "decisions for events that no longer exist"


def test_anonymous_sockets_are_refused_on_the_staff_namespace(app, client, db_session):
    assert not socketio.test_client(app, flask_test_client=client).is_connected()
    assert not socketio.test_client(app, auth={"token": "anything"}).is_connected()
    inactive = make_user(db_session, Role.ADMIN)
    db_session.commit()
    sock = _socket(app, client, inactive)
    sock.disconnect()
    inactive.is_active = False
    db_session.commit()
    assert not socketio.test_client(app, flask_test_client=client).is_connected()   # a disabled account


@pytest.mark.parametrize("role", ROLES, ids=str)
def test_each_role_connects_into_the_rooms_the_server_picks(app, client, db_session, role):
    user = make_user(db_session, role)
    db_session.commit()
    sock = _socket(app, client, user)
    for room in (f"caseworker:{user.id}", f"caseworker:{user.id + 1}", "supervisors", "team:999999"):
        socketio.emit("probe", {"room": room}, to=room)
    got = sorted(e["args"][0]["room"] for e in sock.get_received() if e["name"] == "probe")
    assert got == sorted([f"caseworker:{user.id}"] + (["supervisors"] if user.has_role(Role.SUPERVISOR) else []))


@pytest.mark.parametrize("role", ROLES, ids=str)
@pytest.mark.parametrize("event", ["case.watch", "case.typing", "case.unwatch"])
def test_case_events_need_the_case_to_be_visible(app, client, db_session, role, event):
    mine, theirs = make_queue(db_session), make_queue(db_session)
    foreign = make_case(db_session, category=make_category(db_session, theirs))
    own = make_case(db_session, category=make_category(db_session, mine))
    user = make_user(db_session, role, queues=[mine])
    db_session.commit()
    sock = _socket(app, client, user)
    sees_all = user.has_role(Role.SUPERVISOR)
    answer = sock.emit(event, {"case_id": foreign.id}, callback=True)
    assert answer == ({"ok": True} if sees_all else {"ok": False, "error": "not found"})
    for bad in ({"case_id": "x"}, {"case_id": 999999}, None, ["case_id"]):
        assert sock.emit(event, bad, callback=True) == {"ok": False, "error": "not found"}
    assert sock.emit(event, {"case_id": own.id}, callback=True) == {"ok": True}
    sock.get_received()
    socketio.emit("case.changed", {"case_id": foreign.id}, to=f"case:{foreign.id}")
    joined_foreign = "case.changed" in _names(sock)
    assert joined_foreign is (sees_all and event == "case.watch")


@pytest.mark.parametrize("event", ["offer.accept", "offer.decline"])
def test_routing_events_refuse_someone_elses_offer(app, client, db_session, event):
    queue = make_routed_queue(db_session, "chat")
    rosa = make_agent(db_session, "Rosa", [queue], presence=Presence.AVAILABLE)
    other = make_agent(db_session, "Other", [queue], presence=Presence.OFFLINE)
    admin = make_user(db_session, Role.ADMIN)
    chat = open_case(db_session, "chat", channel=Channel.CHAT)
    [offer] = engine.route_case(db_session, chat.id).offered
    db_session.commit()
    for intruder in (other, admin):
        sock = _socket(app, client, intruder)
        for payload in ({"offer_id": offer.decision_id}, {"offer_id": offer.decision_id, "user_id": rosa.id},
                        {"offer_id": "x"}, None):
            assert sock.emit(event, payload, callback=True) == {"ok": False, "error": "refused"}, (intruder, payload)
        sock.disconnect()
        Auth(client).logout()
    assert _read(db_session, Case, chat.id, "offered_to_id", "assignee_id") == (rosa.id, None)


def test_presence_set_changes_only_the_signed_in_users_presence(app, client, db_session):
    agent = make_user(db_session, Role.AGENT, presence=Presence.OFFLINE)
    other = make_user(db_session, Role.AGENT, presence=Presence.OFFLINE)
    db_session.commit()
    sock = _socket(app, client, agent)
    assert sock.emit("presence.set", {"presence": "away", "user_id": other.id}, callback=True)["ok"]
    assert _read(db_session, User, agent.id, "presence") == (Presence.AWAY,)
    assert _read(db_session, User, other.id, "presence") == (Presence.OFFLINE,)


def _accepted_chat(app, client, db_session, desk, rq_redis, agent):  # noqa: F811
    """A constituent's chat, offered to and accepted by `agent`; returns (agent socket, constituent socket, case id)."""
    sock = _socket(app, client, agent)
    _http, constituent, _token = _start_chat(app)
    case_id = _sync(constituent)["case_id"]
    SimpleWorker(["routing"], connection=rq_redis).work(burst=True)
    [offer] = [e["args"][0] for e in sock.get_received() if e["name"] == "offer.new"]
    assert sock.emit("offer.accept", {"offer_id": offer["offer_id"]}, callback=True) == {"ok": True}
    assert sock.emit("chat.join", {"case_id": case_id}, callback=True) == {"ok": True}
    return sock, constituent, case_id


@pytest.mark.parametrize("role", ROLES, ids=str)
def test_agent_chat_events_refuse_a_chat_that_is_not_theirs(app, client, db_session, desk, rq_redis, role):  # noqa: F811
    _rosa_sock, constituent, case_id = _accepted_chat(app, app.test_client(), db_session, desk, rq_redis, desk["rosa"])
    constituent.get_received(CHAT)
    intruder = make_user(db_session, role, queues=[desk["queue"]])       # can see the case, is not its assignee
    db_session.commit()
    sock = _socket(app, client, intruder)
    assert sock.emit("chat.join", {"case_id": case_id}, callback=True) == {"ok": False, "error": "not your chat"}
    assert sock.emit("chat.message", {"case_id": case_id, "client_id": "x", "text": "hi"}, callback=True)["ok"] is False
    assert sock.emit("chat.read", {"case_id": case_id, "upto": 1}, callback=True) == {"ok": False,
                                                                                     "error": "not your chat"}
    sock.emit("chat.typing", {"case_id": case_id, "typing": True})
    assert _received(constituent, "chat.typing", CHAT) == []
    assert _received(constituent, "chat.message", CHAT) == []


def test_an_agent_who_handed_a_chat_on_can_no_longer_type_into_it(app, client, db_session, desk, rq_redis):  # noqa: F811
    rosa, luca = desk["rosa"], desk["luca"]
    sock, constituent, case_id = _accepted_chat(app, client, db_session, desk, rq_redis, rosa)
    sock.emit("chat.typing", {"case_id": case_id, "typing": True})
    assert _received(constituent, "chat.typing", CHAT) == [{"typing": True}]         # control: the assignee types
    db_session.add(QueueMember(queue_id=desk["queue"].id, user_id=luca.id))
    db_session.commit()
    engine.assign_manually(db_session, case_id, luca.id, rosa.id)
    db_session.commit()
    sock.emit("chat.typing", {"case_id": case_id, "typing": True})
    assert _received(constituent, "chat.typing", CHAT) == []


def test_a_constituent_reaches_only_their_own_conversation(app, client, db_session, desk, rq_redis):  # noqa: F811
    _http_a, ana, token_a = _start_chat(app)
    _http_b, ben, token_b = _start_chat(app, name="Ben")
    case_a, case_b = _sync(ana)["case_id"], _sync(ben)["case_id"]
    assert case_a != case_b
    ben.get_received(CHAT)
    hostile = {"case_id": case_b, "chat_id": case_b, "token": token_b, "after": 0}
    assert _sync(ana, after=0)["case_id"] == case_a
    assert ana.emit("chat.sync", hostile, namespace=CHAT, callback=True)["case_id"] == case_a
    ack = ana.emit("chat.message", hostile | {"client_id": "m1", "text": "Only mine"}, namespace=CHAT, callback=True)
    assert ack["ok"]
    assert _read(db_session, Case, case_a, "id") == (case_a,)
    ana.emit("chat.typing", hostile | {"typing": True}, namespace=CHAT)
    assert ana.emit("chat.end", hostile, namespace=CHAT, callback=True) == {"ok": True}
    assert _received(ben, "chat.message", CHAT) == [] and _received(ben, "chat.typing", CHAT) == []
    assert "Only mine" not in [m["text"] for m in _sync(ben)["messages"]]
    assert _sync(ben)["state"] == "waiting" and _sync(ana)["state"] == "ended"
    # The console's namespace does not take a chat token, and "/chat" takes nothing else.
    assert not socketio.test_client(app, auth={"token": token_a}).is_connected()
    staff = make_user(db_session, Role.ADMIN)
    db_session.commit()
    Auth(client).login(staff.email, PASSWORD)
    assert not socketio.test_client(app, namespace=CHAT, flask_test_client=client).is_connected(CHAT)

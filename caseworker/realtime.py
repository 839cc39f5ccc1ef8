"""Socket.IO: the server picks each socket's rooms, and domain signals become pushes (ids only)."""
import logging
import threading

from flask import current_app, has_app_context, request
from flask_login import current_user
from flask_socketio import SocketIO, join_room
from sqlalchemy import select
from sqlalchemy.orm import Session as OrmSession

import routing
from caseworker import cases, realtime_coalesce, twofactor
from caseworker.access import can_see_case
from caseworker.extensions import enqueue_after_commit, redis_client, rq_connection, socketio, socketio_queue_options
from channels import signals as channel_signals
from models import Case, Presence, QueueMember, Role, Session, get_engine
from routing import engine as routing_engine
from routing import presence as routing_presence
from routing import signals as routing_signals

log = logging.getLogger(__name__)

_emitter: SocketIO = socketio        # web process: the server bound in create_app()
_flusher: realtime_coalesce.Flusher | None = None    # this web process's trailing edge of coalesced pushes
_flusher_lock = threading.Lock()


def use_write_only_emitter(message_queue: str) -> None:
    """Called by `flask worker`: an RQ worker serves no sockets, it only publishes through Redis."""
    global _emitter
    _emitter = SocketIO(**socketio_queue_options(message_queue, write_only=True))


def rooms_for(user) -> list[str]:
    """The rooms a signed-in user's sockets join: their own, their queues', and supervisors'."""
    rooms = [f"caseworker:{user.id}"]
    queue_ids = Session.execute(select(QueueMember.queue_id).where(QueueMember.user_id == user.id)).scalars()
    rooms += [f"team:{queue_id}" for queue_id in queue_ids]
    if user.has_role(Role.SUPERVISOR):
        rooms.append("supervisors")
    return rooms


@socketio.on("connect")
def on_connect(auth=None):
    if not current_user.is_authenticated or twofactor.must_enrol(current_user):
        return False                                          # refuse the handshake
    for room in rooms_for(current_user):
        join_room(room)
    Session.remove()
    _start_flusher()
    routing_presence.socket_opened(redis_client(), current_user.id, request.sid)
    return True


@socketio.on("disconnect")
def on_disconnect(reason=None):
    if not current_user.is_authenticated:
        return
    if routing_presence.socket_closed(redis_client(), current_user.id, request.sid) == 0:
        routing.schedule_offline_check(rq_connection(), current_user.id, current_app.config["PRESENCE_GRACE_SECONDS"])


def _emit(event: str, data: dict, room: str) -> None:
    _emitter.emit(event, data, to=room)


def _broadcast(event: str, data: dict, room: str, key: object = "") -> None:
    """A "changed, re-fetch" push to a whole room, at most once a window per (event, room, key) across every
    process (see caseworker/realtime_coalesce.py); personal pushes never come through here."""
    if not has_app_context():              # no settings to go by: every change, at once
        _emit(event, data, room)
        return
    realtime_coalesce.announce(redis_client(), current_app.config["REALTIME_COALESCE_MS"], _emit, event, data,
                               room, key)


def _start_flusher() -> None:
    """The first socket of a web process starts its flusher of coalesced pushes (once; none when off)."""
    global _flusher
    window_ms = current_app.config["REALTIME_COALESCE_MS"]
    if window_ms <= 0 or _flusher is not None:
        return
    with _flusher_lock:
        if _flusher is None:
            _flusher = realtime_coalesce.Flusher(redis_client(), window_ms, _emit)
            socketio.start_background_task(_flusher.run)


def _field(data, key: str, default=None):
    """One field of an event's payload; a payload that is not an object (a list, a string) has none."""
    return data.get(key, default) if isinstance(data, dict) else default


def _routing_step(step, *args) -> dict:
    """Run one routing step for the signed-in agent as a unit of work, then announce it; the ack says how it went."""
    if not current_user.is_authenticated or not current_user.has_role(Role.AGENT):
        return {"ok": False, "error": "not signed in"}
    Session.remove()       # loading current_user began a read; the step is a writer from its first statement
    try:
        effects = routing.perform(rq_connection(), step, *args)
    except (routing_engine.RoutingError, ValueError, TypeError) as error:
        log.info("routing step refused for user %s: %s", current_user.id, type(error).__name__)
        return {"ok": False, "error": "refused"}
    return {"ok": True, "effects": effects}


@socketio.on("presence.set")
def on_presence_set(data=None):
    try:
        presence = Presence(_field(data, "presence"))
    except ValueError:
        return {"ok": False, "error": "unknown presence"}
    result = _routing_step(routing_engine.set_presence, current_user.id, presence)
    return {"ok": result["ok"], "presence": presence.value} if result["ok"] else result


def _offer_id(data) -> int:
    return int(_field(data, "offer_id"))


@socketio.on("offer.accept")
def on_offer_accept(data=None):
    result = _routing_step(lambda session: routing_engine.accept_offer(session, _offer_id(data), current_user.id))
    return {"ok": bool(result["ok"] and result["effects"].assigned)} if result["ok"] else result


@socketio.on("offer.decline")
def on_offer_decline(data=None):
    result = _routing_step(lambda session: routing_engine.decline_offer(session, _offer_id(data), current_user.id))
    return {"ok": bool(result["ok"] and result["effects"].closed_offers)} if result["ok"] else result


@routing_signals.case_assigned.connect
def push_case_assigned(case_id: int, *, caseworker_id: int, queue_id: int | None = None) -> None:
    _emitter.emit("case.assigned", {"case_id": case_id}, to=f"caseworker:{caseworker_id}")
    if queue_id is not None:
        _broadcast("queue.changed", {"queue_id": queue_id, "case_id": case_id}, f"team:{queue_id}", queue_id)


@routing_signals.case_offered.connect
def push_case_offered(case_id: int, *, offer_id: int, caseworker_id: int, expires_at: str) -> None:
    _emitter.emit("offer.new", {"offer_id": offer_id, "case_id": case_id, "expires_at": expires_at},
                  to=f"caseworker:{caseworker_id}")


@routing_signals.offer_closed.connect
def push_offer_closed(case_id: int, *, offer_id: int, caseworker_id: int) -> None:
    _emitter.emit("offer.closed", {"offer_id": offer_id, "case_id": case_id}, to=f"caseworker:{caseworker_id}")


@routing_signals.presence_changed.connect
def push_presence_changed(user_id: int, *, presence: str) -> None:
    _emitter.emit("agent.presence", {"user_id": user_id, "presence": presence}, to="supervisors")
    _emitter.emit("agent.presence", {"user_id": user_id, "presence": presence}, to=f"caseworker:{user_id}")


@routing_signals.case_assigned.connect
@routing_signals.case_released.connect
@routing_signals.case_offered.connect
@routing_signals.offer_closed.connect
def push_wallboard_changed(case_id: int, **_ids) -> None:
    """Supervisors' wallboards re-fetch their figures (the page throttles itself to one fetch a second)."""
    _broadcast("wallboard.changed", {"case_id": case_id}, "supervisors")


@channel_signals.case_opened.connect
def push_case_opened(case_id: int, *, queue_id: int | None = None) -> None:
    if queue_id is None:                  # senders that did not say: the case knows (it was committed)
        with OrmSession(get_engine()) as session:          # apart from the caller's unit of work
            queue_id = session.execute(select(Case.queue_id).where(Case.id == case_id)).scalar_one_or_none()
    if queue_id is not None:
        _broadcast("queue.changed", {"queue_id": queue_id, "case_id": case_id}, f"team:{queue_id}", queue_id)
    _broadcast("queue.changed", {"queue_id": queue_id, "case_id": case_id}, "supervisors", queue_id)


@channel_signals.call_arrived.connect
def push_call_incoming(case_id: int, *, call_id: int, constituent_id: int | None, caseworker_id: int | None = None,
                       queue_id: int | None = None) -> None:
    """The phone screen pop: to the agent offered the call, or else to the phone queue's agents."""
    room = f"caseworker:{caseworker_id}" if caseworker_id is not None else f"team:{queue_id}"
    _emitter.emit("call.incoming", {"case_id": case_id, "call_id": call_id, "constituent_id": constituent_id},
                  to=room)


# ---- the case page: rooms per case (joined only after the visibility check), viewing and typing ----------


def _case_event(data) -> int | None:
    """The id of the case an event names, when the signed-in user may see it; None otherwise."""
    if not current_user.is_authenticated:
        return None
    try:
        case = Session.get(Case, int(_field(data, "case_id")))
    except (TypeError, ValueError):
        return None
    visible = case is not None and can_see_case(current_user, case)
    Session.remove()
    return case.id if visible else None


def _case_presence(case_id: int | None, kind: str, present: bool) -> dict:
    if case_id is None:
        return {"ok": False, "error": "not found"}
    if kind == "viewing" and present:
        join_room(f"case:{case_id}")
    redis = redis_client()
    if present:
        changed = cases.touch_presence(redis, case_id, current_user.id, kind)
    else:
        changed = cases.clear_presence(redis, case_id, current_user.id, (kind,) if kind == "typing" else
                                       ("viewing", "typing"))
    if changed:
        _emitter.emit("case.presence", {"case_id": case_id}, to=f"case:{case_id}")
    return {"ok": True}


@socketio.on("case.watch")
def on_case_watch(data=None):
    return _case_presence(_case_event(data), "viewing", True)


@socketio.on("case.unwatch")
def on_case_unwatch(data=None):
    return _case_presence(_case_event(data), "viewing", False)


@socketio.on("case.typing")
def on_case_typing(data=None):
    return _case_presence(_case_event(data), "typing", bool(_field(data, "typing", True)))


def push_case_changed(case_id: int, **_ids) -> None:
    _emitter.emit("case.changed", {"case_id": case_id}, to=f"case:{case_id}")


for _signal in (channel_signals.case_changed, channel_signals.interaction_added, routing_signals.case_assigned,
                routing_signals.case_released, routing_signals.offer_closed):
    _signal.connect(push_case_changed)


@channel_signals.mentioned.connect
def push_mentioned(case_id: int, *, interaction_id: int, user_id: int) -> None:
    _emitter.emit("mention.new", {"case_id": case_id, "interaction_id": interaction_id}, to=f"caseworker:{user_id}")


# ---- chat (issue 6): the constituent's "/chat" namespace and the agents' chat events -----------------
# The constituent's socket is let in by its signed chat token, never by a login, and joins only its own
# chat's room; an agent's console socket joins a chat's room only for a chat assigned to them. Pushes
# carry ids; each side fetches what changed (the constituent through `chat.sync`, the agent a partial).

from flask_socketio import leave_room, rooms  # noqa: E402

from caseworker import chat as chat_web  # noqa: E402
from channels import chatting  # noqa: E402

CHAT_NAMESPACE = "/chat"
_chat_sockets: dict[str, tuple[int, int]] = {}     # constituent socket id -> (chat id, case id), this process


def _constituent_chat() -> tuple[int, int] | None:
    return _chat_sockets.get(request.sid)


@socketio.on("connect", namespace=CHAT_NAMESPACE)
def on_chat_connect(auth=None):
    chat = chat_web.chat_from_token(auth.get("token") if isinstance(auth, dict) else None)
    if chat is None:
        Session.remove()
        return False
    _chat_sockets[request.sid] = (chat.id, chat.case_id)
    join_room(f"chat:{chat.case_id}")
    Session.remove()
    return True


@socketio.on("disconnect", namespace=CHAT_NAMESPACE)
def on_chat_disconnect(reason=None):
    _chat_sockets.pop(request.sid, None)


@socketio.on("chat.sync", namespace=CHAT_NAMESPACE)
def on_chat_sync(data=None):
    """Everything after the client's last seen message id, its state and its place in the queue."""
    chat_id, _case_id = _constituent_chat()
    reply = chat_web.sync(chat_id, (data or {}).get("after") if isinstance(data, dict) else None)
    for room in rooms():
        if room.startswith("chatqueue:") and room != f"chatqueue:{reply['queue_id']}":
            leave_room(room)
    if reply["state"] == "waiting" and reply["queue_id"] is not None:
        join_room(f"chatqueue:{reply['queue_id']}")
    return reply


@socketio.on("chat.message", namespace=CHAT_NAMESPACE)
def on_chat_message(data=None):
    return chat_web.constituent_post(_constituent_chat()[0], data)


@socketio.on("chat.typing", namespace=CHAT_NAMESPACE)
def on_chat_typing(data=None):
    _chat_id, case_id = _constituent_chat()
    typing = bool(data.get("typing")) if isinstance(data, dict) else False
    socketio.emit("chat.typing", {"case_id": case_id, "typing": typing}, to=f"chat:{case_id}", namespace="/")


@socketio.on("chat.read", namespace=CHAT_NAMESPACE)
def on_chat_read(data=None):
    upto = data.get("upto") if isinstance(data, dict) else None
    return {"ok": chat_web.read(_constituent_chat()[0], chatting.CONSTITUENT, upto)}


@socketio.on("chat.end", namespace=CHAT_NAMESPACE)
def on_chat_end(data=None):
    return chat_web.constituent_end(_constituent_chat()[0])


@socketio.on("chat.leave", namespace=CHAT_NAMESPACE)
def on_chat_leave(data=None):
    return chat_web.constituent_leave(_constituent_chat()[0], data)


def _case_id(data) -> int | None:
    value = data.get("case_id") if isinstance(data, dict) else None
    return value if isinstance(value, int) else None


@socketio.on("chat.join")
def on_agent_chat_join(data=None):
    case_id = _case_id(data)
    if not current_user.is_authenticated or not chat_web.may_join(current_user, case_id):
        return {"ok": False, "error": "not your chat"}
    join_room(f"chat:{case_id}")
    return {"ok": True}


@socketio.on("chat.message")
def on_agent_chat_message(data=None):
    if not current_user.is_authenticated:
        return {"ok": False, "error": "not signed in"}
    return chat_web.agent_post(current_user, data)


@socketio.on("chat.typing")
def on_agent_chat_typing(data=None):
    case_id = _case_id(data)
    if f"chat:{case_id}" not in rooms():          # joined only by the chat's assignee (chat.join)
        return
    if not chat_web.may_join(current_user, case_id):   # handed on since: out of the room, and silent
        leave_room(f"chat:{case_id}")
        return
    socketio.emit("chat.typing", {"typing": bool(data.get("typing"))}, to=f"chat:{case_id}", namespace=CHAT_NAMESPACE)


@socketio.on("chat.read")
def on_agent_chat_read(data=None):
    chat_id = chat_web.agent_chat_id(current_user, _case_id(data)) if current_user.is_authenticated else None
    if chat_id is None:
        return {"ok": False, "error": "not your chat"}
    return {"ok": chat_web.read(chat_id, chatting.AGENT, data.get("upto"))}


def _to_chat(event: str, case_id: int, payload: dict) -> None:
    """Tell both sides of a chat: the agents' console sockets in its room and the constituent's."""
    _emitter.emit(event, {"case_id": case_id, **payload}, to=f"chat:{case_id}")
    _emitter.emit(event, payload, to=f"chat:{case_id}", namespace=CHAT_NAMESPACE)


@chatting.chat_message.connect
def push_chat_message(case_id: int, *, interaction_id: int, side: str) -> None:
    _to_chat("chat.message", case_id, {"id": interaction_id, "side": side})


@chatting.chat_state.connect
def push_chat_state(case_id: int) -> None:
    _to_chat("chat.state", case_id, {})


@chatting.chat_read.connect
def push_chat_read(case_id: int, *, side: str, upto: int) -> None:
    _to_chat("chat.read", case_id, {"side": side, "upto": upto})


@routing_signals.case_assigned.connect
def push_chat_assigned(case_id: int, *, caseworker_id: int, queue_id: int | None = None) -> None:
    """An agent took a chat: its constituent hears it, and those waiting behind move up a place."""
    _emitter.emit("chat.state", {}, to=f"chat:{case_id}", namespace=CHAT_NAMESPACE)
    if queue_id is not None:
        _emitter.emit("chat.queue", {}, to=f"chatqueue:{queue_id}", namespace=CHAT_NAMESPACE)


def _push_sla(event: str, case_id: int, kind: str, assignee_id: int | None) -> None:
    payload = {"case_id": case_id, "kind": kind}
    if assignee_id is not None:
        _emitter.emit(event, payload, to=f"caseworker:{assignee_id}")
    _emitter.emit(event, payload, to="supervisors")
    push_case_changed(case_id)


@routing_signals.sla_warning.connect
def push_sla_warning(case_id: int, *, kind: str, assignee_id: int | None = None, **_details) -> None:
    _push_sla("sla.warning", case_id, kind, assignee_id)


@routing_signals.sla_breached.connect
def push_sla_breached(case_id: int, *, kind: str, assignee_id: int | None = None, **_details) -> None:
    _push_sla("sla.breached", case_id, kind, assignee_id)


@channel_signals.case_changed.connect
def arm_sla_timers(case_id: int, **_ids) -> None:
    """A person changed the case (status, priority, queue): its SLA clocks follow and its timers are set again."""
    enqueue_after_commit(lambda redis: routing.request_sla_timers(redis, case_id))


# The case page's timeline and header follow the chat too.
for _signal in (chatting.chat_message, chatting.chat_state):
    _signal.connect(push_case_changed)

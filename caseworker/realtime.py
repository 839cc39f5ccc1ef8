"""Socket.IO: the server picks each socket's rooms, and domain signals become pushes (ids only)."""
import logging

from flask import current_app, request
from flask_login import current_user
from flask_socketio import SocketIO, join_room
from sqlalchemy import select

import routing
from caseworker.extensions import redis_client, rq_connection, socketio, socketio_queue_options
from channels import signals as channel_signals
from models import Presence, QueueMember, Role, Session
from routing import engine as routing_engine
from routing import presence as routing_presence
from routing import signals as routing_signals

log = logging.getLogger(__name__)

_emitter: SocketIO = socketio        # web process: the server bound in create_app()


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
    if not current_user.is_authenticated:
        return False                                          # refuse the handshake
    for room in rooms_for(current_user):
        join_room(room)
    Session.remove()
    routing_presence.socket_opened(redis_client(), current_user.id, request.sid)
    return True


@socketio.on("disconnect")
def on_disconnect(reason=None):
    if not current_user.is_authenticated:
        return
    if routing_presence.socket_closed(redis_client(), current_user.id, request.sid) == 0:
        routing.schedule_offline_check(rq_connection(), current_user.id, current_app.config["PRESENCE_GRACE_SECONDS"])


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
        presence = Presence((data or {}).get("presence"))
    except ValueError:
        return {"ok": False, "error": "unknown presence"}
    result = _routing_step(routing_engine.set_presence, current_user.id, presence)
    return {"ok": result["ok"], "presence": presence.value} if result["ok"] else result


def _offer_id(data) -> int:
    return int((data or {}).get("offer_id"))


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
        _emitter.emit("queue.changed", {"queue_id": queue_id}, to=f"team:{queue_id}")


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


@channel_signals.case_opened.connect
def push_case_opened(case_id: int, *, queue_id: int | None = None) -> None:
    if queue_id is not None:
        _emitter.emit("queue.changed", {"queue_id": queue_id}, to=f"team:{queue_id}")
    _emitter.emit("queue.changed", {"queue_id": queue_id}, to="supervisors")

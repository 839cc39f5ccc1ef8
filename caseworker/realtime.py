"""Socket.IO: the server picks each socket's rooms, and domain signals become pushes (ids only)."""
import logging

from flask_login import current_user
from flask_socketio import SocketIO, join_room
from sqlalchemy import select

from caseworker.extensions import socketio, socketio_queue_options
from channels import signals as channel_signals
from models import QueueMember, Role, Session
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
    return True


@routing_signals.case_assigned.connect
def push_case_assigned(case_id: int, *, caseworker_id: int, queue_id: int | None = None) -> None:
    _emitter.emit("case.assigned", {"case_id": case_id}, to=f"caseworker:{caseworker_id}")
    if queue_id is not None:
        _emitter.emit("queue.changed", {"queue_id": queue_id}, to=f"team:{queue_id}")


@channel_signals.case_opened.connect
def push_case_opened(case_id: int, *, queue_id: int | None = None) -> None:
    if queue_id is not None:
        _emitter.emit("queue.changed", {"queue_id": queue_id}, to=f"team:{queue_id}")
    _emitter.emit("queue.changed", {"queue_id": queue_id}, to="supervisors")

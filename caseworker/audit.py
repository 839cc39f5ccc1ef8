"""Audit records for the web layer: who did what to which object, from where."""
from flask import has_request_context, request
from flask_login import current_user
from sqlalchemy.orm import Session as OrmSession

from models import AuditAction, AuditEvent, Session, begin_writing


def record(session: OrmSession, action: AuditAction, object_type: str, object_id: object = None, *,
           constituent_id: int | None = None, actor_id: int | None = None, **detail) -> AuditEvent:
    """Add an AuditEvent for the current request's user (or `actor_id`). Flushes nothing; the view commits."""
    if actor_id is None and has_request_context() and current_user.is_authenticated:
        actor_id = current_user.id
    event = AuditEvent(
        actor_id=actor_id,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        constituent_id=constituent_id,
        remote_addr=request.remote_addr if has_request_context() else None,
        user_agent=(request.user_agent.string[:255] or None) if has_request_context() else None,
        detail=detail,
    )
    session.add(event)
    return event


def view(object_type: str, object_id: object = None, *, constituent_id: int | None = None,
         action: AuditAction = AuditAction.VIEW, **detail) -> None:
    """Record that the current request's user is shown (or exports) `object_type` `object_id`, and commit it.

    The view's reads end first and the record is written in a unit of work of its own that waits its turn to
    write: on SQLite, a transaction that has read cannot write once another process has committed meanwhile
    (it fails at once, whatever the busy timeout), and a worker commits all the time.
    """
    begin_writing()
    record(Session(), action, object_type, object_id, constituent_id=constituent_id, **detail)
    Session.commit()

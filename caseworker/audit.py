"""Audit records for the web layer: who did what to which object, from where."""
from flask import has_request_context, request
from flask_login import current_user
from sqlalchemy.orm import Session

from models import AuditAction, AuditEvent


def record(session: Session, action: AuditAction, object_type: str, object_id: object = None, *,
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

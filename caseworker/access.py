"""Who may see which case and whose record: one rule, used by every view, partial and socket event.

Agents and caseworkers see the cases of the queues they belong to and the cases assigned or offered to them;
supervisors and admins see every case. A constituent's record is open to staff who can see at least one of
the constituent's cases, to supervisors and admins, and to an agent taking that constituent's call (the
phone channel grants it for the call through `grant_constituent`).
"""
from flask import abort
from flask_login import current_user
from redis import Redis
from sqlalchemy import ColumnElement, exists, false, or_, select, true

from models import Case, Constituent, QueueMember, Role, Session, User

GRANT_SECONDS = 4 * 3600      # how long a call's screen pop opens a constituent's record to the agent


def sees_everything(user: User) -> bool:
    return user.has_role(Role.SUPERVISOR)


def case_filter(user: User) -> ColumnElement[bool]:
    """A WHERE clause on Case: the cases `user` may see. Use it in every list of cases."""
    if sees_everything(user):
        return true()
    if not user.is_authenticated:
        return false()
    member = select(QueueMember.queue_id).where(QueueMember.user_id == user.id)
    return or_(Case.queue_id.in_(member), Case.assignee_id == user.id, Case.offered_to_id == user.id)


def can_see_case(user: User, case: Case) -> bool:
    if sees_everything(user):
        return True
    if case.assignee_id == user.id or case.offered_to_id == user.id:
        return True
    return case.queue_id is not None and Session.get(QueueMember, (case.queue_id, user.id)) is not None


def case_or_404(case_id: int) -> Case:
    """The case, when the signed-in user may see it; 404 otherwise (the same answer as for no such case, so
    ids cannot be probed)."""
    case = Session.get(Case, case_id)
    if case is None or not can_see_case(current_user, case):
        abort(404)
    return case


def _grant_key(user_id: int, constituent_id: int) -> str:
    return f"casework:grant:constituent:{user_id}:{constituent_id}"


def grant_constituent(redis: Redis, user_id: int, constituent_id: int, seconds: int = GRANT_SECONDS) -> None:
    """Open a constituent's record to one agent for a while (the caller on the line, a chat in progress)."""
    redis.set(_grant_key(user_id, constituent_id), 1, ex=seconds)


def can_see_constituent(user: User, constituent_id: int, redis: Redis | None = None) -> bool:
    if sees_everything(user):
        return True
    visible = Session.execute(select(exists().where(Case.constituent_id == constituent_id, case_filter(user))))
    if visible.scalar():
        return True
    return redis is not None and bool(redis.exists(_grant_key(user.id, constituent_id)))


def constituent_or_404(constituent_id: int, redis: Redis | None = None) -> Constituent:
    constituent = Session.get(Constituent, constituent_id)
    if constituent is None or not can_see_constituent(current_user, constituent_id, redis):
        abort(404)
    return constituent

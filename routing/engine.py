"""Routing glue to the database: assign a waiting case to a caseworker. Flushes; callers commit."""
import logging

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from models import (
    OPEN_STATUSES,
    Case,
    CaseStatus,
    DecisionKind,
    DecisionOutcome,
    Presence,
    QueueMember,
    RoutingDecision,
    User,
    UserCapacity,
    utcnow,
)
from routing import rules

log = logging.getLogger(__name__)


def _candidates(session: Session, case: Case) -> list[rules.Candidate]:
    load = (
        select(func.count(Case.id))
        .where(Case.assignee_id == User.id, Case.channel == case.channel,
               Case.status.in_((CaseStatus.ASSIGNED, CaseStatus.PENDING_CONSTITUENT)))
        .scalar_subquery()
    )
    rows = session.execute(
        select(User.id, UserCapacity.slots, load)
        .join(QueueMember, and_(QueueMember.user_id == User.id, QueueMember.queue_id == case.queue_id))
        .join(UserCapacity, and_(UserCapacity.user_id == User.id, UserCapacity.channel == case.channel))
        .where(User.is_active, User.presence == Presence.AVAILABLE)
    )
    return [rules.Candidate(user_id, slots, n) for user_id, slots, n in rows]


def assign(session: Session, case_id: int) -> Case | None:
    """Give a NEW case to the least-loaded available member of its queue with spare capacity.

    Idempotent: a case that is no longer NEW comes back untouched, and a deleted one as None. When nobody
    is available the case comes back still NEW, with a NO_CANDIDATE decision recorded. Flushes; the caller commits.
    """
    case = session.get(Case, case_id, with_for_update=True)      # row lock: two workers, one winner
    if case is None or case.status is not CaseStatus.NEW:
        return case
    candidates = _candidates(session, case)
    pick = rules.least_loaded(candidates)
    decision = RoutingDecision(case_id=case.id, queue_id=case.queue_id, kind=DecisionKind.ASSIGNMENT,
                               strategy="least_loaded", rule="queue members, available, spare capacity",
                               explanation={"considered": len(candidates)})
    session.add(decision)
    if pick is None:
        decision.outcome = DecisionOutcome.NO_CANDIDATE
        session.flush()
        return case
    now = utcnow()
    decision.outcome, decision.user_id = DecisionOutcome.ASSIGNED, pick.user_id
    decision.explanation |= {"load": pick.load, "capacity": pick.capacity}
    case.assignee_id, case.status, case.last_activity_at = pick.user_id, CaseStatus.ASSIGNED, now
    session.get(User, pick.user_id).last_assigned_at = now
    session.flush()
    return case


def open_case_count(session: Session, user_id: int) -> int:
    """How many open cases `user_id` holds (all channels)."""
    return session.execute(
        select(func.count(Case.id)).where(Case.assignee_id == user_id, Case.status.in_(OPEN_STATUSES))
    ).scalar_one()

"""A case's lifecycle by hand: status, priority and category changes, and merging a duplicate into another case.

Each change is written on the case's timeline as a STATUS_CHANGE interaction (who, from what, to what), so the
case page, the audit and reports read one history. A change that ends a case's work (resolved, closed, merged)
frees the slot it holds through the engine, so the agent's capacity is right; reopening routes it again.
Flushes; the caller commits and then announces the returned Effects (`routing.perform` does both).
"""
import logging
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models import (
    OPEN_STATUSES,
    Case,
    CaseMerge,
    CaseStatus,
    Category,
    Direction,
    InboundRaw,
    Interaction,
    InteractionKind,
    Priority,
    utcnow,
)
from routing import engine, sla
from routing.engine import Effects

log = logging.getLogger(__name__)

STATUS_WORDS = {CaseStatus.NEW: "new", CaseStatus.ASSIGNED: "assigned",
                CaseStatus.PENDING_CONSTITUENT: "waiting for the constituent", CaseStatus.RESOLVED: "resolved",
                CaseStatus.CLOSED: "closed"}


class LifecycleError(ValueError):
    """A change that cannot be made as asked; the message says why, in words for the person who asked."""


def allowed_statuses(case: Case) -> list[CaseStatus]:
    """The statuses a person may move `case` to from where it is (its own status excluded)."""
    if case.status in OPEN_STATUSES:
        targets = [CaseStatus.RESOLVED, CaseStatus.CLOSED]
        if case.assignee_id is not None:
            targets.insert(0, CaseStatus.ASSIGNED if case.status is CaseStatus.PENDING_CONSTITUENT
                           else CaseStatus.PENDING_CONSTITUENT)
        return [s for s in targets if s is not case.status]
    if case.status is CaseStatus.RESOLVED:
        return [CaseStatus.CLOSED, CaseStatus.NEW]
    return [CaseStatus.NEW]


def record_change(session: Session, case: Case, change: str, old: str | None, new: str | None,
                  author_id: int | None, text: str, **meta) -> Interaction:
    """Write one change on the case's timeline (an internal STATUS_CHANGE interaction). Flushes."""
    interaction = Interaction(case_id=case.id, constituent_id=case.constituent_id, kind=InteractionKind.STATUS_CHANGE,
                              channel=case.channel, direction=Direction.INTERNAL, author_id=author_id,
                              body_text=text, meta={"change": change, "from": old, "to": new, **meta})
    session.add(interaction)
    session.flush()
    return interaction


def _fresh(session: Session, case_id: int) -> Case:
    # The engine writes with Core UPDATEs; the identity map may hold the case as it was before them.
    return session.execute(select(Case).where(Case.id == case_id).execution_options(populate_existing=True)
                           ).scalar_one()


def change_status(session: Session, case_id: int, status: CaseStatus, by_user_id: int | None,
                  now: datetime | None = None) -> Effects:
    """Move a case to `status`, as `allowed_statuses` permits. Resolving or closing an open case frees its slot;
    reopening a resolved or closed one puts it back in its queue and routes it; a merged case stays closed.
    Flushes; raises LifecycleError."""
    now = now or utcnow()
    case = _fresh(session, case_id)
    old = case.status
    if status is old:
        return Effects()
    if session.get(CaseMerge, case_id) is not None:
        raise LifecycleError(f"{case.reference} was merged into another case; it stays closed.")
    if status not in allowed_statuses(case):
        raise LifecycleError(f"A {STATUS_WORDS[old]} case cannot be marked {STATUS_WORDS[status]}.")
    effects = Effects()
    if status in (CaseStatus.RESOLVED, CaseStatus.CLOSED) and old in OPEN_STATUSES:
        effects.merge(engine.resolve(session, case_id, now))
        case = _fresh(session, case_id)
    if status is CaseStatus.CLOSED:
        case.status, case.closed_at = CaseStatus.CLOSED, now
    elif status is CaseStatus.NEW:
        case.status, case.assignee_id, case.resolved_at, case.closed_at = CaseStatus.NEW, None, None, None
        case.entered_queue_at = now
    elif status in (CaseStatus.ASSIGNED, CaseStatus.PENDING_CONSTITUENT):
        case.status = status
    case.last_activity_at = now
    sla.sync_sla(session, case, now)          # waiting on the constituent pauses the clocks; leaving it resumes
    record_change(session, case, "status", old.value, status.value, by_user_id,
                  f"Status changed from {STATUS_WORDS[old]} to {STATUS_WORDS[status]}.")
    if status is CaseStatus.NEW:
        effects.merge(engine.route_case(session, case_id, now))
    if status is CaseStatus.RESOLVED:
        effects.resolved.append(case_id)      # announced after commit (the satisfaction survey follows it)
    return effects


def change_priority(session: Session, case_id: int, priority: Priority, by_user_id: int | None) -> Interaction | None:
    """Set a case's priority (the queue order follows it at once). Flushes; None when nothing changed."""
    case = _fresh(session, case_id)
    old = case.priority
    if priority == old:
        return None
    case.priority = priority
    sla.sync_sla(session, case)               # the due times follow the policy of the new priority
    return record_change(session, case, "priority", old.name.lower(), priority.name.lower(), by_user_id,
                         f"Priority changed from {old.name.lower()} to {priority.name.lower()}.")


def change_category(session: Session, case_id: int, category_id: int | None,
                    by_user_id: int | None) -> Interaction | None:
    """Set a case's category. The queue stays as it is: moving it is a transfer, decided on its own.
    Flushes; raises LifecycleError for an unknown category; None when nothing changed."""
    case = _fresh(session, case_id)
    if category_id == case.category_id:
        return None
    new = session.get(Category, category_id) if category_id is not None else None
    if category_id is not None and new is None:
        raise LifecycleError("That category does not exist any more.")
    old_name = case.category.name if case.category is not None else "none"
    case.category_id = category_id
    return record_change(session, case, "category", old_name, new.name if new else None, by_user_id,
                         f"Category changed from {old_name} to {new.name if new else 'none'}.")


def transfer(session: Session, case_id: int, queue_id: int, by_user_id: int | None) -> Effects:
    """Move the case to another queue and route it there (the engine's transfer); its SLA clocks are measured
    again by the new queue's policy. Flushes."""
    effects = engine.transfer(session, case_id, queue_id, by_user_id)
    sla.sync_sla(session, _fresh(session, case_id))
    return effects


def merge(session: Session, source_id: int, target_id: int, by_user_id: int | None,
          now: datetime | None = None) -> Effects:
    """Merge the duplicate case `source_id` into `target_id`: its interactions and raw payloads move there (in
    their order of time), the merge is written on both timelines, and the source is closed, freeing its slot.

    The caller checks that the person may see both. Flushes; raises LifecycleError (same case, already merged,
    a closed target)."""
    now = now or utcnow()
    if source_id == target_id:
        raise LifecycleError("A case cannot be merged into itself.")
    for case_id in sorted((source_id, target_id)):          # one lock order, so two merges cannot deadlock
        session.execute(select(Case.id).where(Case.id == case_id).with_for_update())
    source, target = _fresh(session, source_id), _fresh(session, target_id)
    if session.get(CaseMerge, source_id) is not None:
        raise LifecycleError(f"{source.reference} was already merged into another case.")
    if session.get(CaseMerge, target_id) is not None or target.status is CaseStatus.CLOSED:
        raise LifecycleError(f"{target.reference} is closed; merge into an open case.")
    moved = session.execute(update(Interaction).where(Interaction.case_id == source_id)
                            .values(case_id=target_id)).rowcount
    session.execute(update(InboundRaw).where(InboundRaw.case_id == source_id).values(case_id=target_id))
    session.add(CaseMerge(case_id=source_id, into_case_id=target_id, merged_by_id=by_user_id, merged_at=now))
    effects = Effects()
    if source.status in OPEN_STATUSES:
        effects.merge(engine.resolve(session, source_id, now))
    source = _fresh(session, source_id)
    old = source.status
    source.status, source.closed_at, source.last_activity_at = CaseStatus.CLOSED, now, now
    target.last_activity_at = now
    record_change(session, source, "merge", old.value, CaseStatus.CLOSED.value, by_user_id,
                  f"Merged into {target.reference}; its {moved} interactions are there now.", into_case_id=target_id)
    record_change(session, target, "merge", None, None, by_user_id,
                  f"{source.reference} was merged into this case ({moved} interactions moved here).",
                  from_case_id=source_id)
    log.info("case %s merged into case %s (%s interactions)", source_id, target_id, moved)
    return effects

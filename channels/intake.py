"""Intake: a NormalizedContact becomes an interaction on a case (identity, threading, idempotency)."""
import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

import routing
from channels.base import ContactAddress, NormalizedContact
from models import (
    Case,
    CaseStatus,
    Category,
    Constituent,
    ContactPoint,
    Direction,
    Interaction,
    InteractionKind,
    next_reference,
    utcnow,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestResult:
    case_id: int
    interaction_id: int
    is_new_case: bool
    is_duplicate: bool
    reopened: bool = False


def find_or_create_constituent(session: Session, address: ContactAddress) -> tuple[Constituent, ContactPoint]:
    """The constituent behind `address`, creating both when the address is new (added, not flushed). Follows merges."""
    point = session.execute(
        select(ContactPoint).where(ContactPoint.kind == address.kind, ContactPoint.value == address.value)
    ).scalar_one_or_none()
    if point is None:
        constituent = Constituent(display_name=address.display_name)
        point = ContactPoint(kind=address.kind, value=address.value, display=address.display_name,
                             constituent=constituent)
        session.add(point)
        return constituent, point
    constituent = point.constituent
    while constituent.merged_into_id is not None:
        constituent = session.get(Constituent, constituent.merged_into_id)
    if address.display_name and not constituent.display_name:
        constituent.display_name = address.display_name
    return constituent, point


def thread_target(session: Session, contact: NormalizedContact) -> Case | None:
    """The case `contact` answers: by the ids it replies to, then by a reference it quotes; else None."""
    if contact.in_reply_to:
        case = session.execute(
            select(Case).join(Interaction, Interaction.case_id == Case.id)
            .where(Interaction.external_id.in_(contact.in_reply_to)).limit(1)
        ).scalar_one_or_none()
        if case is not None:
            return case
    if contact.case_reference:
        return session.execute(select(Case).where(Case.reference == contact.case_reference)).scalar_one_or_none()
    return None


def _existing(session: Session, contact: NormalizedContact) -> Interaction | None:
    if contact.external_id is None:
        return None
    return session.execute(
        select(Interaction).where(Interaction.channel == contact.channel,
                                  Interaction.external_id == contact.external_id)
    ).scalar_one_or_none()


def open_case(session: Session, contact: NormalizedContact, constituent: Constituent | None) -> Case:
    """A new case for `contact`, in its category's queue. Flushes."""
    case = _new_case(session, contact, constituent)
    session.flush()
    routing.apply_sla(session, case)
    return case


def _new_case(session: Session, contact: NormalizedContact, constituent: Constituent | None) -> Case:
    now = contact.occurred_at or utcnow()
    category = None
    if contact.category_code:
        category = session.execute(select(Category).where(Category.code == contact.category_code)).scalar_one_or_none()
    case = Case(
        reference=next_reference(session, now.year),
        subject=contact.subject[:500],
        channel=contact.channel,
        language=contact.language or (constituent.preferred_language if constituent else None),
        category=category,
        queue_id=category.queue_id if category else None,
        constituent=constituent,
        created_at=now, queued_at=now, last_activity_at=now,
    )
    session.add(case)
    return case


def ingest(session: Session, contact: NormalizedContact, inbound_raw_id: int | None = None, *,
           known_new: bool = False) -> IngestResult:
    """Store `contact` as an inbound interaction, threading it onto its case or opening a new one.

    Idempotent on the contact's external id: the same message twice is one interaction (`known_new`: the
    caller has checked that already). A contact on a resolved case reopens it. Flushes; the caller commits
    and then announces (signals, routing).
    """
    duplicate = None if known_new else _existing(session, contact)
    if duplicate is not None:
        return IngestResult(duplicate.case_id, duplicate.id, is_new_case=False, is_duplicate=True)
    with session.no_autoflush:          # one flush for constituent, contact point, case and interaction
        constituent, point = (None, None)
        if contact.sender is not None:
            constituent, point = find_or_create_constituent(session, contact.sender)
        case = thread_target(session, contact)
        is_new, reopened = case is None, False
        if is_new:
            case = _new_case(session, contact, constituent)
        elif not case.is_open or case.status is CaseStatus.PENDING_CONSTITUENT:
            reopened = not case.is_open
            case.status = CaseStatus.ASSIGNED if case.assignee_id else CaseStatus.NEW
        now = contact.occurred_at or utcnow()
        case.last_activity_at = now
        interaction = Interaction(
            case=case, constituent=constituent, kind=InteractionKind.MESSAGE,
            channel=contact.channel, direction=Direction.INBOUND, contact_point=point,
            subject=contact.subject[:500], body_text=contact.body_text, body_html=contact.body_html,
            external_id=contact.external_id, meta=contact.meta, inbound_raw_id=inbound_raw_id, occurred_at=now,
        )
        session.add(interaction)
    session.flush()
    if is_new:
        routing.apply_sla(session, case)
    else:
        routing.sync_sla(session, case, now)      # the constituent answered: a paused clock runs again
    log.info("interaction %s on case %s (new case: %s)", interaction.id, case.id, is_new)
    return IngestResult(case.id, interaction.id, is_new_case=is_new, is_duplicate=False, reopened=reopened)


"""Intake: a NormalizedContact becomes an interaction on a case (identity, threading, idempotency)."""
import logging
from dataclasses import dataclass

from sqlalchemy import Row, bindparam, insert, inspect, select, update
from sqlalchemy.orm import Session

import routing
from channels.base import ContactAddress, NormalizedContact
from models import (
    Case,
    CaseStatus,
    Category,
    Channel,
    Constituent,
    ContactPoint,
    Direction,
    Interaction,
    InteractionKind,
    Priority,
    next_reference,
    utcnow,
)
from models.db import execute_core, execute_update

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestResult:
    case_id: int
    interaction_id: int
    is_new_case: bool
    is_duplicate: bool
    reopened: bool = False


def find_or_create_constituent(session: Session, address: ContactAddress) -> tuple[Constituent, ContactPoint]:
    """The constituent behind `address` and its contact point, both created when the address is new. Follows
    merges. Flushes."""
    constituent_id, point_id, _language = sender_ids(session, address)
    return session.get(Constituent, constituent_id), session.get(ContactPoint, point_id)


_POINT = (select(ContactPoint.id, ContactPoint.constituent_id, Constituent.merged_into_id, Constituent.display_name,
                 Constituent.preferred_language)
          .join(Constituent, Constituent.id == ContactPoint.constituent_id)
          .where(ContactPoint.kind == bindparam("kind"), ContactPoint.value == bindparam("value")))
_CONSTITUENT = (select(Constituent.id, Constituent.merged_into_id, Constituent.display_name,
                       Constituent.preferred_language).where(Constituent.id == bindparam("id")))
_NEW_CONSTITUENT = insert(Constituent).returning(Constituent.id)
_NEW_POINT = insert(ContactPoint).returning(ContactPoint.id)
_NAME = update(Constituent).where(Constituent.id == bindparam("b_id")).values(display_name=bindparam("b_name"))


def sender_ids(session: Session, address: ContactAddress) -> tuple[int, int, str | None]:
    """(constituent id, contact point id, preferred language) behind `address`, following merges; a new
    address gets a new constituent and contact point, and a nameless constituent the name it was sent with.
    Flushes. Raises IntegrityError when another transaction creates the same contact point at once."""
    row = execute_core(session, _POINT, {"kind": address.kind, "value": address.value}).first()
    if row is None:
        constituent_id = execute_core(session, _NEW_CONSTITUENT, {"display_name": address.display_name}).scalar_one()
        point_id = execute_core(session, _NEW_POINT, {"constituent_id": constituent_id, "kind": address.kind,
                                                      "value": address.value,
                                                      "display": address.display_name}).scalar_one()
        return constituent_id, point_id, None
    point_id, constituent_id, merged_into_id, name, language = row
    seen = {constituent_id}
    while merged_into_id is not None and merged_into_id not in seen:
        seen.add(merged_into_id)
        constituent_id, merged_into_id, name, language = execute_core(session, _CONSTITUENT,
                                                                      {"id": merged_into_id}).one()
    if address.display_name and not name:
        execute_update(session, _NAME, {"b_id": constituent_id, "b_name": address.display_name}, Constituent,
                       constituent_id, display_name=address.display_name)
    return constituent_id, point_id, language


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


_EXISTING = select(Interaction.id, Interaction.case_id).where(Interaction.channel == bindparam("channel"),
                                                               Interaction.external_id == bindparam("external_id"))


def existing(session: Session, channel: Channel, external_id: str | None) -> Row | None:
    """(id, case_id) of the interaction already stored for `external_id` on `channel` (the idempotency
    check), or None. One indexed lookup; flushes."""
    if external_id is None:
        return None
    return execute_core(session, _EXISTING, {"channel": channel, "external_id": external_id}).first()


def _new_case(session: Session, contact: NormalizedContact, constituent_id: int | None,
              preferred_language: str | None) -> Case:
    """A new case for `contact` with its reference and SLA due times, not yet added to the session."""
    now = contact.occurred_at or utcnow()
    category_id = queue_id = None
    if contact.category_code:
        category = session.execute(select(Category.id, Category.queue_id)
                                   .where(Category.code == contact.category_code)).first()
        if category is not None:
            category_id, queue_id = category
    case = Case(
        reference=next_reference(session, now.year),
        subject=contact.subject[:500],
        channel=contact.channel,
        priority=Priority.NORMAL,              # set now, not at insert: the SLA is measured before the insert
        language=contact.language or preferred_language,
        category_id=category_id,
        queue_id=queue_id,
        constituent_id=constituent_id,
        created_at=now, queued_at=now, last_activity_at=now,
    )
    routing.apply_sla(session, case)
    return case


_NEW_CASE = insert(Case).returning(Case.id)
_NEW_INTERACTION = insert(Interaction).returning(Interaction.id)
_CASE_FIELDS = tuple(attribute.key for attribute in inspect(Case).column_attrs)


def _insert_case(session: Session, contact: NormalizedContact, constituent_id: int | None,
                 preferred_language: str | None) -> int:
    """Insert a new case for `contact` with one statement; returns its id. Flushes."""
    case = _new_case(session, contact, constituent_id, preferred_language)
    values = {key: case.__dict__[key] for key in _CASE_FIELDS if key in case.__dict__}
    return execute_core(session, _NEW_CASE, values).scalar_one()


_FIND = object()          # `ingest` finds the thread itself


def ingest(session: Session, contact: NormalizedContact, inbound_raw_id: int | None = None, *,
           known_new: bool = False, target: Case | None | object = _FIND) -> IngestResult:
    """Store `contact` as an inbound interaction, threading it onto its case or opening a new one.

    Idempotent on the contact's external id: the same message twice is one interaction (`known_new`: the
    caller has checked that already). `target`: the case `thread_target` gave the caller already (None:
    none, a new case). A contact on a resolved case reopens it. Flushes; the caller commits
    and then announces (signals, routing).
    """
    duplicate = None if known_new else existing(session, contact.channel, contact.external_id)
    if duplicate is not None:
        return IngestResult(duplicate.case_id, duplicate.id, is_new_case=False, is_duplicate=True)
    constituent_id = point_id = language = None
    if contact.sender is not None:
        constituent_id, point_id, language = sender_ids(session, contact.sender)
    now = contact.occurred_at or utcnow()
    case = thread_target(session, contact) if target is _FIND else target
    is_new, reopened = case is None, False
    if is_new:
        case_id = _insert_case(session, contact, constituent_id, language)
    else:
        case_id = case.id
        if not case.is_open or case.status is CaseStatus.PENDING_CONSTITUENT:
            reopened = not case.is_open
            case.status = CaseStatus.ASSIGNED if case.assignee_id else CaseStatus.NEW
        case.last_activity_at = now
    interaction_id = execute_core(session, _NEW_INTERACTION, {
        "case_id": case_id, "constituent_id": constituent_id, "kind": InteractionKind.MESSAGE,
        "channel": contact.channel, "direction": Direction.INBOUND, "contact_point_id": point_id,
        "subject": contact.subject[:500], "body_text": contact.body_text, "body_html": contact.body_html,
        "external_id": contact.external_id, "meta": contact.meta, "inbound_raw_id": inbound_raw_id,
        "occurred_at": now,
    }).scalar_one()
    if not is_new:
        routing.sync_sla(session, case, now)      # the constituent answered: a paused clock runs again
    log.info("interaction %s on case %s (new case: %s)", interaction_id, case_id, is_new)
    return IngestResult(case_id, interaction_id, is_new_case=is_new, is_duplicate=False, reopened=reopened)


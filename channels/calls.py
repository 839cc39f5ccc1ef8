"""Phone calls become cases: the incoming-call webhook's payload, calls logged by hand, and the agent's notes.

A call is one Interaction (kind CALL, channel phone, external id `call:<CallSid>`) on a case in the phone
queue. The webhook's raw body is stored first (InboundRaw) and taken in during the request, because the
agent's screen pop needs the case and the caller at once; the same CallSid twice is one call and one case.
Everything here flushes; the boundary commits, then routes and announces.
"""
import enum
import logging
import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from channels import identity, inbound, intake, phone
from channels.base import ContactAddress, InvalidContact, NormalizedContact
from models import (
    OPEN_STATUSES,
    Case,
    CaseStatus,
    Channel,
    Constituent,
    ContactKind,
    ContactPoint,
    Direction,
    InboundRaw,
    InboundStatus,
    Interaction,
    InteractionKind,
    Queue,
    utcnow,
)

log = logging.getLogger(__name__)


class CallOutcome(enum.StrEnum):
    """How a call ended, as the agent records it."""

    ANSWERED = "answered"                  # the question was answered on the call
    FOLLOW_UP = "follow_up"                # the case needs more work
    CALLBACK = "callback"                  # the caller asked to be called back
    TRANSFERRED = "transferred"
    VOICEMAIL = "voicemail"
    DROPPED = "dropped"                    # cut off before the end
    WRONG_NUMBER = "wrong_number"


class CallError(ValueError):
    """A call or call note that cannot be filed as asked (not a call, a case of someone else...)."""


@dataclass(frozen=True)
class CallReceipt:
    """What became of one incoming call: its case and caller, by id."""

    raw_id: int
    case_id: int | None = None
    call_id: int | None = None             # the call's interaction
    constituent_id: int | None = None
    queue_id: int | None = None
    is_new: bool = False                   # False: the same CallSid was taken in before
    error: str | None = None


@dataclass(frozen=True)
class Filed:
    """Where the agent's notes went: the case the call now sits on, and the call's own case when it emptied."""

    case_id: int
    emptied_case_id: int | None = None


def queue_id_for(session: Session, queue_code: str | None) -> int | None:
    """The id of the queue calls go to (PHONE_QUEUE), or None when it is not set up."""
    if not queue_code:
        return None
    return session.execute(select(Queue.id).where(Queue.code == queue_code)).scalar_one_or_none()


def _settle(raw: InboundRaw, status: InboundStatus, outcome: str, case_id: int | None = None,
            error: str | None = None) -> None:
    raw.status, raw.outcome, raw.case_id, raw.error = status, outcome, case_id, error
    raw.attempts, raw.processed_at = raw.attempts + 1, utcnow()


def _receipt_of(session: Session, raw: InboundRaw, call_sid: str) -> CallReceipt:
    call = session.execute(select(Interaction).where(Interaction.channel == Channel.PHONE,
                                                     Interaction.external_id == phone.external_id(call_sid))
                           ).scalar_one_or_none()
    if call is None:
        return CallReceipt(raw.id, error=raw.error)
    return CallReceipt(raw.id, call.case_id, call.id, call.constituent_id, call.case.queue_id)


def receive(session: Session, body: bytes, *, region: str, queue_code: str | None) -> CallReceipt:
    """Store an incoming-call webhook body, then take the call in: caller, case in the phone queue, call.

    The body is kept whatever it holds; one that is not a call is marked FAILED with the reason (the receipt
    carries it). Idempotent on the CallSid: a repeat returns the first call's receipt with `is_new` False.
    Flushes; the caller commits, then routes the case and pops the caller's record.
    """
    call, key, error = None, None, None
    try:
        call = phone.parse(body, region)
        key = f"{phone.SOURCE}:{call.call_sid}"
    except InvalidContact as exc:
        error = str(exc)
    raw, created = inbound.store_raw(session, channel=Channel.PHONE, source=phone.SOURCE, payload=body,
                                     idempotency_key=key, content_type=phone.CONTENT_TYPE)
    if call is None:
        if created:
            _settle(raw, InboundStatus.FAILED, "failed", error=error)
            session.flush()
        log.info("phone webhook %s refused: %s", raw.id, error)
        return CallReceipt(raw.id, error=error)
    if not created:
        return _receipt_of(session, raw, call.call_sid)
    queue_id = queue_id_for(session, queue_code)
    if queue_id is None:
        log.warning("no phone queue %r: call %s waits unrouted (set PHONE_QUEUE)", queue_code, raw.id)
    result = intake.ingest(session, phone.to_contact(call), inbound_raw_id=raw.id)
    interaction = session.get(Interaction, result.interaction_id)
    interaction.kind = InteractionKind.CALL
    case = session.get(Case, result.case_id)
    if result.is_new_case and case.queue_id is None:
        case.queue_id = queue_id
    _settle(raw, InboundStatus.INGESTED, "new_case" if result.is_new_case else "threaded", case.id)
    session.flush()
    log.info("call %s taken in as interaction %s on case %s", raw.id, interaction.id, case.id)
    return CallReceipt(raw.id, case.id, interaction.id, interaction.constituent_id, case.queue_id,
                       is_new=not result.is_duplicate)


def caller_address(number: str, region: str, name: str = "") -> ContactAddress:
    """A phone contact address from what an agent typed. Raises InvalidContact for a number that cannot be one."""
    return ContactAddress(ContactKind.PHONE, phone.e164(number, region), name.strip()[:200])


def find_caller(session: Session, address: ContactAddress) -> Constituent | None:
    """The constituent whose contact point is `address`, following merges; None when nobody has it."""
    point = session.execute(select(ContactPoint).where(ContactPoint.kind == address.kind,
                                                       ContactPoint.value == address.value)).scalar_one_or_none()
    return None if point is None else identity.current(session, point.constituent)


def log_call(session: Session, *, caller: ContactAddress | None, author_id: int, direction: Direction,
             queue_code: str | None, case_id: int | None = None) -> CallReceipt:
    """Record a call an agent took or made without the webhook, on `case_id` or on a new case of the phone queue.

    Raises CallError when `case_id` is not an open case of the caller. Flushes; the caller assigns a new
    case to the agent (routing) and commits.
    """
    target = session.get(Case, case_id) if case_id is not None else None
    contact = NormalizedContact(channel=Channel.PHONE, sender=caller, subject="Phone call", body_text="",
                                external_id=phone.external_id(f"manual-{uuid.uuid4().hex}"),
                                case_reference=target.reference if target is not None else None,
                                meta={"manual": True, "state": "ended"})
    if target is not None:
        owner = find_caller(session, caller) if caller else None
        if not target.is_open or owner is None or target.constituent_id != owner.id:
            raise CallError("the case is not an open case of this caller")
    result = intake.ingest(session, contact, known_new=True)
    interaction = session.get(Interaction, result.interaction_id)
    interaction.kind, interaction.direction, interaction.author_id = InteractionKind.CALL, direction, author_id
    case = session.get(Case, result.case_id)
    if result.is_new_case:
        # The agent handled the call already: the case is theirs, and holds no phone slot (the call is over).
        case.queue_id = queue_id_for(session, queue_code)
        case.assignee_id, case.status = author_id, CaseStatus.ASSIGNED
    session.flush()
    return CallReceipt(0, case.id, interaction.id, interaction.constituent_id, case.queue_id,
                       is_new=result.is_new_case)


def call_or_error(session: Session, call_id: int) -> Interaction:
    """The call interaction `call_id`. Raises CallError when there is none."""
    call = session.get(Interaction, call_id)
    if call is None or call.kind is not InteractionKind.CALL:
        raise CallError(f"no call {call_id}")
    return call


def latest_call(session: Session, case_id: int) -> Interaction | None:
    """The most recent call on a case (the one a screen pop is about), or None."""
    return session.execute(select(Interaction).where(Interaction.case_id == case_id,
                                                     Interaction.kind == InteractionKind.CALL)
                           .order_by(Interaction.occurred_at.desc(), Interaction.id.desc()).limit(1)
                           ).scalar_one_or_none()


def open_cases_of(session: Session, constituent_id: int) -> list[Case]:
    """The constituent's open cases, most recently active first (the caller filters by visibility)."""
    return list(session.execute(select(Case).where(Case.constituent_id == constituent_id,
                                                   Case.status.in_(OPEN_STATUSES))
                                .order_by(Case.last_activity_at.desc())).scalars())


def identify_caller(session: Session, call_id: int, caller: ContactAddress) -> Constituent:
    """Attach an unknown caller (number withheld) to a constituent found or created by `caller`. Flushes."""
    call = call_or_error(session, call_id)
    constituent, point = intake.find_or_create_constituent(session, caller)
    call.constituent, call.contact_point = constituent, point
    if call.case.constituent_id is None:
        call.case.constituent = constituent
    session.flush()
    return constituent


def save_notes(session: Session, call_id: int, *, author_id: int, notes: str, outcome: CallOutcome,
               duration_seconds: int | None, case_id: int | None = None, caller_name: str = "") -> Filed:
    """Save the agent's notes on a call, and file it on `case_id` (an open case of the caller) if given.

    A call moved off its own case leaves that case empty: `Filed.emptied_case_id` names it, for the caller
    to resolve. Raises CallError for a case that is not an open case of the same caller. Flushes.
    """
    call = call_or_error(session, call_id)
    if duration_seconds is not None and duration_seconds < 0:
        raise CallError("a call cannot last less than nothing")
    call.body_text, call.author_id = notes, author_id
    call.meta = {**call.meta, "state": "ended", "outcome": outcome.value, "duration_seconds": duration_seconds}
    if caller_name.strip() and call.constituent is not None and not call.constituent.display_name:
        call.constituent.display_name = caller_name.strip()[:200]
    emptied = None
    if case_id is not None and case_id != call.case_id:
        target = session.get(Case, case_id)
        if target is None or not target.is_open or target.constituent_id != call.constituent_id \
                or call.constituent_id is None:
            raise CallError("the case is not an open case of this caller")
        previous = call.case_id
        call.case_id, target.last_activity_at = target.id, utcnow()
        session.flush()
        left = session.execute(select(func.count(Interaction.id)).where(Interaction.case_id == previous)).scalar_one()
        emptied = previous if left == 0 else None
    session.flush()
    return Filed(call.case_id, emptied)

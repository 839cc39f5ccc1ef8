"""Email intake: a parsed message becomes an interaction on the right case, or is set aside.

Order of threading: In-Reply-To/References against the Message-IDs of every stored interaction (inbound and
outbound), then a case reference in the subject or in a plus-addressed recipient, then a new case.
Auto-replies never open a case (they join a case they answer, without reopening it); bounces never open a
case, mark the failing address and the outbound message that bounced.
"""
import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from channels import intake, storage
from channels.base import ContactAddress, NormalizedContact
from channels.email import ParsedEmail, parse_message
from channels.inbound import Deferred, Outcome, OutcomeKind
from channels.webhooks import to_message
from channels.settings import current as settings
from models import (
    Attachment,
    Case,
    Channel,
    ContactKind,
    ContactPoint,
    DeliveryStatus,
    Direction,
    InboundRaw,
    InboundStatus,
    Interaction,
    InteractionKind,
    utcnow,
)

log = logging.getLogger(__name__)

REFERENCE = re.compile(r"\b(C-\d{4}-\d{6})\b")
# A sender's clock may be wrong; a date further off than this is replaced by the time of receipt.
PLAUSIBLE_SKEW = timedelta(days=2)
# A reply waits this many times for the message it answers; then it is taken in anyway.
MAX_DEFERRALS = 20


def find_reference(parsed: ParsedEmail, service_address: str) -> str | None:
    """A case reference in the subject, or in a plus-address of the service (`help+C-2026-000123@...`)."""
    found = REFERENCE.search(parsed.subject or "")
    if found:
        return found.group(1)
    local, _, domain = service_address.lower().partition("@")
    for address in (*parsed.recipients, *parsed.to, *parsed.cc):
        a_local, _, a_domain = address.lower().partition("@")
        base, plus, tag = a_local.partition("+")
        if plus and base == local and a_domain == domain and REFERENCE.fullmatch(tag.upper()):
            return tag.upper()
    return None


def message_key(parsed: ParsedEmail, raw: bytes) -> str:
    """The Message-ID (without angle brackets, as every stored id), or a stable stand-in made from the bytes."""
    return parsed.message_id or f"sha256.{hashlib.sha256(raw).hexdigest()}@casework.invalid"


def occurred_at(parsed: ParsedEmail, received: datetime) -> datetime:
    if parsed.date is None:
        return received
    sent = datetime.fromisoformat(parsed.date) if isinstance(parsed.date, str) else parsed.date
    return sent if abs(sent - received) <= PLAUSIBLE_SKEW else received


@dataclass(frozen=True)
class Prepared:
    """A payload parsed ahead of the write transaction (parsing is the CPU-heavy part; writers queue)."""

    parsed: ParsedEmail | None
    message: bytes
    error: Exception | None = None


def prepare(source: str, content_type: str, payload: bytes) -> Prepared:
    """Turn a stored payload into a parsed message. Pure; a payload that cannot be read keeps its error."""
    try:
        message = to_message(source, content_type, payload)
    except Exception as exc:  # noqa: BLE001  (reported when the payload is taken: it is marked FAILED)
        return Prepared(None, payload, exc)
    return Prepared(parse_message(message), message)


def likely_new_cases(prepared: Iterable[Prepared]) -> int:
    """How many of `prepared` look like new requests: readable, neither a bounce nor an auto-reply, and no
    sign of a thread (no In-Reply-To, References or quoted case reference). A guess for reserving case
    references ahead (see `models.reference`); nothing relies on it being right. Pure."""
    service_address = settings().service_address
    return sum(1 for ready in prepared
               if ready.parsed is not None and not (ready.parsed.is_bounce or ready.parsed.is_auto_reply)
               and not ready.parsed.in_reply_to and not ready.parsed.references
               and find_reference(ready.parsed, service_address) is None)


def ingest_message(session: Session, raw: InboundRaw, prepared: Prepared) -> Outcome:
    """Take a prepared message in: a duplicate, a bounce, an auto-reply, or an interaction on a case. Flushes.

    Raises Deferred when it answers a message that is stored but not taken in yet (they arrived out of
    order, or another worker has it), so that replies never open a case of their own by a race.
    """
    if prepared.error is not None:
        raise prepared.error
    parsed, message = prepared.parsed, prepared.message
    key = message_key(parsed, message)
    existing = intake.existing(session, Channel.EMAIL, key)        # (id, case_id): no ORM object needed
    if existing is not None:
        return Outcome(OutcomeKind.DUPLICATE, raw.id, existing.case_id, existing.id, key)
    if parsed.is_bounce:
        return _take_bounce(session, raw, parsed, key)
    contact = _contact(parsed, key, occurred_at(parsed, raw.received_at))
    if parsed.is_auto_reply:
        return _take_auto_reply(session, raw, parsed, contact)
    result = intake.ingest(session, contact, inbound_raw_id=raw.id, known_new=True,
                           target=_thread_or_wait(session, raw, contact))
    _keep_attachments(session, result.interaction_id, parsed)
    kind = OutcomeKind.NEW_CASE if result.is_new_case else OutcomeKind.THREADED
    return Outcome(kind, raw.id, result.case_id, result.interaction_id, key, reopened=result.reopened,
                   sender=contact.sender.value if contact.sender else None)


def _thread_or_wait(session: Session, raw: InboundRaw, contact: NormalizedContact) -> Case | None:
    """The case the message answers (`intake.thread_target`); Deferred when it has none yet but answers a
    stored message not taken in yet (up to MAX_DEFERRALS times). Each statement sees what other workers
    committed before it ran (PostgreSQL's READ COMMITTED): a parent found taken in has its case visible."""
    case = intake.thread_target(session, contact)
    if case is not None or not contact.in_reply_to or raw.attempts >= MAX_DEFERRALS:
        return case
    parent = session.execute(select(InboundRaw.id).where(
        InboundRaw.message_id.in_(contact.in_reply_to), InboundRaw.status == InboundStatus.RECEIVED,
        InboundRaw.id != raw.id).limit(1)).scalar_one_or_none()
    if parent is not None:
        raise Deferred(f"waits for inbound {parent}, the message it answers")
    return intake.thread_target(session, contact)      # the parent may have been taken in since the first look


def _interaction_by_message_id(session: Session, message_id: str) -> Interaction | None:
    return session.execute(
        select(Interaction).where(Interaction.channel == Channel.EMAIL, Interaction.external_id == message_id)
    ).scalar_one_or_none()


def _contact(parsed: ParsedEmail, key: str, at: datetime) -> NormalizedContact:
    sender = None
    if parsed.from_email:
        sender = ContactAddress(ContactKind.EMAIL, parsed.from_email.lower(), parsed.from_name or "")
    threads = [m for m in (parsed.in_reply_to, *reversed(parsed.references)) if m]
    return NormalizedContact(
        channel=Channel.EMAIL, sender=sender, subject=parsed.subject or "", external_id=key,
        body_text=parsed.body_text or "", body_html=parsed.body_html, occurred_at=at,
        language=parsed.language, case_reference=find_reference(parsed, settings().service_address),
        in_reply_to=list(dict.fromkeys(threads)),
        meta={"to": parsed.to, "cc": parsed.cc, "reply_to": parsed.reply_to, "reply_text": parsed.reply_text,
              "defects": parsed.defects, "in_reply_to": parsed.in_reply_to, "references": parsed.references},
    )


def _take_auto_reply(session: Session, raw: InboundRaw, parsed: ParsedEmail, contact: NormalizedContact) -> Outcome:
    case = intake.thread_target(session, contact)
    if case is None:
        return Outcome(OutcomeKind.AUTO_REPLY, raw.id, message_id=contact.external_id)
    interaction = _side_message(session, case, raw, contact, {"auto_reply": True})
    return Outcome(OutcomeKind.AUTO_REPLY, raw.id, case.id, interaction.id, contact.external_id)


def _take_bounce(session: Session, raw: InboundRaw, parsed: ParsedEmail, key: str) -> Outcome:
    bounced = _interaction_by_message_id(session, parsed.bounce_message_id) if parsed.bounce_message_id else None
    _mark_failing(session, parsed.bounce_recipients, parsed.subject or "delivery failed")
    if bounced is None:
        return Outcome(OutcomeKind.BOUNCE, raw.id, message_id=key)
    if bounced.direction is Direction.OUTBOUND:
        bounced.delivery_status = DeliveryStatus.FAILED
    contact = _contact(parsed, key, raw.received_at)
    case = session.get(Case, bounced.case_id)
    interaction = _side_message(session, case, raw, contact,
                                {"bounce": True, "failed_recipients": parsed.bounce_recipients,
                                 "bounced_interaction_id": bounced.id})
    return Outcome(OutcomeKind.BOUNCE, raw.id, case.id, interaction.id, key)


def _mark_failing(session: Session, addresses: list[str], reason: str) -> None:
    if not addresses:
        return
    points = session.execute(select(ContactPoint).where(
        ContactPoint.kind == ContactKind.EMAIL, ContactPoint.value.in_([a.lower() for a in addresses]))).scalars()
    for point in points:
        point.is_failing, point.failing_reason = True, reason[:500]


def _side_message(session: Session, case: Case, raw: InboundRaw, contact: NormalizedContact,
                  meta: dict) -> Interaction:
    """An inbound message stored on `case` that neither reopens it nor counts as the constituent's answer."""
    interaction = Interaction(
        case=case, constituent_id=case.constituent_id, kind=InteractionKind.MESSAGE, channel=Channel.EMAIL,
        direction=Direction.INBOUND, subject=contact.subject[:500], body_text=contact.body_text,
        body_html=contact.body_html, external_id=contact.external_id, meta=contact.meta | meta,
        inbound_raw_id=raw.id, occurred_at=contact.occurred_at or utcnow(),
    )
    session.add(interaction)
    session.flush()
    return interaction


def write_attachments(prepared: Iterable[Prepared]) -> None:
    """Write the attachment files of `prepared` (durably; see `storage.store`) ahead of the write transaction,
    so that no fsync happens while the database's write lock is held. Idempotent: the files are named by
    their SHA-256, and one that is there already is left alone. A batch that fails after this leaves files
    without rows (the retry reuses them), never a row without its file. Raises OSError."""
    root = settings().attachment_dir
    for ready in prepared:
        for part in ready.parsed.attachments if ready.parsed is not None else ():
            storage.store(root, part.data)


def _keep_attachments(session: Session, interaction_id: int, parsed: ParsedEmail) -> None:
    root = settings().attachment_dir
    for part in parsed.attachments:
        # Written ahead by `write_attachments` as a rule; a payload parsed only now is written here.
        digest = part.sha256 if storage.path_for(root, part.sha256).exists() else storage.store(root, part.data)
        session.add(Attachment(interaction_id=interaction_id, filename=storage.safe_filename(part.filename or ""),
                               content_type=(part.content_type or "application/octet-stream")[:255],
                               size=len(part.data), sha256=digest, is_inline=part.inline,
                               content_id=(part.content_id or None) and part.content_id[:255]))
    session.flush()

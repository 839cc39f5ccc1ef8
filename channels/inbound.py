"""Raw inbound payloads: stored durably first, then processed into cases; failures stay visible and retriable.

Every inbound path (SMTP, IMAP, import, webhooks) calls `store_raw` and commits before it acknowledges the
sender. Processing happens later in a worker (`channels.jobs`), one savepoint per payload: a payload that
fails is marked FAILED with its error and the rest of the batch goes on; a worker that dies leaves its
payloads RECEIVED, and `stale` finds them for a retry. Processing is idempotent (Message-ID / external id).
"""
import enum
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, defer

from channels.email import peek_message_id
from models import Channel, InboundRaw, InboundStatus, utcnow

log = logging.getLogger(__name__)


class OutcomeKind(enum.StrEnum):
    NEW_CASE = "new_case"
    THREADED = "threaded"
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"
    DUPLICATE = "duplicate"
    FAILED = "failed"
    DEFERRED = "deferred"


class Deferred(Exception):
    """The payload must wait: e.g. it answers a message that is stored but not taken in yet."""


@dataclass(frozen=True)
class Outcome:
    """What became of one raw payload."""

    kind: OutcomeKind
    raw_id: int
    case_id: int | None = None
    interaction_id: int | None = None
    message_id: str | None = None
    error: str | None = None
    reopened: bool = False
    sender: str | None = None          # for the acknowledgement throttle; never logged
    source: str = ""                   # smtp, import, ...: imported history is never acknowledged

    @property
    def opened_case(self) -> bool:
        return self.kind is OutcomeKind.NEW_CASE


Processor = Callable[[Session, InboundRaw], Outcome]


def content_key(source: str, payload: bytes) -> str:
    """An idempotency key for payloads that carry no id of their own: the same bytes twice are one."""
    return f"{source}:{hashlib.sha256(payload).hexdigest()}"


def store_raw(session: Session, *, channel: Channel, source: str, payload: bytes,
              idempotency_key: str | None = None, content_type: str = "message/rfc822") -> tuple[InboundRaw, bool]:
    """Keep `payload` as an InboundRaw row unless its key is known; returns (row, created). Flushes."""
    key = idempotency_key or content_key(source, payload)
    existing = session.execute(select(InboundRaw).where(InboundRaw.idempotency_key == key)).scalar_one_or_none()
    if existing is not None:
        return existing, False
    message_id = peek_message_id(payload) if content_type == "message/rfc822" else None
    raw = InboundRaw(channel=channel, source=source[:64], idempotency_key=key[:255], payload=payload,
                     content_type=content_type[:255], message_id=message_id)
    try:
        with session.begin_nested():
            session.add(raw)
    except IntegrityError:                 # the same payload arrived twice at once
        return session.execute(select(InboundRaw).where(InboundRaw.idempotency_key == key)).scalar_one(), False
    return raw, True


def process(session: Session, raw_id: int, processor: Processor) -> Outcome | None:
    """Run `processor` on a RECEIVED or FAILED payload inside a savepoint. Flushes; the caller commits.

    Returns None when the payload is gone or was processed already (a retry is a no-op). An exception in
    the processor marks the payload FAILED with the error and returns a FAILED outcome.
    """
    # The payload itself is loaded only if the processor asks for it (the job has usually parsed it already).
    raw = session.get(InboundRaw, raw_id, with_for_update=True, options=[defer(InboundRaw.payload)])
    if raw is None or raw.status not in (InboundStatus.RECEIVED, InboundStatus.FAILED):
        return None
    outcome = replace(_attempt(session, raw, processor), source=raw.source)
    raw.attempts += 1
    if outcome.kind is OutcomeKind.DEFERRED:
        return outcome                              # still RECEIVED: the job enqueues it again
    if outcome.kind is OutcomeKind.FAILED:
        raw.status, raw.error = InboundStatus.FAILED, outcome.error
    else:
        raw.status = InboundStatus.IGNORED if outcome.case_id is None else InboundStatus.INGESTED
        raw.error, raw.case_id, raw.message_id = None, outcome.case_id, outcome.message_id
    raw.outcome, raw.processed_at = outcome.kind.value, utcnow()
    session.flush()
    return outcome


def _attempt(session: Session, raw: InboundRaw, processor: Processor) -> Outcome:
    for attempt in (1, 2):
        try:
            with session.begin_nested():
                return processor(session, raw)
        except Deferred as wait:
            return Outcome(OutcomeKind.DEFERRED, raw.id, error=str(wait))
        except IntegrityError:
            # Another worker created the same contact point or interaction at the same moment: once more
            # sees its row and threads onto it (or finds the duplicate).
            if attempt == 2:
                log.exception("inbound %s failed twice on a conflict", raw.id)
                return Outcome(OutcomeKind.FAILED, raw.id, error="conflicting concurrent write; retry")
        except Exception as exc:  # noqa: BLE001  (any failure must leave the payload visible, not lost)
            log.exception("inbound %s failed", raw.id)
            return Outcome(OutcomeKind.FAILED, raw.id, error=f"{type(exc).__name__}: {exc}"[:2000])
    raise AssertionError("unreachable")


def stale(session: Session, older_than: timedelta, now: datetime | None = None) -> list[int]:
    """Ids of payloads still RECEIVED after `older_than`: their worker died or their job was lost."""
    cutoff = (now or utcnow()) - older_than
    return list(session.execute(
        select(InboundRaw.id).where(InboundRaw.status == InboundStatus.RECEIVED, InboundRaw.received_at < cutoff)
        .order_by(InboundRaw.id)
    ).scalars())


def failed(session: Session, limit: int = 200) -> list[InboundRaw]:
    """Payloads that failed, newest first, for the admins' console."""
    return list(session.execute(
        select(InboundRaw).where(InboundRaw.status == InboundStatus.FAILED)
        .order_by(InboundRaw.received_at.desc()).limit(limit)
    ).scalars())

"""Raw inbound payloads: stored durably first, then processed into cases; failures stay visible and retriable.

Every inbound path (SMTP, IMAP, import, webhooks) calls `store_raw` and commits before it acknowledges the
sender. Processing happens later in a worker (`channels.jobs`), a batch per transaction, each payload as if in
its own savepoint (see `process_batch`): a payload that fails is marked FAILED with its error and the rest of
the batch goes on; a worker that dies leaves its payloads RECEIVED, and `stale` finds them for a retry.
Processing is idempotent (Message-ID / external id).
"""
import enum
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, defer

from channels.email import peek_message_id
from models import Channel, InboundRaw, InboundStatus, utcnow
from models.db import execute_core

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
    """Keep `payload` as an InboundRaw row unless its key is known; returns (row, created). Flushes.

    One INSERT ... ON CONFLICT DO NOTHING: the same payload arriving twice, even at the same moment, is one
    row, and the caller's transaction never sees an error (no savepoint needed).
    """
    key = (idempotency_key or content_key(source, payload))[:255]
    message_id = peek_message_id(payload) if content_type == "message/rfc822" else None
    insert_new = _INSERTS[session.get_bind().dialect.name](InboundRaw).on_conflict_do_nothing(
        index_elements=[InboundRaw.idempotency_key]).returning(InboundRaw.id)
    raw_id = execute_core(session, insert_new, {
        "channel": channel, "source": source[:64], "idempotency_key": key, "payload": payload,
        "content_type": content_type[:255], "message_id": message_id}).scalar()
    if raw_id is None:
        return session.execute(select(InboundRaw).where(InboundRaw.idempotency_key == key)
                               .options(defer(InboundRaw.payload))).scalar_one(), False
    return session.get(InboundRaw, raw_id, options=[defer(InboundRaw.payload)]), True


_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def process(session: Session, raw_id: int, processor: Processor) -> Outcome | None:
    """Run `processor` on one RECEIVED or FAILED payload inside a savepoint (see `process_batch`). Flushes.

    Returns None when the payload is gone or was processed already (a retry is a no-op).
    """
    outcomes = process_batch(session, [raw_id], processor)
    return outcomes[0] if outcomes else None


# What processing changes on a payload's row, written as one Core statement (no unit of work).
_MARK = (update(InboundRaw).where(InboundRaw.id == bindparam("b_id"))
         .values(status=bindparam("b_status"), error=bindparam("b_error"), case_id=bindparam("b_case"),
                 message_id=bindparam("b_message"), outcome=bindparam("b_outcome"),
                 processed_at=bindparam("b_processed"), attempts=bindparam("b_attempts")))


def process_batch(session: Session, raw_ids: list[int], processor: Processor) -> list[Outcome]:
    """Run `processor` on each RECEIVED or FAILED payload of `raw_ids`, as if each had its own savepoint.

    The payloads are locked (and re-checked) in one statement, in id order; payloads that are gone or were
    processed already are skipped, so a retried batch is a no-op. An exception in the processor marks that
    payload FAILED with the error and the others go on; a DEFERRED payload stays RECEIVED. Flushes; the
    caller commits once, so a worker that dies before the commit leaves every payload of the batch RECEIVED
    for a retry. Returns the outcomes in id order.

    The common case costs one savepoint for the whole batch; the first payload that raises anything (a
    failure, a wait, a conflict with another worker) rolls the batch back to it, and the batch runs again
    with one savepoint per payload, where each outcome is settled as described.
    """
    # The payload itself is loaded only if the processor asks for it (the job has usually parsed it already).
    raws = session.execute(
        select(InboundRaw).where(InboundRaw.id.in_(raw_ids),
                                 InboundRaw.status.in_((InboundStatus.RECEIVED, InboundStatus.FAILED)))
        .options(defer(InboundRaw.payload)).order_by(InboundRaw.id).with_for_update()
    ).scalars().all()
    try:
        with session.begin_nested():
            return [_take(session, raw, processor, _straight) for raw in raws]
    except _Stumbled as stumble:
        log.info("inbound %s raised %s: its batch runs again, one savepoint a payload", stumble.raw_id, stumble.kind)
    return [_take(session, raw, processor, _attempt) for raw in raws]


class _Stumbled(Exception):
    """A payload of a batch raised: the batch goes the careful way (see `process_batch`)."""

    def __init__(self, raw_id: int, kind: str):
        super().__init__(raw_id, kind)
        self.raw_id, self.kind = raw_id, kind


def _take(session: Session, raw: InboundRaw, processor: Processor,
          step: Callable[[Session, InboundRaw, Processor], Outcome]) -> Outcome:
    outcome = replace(step(session, raw, processor), source=raw.source)
    # At once, not at the end: a later payload of the batch that answers this one sees it taken in.
    session.connection().execute(_MARK, _mark(raw, outcome, utcnow()))
    session.expire(raw)                 # written behind the ORM's back
    return outcome


def _straight(session: Session, raw: InboundRaw, processor: Processor) -> Outcome:
    try:
        return processor(session, raw)
    except Exception as exc:  # noqa: BLE001  (settled by `_attempt` when the batch runs again)
        raise _Stumbled(raw.id, type(exc).__name__) from exc


def _mark(raw: InboundRaw, outcome: Outcome, now: datetime) -> dict:
    """The row values of `raw` after `outcome` (DEFERRED: still RECEIVED, one more attempt)."""
    values = {"b_id": raw.id, "b_status": raw.status, "b_error": raw.error, "b_case": raw.case_id,
              "b_message": raw.message_id, "b_outcome": raw.outcome, "b_processed": raw.processed_at,
              "b_attempts": raw.attempts + 1}
    if outcome.kind is OutcomeKind.DEFERRED:
        return values
    if outcome.kind is OutcomeKind.FAILED:
        values |= {"b_status": InboundStatus.FAILED, "b_error": outcome.error}
    else:
        values |= {"b_status": InboundStatus.IGNORED if outcome.case_id is None else InboundStatus.INGESTED,
                   "b_error": None, "b_case": outcome.case_id, "b_message": outcome.message_id}
    return values | {"b_outcome": outcome.kind.value, "b_processed": now}


def _attempt(session: Session, raw: InboundRaw, processor: Processor) -> Outcome:
    """One payload in its own savepoint: its outcome, FAILED (with the error) or DEFERRED included."""
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
    """Payloads that failed and are still held, newest first, for the admins' console. One that retention
    emptied is left out: there is nothing in it to read or to try again."""
    return list(session.execute(
        select(InboundRaw).where(InboundRaw.status == InboundStatus.FAILED, InboundRaw.purged_at.is_(None))
        .order_by(InboundRaw.received_at.desc()).limit(limit)
    ).scalars())

"""RQ jobs of the `channels` queue: poll IMAP mailboxes, ingest stored payloads, acknowledge new cases, send email.

Jobs take ids, open their own unit of work and announce (signals, routing, further jobs) only after commit.
All of them are idempotent: a retry re-checks state and does nothing twice.
"""
import hashlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from datetime import timedelta

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry, get_current_job
from rq.exceptions import DuplicateJobError
from rq.job import JobStatus
from sqlalchemy import select

import routing
from channels import imap, inbound, mail, outbound, signals
from channels.importer import SOURCE as IMPORT_SOURCE
from channels.inbound import Outcome, OutcomeKind
from channels.settings import current as settings
from models import (
    Case,
    DeliveryStatus,
    InboundRaw,
    InboundStatus,
    Interaction,
    get_engine,
    reading,
    transaction,
    utcnow,
)
from models.db import serialises_writers
from models.reference import ReferenceBlock, reserve_references, use_block

log = logging.getLogger(__name__)

CHANNELS_QUEUE = "channels"
BATCH_SIZE = 50
SEND_RETRY = Retry(max=5, interval=[10, 60, 300, 900, 3600])


# ---- enqueueing ------------------------------------------------------------------------------------------


def _queue(redis: Redis) -> Queue:
    return Queue(CHANNELS_QUEUE, connection=redis)


def request_ingest(redis: Redis, raw_ids: Iterable[int], batch_size: int = BATCH_SIZE) -> list:
    """Enqueue ingestion of stored payloads, `batch_size` to a job. Call after they are committed."""
    ids = list(raw_ids)
    batches = [ids[i:i + batch_size] for i in range(0, len(ids), batch_size)]
    return _queue(redis).enqueue_many([
        Queue.prepare_data(ingest_raw, (batch,), timeout=300, retry=Retry(max=3, interval=[5, 30, 120]))
        for batch in batches
    ])


def request_send(redis: Redis, interaction_id: int):
    """Enqueue delivery of a QUEUED outbound email. Call after it is committed."""
    return _queue(redis).enqueue(send_email, interaction_id, job_timeout=120, retry=SEND_RETRY)


def _connection() -> Redis:
    return get_current_job().connection


class Backlog:
    """Enqueues that found Redis away, kept in this process and tried again every `interval` seconds.

    The intake paths commit first and enqueue after; when Redis is restarting, the contact is safe in the
    database and only the announcement waits here. A process that dies with a backlog loses only the
    announcements: a starting worker enqueues stored payloads again (`request_recovery`).
    """

    def __init__(self, interval: float = 2.0):
        self._interval = interval
        self._waiting: deque[tuple[Callable[[], Redis], Callable[[Redis], object]]] = deque()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def run(self, redis_factory: Callable[[], Redis], action: Callable[[Redis], object]) -> bool:
        """`action(redis)` now, or later when Redis refuses; returns whether it ran now. Never raises RedisError."""
        try:
            action(redis_factory())
            return True
        except RedisError:
            log.warning("redis unavailable: an enqueue waits in this process's backlog")
        with self._lock:
            self._waiting.append((redis_factory, action))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._drain, name="enqueue-backlog", daemon=True)
                self._thread.start()
        return False

    def _drain(self) -> None:
        while True:
            time.sleep(self._interval)
            with self._lock:
                if self._flush():
                    self._thread = None
                    return

    def _flush(self) -> bool:
        """Run the waiting actions in order until Redis refuses again; returns whether none is left."""
        while self._waiting:
            redis_factory, action = self._waiting[0]
            try:
                action(redis_factory())
            except RedisError:
                return False                      # still away: keep the order, wait another interval
            except Exception:  # noqa: BLE001  (a broken action must not block the ones behind it)
                log.exception("a backlogged enqueue failed; dropped")
            self._waiting.popleft()
        log.warning("redis answers again: the enqueue backlog is empty")
        return True


# ---- IMAP polling ---------------------------------------------------------------------------------------
# One chain of jobs polls the mailboxes: each link schedules the next under the other of two fixed ids, since
# RQ deletes a finished job's key (result_ttl=0) after the job returns and would take a same-id successor
# with it. A unique id per slot keeps a second chain from starting.

POLL_JOB_IDS = ("casework-poll-mailboxes-a", "casework-poll-mailboxes-b")
POLL_TIMEOUT = 900
_LIVE = {JobStatus.CREATED, JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED}


def schedule_polling(redis: Redis) -> bool:
    """Start the chain of `poll_mailboxes` jobs now, unless it runs already or no mailbox is configured.

    Called when a worker starts. Returns whether it started a chain. Idempotent.
    """
    if not settings().mailboxes:
        return False
    queue = _queue(redis)
    if any(_is_live(queue, job_id) for job_id in POLL_JOB_IDS):
        return False
    return _schedule_poll(queue, POLL_JOB_IDS[0], delay_seconds=0)


def poll_mailboxes() -> dict[str, int | str]:
    """Poll every configured mailbox, then schedule the next link of the chain IMAP_POLL_SECONDS later.

    A mailbox that fails is logged and left for the next poll; the others go on. Returns, per mailbox, how
    many messages it stored or the kind of error. Idempotent: a message is stored once (see channels.imap).
    """
    redis = _connection()
    try:
        results = imap.poll_all(settings().mailboxes, redis)
    finally:
        _continue_polling(redis, get_current_job().id)
    return {r.mailbox: r.error or len(r.stored) for r in results}


def _continue_polling(redis: Redis, job_id: str) -> None:
    if job_id not in POLL_JOB_IDS or not settings().mailboxes:
        return                       # a one-off run, or polling was switched off: no next link
    following = POLL_JOB_IDS[1 - POLL_JOB_IDS.index(job_id)]
    # Not below 5 seconds: the successor must not run before this job's key is gone.
    _schedule_poll(_queue(redis), following, delay_seconds=max(settings().imap_poll_seconds, 5))


def _is_live(queue: Queue, job_id: str) -> bool:
    job = queue.fetch_job(job_id)
    return job is not None and job.get_status(refresh=False) in _LIVE


def _schedule_poll(queue: Queue, job_id: str, delay_seconds: int) -> bool:
    options = {"job_id": job_id, "unique": True, "job_timeout": POLL_TIMEOUT, "result_ttl": 0,
               "retry": Retry(max=2, interval=[30, 120])}
    for _attempt in (1, 2):
        try:
            if delay_seconds:
                queue.enqueue_in(timedelta(seconds=delay_seconds), poll_mailboxes, **options)
            else:
                queue.enqueue(poll_mailboxes, **options)
            return True
        except DuplicateJobError:
            job = queue.fetch_job(job_id)
            if job is not None and job.get_status(refresh=False) in _LIVE:
                return False         # the chain goes on already
            if job is not None:
                job.delete()         # a failed or stopped link left behind: it must not end the chain
    return False


# ---- ingest ---------------------------------------------------------------------------------------------


def ingest_raw(raw_ids: list[int]) -> dict[str, int]:
    """Ingest stored payloads; returns counts by outcome. Idempotent: processed payloads are skipped.

    Payloads are parsed and their attachment files written first, outside the write transaction, so that
    workers do that in parallel and hold the database's write lock only for the writes. The batch's case
    references are reserved in one step: on PostgreSQL in a short transaction of its own, so that the year's
    counter row is not locked for the whole batch; where writers run one at a time (SQLite), inside the
    batch's own transaction, which saves a commit.
    """
    prepared = _prepare(raw_ids)
    mail.write_attachments(prepared.values())
    likely_new = mail.likely_new_cases(prepared.values())
    serialised = serialises_writers(get_engine())
    block = None if serialised else _reserve_references(likely_new)
    with transaction() as session:
        if serialised and likely_new > 1:
            block = reserve_references(session, utcnow().year, likely_new)
        with use_block(session, block):
            outcomes = inbound.process_batch(session, raw_ids, _processor(prepared))
    redis = _connection()
    announce(redis, outcomes)
    deferred = [o.raw_id for o in outcomes if o.kind is OutcomeKind.DEFERRED]
    if deferred:
        request_ingest(redis, deferred)
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.kind.value] = counts.get(outcome.kind.value, 0) + 1
    log.info("ingested %s payloads: %s", len(raw_ids), counts)
    return counts


def _reserve_references(count: int) -> ReferenceBlock | None:
    # A transaction of its own; a lone case takes its number directly.
    if count < 2:
        return None
    with transaction() as session:
        return reserve_references(session, utcnow().year, count)


def _prepare(raw_ids: list[int]) -> dict[int, mail.Prepared]:
    with reading() as session:
        rows = session.execute(select(InboundRaw.id, InboundRaw.source, InboundRaw.content_type, InboundRaw.payload)
                               .where(InboundRaw.id.in_(raw_ids),
                                      InboundRaw.status.in_((InboundStatus.RECEIVED, InboundStatus.FAILED)))).all()
    return {raw_id: mail.prepare(source, content_type, payload) for raw_id, source, content_type, payload in rows}


def _processor(prepared: dict[int, mail.Prepared]) -> inbound.Processor:
    def take(session, raw: InboundRaw) -> Outcome:
        ready = prepared.get(raw.id) or mail.prepare(raw.source, raw.content_type, raw.payload)
        return mail.ingest_message(session, raw, ready)

    return take


def announce(redis: Redis, outcomes: list[Outcome]) -> None:
    """After commit: tell the console, ask routing for the new and reopened cases (one job for the lot, see
    `routing.request_assignments`), set the SLA timers of the answered ones, and acknowledge new cases.
    Every enqueue goes to Redis in one pipeline."""
    routed, timed, to_acknowledge = [], [], []
    for outcome in outcomes:
        if outcome.case_id is None or outcome.kind in (OutcomeKind.DUPLICATE, OutcomeKind.FAILED,
                                                       OutcomeKind.DEFERRED):
            continue
        if outcome.opened_case:
            signals.case_opened.send(outcome.case_id)
            routed.append(outcome.case_id)
            if outcome.source != IMPORT_SOURCE and _first_acknowledgement_in_window(redis, outcome.sender):
                to_acknowledge.append(outcome.case_id)
        else:
            signals.interaction_added.send(outcome.case_id, interaction_id=outcome.interaction_id)
            # A reopened case is routed again; any answer may end a wait on the constituent (SLA timers).
            (routed if outcome.reopened else timed).append(outcome.case_id)
    if not (routed or timed or to_acknowledge):
        return
    pipeline = redis.pipeline()
    routing.request_assignments(redis, list(dict.fromkeys(routed)), timed, pipeline=pipeline)
    if to_acknowledge:
        _queue(redis).enqueue_many([Queue.prepare_data(acknowledge_cases, (to_acknowledge,), timeout=300,
                                                       retry=SEND_RETRY)], pipeline=pipeline)
    pipeline.execute()


def _first_acknowledgement_in_window(redis: Redis, sender: str | None) -> bool:
    """At most one acknowledgement per sender per window, so that two robots cannot loop on each other."""
    config = settings()
    if not config.acknowledge or not sender:
        return False
    key = "casework:ack:" + hashlib.sha256(sender.lower().encode()).hexdigest()
    return bool(redis.set(key, 1, nx=True, ex=config.acknowledgement_window_seconds))


def request_recovery(redis: Redis) -> int:
    """Enqueue again every payload still RECEIVED; returns how many. Called when a worker starts.

    A worker killed inside `ingest_raw` leaves its payloads RECEIVED and its job marked as running, which RQ
    gives up on only after the job's timeout; a payload stored while Redis was away has no job at all. Safe
    to repeat: a payload that another job takes in first is skipped (see `inbound.process`).
    """
    with reading() as session:
        ids = inbound.stale(session, timedelta(0))
    if ids:
        request_ingest(redis, ids)
        log.warning("%s stored payloads were waiting without a worker: enqueued again", len(ids))
    return len(ids)


# ---- outbound -------------------------------------------------------------------------------------------


def acknowledge_cases(case_ids: list[int]) -> None:
    """Write and send the acknowledgement of each new case that has none yet (one SMTP connection).

    A retry sends the acknowledgements an earlier try wrote but could not deliver, and writes no second one.
    """
    with transaction() as session:
        queued = []
        for case_id in case_ids:
            case = session.get(Case, case_id)
            if case is None:
                continue
            written = _acknowledgement(session, case_id)
            if written is not None:
                if written[1] is DeliveryStatus.QUEUED:
                    queued.append(written[0])
                continue
            try:
                queued.append(outbound.queue_acknowledgement(session, case).id)
            except outbound.NoEmailAddress:
                log.info("case %s has no email address to acknowledge", case_id)
    _send(queued)


def _acknowledgement(session, case_id: int) -> tuple[int, DeliveryStatus] | None:
    return session.execute(
        select(Interaction.id, Interaction.delivery_status).where(
            Interaction.case_id == case_id, Interaction.author_id.is_(None), Interaction.delivery_status.is_not(None))
        .limit(1)
    ).first()


def send_email(interaction_id: int) -> None:
    """Deliver one QUEUED outbound email; already sent is a no-op; the last failed try marks it FAILED."""
    _send([interaction_id])


def _send(interaction_ids: list[int]) -> None:
    if not interaction_ids:
        return
    with transaction() as session:
        pending = [i for i in (session.get(Interaction, x) for x in interaction_ids)
                   if i is not None and i.delivery_status is DeliveryStatus.QUEUED]
        ids, messages = [i.id for i in pending], [outbound.compose(i) for i in pending]
    if not messages:
        return
    delivered: list[int] = []
    try:
        outbound.deliver(messages, settings().smtp, on_sent=lambda n: delivered.append(ids[n]))
    except Exception:
        # What the server took before it failed is marked SENT, so that the retry does not send it again.
        _mark(delivered, DeliveryStatus.SENT)
        job = get_current_job()
        if job is None or not job.retries_left:
            _mark(ids, DeliveryStatus.FAILED)
        raise
    _mark(ids, DeliveryStatus.SENT)
    for interaction_id in ids:
        log.info("outbound email %s sent", interaction_id)


def _mark(interaction_ids: list[int], status: DeliveryStatus) -> None:
    with transaction() as session:
        for interaction in session.execute(select(Interaction).where(Interaction.id.in_(interaction_ids))).scalars():
            if interaction.delivery_status is DeliveryStatus.QUEUED:
                interaction.delivery_status = status

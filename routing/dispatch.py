"""After a routing transaction commits: announce its Effects (signals) and set its timers (RQ jobs).

Timers are RQ scheduled jobs (`enqueue_at`), fired by the scheduler of `flask worker`; nothing polls the
database. Each timer job re-checks the state it was set for, so a stale or doubled timer is harmless.
"""
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from redis import Redis
from redis.client import Pipeline
from rq import Queue, Retry
from sqlalchemy.exc import OperationalError

from models import transaction

from routing import settings, signals, sla_jobs
from routing.engine import Effects
from routing.timers import not_before

log = logging.getLogger(__name__)

ROUTING_QUEUE = "routing"
DEADLOCK = "40P01"           # PostgreSQL's deadlock_detected
_RETRY = Retry(max=3, interval=[1, 5, 30])
ASSIGN_RETRY = Retry(max=3, interval=[5, 30, 120])


def _queue(redis: Redis) -> Queue:
    return Queue(ROUTING_QUEUE, connection=redis)


def perform(redis: Redis, step: Callable[..., Effects], *args, attempts: int = 4) -> Effects:
    """Run one engine step as its own unit of work, then announce its effects. The boundary for jobs,
    socket handlers and commands. A deadlock the database broke is retried at once (see engine.py)."""
    for attempt in range(1, attempts + 1):
        try:
            with transaction() as session:
                effects = step(session, *args)
            break
        except OperationalError as error:
            if getattr(error.orig, "sqlstate", None) != DEADLOCK or attempt == attempts:
                raise
            log.info("routing step %s deadlocked, attempt %s", step.__name__, attempt)
    announce(redis, effects)
    return effects


def request_assignments(redis: Redis, case_ids: Sequence[int], timed: Sequence[int] = (),
                        pipeline: Pipeline | None = None) -> None:
    """Enqueue routing of the new or reopened cases `case_ids` as one job (see `engine.route_cases`), and
    setting the SLA timers of those and of `timed`, in one Redis round trip: what `request_assignment`
    does case by case, for an intake batch. With `pipeline`, only adds to it (the caller executes it).
    Call after the cases are committed."""
    pipe = pipeline if pipeline is not None else redis.pipeline()
    timers = [sla_jobs.timer_job(case_id) for case_id in dict.fromkeys([*case_ids, *timed])]
    if timers:
        Queue(sla_jobs.SLA_QUEUE, connection=redis).enqueue_many(timers, pipeline=pipe)
    if case_ids:
        _queue(redis).enqueue_many([Queue.prepare_data("routing.jobs.assign_cases", (list(case_ids),), timeout=60,
                                                       retry=ASSIGN_RETRY)], pipeline=pipe)
    if pipeline is None:
        pipe.execute()


def request_fill(redis: Redis, user_id: int) -> None:
    """Enqueue pulling waiting work for an agent with free slots."""
    _queue(redis).enqueue("routing.jobs.fill_agent", user_id, job_timeout=60, retry=_RETRY)


def request_recovery(redis: Redis) -> None:
    """Enqueue filling every available agent who has a free slot (a starting worker calls this): a routing
    job that a killed worker was running, or one lost while Redis was away, would otherwise leave its cases
    waiting until some agent's slot frees."""
    _queue(redis).enqueue("routing.jobs.fill_free_agents", job_timeout=600, retry=_RETRY)


def schedule_offline_check(redis: Redis, user_id: int, grace_seconds: float) -> None:
    """After `grace_seconds`, mark the agent offline unless a console of theirs is open again."""
    _queue(redis).enqueue_in(timedelta(seconds=grace_seconds), "routing.jobs.go_offline_if_disconnected",
                             user_id, job_timeout=30, retry=_RETRY)


def announce(redis: Redis, effects: Effects) -> None:
    """Send the signals of committed `effects` and schedule their follow-ups. Call after commit."""
    queue = _queue(redis)
    for case_id, user_id, queue_id in effects.assigned:
        signals.case_assigned.send(case_id, caseworker_id=user_id, queue_id=queue_id)
    for offer in effects.offered:
        queue.enqueue_at(not_before(offer.expires_at), "routing.jobs.expire_offer", offer.decision_id,
                         job_id=f"routing-expire-{offer.decision_id}", job_timeout=30, retry=_RETRY)
        signals.case_offered.send(offer.case_id, offer_id=offer.decision_id, caseworker_id=offer.user_id,
                                  expires_at=offer.expires_at.isoformat())
    for decision_id, case_id, user_id in effects.closed_offers:
        signals.offer_closed.send(case_id, offer_id=decision_id, caseworker_id=user_id)
    for case_id, queue_id, overflow_at in effects.waiting:
        queue.enqueue_at(not_before(overflow_at), "routing.jobs.overflow_case", case_id, queue_id,
                         job_id=f"routing-overflow-{case_id}-{queue_id}", job_timeout=30, retry=_RETRY)
    for user_id, presence, at in effects.presence:
        signals.presence_changed.send(user_id, presence=presence)
        _schedule_return(queue, user_id, presence, at)
    for user_id in sorted(effects.freed):
        request_fill(redis, user_id)
    for case_id in effects.resolved:
        signals.case_resolved.send(case_id)


def _schedule_return(queue: Queue, user_id: int, presence: str, at: datetime) -> None:
    delay = settings.current.return_unanswered_after_seconds
    if presence == "offline" and delay is not None:
        queue.enqueue_at(not_before(at + timedelta(seconds=delay)), "routing.jobs.return_unanswered", user_id,
                         at.isoformat(), job_timeout=60, retry=_RETRY)

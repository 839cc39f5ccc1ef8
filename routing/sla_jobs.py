"""SLA timers as RQ jobs: setting them, the warning and breach they fire, and the sweep that catches up.

Timers are RQ scheduled jobs (`enqueue_at`) fired by the scheduler of `flask worker`. Each carries the due
time it was set for and re-checks the case (routing/sla.py `fire`), so a timer made stale by a reply, a
wait on the constituent or a new priority does nothing; moving a due time just sets new timers. Job ids
name the case, clock, stage and due time, so setting the same timer twice leaves one.
"""
import logging
from datetime import datetime, timedelta

from redis import Redis
from rq import Queue, Retry, get_current_job

from models import SlaKind, SlaStage, reading, transaction, utcnow
from routing import signals, sla
from routing.timers import not_before

log = logging.getLogger(__name__)

SLA_QUEUE = "default"
_RETRY = Retry(max=3, interval=[5, 30, 120])
_SWEEP_RETRY = Retry(max=1, interval=[60])
_NEXT_SWEEP = "casework:sla:next-sweep"


def _queue(redis: Redis) -> Queue:
    return Queue(SLA_QUEUE, connection=redis)


def timer_job(case_id: int):
    """The job that sets the SLA timers of a case, prepared for `Queue.enqueue_many` on SLA_QUEUE."""
    return Queue.prepare_data(arm_sla, (case_id,), timeout=60, retry=_RETRY)


def request_sla_timers(redis: Redis, case_id: int) -> None:
    """Enqueue setting the SLA timers of a case (and bringing its clocks in line). Call after the change
    that moved them is committed: a case opened, its status, queue or priority changed."""
    _queue(redis).enqueue_many([timer_job(case_id)])


def request_sla_sweep(redis: Redis, everything: bool = True) -> None:
    """Enqueue a sweep (see `sweep_sla`); by default over every case with a running clock, as when a worker
    starts and Redis may have lost the timers."""
    _queue(redis).enqueue(sweep_sla, everything, job_timeout=1800, retry=_SWEEP_RETRY)


def schedule(redis: Redis, timers: list[sla.Timer]) -> None:
    """Set the timers as RQ scheduled jobs. Call after commit."""
    queue = _queue(redis)
    for timer in timers:
        stage, kind = timer.stage.value, timer.kind.value
        queue.enqueue_at(not_before(timer.at), f"routing.sla_jobs.sla_{stage}", timer.case_id, kind,
                         timer.due_at.isoformat(),
                         job_id=f"sla-{stage}-{kind}-{timer.case_id}-{int(timer.due_at.timestamp())}",
                         job_timeout=60, retry=_RETRY)


def announce(redis: Redis, outcome: sla.Outcome) -> None:
    """Send the signals of committed warnings and breaches and set the timers ahead. Call after commit."""
    for notice in outcome.notices:
        signal = signals.sla_warning if notice.stage is SlaStage.WARNING else signals.sla_breached
        extra = {"priority": int(notice.priority)} if notice.stage is SlaStage.BREACH else {}
        signal.send(notice.case_id, kind=notice.kind.value, assignee_id=notice.assignee_id,
                    due_at=notice.due_at.isoformat(), **extra)
    schedule(redis, outcome.timers)


def _perform(redis: Redis, step, *args) -> sla.Outcome:
    with transaction() as session:
        outcome = step(session, *args, now=utcnow())
    announce(redis, outcome)
    return outcome


def _fire_one(session, case_id: int, kind: SlaKind, stage: SlaStage, due_at: datetime, now: datetime) -> sla.Outcome:
    notice = sla.fire(session, case_id, kind, stage, due_at, now)
    return sla.Outcome([] if notice is None else [notice], [])


def _connection() -> Redis:
    return get_current_job().connection


def arm_sla(case_id: int) -> None:
    """Bring a case's clocks in line, fire what is overdue and set its timers. Idempotent."""
    outcome = _perform(_connection(), sla.check, case_id)
    log.info("case %s: %s SLA timers set, %s fired", case_id, len(outcome.timers), len(outcome.notices))


def _fire(case_id: int, kind: str, due_at_iso: str, stage: SlaStage) -> None:
    _perform(_connection(), _fire_one, case_id, SlaKind(kind), stage, datetime.fromisoformat(due_at_iso))


def sla_warning(case_id: int, kind: str, due_at_iso: str) -> None:
    """Warn the assignee and supervisors that a clock nears its due time, unless the timer is stale. Idempotent."""
    _fire(case_id, kind, due_at_iso, SlaStage.WARNING)


def sla_breach(case_id: int, kind: str, due_at_iso: str) -> None:
    """Escalate a case whose clock passed its due time, unless the timer is stale. Idempotent."""
    _fire(case_id, kind, due_at_iso, SlaStage.BREACH)


def sweep(redis: Redis, everything: bool = False, now: datetime | None = None) -> dict[str, int]:
    """Check the cases whose clocks need a look (`sla.cases_to_check`; `everything`: all with a running clock),
    one unit of work per case (`sla.check`): fire what was missed while no worker ran or no timer was set,
    and set their timers. Idempotent; commits. Returns counts of cases checked, warnings and breaches fired,
    timers set."""
    with reading() as session:
        case_ids = sla.cases_to_check(session, now or utcnow(), everything)
    counts = {"cases": len(case_ids), "warning": 0, "breach": 0, "timers": 0}
    for case_id in case_ids:
        outcome = _perform(redis, sla.check, case_id)
        for notice in outcome.notices:
            counts[notice.stage.value] += 1
        counts["timers"] += len(outcome.timers)
    log.info("SLA sweep: %s", counts)
    return counts


def sweep_sla(everything: bool = False) -> dict[str, int]:
    """The sweep as a job, and a chain of them SWEEP_SECONDS apart: the safety net for cases whose timers
    were never set or were lost. Several chains (one per worker start) fold into one: a link goes on only
    if it wins the `_NEXT_SWEEP` key."""
    redis = _connection()
    try:
        return sweep(redis, everything)
    finally:
        interval = sla.current.sweep_seconds
        if interval and redis.set(_NEXT_SWEEP, 1, nx=True, ex=max(int(interval) - 1, 1)):
            _queue(redis).enqueue_in(timedelta(seconds=interval), sweep_sla, job_timeout=1800, retry=_SWEEP_RETRY)

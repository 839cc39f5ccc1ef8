"""SLA clocks on cases: due times from the queue's policy, counted in the queue's business hours, paused
while the case waits on the constituent; the warning and breach they lead to; the state the console shows.

Two clocks run on a case, time to first response and time to resolution. Each starts when the case is
created and is due when its policy's target of business time has passed, not counting the business time
the case spent waiting on the constituent (PENDING_CONSTITUENT). The queue's BusinessCalendar gives the
business time (routing/business_time.py); a queue without one counts around the clock.

Hooks, all flushing and leaving the commit to the caller:
- `apply_sla` measures the due times afresh (a case opened, its queue or priority changed);
- `sync_sla` brings the clocks in line with the case after any change: it pauses them when the case starts
  waiting on the constituent, moves the due times on by the business time of the wait when it stops, and
  re-measures them when the queue or priority is not the one they were measured for (`sla_basis`);
- `record_first_response` stops the first-response clock (the first reply to the constituent).
After commit, `routing.request_sla_timers(redis, case_id)` sets the timers (routing/sla_jobs.py).

A breach raises the priority one step and keeps the due times it was measured against: escalation is a
consequence of the targets, not a new set of them.
"""
import logging
import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, String, and_, cast, func, literal, not_, or_, select
from sqlalchemy.orm import Session

from models import (
    OPEN_STATUSES,
    BusinessCalendar,
    Case,
    CaseStatus,
    Priority,
    Queue,
    SlaEvent,
    SlaKind,
    SlaPolicy,
    SlaStage,
    SlaState,
    utcnow,
)
from routing import business_time, lifecycle
from routing.business_time import ALWAYS_OPEN, CalendarError, WorkCalendar

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SlaSettings:
    # The warning comes this share of the target before the due time, but never more than the cap before it.
    warning_percent: int = 20
    warning_max_minutes: int | None = 60
    # How often the safety-net sweep runs (routing/sla_jobs.py); None: only when a worker starts.
    sweep_seconds: float | None = 300.0


current = SlaSettings()


def configure(**values) -> SlaSettings:
    """Replace the named SLA settings (unknown names raise TypeError) and return the new settings."""
    global current
    current = replace(current, **values)
    return current


def warning_lead(target_minutes: int) -> int:
    """How many business minutes before the due time the warning comes, for a target of `target_minutes`."""
    lead = math.ceil(target_minutes * current.warning_percent / 100)
    if current.warning_max_minutes is not None:
        lead = min(lead, current.warning_max_minutes)
    return max(0, min(lead, target_minutes))


# ---- the two clocks -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clock:
    kind: SlaKind
    due_field: str
    warn_field: str
    done_field: str
    target_field: str

    def due(self, case: Case) -> datetime | None:
        return getattr(case, self.due_field)

    def warn(self, case: Case) -> datetime | None:
        return getattr(case, self.warn_field)

    def done(self, case: Case) -> datetime | None:
        return getattr(case, self.done_field)

    def set(self, case: Case, due: datetime | None, warn: datetime | None) -> None:
        setattr(case, self.due_field, due)
        setattr(case, self.warn_field, warn)


CLOCKS = {
    SlaKind.FIRST_RESPONSE: Clock(SlaKind.FIRST_RESPONSE, "first_response_due_at", "first_response_warn_at",
                                  "first_responded_at", "first_response_minutes"),
    SlaKind.RESOLUTION: Clock(SlaKind.RESOLUTION, "resolution_due_at", "resolution_warn_at", "resolved_at",
                              "resolution_minutes"),
}
KIND_WORDS = {SlaKind.FIRST_RESPONSE: "First response", SlaKind.RESOLUTION: "Resolution"}


def is_paused(case: Case) -> bool:
    """Whether the case's clocks stand still (it waits on the constituent)."""
    return case.sla_paused_at is not None or case.status is CaseStatus.PENDING_CONSTITUENT


def is_running(case: Case, clock: Clock) -> bool:
    """Whether `clock` counts now: it has a due time, it has not stopped, and the case is open and not paused."""
    return (clock.due(case) is not None and clock.done(case) is None and case.status in OPEN_STATUSES
            and not is_paused(case))


# ---- measuring ------------------------------------------------------------------------------------------


def basis(case: Case) -> str | None:
    """What the due times are measured for: "<queue id>:<priority>", or None for a case in no queue."""
    return None if case.queue_id is None else f"{case.queue_id}:{int(case.priority)}"


def calendar_for(session: Session, queue_id: int | None) -> WorkCalendar:
    """The business calendar of a queue; around the clock for no queue, no calendar or a broken one (logged)."""
    if queue_id is None:
        return ALWAYS_OPEN
    row = session.execute(select(BusinessCalendar.id, BusinessCalendar.timezone, BusinessCalendar.hours,
                                 BusinessCalendar.holidays)
                          .join(Queue, Queue.calendar_id == BusinessCalendar.id).where(Queue.id == queue_id)).first()
    if row is None:
        return ALWAYS_OPEN
    try:
        return business_time.parse_calendar(row.timezone, row.hours, row.holidays)
    except CalendarError as error:
        log.error("business calendar %s is unusable, counting around the clock: %s", row.id, error)
        return ALWAYS_OPEN


def policy_for(session: Session, case: Case) -> SlaPolicy | None:
    """The SLA policy of the case's queue for its priority, if there is one."""
    if case.queue_id is None:
        return None
    return session.execute(select(SlaPolicy).where(SlaPolicy.queue_id == case.queue_id,
                                                   SlaPolicy.priority == case.priority)).scalar_one_or_none()


def apply_sla(session: Session, case: Case) -> None:
    """Measure the due (and warning) times of the case's running clocks from its queue's policy for its
    priority: target business minutes after the case was created, plus the business time of its finished
    waits on the constituent. With no policy the running clocks get no due time. A stopped clock keeps the
    due time it was judged by. Call when a case is opened or its queue or priority changes. Flushes."""
    case.sla_basis = basis(case)
    policy = policy_for(session, case)
    calendar = calendar_for(session, case.queue_id)
    waited = timedelta(seconds=case.sla_paused_seconds or 0)
    for clock in CLOCKS.values():
        if clock.done(case) is not None:
            continue
        if policy is None:
            clock.set(case, None, None)
            continue
        target = getattr(policy, clock.target_field)
        due = business_time.add(calendar, case.created_at, timedelta(minutes=target) + waited)
        warn = business_time.add(calendar, case.created_at, timedelta(minutes=target - warning_lead(target)) + waited)
        clock.set(case, due, warn)
    session.flush()


def _resume(session: Session, case: Case, now: datetime) -> None:
    paused_at = case.sla_paused_at
    calendar = calendar_for(session, case.queue_id)
    waited = business_time.between(calendar, paused_at, now)
    case.sla_paused_seconds = (case.sla_paused_seconds or 0) + round(waited.total_seconds())
    case.sla_paused_at = None
    for clock in CLOCKS.values():
        due, done = clock.due(case), clock.done(case)
        # A clock that stopped, or was already breached, before the wait began is judged as it stood.
        if due is None or due <= paused_at or (done is not None and done < paused_at):
            continue
        warn = clock.warn(case)
        clock.set(case, business_time.add(calendar, due, waited),
                  None if warn is None else business_time.add(calendar, warn, waited))


def sync_sla(session: Session, case: Case, now: datetime | None = None) -> bool:
    """Bring the case's clocks in line with the case: re-measure them when its queue or priority is not the
    one they were measured for; pause them when it waits on the constituent; when the wait ends (whatever
    the new status), move the due times of the clocks that were running on by the business time waited.
    Idempotent. Call after any change of status, queue or priority. Flushes; returns whether anything changed."""
    now = now or utcnow()
    changed = False
    if case.sla_basis != basis(case):
        apply_sla(session, case)
        changed = True
    waiting = case.status is CaseStatus.PENDING_CONSTITUENT
    if waiting and case.sla_paused_at is None:
        case.sla_paused_at = now
        changed = True
    elif not waiting and case.sla_paused_at is not None:
        _resume(session, case, now)
        changed = True
    if changed:
        session.flush()
    return changed


def record_first_response(session: Session, case: Case, at: datetime | None = None) -> bool:
    """Stop the first-response clock at `at` (now), unless it stopped already. Call when a person first
    answers the constituent (an outbound reply, a chat message, a call note). Flushes; returns whether it stopped."""
    if case.first_responded_at is not None:
        return False
    case.first_responded_at = at or utcnow()
    session.flush()
    return True


# ---- firing ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timer:
    """When to fire a stage of a clock, for the due time it was set for."""

    case_id: int
    kind: SlaKind
    stage: SlaStage
    at: datetime
    due_at: datetime


@dataclass(frozen=True)
class Notice:
    """A warning or breach that fired: what `sla_jobs.announce` tells the console after commit."""

    case_id: int
    kind: SlaKind
    stage: SlaStage
    due_at: datetime
    assignee_id: int | None
    priority: Priority


@dataclass
class Outcome:
    notices: list[Notice]
    timers: list[Timer]


def timers(case: Case) -> list[Timer]:
    """The warning and breach timers of the case's running clocks (a warning only when it comes before the
    due time). Pure."""
    found = []
    for clock in CLOCKS.values():
        if not is_running(case, clock):
            continue
        due, warn = clock.due(case), clock.warn(case)
        if warn is not None and warn < due:
            found.append(Timer(case.id, clock.kind, SlaStage.WARNING, warn, due))
        found.append(Timer(case.id, clock.kind, SlaStage.BREACH, due, due))
    return found


def _locked(session: Session, case_id: int) -> Case | None:
    return session.execute(select(Case).where(Case.id == case_id).with_for_update()
                           .execution_options(populate_existing=True)).scalar_one_or_none()


def _is_due(case: Case, clock: Clock, stage: SlaStage, due_at: datetime, now: datetime) -> bool:
    if not is_running(case, clock) or clock.due(case) != due_at:
        return False
    if stage is SlaStage.BREACH:
        return now >= due_at
    warn = clock.warn(case)
    return warn is not None and warn <= now < due_at


def _already_fired(session: Session, case_id: int, kind: SlaKind, stage: SlaStage, due_at: datetime) -> bool:
    return session.execute(select(SlaEvent.id).where(SlaEvent.case_id == case_id, SlaEvent.kind == kind,
                                                      SlaEvent.stage == stage, SlaEvent.due_at == due_at)
                           ).first() is not None


def escalate(session: Session, case: Case, kind: SlaKind, due_at: datetime) -> None:
    """Raise the priority of a case whose `kind` clock breached by one step (at most urgent) and write why on
    its timeline. The due times stay as measured. Flushes."""
    old = case.priority
    new = Priority(min(int(old) + 1, int(Priority.URGENT)))
    case.priority = new
    case.sla_basis = basis(case)
    outcome = (f"priority raised from {old.name.lower()} to {new.name.lower()}" if new != old
               else f"priority stays {new.name.lower()}")
    lifecycle.record_change(session, case, "sla_breach", old.name.lower(), new.name.lower(), None,
                            f"{KIND_WORDS[kind]} target missed (due {due_at:%Y-%m-%d %H:%M} UTC); {outcome}.",
                            kind=kind.value, due_at=due_at.isoformat())


def fire(session: Session, case_id: int, kind: SlaKind, stage: SlaStage, due_at: datetime,
         now: datetime | None = None) -> Notice | None:
    """Fire the warning or breach of one clock for the due time it was set for, if it is still due: the case
    is open, not paused, the clock still runs with that due time, its moment has come (a warning not after
    the due time) and it has not fired yet. A breach escalates (see `escalate`). Idempotent; locks the case
    row. Flushes; returns what to announce, or None."""
    now = now or utcnow()
    case = _locked(session, case_id)
    if case is None or not _is_due(case, CLOCKS[kind], stage, due_at, now):
        return None
    if _already_fired(session, case_id, kind, stage, due_at):
        return None
    session.add(SlaEvent(case_id=case_id, kind=kind, stage=stage, due_at=due_at, fired_at=now))
    if stage is SlaStage.BREACH:
        escalate(session, case, kind, due_at)
    session.flush()
    log.info("case %s: SLA %s %s (due %s)", case_id, kind.value, stage.value, due_at.isoformat())
    return Notice(case_id, kind, stage, due_at, case.assignee_id, case.priority)


def check(session: Session, case_id: int, now: datetime | None = None) -> Outcome:
    """Bring one case's clocks in line (`sync_sla`), fire what is overdue and list the timers still ahead.
    What the timer-setting job and the sweep do for each case. Idempotent. Flushes."""
    now = now or utcnow()
    case = _locked(session, case_id)
    if case is None:
        return Outcome([], [])
    sync_sla(session, case, now)
    notices = []
    for clock in CLOCKS.values():
        if not is_running(case, clock):
            continue
        due = clock.due(case)
        stage = SlaStage.BREACH if now >= due else SlaStage.WARNING
        notice = fire(session, case_id, clock.kind, stage, due, now)
        if notice is not None:
            notices.append(notice)
    return Outcome(notices, [t for t in timers(case) if t.at > now])


def _clock_needs_check(clock: Clock, now: datetime):
    due = getattr(Case, clock.due_field)
    breach_fired = select(SlaEvent.id).where(SlaEvent.case_id == Case.id, SlaEvent.kind == clock.kind,
                                             SlaEvent.stage == SlaStage.BREACH, SlaEvent.due_at == due).exists()
    return and_(getattr(Case, clock.done_field).is_(None), getattr(Case, clock.warn_field) <= now, ~breach_fired)


def cases_to_check(session: Session, now: datetime, everything: bool = False) -> list[int]:
    """The cases the sweep looks at: open ones past a warning point or due time not yet breached, waiting on
    the constituent with the clocks running (or the reverse), measured for another queue or priority, or never
    measured. `everything` adds
    every open case with a clock, to set all timers again (Redis may have lost them)."""
    waiting = Case.status == CaseStatus.PENDING_CONSTITUENT
    needs = [_clock_needs_check(clock, now) for clock in CLOCKS.values()]
    measured_for = cast(Case.queue_id, String) + ":" + cast(Case.priority, String)
    needs += [and_(waiting, Case.sla_paused_at.is_(None)),
              and_(Case.queue_id.is_not(None), or_(Case.sla_basis.is_(None), Case.sla_basis != measured_for))]
    if everything:
        needs += [Case.first_response_due_at.is_not(None), Case.resolution_due_at.is_not(None)]
    query = select(Case.id).where(or_(and_(Case.status.in_(OPEN_STATUSES), or_(*needs)),
                                      and_(~waiting, Case.sla_paused_at.is_not(None))))
    return list(session.execute(query.order_by(Case.id)).scalars())


# ---- what the console shows (pure) ----------------------------------------------------------------------

_SEVERITY = [SlaState.NONE, SlaState.MET, SlaState.OK, SlaState.PAUSED, SlaState.AT_RISK, SlaState.BREACHED]


def clock_state(case: Case, kind: SlaKind, now: datetime) -> SlaState:
    """The state of one clock at `now`: none (no due time); met or breached (stopped, or the case ended, in
    time or late); paused (waiting on the constituent, not yet breached); breached; at risk (past the warning
    point); ok."""
    clock = CLOCKS[kind]
    due, done = clock.due(case), clock.done(case)
    if due is None:
        return SlaState.NONE
    if done is not None:
        return SlaState.MET if done <= due else SlaState.BREACHED
    if case.status not in OPEN_STATUSES:          # ended without stopping this clock: judged by when it ended
        ended = case.resolved_at or case.closed_at
        return SlaState.NONE if ended is None else SlaState.MET if ended <= due else SlaState.BREACHED
    if is_paused(case):
        paused_at = case.sla_paused_at or now
        return SlaState.BREACHED if paused_at >= due else SlaState.PAUSED
    if now >= due:
        return SlaState.BREACHED
    warn = clock.warn(case)
    return SlaState.AT_RISK if warn is not None and now >= warn else SlaState.OK


def sla_state(case: Case, now: datetime) -> SlaState:
    """The case's SLA state for the inbox and queue views: the most severe of its two clocks (breached,
    at risk, paused, ok, met, none). Pure."""
    return max((clock_state(case, kind, now) for kind in CLOCKS), key=_SEVERITY.index)


# ---- the same states in SQL, for lists, counts and the wallboard (open cases) ---------------------------


def _paused() -> ColumnElement[bool]:
    return or_(Case.sla_paused_at.is_not(None), Case.status == CaseStatus.PENDING_CONSTITUENT)


def breached_clause(now: datetime) -> ColumnElement[bool]:
    """Open cases `clock_state` calls breached at `now` on some clock: stopped late, or still running (or
    paused) past its due time. Never NULL, so it can be negated."""
    paused_at = func.coalesce(Case.sla_paused_at, literal(now, Case.sla_paused_at.type))
    clocks = []
    for clock in CLOCKS.values():
        due, done = getattr(Case, clock.due_field), getattr(Case, clock.done_field)
        clocks.append(and_(due.is_not(None), or_(and_(done.is_not(None), done > due),
                                                 and_(done.is_(None), paused_at >= due))))
    return or_(*clocks)


def at_risk_clause(now: datetime) -> ColumnElement[bool]:
    """Open cases at risk at `now`: running (not paused), some clock past its warning point, none breached.
    `due > now` follows from "not breached" but is spelled out: with `warn <= now` it is the range the
    (due, warn) indexes of models/views.py read, so only the cases at risk are fetched."""
    clocks = []
    for clock in CLOCKS.values():
        due, warn, done = (getattr(Case, clock.due_field), getattr(Case, clock.warn_field),
                           getattr(Case, clock.done_field))
        clocks.append(and_(due.is_not(None), due > now, done.is_(None), warn.is_not(None), warn <= now))
    return and_(not_(_paused()), or_(*clocks), not_(breached_clause(now)))


def _pending() -> ColumnElement[bool]:
    """Some clock has a due time and has not stopped."""
    return or_(*(and_(getattr(Case, c.due_field).is_not(None), getattr(Case, c.done_field).is_(None))
                 for c in CLOCKS.values()))


def paused_clause(now: datetime) -> ColumnElement[bool]:
    """Open cases whose clocks stand still with one still to stop, none breached."""
    return and_(_paused(), _pending(), not_(breached_clause(now)))


def on_track_clause(now: datetime) -> ColumnElement[bool]:
    """Open cases with a running clock, none at risk, breached or paused."""
    return and_(not_(_paused()), _pending(), not_(breached_clause(now)), not_(at_risk_clause(now)))


STATE_CLAUSES = {SlaState.BREACHED: breached_clause, SlaState.AT_RISK: at_risk_clause,
                 SlaState.PAUSED: paused_clause, SlaState.OK: on_track_clause}


def next_due(case: Case) -> tuple[SlaKind, datetime] | None:
    """The running clock due first and its due time, for a countdown; None when none runs. Pure."""
    running = [(clock.due(case), clock.kind) for clock in CLOCKS.values() if is_running(case, clock)]
    if not running:
        return None
    due, kind = min(running)
    return kind, due

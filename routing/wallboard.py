"""The supervisor's wallboard figures: per queue and channel, and per agent, from a handful of aggregate
queries (GROUP BY queue, channel; GROUP BY agent, channel), never one query per row.

Per queue and channel: cases waiting (no owner, no offer) and the oldest of their waits (since `queued_at`,
kept across re-routing so aging is fair); the cases handled (assigned, or an offer accepted) in the last
`window` and their average wait; open cases at risk of missing an SLA (past a warning point) and breached
(the clauses of `routing.sla`, the same rule as `clock_state`); offers pending. Per agent: presence and since when, slots used
against capacity per channel, open cases and chats held.
"""
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select, union_all
from sqlalchemy.orm import Session

from models import (
    OPEN_STATUSES,
    Case,
    CaseStatus,
    Channel,
    DecisionKind,
    DecisionOutcome,
    Presence,
    Queue,
    Role,
    RoutingDecision,
    User,
    UserCapacity,
    utcnow,
)
from routing import sla
from routing.sqltime import seconds_between

WINDOW = timedelta(minutes=15)
AGENT_ROLES = (Role.AGENT, Role.CASEWORKER)


@dataclass(frozen=True)
class QueueLine:
    """One queue and channel's figures; waits in whole seconds, None when nothing was measured."""

    queue_id: int
    queue_name: str
    channel: Channel
    waiting: int = 0
    oldest_wait: int | None = None
    handled: int = 0
    average_wait: int | None = None
    at_risk: int = 0
    breached: int = 0
    offers: int = 0


@dataclass(frozen=True)
class ChannelLine:
    """One channel's figures across every queue."""

    channel: Channel
    waiting: int
    oldest_wait: int | None
    handled: int
    average_wait: int | None
    at_risk: int
    breached: int
    offers: int


def _across(channel: Channel, lines: list[QueueLine]) -> ChannelLine:
    waits = [line.oldest_wait for line in lines if line.oldest_wait is not None]
    handled = sum(line.handled for line in lines)
    total_wait = sum(line.average_wait * line.handled for line in lines if line.average_wait is not None)
    return ChannelLine(channel, sum(line.waiting for line in lines), max(waits, default=None), handled,
                       round(total_wait / handled) if handled else None, sum(line.at_risk for line in lines),
                       sum(line.breached for line in lines), sum(line.offers for line in lines))


@dataclass(frozen=True)
class Load:
    channel: Channel
    used: int
    slots: int


@dataclass(frozen=True)
class AgentLine:
    user_id: int
    name: str
    presence: Presence
    presence_seconds: int
    loads: list[Load] = field(default_factory=list)
    cases: int = 0
    chats: int = 0


@dataclass(frozen=True)
class Alert:
    """A threshold crossed: `key` names it (the page speaks only of keys it has not shown before)."""

    key: str
    text: str


@dataclass(frozen=True)
class Wallboard:
    at: datetime
    queues: list[QueueLine]
    agents: list[AgentLine]

    def channels(self) -> list[ChannelLine]:
        """The queue lines summed per channel (the average wait weighted by cases handled). Pure."""
        grouped: dict[Channel, list[QueueLine]] = {}
        for line in self.queues:
            grouped.setdefault(line.channel, []).append(line)
        return [_across(channel, grouped[channel]) for channel in sorted(grouped, key=lambda c: c.value)]

    def alerts(self, oldest_wait_seconds: int | None, at_risk: int | None) -> list[Alert]:
        """The queue lines past a threshold (None turns that alert off). Pure."""
        found = []
        for line in self.queues:
            where = f"{line.queue_name}, {line.channel.value}"
            if oldest_wait_seconds is not None and (line.oldest_wait or 0) >= oldest_wait_seconds:
                found.append(Alert(f"wait-{line.queue_id}-{line.channel.value}",
                                   f"{where}: oldest wait {duration(line.oldest_wait)}, over the "
                                   f"{duration(oldest_wait_seconds)} threshold."))
            if at_risk is not None and line.at_risk + line.breached >= at_risk:
                found.append(Alert(f"risk-{line.queue_id}-{line.channel.value}",
                                   f"{where}: {line.at_risk} at risk and {line.breached} breached, "
                                   f"threshold {at_risk}."))
        return found


def duration(seconds: int | None) -> str:
    """`95` -> "1 min 35 s"; words, not only a clock face, for screen readers. Pure."""
    if seconds is None:
        return "none"
    hours, rest = divmod(max(0, int(seconds)), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def _is_waiting() -> ColumnElement[bool]:
    return and_(Case.status == CaseStatus.NEW, Case.assignee_id.is_(None), Case.offered_to_id.is_(None))


def _queue_figures(session: Session, now: datetime) -> dict[tuple[int, Channel], dict]:
    waiting = _is_waiting()
    rows = session.execute(
        select(Case.queue_id, Case.channel,
               func.count().filter(waiting), func.min(Case.queued_at).filter(waiting),
               func.count().filter(sla.at_risk_clause(now)), func.count().filter(sla.breached_clause(now)),
               func.count().filter(Case.offered_to_id.is_not(None)))
        .where(Case.status.in_(OPEN_STATUSES), Case.queue_id.is_not(None))
        .group_by(Case.queue_id, Case.channel))
    figures = {}
    for queue_id, channel, count, oldest, at_risk, breached, offers in rows:
        figures[(queue_id, channel)] = dict(
            waiting=count, oldest_wait=None if oldest is None else int((now - oldest).total_seconds()),
            at_risk=at_risk, breached=breached, offers=offers)
    return figures


def _handled(session: Session, now: datetime, window: timedelta) -> dict[tuple[int, Channel], dict]:
    """Cases taken in the window (assigned directly or by hand, or an offer accepted) and their average wait."""
    since = now - window
    taken = RoutingDecision
    direct = select(taken.case_id, taken.queue_id, taken.created_at.label("at")).where(
        taken.kind.in_([DecisionKind.ASSIGNMENT, DecisionKind.MANUAL]), taken.outcome == DecisionOutcome.ASSIGNED,
        taken.created_at >= since)
    accepted = select(taken.case_id, taken.queue_id, taken.responded_at.label("at")).where(
        taken.kind == DecisionKind.OFFER, taken.outcome == DecisionOutcome.ACCEPTED, taken.responded_at >= since)
    events = union_all(direct, accepted).subquery()
    wait = seconds_between(events.c.at, Case.queued_at)
    rows = session.execute(
        select(events.c.queue_id, Case.channel, func.count(), func.avg(wait))
        .join(Case, Case.id == events.c.case_id).where(events.c.queue_id.is_not(None))
        .group_by(events.c.queue_id, Case.channel))
    return {(queue_id, channel): dict(handled=count, average_wait=None if avg is None else max(0, round(avg)))
            for queue_id, channel, count, avg in rows}


def _queue_lines(session: Session, now: datetime, window: timedelta) -> list[QueueLine]:
    current, handled = _queue_figures(session, now), _handled(session, now, window)
    names = dict(session.execute(select(Queue.id, Queue.name).where(
        or_(Queue.is_active, Queue.id.in_([key[0] for key in current | handled])))).all())
    lines = []
    for key in sorted(current.keys() | handled.keys(), key=lambda k: (names.get(k[0], ""), k[0], k[1].value)):
        queue_id, channel = key
        if queue_id in names:
            lines.append(QueueLine(queue_id, names[queue_id], channel, **current.get(key, {}), **handled.get(key, {})))
    return lines


def _agent_lines(session: Session, now: datetime) -> list[AgentLine]:
    users = session.execute(select(User.id, User.display_name, User.presence, User.presence_changed_at).where(
        User.is_active, User.role.in_(AGENT_ROLES)).order_by(User.display_name, User.id)).all()
    loads: dict[int, list[Load]] = {}
    for user_id, channel, used, slots in session.execute(
            select(UserCapacity.user_id, UserCapacity.channel, UserCapacity.used, UserCapacity.slots)
            .join(User, User.id == UserCapacity.user_id)
            .where(User.is_active, User.role.in_(AGENT_ROLES), UserCapacity.slots > 0)
            .order_by(UserCapacity.user_id, UserCapacity.channel)):
        loads.setdefault(user_id, []).append(Load(channel, used, slots))
    held: dict[int, tuple[int, int]] = {}
    for user_id, cases, chats in session.execute(
            select(Case.assignee_id, func.count(), func.count().filter(Case.channel == Channel.CHAT))
            .where(Case.assignee_id.is_not(None), Case.status.in_(OPEN_STATUSES)).group_by(Case.assignee_id)):
        held[user_id] = (cases, chats)
    return [AgentLine(user_id, name, presence, max(0, int((now - since).total_seconds())), loads.get(user_id, []),
                      *held.get(user_id, (0, 0)))
            for user_id, name, presence, since in users]


def snapshot(session: Session, now: datetime | None = None, window: timedelta = WINDOW) -> Wallboard:
    """Everything the wallboard shows, at `now`. Reads only: six queries, however many queues and agents."""
    now = now or utcnow()
    return Wallboard(now, _queue_lines(session, now, window), _agent_lines(session, now))

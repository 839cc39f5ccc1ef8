"""Supervisor reports: volume, response and resolution times, SLA attainment, agents, satisfaction, equity.

A pure query layer: each report takes a session and `Filters` (a date range of UTC days, optionally one
queue or one channel) and returns rows of plain dataclasses; it reads only, never flushes or commits.
Everything is aggregated in the database, over indexes made for these queries (models/reports.py):

- cases are counted by the day they were created (volume, times, SLA attainment, equity); agents by the
  day they resolved a case; satisfaction by the day the constituent answered;
- medians and 90th percentiles are continuous percentiles (linear interpolation, as PostgreSQL's
  `percentile_cont`). PostgreSQL computes them with `percentile_cont`; on SQLite, which has no ordered-set
  aggregates, the same value comes from window functions (`row_number` and `count` per group), still in
  SQL, so no report ever fetches a column of durations into Python;
- times are wall-clock seconds from the case's creation (the constituent's wait), not business time; the
  SLA attainment uses the due times the SLA clocks set, which count business hours and pauses.

Live queries over the case table keep today's figures exact (no summary to go stale).
"""
import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import ColumnElement, Float, Integer, and_, case, cast, func, literal, or_, select
from sqlalchemy.orm import Session

from models import OPEN_STATUSES, Case, Category, Channel, Queue, SurveyResponse, User, utcnow
from routing.sqltime import seconds_between, utc_day, utc_hour

MAX_DAYS = 731               # the longest range a report covers (two years)
PERCENTILES = (0.5, 0.9)


class Dimension(enum.StrEnum):
    """What a report's rows group cases by."""

    ALL = "all"
    CHANNEL = "channel"
    QUEUE = "queue"
    CATEGORY = "category"
    LANGUAGE = "language"
    DISTRICT = "district"
    DAY = "day"
    HOUR = "hour"


@dataclass(frozen=True)
class Filters:
    """Which cases a report covers: created (or resolved, or answered) on the UTC days `start`..`end`
    inclusive, in one queue and/or on one channel when given. `now` is the moment clocks are judged at."""

    start: date
    end: date
    queue_id: int | None = None
    channel: Channel | None = None
    now: datetime = field(default_factory=utcnow)

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError("the range ends before it starts")
        if (self.end - self.start).days + 1 > MAX_DAYS:
            raise ValueError(f"the range is longer than {MAX_DAYS} days")

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time.min, timezone.utc)

    @property
    def until(self) -> datetime:
        """The first instant after the range."""
        return datetime.combine(self.end + timedelta(days=1), time.min, timezone.utc)

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]


def _group_column(by: Dimension) -> ColumnElement:
    return {
        Dimension.ALL: literal("all"),
        Dimension.CHANNEL: Case.channel,
        Dimension.QUEUE: Case.queue_id,
        Dimension.CATEGORY: Case.category_id,
        Dimension.LANGUAGE: Case.language,
        Dimension.DISTRICT: Case.district,
        Dimension.DAY: utc_day(Case.created_at),
        Dimension.HOUR: utc_hour(Case.created_at),
    }[by]


def _narrow(filters: Filters, model=Case) -> list[ColumnElement[bool]]:
    """WHERE clauses of the queue and channel filters on `model`."""
    return ([model.queue_id == filters.queue_id] if filters.queue_id is not None else []) + \
        ([model.channel == filters.channel] if filters.channel is not None else [])


def _scope(filters: Filters, column=Case.created_at, model=Case) -> list[ColumnElement[bool]]:
    """WHERE clauses: `column` within the range, and the queue and channel filters on `model`."""
    return [column >= filters.since, column < filters.until, *_narrow(filters, model)]


@dataclass(frozen=True)
class Spread:
    """How many values there were, and their median and 90th percentile (None when there were none)."""

    n: int = 0
    median: float | None = None
    p90: float | None = None


def _number(value) -> float | None:
    return None if value is None else float(value)


def _spreads(session: Session, values: Sequence[ColumnElement], group: ColumnElement,
             where: Sequence[ColumnElement[bool]]) -> dict[object, tuple[int, list[Spread]]]:
    """{group key: (rows in the group, [the Spread of each of `values` over its non-NULL entries])}, in SQL.
    PostgreSQL reads the rows once for every value (`percentile_cont` skips NULLs); SQLite ranks each value
    with window functions."""
    if session.get_bind().dialect.name == "postgresql":
        columns = [func.count()]
        for value in values:
            columns += [func.count(value), *(func.percentile_cont(p).within_group(value) for p in PERCENTILES)]
        found = {}
        for key, total, *figures in session.execute(select(group, *columns).where(*where).group_by(group)):
            found[key] = (total, [Spread(n, _number(median), _number(p90))
                                  for n, median, p90 in zip(*[iter(figures)] * 3)])
        return found
    totals = session.execute(select(group, func.count()).where(*where).group_by(group)).all()
    ranked = [_ranked_percentiles(session, value, group, where) for value in values]
    return {key: (total, [each.get(key, Spread()) for each in ranked]) for key, total in totals}


def _ranked_percentiles(session: Session, value: ColumnElement, group: ColumnElement,
                        where: Sequence[ColumnElement[bool]]) -> dict[object, Spread]:
    """`percentile_cont` for engines without it: the values ranked per group by window functions, and the
    percentile interpolated between the two ranks around it, all in one SQL statement."""
    ranked = select(group.label("g"), value.label("v"),
                    func.row_number().over(partition_by=group, order_by=value).label("rn"),
                    func.count().over(partition_by=group).label("n")).where(*where, value.is_not(None)).subquery()
    picks = []
    for p in PERCENTILES:
        # percentile_cont: position h = (n - 1) * p (0-based) between the values at floor(h) and ceil(h).
        h = (ranked.c.n - 1) * literal(p, Float)
        low = cast(h, Integer)                 # SQLite truncates: floor for h >= 0
        high = low + case((h > low, 1), else_=0)
        low_value = func.max(case((ranked.c.rn == low + 1, ranked.c.v)))
        high_value = func.max(case((ranked.c.rn == high + 1, ranked.c.v)))
        picks.append(low_value + func.max(h - low) * (high_value - low_value))
    rows = session.execute(select(ranked.c.g, func.max(ranked.c.n), *picks).group_by(ranked.c.g))
    return {key: Spread(n, _number(median), _number(p90)) for key, n, median, p90 in rows}


def _names(session: Session, model, keys: Iterable[object]) -> dict[object, str]:
    ids = [k for k in keys if k is not None]
    if not ids:
        return {}
    name = User.display_name if model is User else model.name
    return dict(session.execute(select(model.id, name).where(model.id.in_(ids))).all())


def label_of(session: Session, by: Dimension, keys: Iterable[object]) -> dict[object, str]:
    """Display labels of group keys: queue, category and agent names; other keys as text. None reads
    "Not recorded" (a case with no queue, category, language or district)."""
    keys = list(keys)
    models = {Dimension.QUEUE: Queue, Dimension.CATEGORY: Category}
    names = _names(session, models[by], keys) if by in models else {}
    labels = {}
    for key in keys:
        if key is None:
            labels[key] = "Not recorded"
        elif by is Dimension.HOUR:
            labels[key] = f"{key:02d}:00"
        elif by is Dimension.ALL:
            labels[key] = "All cases"
        else:
            labels[key] = names.get(key, str(key))
    return labels


def _sorted(keys: Iterable[object], by: Dimension, labels: dict[object, str]) -> list[object]:
    """Natural order: days and hours in time order, everything else by label, "not recorded" last."""
    if by in (Dimension.DAY, Dimension.HOUR):
        return sorted(keys)
    return sorted(keys, key=lambda k: (k is None, labels[k].casefold()))


# ---- volume ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VolumeLine:
    key: object
    label: str
    cases: int


def volume(session: Session, filters: Filters, by: Dimension) -> list[VolumeLine]:
    """Cases created in the range, counted by `by`. Every day (or hour) of the range gets a line, with
    0 where no case came. Reads only."""
    group = _group_column(by)
    counts = {key: n for key, n in session.execute(
        select(group, func.count()).where(*_scope(filters)).group_by(group))}
    if by is Dimension.DAY:
        counts = {day: counts.get(day, 0) for day in filters.days}
    elif by is Dimension.HOUR:
        counts = {hour: counts.get(hour, 0) for hour in range(24)}
    labels = label_of(session, by, counts)
    ordered = (sorted(counts) if by in (Dimension.DAY, Dimension.HOUR)
               else sorted(counts, key=lambda k: (-counts[k], labels[k])))
    return [VolumeLine(key, labels[key], counts[key]) for key in ordered]


# ---- response and resolution times -------------------------------------------------------------------------


@dataclass(frozen=True)
class TimesLine:
    """Seconds from creation to the first response and to resolution, for the cases of one group."""

    key: object
    label: str
    cases: int
    responded: int
    first_response_median: float | None
    first_response_p90: float | None
    resolved: int
    resolution_median: float | None
    resolution_p90: float | None


def times(session: Session, filters: Filters, by: Dimension) -> list[TimesLine]:
    """First-response and resolution times (median and 90th percentile) of the cases created in the range,
    by `by`; cases with no response (or not resolved) yet count in `cases` but in no time. Reads only."""
    group = _group_column(by)
    found = _spreads(session, [seconds_between(Case.first_responded_at, Case.created_at),
                               seconds_between(Case.resolved_at, Case.created_at)], group, _scope(filters))
    labels = label_of(session, by, found)
    lines = []
    for key in _sorted(found, by, labels):
        cases, (first, resolved) = found[key]
        lines.append(TimesLine(key, labels[key], cases, first.n, first.median, first.p90,
                               resolved.n, resolved.median, resolved.p90))
    return lines


# ---- SLA attainment ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlaLine:
    """Clocks that stopped by their due time (met) or not (missed, including open cases' clocks still running
    past it). Clocks running before their due time, paused ones, and cases closed unanswered (merged
    duplicates) are in neither."""

    key: object
    label: str
    first_response_met: int
    first_response_missed: int
    resolution_met: int
    resolution_missed: int

    @staticmethod
    def _rate(met: int, missed: int) -> float | None:
        return None if met + missed == 0 else 100.0 * met / (met + missed)

    @property
    def first_response_rate(self) -> float | None:
        return self._rate(self.first_response_met, self.first_response_missed)

    @property
    def resolution_rate(self) -> float | None:
        return self._rate(self.resolution_met, self.resolution_missed)


def _met_missed(done: ColumnElement, due: ColumnElement, now: datetime) -> tuple[ColumnElement, ColumnElement]:
    met = func.count().filter(due.is_not(None), done.is_not(None), done <= due)
    missed = func.count().filter(due.is_not(None), or_(
        done > due, and_(done.is_(None), due < now, Case.status.in_(OPEN_STATUSES), Case.sla_paused_at.is_(None))))
    return met, missed


def sla_attainment(session: Session, filters: Filters, by: Dimension) -> list[SlaLine]:
    """SLA attainment of the cases created in the range, by `by`: first response and resolution clocks met
    or missed against the due times the SLA clocks set (routing/sla.py). Cases with no SLA count in neither.
    Reads only."""
    group = _group_column(by)
    rows = session.execute(select(
        group, *_met_missed(Case.first_responded_at, Case.first_response_due_at, filters.now),
        *_met_missed(Case.resolved_at, Case.resolution_due_at, filters.now),
    ).where(*_scope(filters)).group_by(group)).all()
    figures = {key: values for key, *values in rows}
    labels = label_of(session, by, figures)
    return [SlaLine(key, labels[key], *figures[key]) for key in _sorted(figures, by, labels)]


# ---- agents ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentLine:
    user_id: int
    name: str
    resolved: int
    resolution_median: float | None
    first_response_median: float | None
    open_now: int
    csat_answers: int
    csat_average: float | None


def agents(session: Session, filters: Filters) -> list[AgentLine]:
    """Each agent's output: cases they own that were resolved in the range, with the median resolution and
    first-response times of those cases, the open cases they hold now, and the satisfaction answers
    (answered in the range) about cases they resolved. Agents with none of these are left out. Reads only."""
    where = _scope(filters, Case.resolved_at) + [Case.assignee_id.is_not(None)]
    resolved = _spreads(session, [seconds_between(Case.resolved_at, Case.created_at),
                                  seconds_between(Case.first_responded_at, Case.created_at)], Case.assignee_id, where)
    open_where = [Case.status.in_(OPEN_STATUSES), Case.assignee_id.is_not(None), *_narrow(filters)]
    open_now = dict(session.execute(select(Case.assignee_id, func.count()).where(*open_where)
                                    .group_by(Case.assignee_id)).all())
    csat = {agent: (n, avg) for agent, n, avg in session.execute(
        select(SurveyResponse.agent_id, func.count(), func.avg(SurveyResponse.score))
        .where(*_scope(filters, SurveyResponse.answered_at, SurveyResponse), SurveyResponse.score.is_not(None),
               SurveyResponse.agent_id.is_not(None)).group_by(SurveyResponse.agent_id))}
    ids = set(resolved) | set(open_now) | set(csat)
    names = _names(session, User, ids)
    lines = []
    for user_id in ids:
        n_resolved, (resolution, first) = resolved.get(user_id, (0, [Spread(), Spread()]))
        answers, average = csat.get(user_id, (0, None))
        lines.append(AgentLine(user_id, names.get(user_id, f"User {user_id}"), n_resolved, resolution.median,
                               first.median, open_now.get(user_id, 0), answers, _number(average)))
    return sorted(lines, key=lambda line: (-line.resolved, line.name))


# ---- satisfaction ------------------------------------------------------------------------------------------

CSAT_DIMENSIONS = {Dimension.ALL: literal("all"), Dimension.CHANNEL: SurveyResponse.channel,
                   Dimension.QUEUE: SurveyResponse.queue_id, Dimension.LANGUAGE: SurveyResponse.language}


@dataclass(frozen=True)
class CsatLine:
    key: object
    label: str
    sent: int            # surveys sent in the range
    answered: int        # answers given in the range
    average: float | None
    satisfied: int       # answers of 4 or 5

    @property
    def satisfied_rate(self) -> float | None:
        return None if not self.answered else 100.0 * self.satisfied / self.answered


def csat(session: Session, filters: Filters, by: Dimension) -> list[CsatLine]:
    """Satisfaction by `by` (ALL, CHANNEL, QUEUE or LANGUAGE of the survey): surveys sent in the range, and the
    answers given in the range with their average score and how many were 4 or 5. Reads only."""
    group = CSAT_DIMENSIONS[by]
    sent = dict(session.execute(select(group, func.count())
                                .where(*_scope(filters, SurveyResponse.sent_at, SurveyResponse)).group_by(group)).all())
    answers = {key: (n, avg, happy) for key, n, avg, happy in session.execute(
        select(group, func.count(), func.avg(SurveyResponse.score), func.count().filter(SurveyResponse.score >= 4))
        .where(*_scope(filters, SurveyResponse.answered_at, SurveyResponse), SurveyResponse.score.is_not(None))
        .group_by(group))}
    keys = set(sent) | set(answers)
    labels = label_of(session, by, keys)
    lines = []
    for key in _sorted(keys, by, labels):
        n, average, happy = answers.get(key, (0, None, 0))
        lines.append(CsatLine(key, labels[key], sent.get(key, 0), n, _number(average), happy))
    return lines


def csat_scores(session: Session, filters: Filters) -> list[tuple[int, int]]:
    """[(score, answers)] for scores 1 to 5, of the answers given in the range. Reads only."""
    counts = dict(session.execute(
        select(SurveyResponse.score, func.count())
        .where(*_scope(filters, SurveyResponse.answered_at, SurveyResponse), SurveyResponse.score.is_not(None))
        .group_by(SurveyResponse.score)).all())
    return [(score, counts.get(score, 0)) for score in range(1, 6)]

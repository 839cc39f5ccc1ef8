"""Business time: opening hours in a time zone, minus public holidays. Pure; no database, no clock.

A calendar opens on each ISO weekday during a few intervals of local wall time ("09:00"-"12:30",
"13:30"-"17:00"); a holiday closes the whole local date. Every interval is turned into real instants (UTC)
with zoneinfo, so a business minute is a real minute of opening: on the day the clocks go forward an
interval that starts in the skipped hour is shorter, on the day they go back one that spans the repeated
hour is longer. An interval must end after it starts on the same day ("24:00" is the end of the day); one
that crosses midnight is refused with a hint to split it. A calendar without any opening hours is open
around the clock (24x7), except on its holidays.

`add(calendar, start, amount)` is the instant when `amount` of business time has passed after `start`;
`between(calendar, a, b)` is the business time in [a, b). They are inverse: between(c, s, add(c, s, n)) == n.
"""
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC = timezone.utc
MINUTES_PER_DAY = 24 * 60
_SEARCH_DAYS = 3 * 366 + 7           # a calendar not open once in three years never opens
_HHMM = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class CalendarError(ValueError):
    """A calendar that cannot be used as given; the message says what to fix."""


@dataclass(frozen=True)
class WorkCalendar:
    """Opening hours per ISO weekday (1 = Monday) as (start, end) minutes after local midnight."""

    zone: ZoneInfo
    hours: Mapping[int, tuple[tuple[int, int], ...]]
    holidays: frozenset[date] = frozenset()

    @property
    def is_always_open(self) -> bool:
        """No opening hours at all: open 24x7 (holidays still close)."""
        return not any(self.hours.values())

    def intervals_on(self, day: date) -> tuple[tuple[int, int], ...]:
        """The local opening intervals of `day`, in minutes after midnight; none on a holiday."""
        if day in self.holidays:
            return ()
        if self.is_always_open:
            return ((0, MINUTES_PER_DAY),)
        return self.hours.get(day.isoweekday(), ())


ALWAYS_OPEN = WorkCalendar(ZoneInfo("UTC"), {})


def _minutes(text: object, where: str) -> int:
    match = _HHMM.match(text) if isinstance(text, str) else None
    if match is None:
        raise CalendarError(f"{where}: {text!r} is not a time of day as HH:MM.")
    value = int(match[1]) * 60 + int(match[2])
    if value > MINUTES_PER_DAY:
        raise CalendarError(f"{where}: {text} is after 24:00.")
    return value


def _day_intervals(weekday: int, spans: object) -> tuple[tuple[int, int], ...]:
    name = WEEKDAYS[weekday - 1]
    if not isinstance(spans, list | tuple):
        raise CalendarError(f"{name}: opening hours must be a list of [start, end] pairs.")
    intervals = []
    for span in spans:
        if not isinstance(span, list | tuple) or len(span) != 2:
            raise CalendarError(f"{name}: {span!r} is not a [start, end] pair.")
        start, end = _minutes(span[0], name), _minutes(span[1], name)
        if start == MINUTES_PER_DAY:
            raise CalendarError(f"{name}: an interval cannot start at 24:00.")
        if end == start:
            raise CalendarError(f"{name}: the interval {span[0]}-{span[1]} is empty.")
        if end < start:
            raise CalendarError(f"{name}: {span[0]}-{span[1]} crosses midnight; split it into "
                                f"{span[0]}-24:00 and 00:00-{span[1]} on the next day.")
        intervals.append((start, end))
    intervals.sort()
    for (_s1, e1), (s2, _e2) in zip(intervals, intervals[1:]):
        if s2 < e1:
            raise CalendarError(f"{name}: opening intervals overlap.")
    return tuple(intervals)


def parse_calendar(timezone_name: str, hours: Mapping[str, object] | None,
                   holidays: Iterable[object] | None = ()) -> WorkCalendar:
    """A WorkCalendar from the stored form (BusinessCalendar: time zone name, {"1".."7": [["HH:MM", "HH:MM"]]},
    ISO dates). Raises CalendarError naming what is wrong: unknown zone, bad weekday, bad or overlapping
    interval, an interval crossing midnight, a date that is not ISO."""
    try:
        zone = ZoneInfo(timezone_name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as error:
        raise CalendarError(f"Unknown time zone {timezone_name!r}.") from error
    parsed: dict[int, tuple[tuple[int, int], ...]] = {}
    for key, spans in (hours or {}).items():
        if str(key) not in {"1", "2", "3", "4", "5", "6", "7"}:
            raise CalendarError(f"{key!r} is not an ISO weekday (1 = Monday ... 7 = Sunday).")
        parsed[int(key)] = _day_intervals(int(key), spans)
    days = set()
    for value in holidays or ():
        try:
            days.add(date.fromisoformat(str(value)))
        except ValueError as error:
            raise CalendarError(f"Holiday {value!r} is not a date as YYYY-MM-DD.") from error
    return WorkCalendar(zone, parsed, frozenset(days))


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return moment.astimezone(UTC)


def _local_instant(calendar: WorkCalendar, day: date, minute: int) -> datetime:
    # Wall-clock arithmetic on purpose: "minute N of the local day"; zoneinfo then picks the offset
    # (fold=0: the first of a repeated hour, the offset before a skipped one) and we take the real instant.
    midnight = datetime(day.year, day.month, day.day, tzinfo=calendar.zone)
    return (midnight + timedelta(minutes=minute)).astimezone(UTC)


def open_spans(calendar: WorkCalendar, after: datetime) -> Iterator[tuple[datetime, datetime]]:
    """The calendar's opening spans as UTC (start, end), in order, disjoint, from the one holding `after`
    (or the next) onwards; endless. Raises CalendarError when the calendar never opens."""
    after = _aware(after, "after")
    day = after.astimezone(calendar.zone).date() - timedelta(days=1)
    last_end, idle_days = after, 0
    while True:
        found = False
        for start_minute, end_minute in calendar.intervals_on(day):
            # Clipping to the previous end keeps spans disjoint when a DST change folds two intervals together.
            start = max(_local_instant(calendar, day, start_minute), last_end)
            end = _local_instant(calendar, day, end_minute)
            if end > start:
                found = True
                last_end = end
                yield start, end
        idle_days = 0 if found else idle_days + 1
        if idle_days > _SEARCH_DAYS:
            raise CalendarError("The calendar never opens: it has no opening hours outside its holidays.")
        day += timedelta(days=1)


def add(calendar: WorkCalendar, start: datetime, amount: timedelta) -> datetime:
    """The UTC instant at which `amount` of business time has passed since `start`.

    Zero returns `start` itself; an amount that ends exactly at closing time ends there (not at the next
    opening). Raises ValueError for a negative amount or a naive datetime, CalendarError for a calendar
    that never opens.
    """
    start = _aware(start, "start")
    if amount < timedelta(0):
        raise ValueError("amount must not be negative")
    if not amount:
        return start
    remaining = amount
    for span_start, span_end in open_spans(calendar, start):
        span_start = max(span_start, start)
        if span_start + remaining <= span_end:
            return span_start + remaining
        remaining -= span_end - span_start
    raise AssertionError("open_spans is endless")       # pragma: no cover


def between(calendar: WorkCalendar, start: datetime, end: datetime) -> timedelta:
    """The business time in [start, end); zero when `end` is not after `start`. Raises ValueError for a
    naive datetime, CalendarError for a calendar that never opens."""
    start, end = _aware(start, "start"), _aware(end, "end")
    total = timedelta(0)
    if end <= start:
        return total
    for span_start, span_end in open_spans(calendar, start):
        if span_start >= end:
            break
        total += min(span_end, end) - max(span_start, start)
    return total


def add_minutes(calendar: WorkCalendar, start: datetime, minutes: float) -> datetime:
    """`add` with an amount in minutes (SLA targets are whole business minutes)."""
    return add(calendar, start, timedelta(minutes=minutes))


def minutes_between(calendar: WorkCalendar, start: datetime, end: datetime) -> float:
    """`between`, in minutes."""
    return between(calendar, start, end) / timedelta(minutes=1)

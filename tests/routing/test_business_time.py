"""Business time (routing/business_time.py): worked examples with a real calendar, DST days in real zones,
and properties over generated calendars (inverse, monotonic, additive, holidays count nothing)."""
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from routing.business_time import (
    ALWAYS_OPEN,
    CalendarError,
    add,
    add_minutes,
    between,
    minutes_between,
    parse_calendar,
)

UTC = timezone.utc
LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS_9_TO_5 = {str(d): [["09:00", "17:00"]] for d in range(1, 6)}


def london(*args) -> datetime:
    return datetime(*args, tzinfo=LONDON)


def office(holidays=(), hours=WEEKDAYS_9_TO_5, zone="Europe/London"):
    return parse_calendar(zone, hours, holidays)


# ---- worked examples ------------------------------------------------------------------------------------
# 2026-11-27 is a Friday; 2026-11-30 the Monday after.


def test_friday_half_past_four_plus_an_hour_is_monday_half_past_nine():
    assert add_minutes(office(), london(2026, 11, 27, 16, 30), 60) == london(2026, 11, 30, 9, 30)
    assert minutes_between(office(), london(2026, 11, 27, 16, 30), london(2026, 11, 30, 9, 30)) == 60


def test_a_holiday_monday_pushes_it_to_tuesday():
    calendar = office(holidays=["2026-11-30"])
    assert add_minutes(calendar, london(2026, 11, 27, 16, 30), 60) == london(2026, 12, 1, 9, 30)
    assert minutes_between(calendar, london(2026, 11, 30, 0, 0), london(2026, 12, 1, 0, 0)) == 0


def test_several_intervals_a_day_skip_the_lunch_break():
    calendar = office(hours={"1": [["13:30", "17:00"], ["09:00", "12:30"]]})      # any order
    assert add_minutes(calendar, london(2026, 11, 23, 12, 0), 60) == london(2026, 11, 23, 14, 0)
    assert minutes_between(calendar, london(2026, 11, 23, 0, 0), london(2026, 11, 24, 0, 0)) == 420


def test_an_amount_that_ends_at_closing_time_ends_there():
    assert add_minutes(office(), london(2026, 11, 27, 16, 0), 60) == london(2026, 11, 27, 17, 0)


def test_outside_hours_the_clock_starts_at_the_next_opening():
    assert add_minutes(office(), london(2026, 11, 28, 10, 0), 1) == london(2026, 11, 30, 9, 1)
    assert minutes_between(office(), london(2026, 11, 28, 10, 0), london(2026, 11, 29, 23, 0)) == 0


def test_zero_is_the_start_itself_even_when_closed():
    saturday = london(2026, 11, 28, 10, 0)
    assert add(office(), saturday, timedelta(0)) == saturday


def test_seconds_count_too():
    start = london(2026, 11, 27, 16, 59, 30)
    end = add(office(), start, timedelta(seconds=45))
    assert end == london(2026, 11, 30, 9, 0, 15)
    assert between(office(), start, end) == timedelta(seconds=45)


def test_an_empty_calendar_is_open_around_the_clock_but_closed_on_its_holidays():
    assert add_minutes(ALWAYS_OPEN, london(2026, 11, 28, 23, 30), 60) == london(2026, 11, 29, 0, 30)
    calendar = parse_calendar("Europe/London", {}, ["2026-11-29"])
    assert calendar.is_always_open
    assert add_minutes(calendar, london(2026, 11, 28, 23, 30), 60) == london(2026, 11, 30, 0, 30)
    assert parse_calendar("UTC", {str(d): [] for d in range(1, 8)}).is_always_open


def test_a_time_in_another_zone_is_the_same_instant():
    start = datetime(2026, 11, 27, 16, 30, tzinfo=UTC)            # London is on UTC in November
    assert add_minutes(office(), start.astimezone(NEW_YORK), 60) == london(2026, 11, 30, 9, 30)


def test_an_end_before_the_start_measures_nothing():
    assert between(office(), london(2026, 11, 30, 12, 0), london(2026, 11, 30, 10, 0)) == timedelta(0)


# ---- DST ------------------------------------------------------------------------------------------------


def test_opening_hours_stay_local_across_the_change_to_summer_time():
    # New York moves its clocks forward on Sunday 2026-03-08: Friday 16:30 EST + 60 is Monday 09:30 EDT.
    calendar = office(zone="America/New_York")
    start = datetime(2026, 3, 6, 16, 30, tzinfo=NEW_YORK)
    assert add_minutes(calendar, start, 60) == datetime(2026, 3, 9, 9, 30, tzinfo=NEW_YORK)
    assert add_minutes(calendar, start, 60) - start == timedelta(days=2, hours=16)        # 17 h - 1 h of DST


@pytest.mark.parametrize("day, hours", [(date(2026, 3, 8), 23), (date(2026, 11, 1), 25), (date(2026, 6, 7), 24)])
def test_a_day_open_around_the_clock_counts_the_real_hours_of_a_dst_day(day, hours):
    calendar = parse_calendar("America/New_York", {"7": [["00:00", "24:00"]]})       # Sundays
    midnight = datetime(day.year, day.month, day.day, tzinfo=NEW_YORK)
    assert between(calendar, midnight, midnight + timedelta(days=1)) == timedelta(hours=hours)


def test_an_interval_inside_the_skipped_hour_counts_nothing_and_the_repeated_hour_counts_twice():
    # London skips 01:00-02:00 on 2026-03-29 and repeats it on 2026-10-25 (both Sundays).
    calendar = parse_calendar("Europe/London", {"7": [["01:00", "02:00"]]})
    assert between(calendar, london(2026, 3, 29), london(2026, 3, 30)) == timedelta(0)
    assert between(calendar, london(2026, 10, 25), london(2026, 10, 26)) == timedelta(hours=2)
    assert between(calendar, london(2026, 11, 1), london(2026, 11, 2)) == timedelta(hours=1)


# ---- refusing bad calendars -----------------------------------------------------------------------------


@pytest.mark.parametrize("zone, hours, holidays, message", [
    ("Mars/Olympus", {}, [], "Unknown time zone"),
    ("UTC", {"1": [["22:00", "06:00"]]}, [], "crosses midnight; split it into 22:00-24:00 and 00:00-06:00"),
    ("UTC", {"1": [["09:00", "12:00"], ["11:00", "13:00"]]}, [], "overlap"),
    ("UTC", {"1": [["09:00", "09:00"]]}, [], "empty"),
    ("UTC", {"1": [["9am", "5pm"]]}, [], "HH:MM"),
    ("UTC", {"1": [["24:00", "24:00"]]}, [], "cannot start at 24:00"),
    ("UTC", {"1": [["09:00"]]}, [], "pair"),
    ("UTC", {"1": "09:00-17:00"}, [], "list"),
    ("UTC", {"8": [["09:00", "17:00"]]}, [], "ISO weekday"),
    ("UTC", {}, ["25/12/2026"], "YYYY-MM-DD"),
])
def test_a_bad_calendar_is_refused_with_what_to_fix(zone, hours, holidays, message):
    with pytest.raises(CalendarError, match=message):
        parse_calendar(zone, hours, holidays)


def test_24_00_ends_the_day():
    calendar = parse_calendar("UTC", {"1": [["20:00", "24:00"]], "2": [["00:00", "02:00"]]})
    start = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)
    assert add_minutes(calendar, start, 120) == datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


def test_a_calendar_that_never_opens_is_an_error_not_a_hang():
    mondays = [date(2026, 11, 23) + timedelta(weeks=n) for n in range(200)]
    calendar = parse_calendar("UTC", {"1": [["09:00", "17:00"]]}, [d.isoformat() for d in mondays])
    with pytest.raises(CalendarError, match="never opens"):
        add_minutes(calendar, datetime(2026, 11, 23, tzinfo=UTC), 1)


def test_naive_datetimes_and_negative_amounts_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        add_minutes(office(), datetime(2026, 11, 27, 16, 30), 60)
    with pytest.raises(ValueError, match="negative"):
        add_minutes(office(), london(2026, 11, 27, 16, 30), -1)


# ---- properties -----------------------------------------------------------------------------------------

ZONES = ["UTC", "Europe/London", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "Pacific/Chatham"]


@st.composite
def day_hours(draw):
    """Disjoint intervals of at least 15 minutes in a day, as stored ("HH:MM" pairs)."""
    cuts = sorted(draw(st.sets(st.integers(0, 96), min_size=0, max_size=6)))
    if len(cuts) % 2:
        cuts = cuts[:-1]
    fmt = lambda q: f"{q * 15 // 60:02d}:{q * 15 % 60:02d}"            # noqa: E731
    return [[fmt(a), fmt(b)] for a, b in zip(cuts[::2], cuts[1::2])]


@st.composite
def calendars(draw):
    zone = draw(st.sampled_from(ZONES))
    hours = draw(st.dictionaries(st.sampled_from([str(d) for d in range(1, 8)]), day_hours(), max_size=7))
    holidays = draw(st.lists(st.dates(date(2026, 1, 1), date(2027, 12, 31)), max_size=8))
    return parse_calendar(zone, hours, [d.isoformat() for d in holidays])


instants = st.datetimes(datetime(2026, 1, 1), datetime(2027, 12, 31), timezones=st.just(UTC))
amounts = st.integers(0, 3000 * 60).map(lambda s: timedelta(seconds=s))
FAST = settings(deadline=None, max_examples=150)


@FAST
@given(calendars(), instants, amounts)
def test_measuring_what_was_added_gives_it_back(calendar, start, amount):
    assert between(calendar, start, add(calendar, start, amount)) == amount


@FAST
@given(calendars(), instants, instants, amounts, amounts)
def test_adding_is_monotonic_in_start_and_amount(calendar, a, b, n, m):
    a, b = sorted((a, b))
    n, m = sorted((n, m))
    assert add(calendar, a, n) <= add(calendar, b, n)
    assert add(calendar, a, n) <= add(calendar, a, m)
    assert add(calendar, a, n) >= a


@FAST
@given(calendars(), instants, instants, instants)
def test_measuring_is_additive_and_never_exceeds_real_time(calendar, a, b, c):
    a, b, c = sorted((a, b, c))
    assert between(calendar, a, b) + between(calendar, b, c) == between(calendar, a, c)
    assert timedelta(0) <= between(calendar, a, b) <= b - a


@FAST
@given(calendars(), st.dates(date(2026, 1, 1), date(2027, 12, 31)), instants, amounts)
def test_a_holiday_contributes_nothing(calendar, holiday, start, amount):
    closed = replace(calendar, holidays=calendar.holidays | {holiday})
    local_midnight = datetime(holiday.year, holiday.month, holiday.day, tzinfo=calendar.zone)
    day_start, day_end = local_midnight.astimezone(UTC), (local_midnight + timedelta(days=1)).astimezone(UTC)
    assert between(closed, day_start, day_end) == timedelta(0)
    assume(amount > timedelta(0))
    end = add(closed, start, amount)
    assert not day_start < end < day_end
    # Everywhere else the holiday changes nothing: the business time around it is the calendar's own.
    on_the_day = between(calendar, max(start, day_start), min(end, day_end))
    assert between(closed, start, end) == between(calendar, start, end) - on_the_day


@FAST
@given(st.sampled_from(ZONES), st.dates(date(2026, 1, 1), date(2027, 12, 31)))
def test_a_whole_local_day_open_around_the_clock_is_its_real_length(zone, day):
    calendar = parse_calendar(zone, {})
    tz = ZoneInfo(zone)
    midnight = datetime(day.year, day.month, day.day, tzinfo=tz)
    next_midnight = midnight + timedelta(days=1)         # wall clock: the next local midnight
    real = next_midnight.astimezone(UTC) - midnight.astimezone(UTC)
    assert between(calendar, midnight, next_midnight) == real

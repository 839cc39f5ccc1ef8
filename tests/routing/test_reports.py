"""The report queries on a small fixed set of cases and surveys, checked against figures worked out by hand,
on the real database (both engines: percentile_cont on PostgreSQL, window functions on SQLite)."""
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import pytest

from models import Case, CaseStatus, Category, Channel, Role, SurveyResponse
from routing import reports
from routing.reports import Dimension, Filters
from tests.factories import make_queue, make_user

DAY = date(2026, 3, 2)
NOW = datetime(2026, 3, 7, 12, tzinfo=timezone.utc)
HOUR = 3600


@dataclass
class Known:
    benefits: int
    roads: int
    housing: int
    ana: int
    ben: int

    def filters(self, **kw) -> Filters:
        return Filters(DAY, DAY + timedelta(days=1), now=NOW, **kw)


def _at(day_offset: int, hour: int, minute: int = 0) -> datetime:
    return datetime(DAY.year, DAY.month, DAY.day, hour, minute, tzinfo=timezone.utc) + timedelta(days=day_offset)


def known_set(session) -> Known:
    """Seven cases, six created on DAY or the day after (one the day before), and three surveys. The expected
    figures in the tests below are worked out from these by hand."""
    benefits = make_queue(session, "benefits", name="Benefits")
    roads = make_queue(session, "roads", name="Roads")
    housing = Category(code="housing", name="Housing", queue=benefits)
    session.add(housing)
    ana = make_user(session, Role.AGENT, email="ana@staff.example", display_name="Ana Agent")
    ben = make_user(session, Role.AGENT, email="ben@staff.example", display_name="Ben Agent")
    session.flush()
    h = timedelta(hours=1)

    def case(n, queue, channel, language, district, created, *, first=None, resolved=None, first_due=None,
             resolution_due=None, status=CaseStatus.RESOLVED, assignee=None, **kw):
        row = Case(reference=f"R-{n}", channel=channel, queue_id=queue.id, language=language, district=district,
                   created_at=created, queued_at=created, last_activity_at=created, status=status,
                   assignee_id=assignee.id if assignee else None,
                   first_responded_at=created + first * h if first is not None else None,
                   resolved_at=created + resolved * h if resolved is not None else None,
                   first_response_due_at=created + first_due * h if first_due is not None else None,
                   resolution_due_at=created + resolution_due * h if resolution_due is not None else None, **kw)
        session.add(row)
        return row

    one = case(1, benefits, Channel.EMAIL, "en", "North", _at(0, 9), first=1, resolved=4, first_due=2,
               resolution_due=8, assignee=ana, category_id=housing.id)
    two = case(2, benefits, Channel.EMAIL, "en", "North", _at(0, 10), first=2, resolved=10, first_due=2,
               resolution_due=8, assignee=ana)
    case(3, benefits, Channel.CHAT, "es", "South", _at(0, 11), first=3, first_due=2, resolution_due=24,
         status=CaseStatus.ASSIGNED, assignee=ben)
    four = case(4, roads, Channel.PHONE, "es", "South", _at(1, 8), first=5, resolved=20, assignee=ben)
    case(5, roads, Channel.EMAIL, None, None, _at(1, 23, 30), first_due=1, status=CaseStatus.NEW)
    case(7, roads, Channel.WEBFORM, "fr", "East", _at(1, 9), first_due=1, status=CaseStatus.PENDING_CONSTITUENT,
         sla_paused_at=_at(1, 10))
    case(0, benefits, Channel.EMAIL, "en", "North", _at(-1, 12), first=1, resolved=2, assignee=ana)  # before
    session.flush()
    for row, score, answered in ((one, 5, _at(0, 14)), (two, 2, _at(1, 9))):
        session.add(SurveyResponse(case_id=row.id, agent_id=ana.id, queue_id=benefits.id, channel=Channel.EMAIL,
                                   language="en", sent_at=row.resolved_at + timedelta(minutes=5), score=score,
                                   answered_at=answered))
    session.add(SurveyResponse(case_id=four.id, agent_id=ben.id, queue_id=roads.id, channel=Channel.PHONE,
                               language="es", sent_at=_at(2, 5)))                    # sent after the range
    session.flush()
    return Known(benefits.id, roads.id, housing.id, ana.id, ben.id)


@pytest.fixture
def known(db_session) -> Known:
    return known_set(db_session)


def _counts(lines) -> dict:
    return {line.label: line.cases for line in lines}


def test_volume_by_channel_queue_category_day_and_hour(db_session, known):
    f = known.filters()
    assert _counts(reports.volume(db_session, f, Dimension.CHANNEL)) == {
        "email": 3, "chat": 1, "phone": 1, "webform": 1}
    assert [(line.label, line.cases) for line in reports.volume(db_session, f, Dimension.QUEUE)] == [
        ("Benefits", 3), ("Roads", 3)]
    assert [(line.label, line.cases) for line in reports.volume(db_session, f, Dimension.CATEGORY)] == [
        ("Not recorded", 5), ("Housing", 1)]
    assert [(line.key, line.cases) for line in reports.volume(db_session, f, Dimension.DAY)] == [
        (DAY, 3), (DAY + timedelta(days=1), 3)]
    hours = reports.volume(db_session, f, Dimension.HOUR)
    assert len(hours) == 24 and hours[0].label == "00:00"
    assert {line.key: line.cases for line in hours if line.cases} == {8: 1, 9: 2, 10: 1, 11: 1, 23: 1}


def test_volume_with_queue_and_channel_filters(db_session, known):
    assert _counts(reports.volume(db_session, known.filters(channel=Channel.EMAIL), Dimension.QUEUE)) == {
        "Benefits": 2, "Roads": 1}
    assert _counts(reports.volume(db_session, known.filters(queue_id=known.roads), Dimension.ALL)) == {
        "All cases": 3}


def test_an_empty_range_has_a_line_for_every_day_and_no_other_lines(db_session, known):
    f = Filters(date(2025, 1, 1), date(2025, 1, 3), now=NOW)
    assert [line.cases for line in reports.volume(db_session, f, Dimension.DAY)] == [0, 0, 0]
    assert reports.volume(db_session, f, Dimension.QUEUE) == []
    assert reports.times(db_session, f, Dimension.ALL) == []


def test_median_and_90th_percentile_are_continuous_percentiles(db_session, known):
    # First responses 1, 2, 3 and 5 hours: median (2+3)/2 = 2.5 h; p90 at position 2.7: 3 + 0.7 * 2 = 4.4 h.
    # Resolutions 4, 10 and 20 hours: median 10 h; p90 at position 1.8: 10 + 0.8 * 10 = 18 h.
    [line] = reports.times(db_session, known.filters(), Dimension.ALL)
    assert (line.cases, line.responded, line.resolved) == (6, 4, 3)
    assert line.first_response_median == pytest.approx(2.5 * HOUR)
    assert line.first_response_p90 == pytest.approx(4.4 * HOUR)
    assert line.resolution_median == pytest.approx(10 * HOUR)
    assert line.resolution_p90 == pytest.approx(18 * HOUR)


def test_times_by_language_and_district_for_the_equity_view(db_session, known):
    by_language = {line.label: line for line in reports.times(db_session, known.filters(), Dimension.LANGUAGE)}
    assert list(by_language) == ["en", "es", "fr", "Not recorded"]
    en, es = by_language["en"], by_language["es"]
    assert (en.first_response_median, en.first_response_p90) == pytest.approx((1.5 * HOUR, 1.9 * HOUR))
    assert (en.resolution_median, en.resolution_p90) == pytest.approx((7 * HOUR, 9.4 * HOUR))
    assert (es.first_response_median, es.first_response_p90) == pytest.approx((4 * HOUR, 4.8 * HOUR))
    assert (es.resolution_median, es.resolution_p90) == pytest.approx((20 * HOUR, 20 * HOUR))
    assert by_language["fr"].responded == 0 and by_language["fr"].first_response_median is None
    by_district = {line.label: (line.cases, line.first_response_median)
                   for line in reports.times(db_session, known.filters(), Dimension.DISTRICT)}
    assert by_district == {"East": (1, None), "North": (2, pytest.approx(1.5 * HOUR)),
                           "South": (2, pytest.approx(4 * HOUR)), "Not recorded": (1, None)}


def test_times_of_one_queue(db_session, known):
    [line] = reports.times(db_session, known.filters(queue_id=known.roads), Dimension.QUEUE)
    assert (line.label, line.cases, line.responded) == ("Roads", 3, 1)
    assert line.first_response_median == pytest.approx(5 * HOUR)


def test_sla_attainment_counts_met_and_missed_clocks(db_session, known):
    lines = {line.label: line for line in reports.sla_attainment(db_session, known.filters(), Dimension.QUEUE)}
    benefits, roads = lines["Benefits"], lines["Roads"]
    # 1 answered in 1 h of 2 (met), 2 at exactly 2 h (met), 3 at 3 h (missed); resolution: 1 met, 2 late,
    # 3 still open a day past its due time (missed).
    assert (benefits.first_response_met, benefits.first_response_missed) == (2, 1)
    assert (benefits.resolution_met, benefits.resolution_missed) == (1, 2)
    assert benefits.first_response_rate == pytest.approx(200 / 3)
    # 5 waits unanswered past its due time (missed); 7 is paused (neither); 4 has no SLA.
    assert (roads.first_response_met, roads.first_response_missed) == (0, 1)
    assert roads.resolution_rate is None


def test_agents_resolved_in_the_range_open_now_and_satisfaction(db_session, known):
    ana, ben = reports.agents(db_session, known.filters())
    assert (ana.name, ana.resolved, ana.open_now, ana.csat_answers, ana.csat_average) == ("Ana Agent", 2, 0, 2, 3.5)
    assert ana.resolution_median == pytest.approx(7 * HOUR)
    assert ana.first_response_median == pytest.approx(1.5 * HOUR)
    # Ben resolved case 4 after the range ended; he holds case 3 open.
    assert (ben.name, ben.resolved, ben.open_now, ben.resolution_median) == ("Ben Agent", 0, 1, None)


def test_csat_sent_answered_average_and_scores(db_session, known):
    [line] = reports.csat(db_session, known.filters(), Dimension.ALL)
    assert (line.sent, line.answered, line.average, line.satisfied, line.satisfied_rate) == (2, 2, 3.5, 1, 50.0)
    assert reports.csat_scores(db_session, known.filters()) == [(1, 0), (2, 1), (3, 0), (4, 0), (5, 1)]
    by_queue = reports.csat(db_session, known.filters(), Dimension.QUEUE)
    assert [(line.label, line.answered) for line in by_queue] == [("Benefits", 2)]


def test_a_range_must_run_forwards_and_not_too_long():
    with pytest.raises(ValueError, match="ends before"):
        Filters(DAY, DAY - timedelta(days=1))
    with pytest.raises(ValueError, match="longer"):
        Filters(DAY, DAY + timedelta(days=reports.MAX_DAYS))

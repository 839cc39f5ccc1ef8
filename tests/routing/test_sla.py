"""SLA clocks on real cases (routing/sla.py, routing/sla_jobs.py), on both engines: due times in business hours
at opening, pause and resume, the warning and breach timers run by a real RQ worker with a real Redis, the
pushes they cause, and the sweep that catches up."""
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import redis as redis_lib
from rq import Queue, SimpleWorker
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select

import routing
from caseworker import realtime  # noqa: F401  (handlers must be declared before any app binds the server)
from caseworker.extensions import socketio
from channels import outbound
from channels.base import ContactAddress, NormalizedContact
from channels.intake import ingest
from models import (
    BusinessCalendar,
    Case,
    CaseStatus,
    Category,
    ContactKind,
    Interaction,
    InteractionKind,
    Priority,
    Role,
    SlaEvent,
    SlaKind,
    SlaPolicy,
    SlaStage,
    SlaState,
    utcnow,
)
from routing import signals, sla, sla_jobs
from tests.conftest import Auth, csrf_token
from tests.factories import PASSWORD, make_case, make_category, make_queue, make_user

UTC = timezone.utc
LONDON = ZoneInfo("Europe/London")


def london(*args) -> datetime:
    return datetime(*args, tzinfo=LONDON)


def _office_queue(session, holidays=("2026-11-30",)):
    """9-17 on weekdays in London, closed on Monday 2026-11-30; normal: 1 h to answer, 8 h to resolve."""
    calendar = BusinessCalendar(name="City Hall", timezone="Europe/London",
                                hours={str(d): [["09:00", "17:00"]] for d in range(1, 6)}, holidays=list(holidays))
    queue = make_queue(session, calendar=calendar)
    session.add_all([SlaPolicy(queue_id=queue.id, priority=Priority.NORMAL, first_response_minutes=60,
                               resolution_minutes=480),
                     SlaPolicy(queue_id=queue.id, priority=Priority.HIGH, first_response_minutes=30,
                               resolution_minutes=240)])
    make_category(session, queue, queue.code)
    session.flush()
    return queue


def _round_the_clock_queue(session, first=60, resolution=600):
    queue = make_queue(session)
    session.add(SlaPolicy(queue_id=queue.id, priority=Priority.NORMAL, first_response_minutes=first,
                          resolution_minutes=resolution))
    make_category(session, queue, queue.code)
    session.flush()
    return queue


def _case_in(session, queue, created_at=None, **kw):
    category = session.execute(select(Category).where(Category.queue_id == queue.id)).scalar_one()
    case = make_case(session, category=category, **kw)
    if created_at is not None:
        case.created_at = created_at
        sla.apply_sla(session, case)
    return case


def _fresh(session, case_id) -> Case:
    session.commit()
    session.expire_all()
    return session.get(Case, case_id)


@pytest.fixture
def rq(redis_url):
    client = redis_lib.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def heard():
    """Every SLA signal sent, as (name, case_id, details)."""
    seen = []

    def listener(name):
        return lambda case_id, **details: seen.append((name, case_id, details))

    warning, breached = listener("warning"), listener("breached")
    signals.sla_warning.connect(warning)
    signals.sla_breached.connect(breached)
    yield seen
    signals.sla_warning.disconnect(warning)
    signals.sla_breached.disconnect(breached)


def _work(rq) -> None:
    SimpleWorker([sla_jobs.SLA_QUEUE], connection=rq).work(burst=True, with_scheduler=True)


# ---- measuring ------------------------------------------------------------------------------------------


def test_a_new_case_gets_due_times_in_its_queues_business_hours(db_session):
    queue = _office_queue(db_session)
    case = _case_in(db_session, queue)
    assert case.first_response_due_at is not None and case.resolution_due_at > case.first_response_due_at
    assert case.sla_basis == f"{queue.id}:{int(Priority.NORMAL)}"
    # Opened at 16:30 on Friday 2026-11-27: Monday is a holiday, so Tuesday 09:30 and 16:30.
    case.created_at = london(2026, 11, 27, 16, 30)
    sla.apply_sla(db_session, case)
    case = _fresh(db_session, case.id)
    assert case.first_response_due_at == london(2026, 12, 1, 9, 30)
    assert case.first_response_warn_at == london(2026, 12, 1, 9, 18)          # 20% of 60 minutes before
    assert case.resolution_due_at == london(2026, 12, 1, 16, 30)
    assert case.resolution_warn_at == london(2026, 12, 1, 15, 30)             # 20% of 480, capped at 60
    assert sla.sla_state(case, london(2026, 11, 30, 12, 0)) is SlaState.OK
    assert sla.sla_state(case, london(2026, 12, 1, 9, 20)) is SlaState.AT_RISK
    assert sla.sla_state(case, london(2026, 12, 1, 9, 30)) is SlaState.BREACHED
    assert sla.next_due(case) == (SlaKind.FIRST_RESPONSE, london(2026, 12, 1, 9, 30))


def test_a_case_with_no_policy_for_its_priority_has_no_clock(db_session):
    case = _case_in(db_session, _office_queue(db_session), priority=Priority.LOW)
    sla.apply_sla(db_session, case)
    assert (case.first_response_due_at, case.resolution_due_at) == (None, None)
    assert sla.sla_state(case, utcnow()) is SlaState.NONE and sla.timers(case) == []


def test_a_new_priority_or_queue_is_measured_again_from_when_the_case_was_opened(db_session):
    queue = _office_queue(db_session)
    case = _case_in(db_session, queue, created_at=london(2026, 11, 23, 10, 0))
    case.priority = Priority.HIGH
    assert sla.sync_sla(db_session, case, london(2026, 11, 23, 10, 5)) is True
    assert case.first_response_due_at == london(2026, 11, 23, 10, 30)
    assert sla.sync_sla(db_session, case, london(2026, 11, 23, 10, 6)) is False      # idempotent
    case.queue_id = _round_the_clock_queue(db_session, first=15).id
    case.priority = Priority.NORMAL
    sla.sync_sla(db_session, case)
    assert case.first_response_due_at == london(2026, 11, 23, 10, 15)


def test_a_reply_stops_the_first_response_clock(app, db_session):
    case = _case_in(db_session, _office_queue(db_session), created_at=london(2026, 11, 16, 10, 0))
    reply = outbound.queue_reply(db_session, case, "We are on it.", author_id=None)
    assert case.first_responded_at == reply.occurred_at
    assert sla.clock_state(case, SlaKind.FIRST_RESPONSE, reply.occurred_at) is SlaState.BREACHED     # days late
    case.first_responded_at = london(2026, 11, 16, 10, 20)
    assert sla.clock_state(case, SlaKind.FIRST_RESPONSE, utcnow()) is SlaState.MET
    assert sla.record_first_response(db_session, case) is False                      # the first one counts
    assert [t.kind for t in sla.timers(case)] == [SlaKind.RESOLUTION, SlaKind.RESOLUTION]


# ---- pause and resume -----------------------------------------------------------------------------------


def test_waiting_on_the_constituent_stops_the_clocks_and_their_answer_moves_the_due_times_on(db_session):
    queue = _office_queue(db_session)
    case = _case_in(db_session, queue, created_at=london(2026, 11, 27, 16, 30))       # due Tue 09:30
    case.status = CaseStatus.PENDING_CONSTITUENT
    assert sla.sync_sla(db_session, case, london(2026, 12, 1, 9, 0)) is True
    assert sla.sla_state(case, london(2026, 12, 9, 9, 0)) is SlaState.PAUSED           # a week on: still paused
    assert sla.timers(case) == [] and sla.next_due(case) is None
    # The constituent answers on Wednesday at 10:00: 9 business hours waited (Tue 09-17, Wed 09-10).
    ingest(db_session, NormalizedContact(
        channel=case.channel, sender=ContactAddress(ContactKind.EMAIL, "someone@mail.example", "Someone"),
        subject="Re: my case", body_text="Here is the photo.", external_id="<answer.1@mail.example>",
        case_reference=case.reference, occurred_at=london(2026, 12, 2, 10, 0)))
    case = _fresh(db_session, case.id)
    assert case.status is CaseStatus.NEW and case.sla_paused_at is None
    assert case.sla_paused_seconds == 9 * 3600
    assert case.first_response_due_at == london(2026, 12, 2, 10, 30)       # Tue 09:30 + 9 business hours
    assert case.first_response_warn_at == london(2026, 12, 2, 10, 18)
    assert case.resolution_due_at == london(2026, 12, 3, 9, 30)            # Tue 16:30 + 9 business hours
    # Measured again later (a new priority), the wait still counts.
    sla.apply_sla(db_session, case)
    assert case.first_response_due_at == london(2026, 12, 2, 10, 30)


def test_a_clock_breached_before_the_wait_stays_breached(db_session):
    case = _case_in(db_session, _office_queue(db_session), created_at=london(2026, 11, 23, 9, 0))    # due 10:00
    case.status = CaseStatus.PENDING_CONSTITUENT
    sla.sync_sla(db_session, case, london(2026, 11, 23, 11, 0))
    assert sla.clock_state(case, SlaKind.FIRST_RESPONSE, london(2026, 11, 23, 12, 0)) is SlaState.BREACHED
    assert sla.clock_state(case, SlaKind.RESOLUTION, london(2026, 11, 23, 12, 0)) is SlaState.PAUSED
    case.status = CaseStatus.ASSIGNED
    sla.sync_sla(db_session, case, london(2026, 11, 23, 13, 0))
    assert case.first_response_due_at == london(2026, 11, 23, 10, 0)
    assert case.resolution_due_at == london(2026, 11, 24, 11, 0)            # Mon 17:00 + the 2 hours waited


def test_resolving_a_waiting_case_ends_the_wait(db_session):
    case = _case_in(db_session, _office_queue(db_session), created_at=london(2026, 11, 23, 9, 0))
    case.status = CaseStatus.PENDING_CONSTITUENT
    sla.sync_sla(db_session, case, london(2026, 11, 23, 10, 0))
    case.status, case.resolved_at = CaseStatus.RESOLVED, london(2026, 11, 24, 10, 0)
    sla.sync_sla(db_session, case, london(2026, 11, 24, 10, 0))
    assert case.sla_paused_at is None and case.sla_paused_seconds == 8 * 3600
    assert case.resolution_due_at == london(2026, 11, 24, 17, 0)
    assert sla.clock_state(case, SlaKind.RESOLUTION, london(2026, 11, 25, 10, 0)) is SlaState.MET
    # Nobody answered before the first-response time ran out at 10:00: resolving later does not mend that.
    assert sla.sla_state(case, london(2026, 11, 25, 10, 0)) is SlaState.BREACHED


# ---- timers on a real RQ worker -------------------------------------------------------------------------


def test_the_warning_fires_once_and_sets_the_breach_timer(db_session, rq, heard):
    queue = _round_the_clock_queue(db_session)                      # 60 min, warning 12 min before
    assignee = make_user(db_session, Role.AGENT)
    case = _case_in(db_session, queue, created_at=utcnow() - timedelta(minutes=50), assignee_id=assignee.id)
    db_session.commit()
    sla_jobs.request_sla_timers(rq, case.id)
    _work(rq)
    assert heard == [("warning", case.id, {"kind": "first_response", "assignee_id": assignee.id,
                                          "due_at": _fresh(db_session, case.id).first_response_due_at.isoformat()})]
    scheduled = ScheduledJobRegistry(queue=Queue(sla_jobs.SLA_QUEUE, connection=rq)).get_job_ids()
    due = int(_fresh(db_session, case.id).first_response_due_at.timestamp())
    assert f"sla-breach-first_response-{case.id}-{due}" in scheduled
    assert sum(1 for j in scheduled if j.startswith(f"sla-warning-resolution-{case.id}-")) == 1
    sla_jobs.request_sla_timers(rq, case.id)             # again: nothing new fires, the same timers stand
    _work(rq)
    assert len(heard) == 1
    assert ScheduledJobRegistry(queue=Queue(sla_jobs.SLA_QUEUE, connection=rq)).get_job_ids() == scheduled


def test_the_breach_raises_the_priority_writes_it_on_the_timeline_and_tells_supervisors(
        app, client, db_session, rq, heard):
    queue = _round_the_clock_queue(db_session)
    supervisor, agent = make_user(db_session, Role.SUPERVISOR), make_user(db_session, Role.AGENT)
    case = _case_in(db_session, queue, created_at=utcnow() - timedelta(minutes=61), assignee_id=agent.id,
                    status=CaseStatus.ASSIGNED)
    due = case.first_response_due_at
    db_session.commit()
    Auth(client).login(supervisor.email, PASSWORD)
    watcher = socketio.test_client(app, flask_test_client=client)
    agent_client = app.test_client()
    Auth(agent_client).login(agent.email, PASSWORD)
    agent_socket = socketio.test_client(app, flask_test_client=agent_client)
    sla_jobs.schedule(rq, [sla.Timer(case.id, SlaKind.FIRST_RESPONSE, SlaStage.BREACH, due, due)])
    _work(rq)
    case = _fresh(db_session, case.id)
    assert case.priority is Priority.HIGH
    assert case.first_response_due_at == due                  # the targets it missed stay as they were
    [note] = db_session.execute(select(Interaction).where(Interaction.case_id == case.id,
                                                          Interaction.kind == InteractionKind.STATUS_CHANGE)).scalars()
    assert note.meta["change"] == "sla_breach" and (note.meta["from"], note.meta["to"]) == ("normal", "high")
    assert note.body_text.startswith("First response target missed")
    assert heard == [("breached", case.id, {"kind": "first_response", "assignee_id": agent.id,
                                            "due_at": due.isoformat(), "priority": int(Priority.HIGH)})]
    for socket_client in (watcher, agent_socket):            # supervisors and the assignee hear it, ids only
        pushed = [e["args"] for e in socket_client.get_received() if e["name"] == "sla.breached"]
        assert pushed == [[{"case_id": case.id, "kind": "first_response"}]]
    # The same timer again (a retry, a second worker): no second escalation.
    sla_jobs.schedule(rq, [sla.Timer(case.id, SlaKind.FIRST_RESPONSE, SlaStage.BREACH, due, due)])
    _work(rq)
    assert _fresh(db_session, case.id).priority is Priority.HIGH and len(heard) == 1
    assert db_session.execute(select(SlaEvent.stage).where(SlaEvent.case_id == case.id)).scalars().all() == [
        SlaStage.BREACH]
    watcher.disconnect()
    agent_socket.disconnect()


def test_stale_timers_do_nothing(db_session, rq, heard):
    queue = _round_the_clock_queue(db_session)
    answered = _case_in(db_session, queue, created_at=utcnow() - timedelta(minutes=61))
    moved = _case_in(db_session, queue, created_at=utcnow() - timedelta(minutes=61))
    waiting = _case_in(db_session, queue, created_at=utcnow() - timedelta(minutes=61))
    stale = [sla.Timer(c.id, SlaKind.FIRST_RESPONSE, stage, c.first_response_due_at, c.first_response_due_at)
             for c in (answered, moved, waiting) for stage in SlaStage]
    sla.record_first_response(db_session, answered)
    moved.created_at = utcnow()
    sla.apply_sla(db_session, moved)                        # its due time moved on
    waiting.status = CaseStatus.PENDING_CONSTITUENT
    sla.sync_sla(db_session, waiting)
    db_session.commit()
    sla_jobs.schedule(rq, stale)
    _work(rq)
    assert heard == []
    assert [_fresh(db_session, c.id).priority for c in (answered, moved, waiting)] == [Priority.NORMAL] * 3


def test_the_sweep_fires_what_was_missed_once_and_pauses_what_waits(app, db_session, rq, heard):
    queue = _round_the_clock_queue(db_session)
    overdue = _case_in(db_session, queue, created_at=utcnow() - timedelta(minutes=61))
    waiting = _case_in(db_session, queue)
    waiting.status = CaseStatus.PENDING_CONSTITUENT            # changed without the hook
    fine = _case_in(db_session, queue)
    urgent = _case_in(db_session, queue)
    urgent.priority = Priority.LOW                             # changed without the hook: no policy for low
    db_session.commit()
    assert sla.cases_to_check(db_session, utcnow()) == [overdue.id, waiting.id, urgent.id]
    result = app.test_cli_runner().invoke(args=["sla", "check"])
    assert result.exit_code == 0, result.output
    assert "3 cases checked: 0 warnings, 1 breaches" in result.output
    assert _fresh(db_session, urgent.id).first_response_due_at is None
    assert [(name, case_id) for name, case_id, _ in heard] == [("breached", overdue.id)]
    assert _fresh(db_session, overdue.id).priority is Priority.HIGH
    assert _fresh(db_session, waiting.id).sla_paused_at is not None
    assert sla.cases_to_check(db_session, utcnow()) == []           # nothing left to catch up
    result = app.test_cli_runner().invoke(args=["sla", "check", "--all"])
    assert "3 cases checked: 0 warnings, 0 breaches" in result.output          # sets the timers again
    assert {j.split("-")[3] for j in ScheduledJobRegistry(queue=Queue(sla_jobs.SLA_QUEUE, connection=rq)
                                                           ).get_job_ids()} == {str(overdue.id), str(fine.id)}
    assert len(heard) == 1


def test_the_sweep_job_goes_on_as_one_chain(db_session, rq):
    sla_jobs.request_sla_sweep(rq)
    sla_jobs.request_sla_sweep(rq)                 # two workers started
    SimpleWorker([sla_jobs.SLA_QUEUE], connection=rq).work(burst=True)
    assert ScheduledJobRegistry(queue=Queue(sla_jobs.SLA_QUEUE, connection=rq)).count == 1


def test_every_new_case_gets_its_timers_through_request_assignment(db_session, rq):
    case = _case_in(db_session, _round_the_clock_queue(db_session))
    db_session.commit()
    routing.request_assignment(rq, case.id)
    [job] = Queue(sla_jobs.SLA_QUEUE, connection=rq).get_jobs()
    assert (job.func_name, job.args) == ("routing.sla_jobs.arm_sla", (case.id,))
    _work(rq)
    assert ScheduledJobRegistry(queue=Queue(sla_jobs.SLA_QUEUE, connection=rq)).count == 4


def test_a_wait_set_on_the_case_page_stops_the_clocks_and_ending_it_moves_them_on(app, client, db_session, rq):
    queue = _round_the_clock_queue(db_session)
    agent = make_user(db_session, Role.CASEWORKER, queues=[queue])
    case = _case_in(db_session, queue, assignee_id=agent.id, status=CaseStatus.ASSIGNED)
    case_id, due = case.id, case.resolution_due_at
    db_session.commit()
    Auth(client).login(agent.email, PASSWORD)

    def set_status(status: str) -> None:
        token = csrf_token(client.get(f"/cases/{case_id}").get_data(as_text=True))
        assert client.post(f"/cases/{case_id}/status", data={"csrf_token": token, "status": status}).status_code == 302
        _work(rq)                                  # the job the change enqueued brings the clocks in line

    set_status("pending_constituent")
    waiting = _fresh(db_session, case_id)
    assert waiting.status is CaseStatus.PENDING_CONSTITUENT and waiting.sla_paused_at is not None
    assert sla.sla_state(waiting, utcnow() + timedelta(days=30)) is SlaState.PAUSED
    set_status("assigned")
    running = _fresh(db_session, case_id)
    assert running.sla_paused_at is None
    assert running.resolution_due_at > due                     # on by the time waited (round the clock)
    assert abs((running.resolution_due_at - due).total_seconds() - running.sla_paused_seconds) < 1


def test_the_sql_clauses_pick_the_cases_the_console_labels_so(db_session):
    """Lists, counts and the wallboard filter in SQL; the rows and the case page label in Python. For every
    mix of clock times, pause and status, each open case is in the clause of exactly the state it shows."""
    now = utcnow().replace(microsecond=0)
    queue = make_queue(db_session)
    times = [None, now - timedelta(hours=2), now - timedelta(minutes=10), now + timedelta(minutes=20),
             now + timedelta(hours=3)]
    cases = []
    for status in (CaseStatus.NEW, CaseStatus.ASSIGNED, CaseStatus.PENDING_CONSTITUENT):
        for due in times:
            for warn in times:
                for done in (None, now - timedelta(hours=1)):
                    for paused in (None, now - timedelta(hours=1)):
                        cases.append(make_case(db_session, queue_id=queue.id, status=status,
                                               first_response_due_at=due, first_response_warn_at=warn,
                                               first_responded_at=done, sla_paused_at=paused,
                                               resolution_due_at=now + timedelta(days=2),
                                               resolution_warn_at=now + timedelta(days=1, hours=20)))
    db_session.flush()
    shown = {case.id: sla.sla_state(case, now) for case in cases}
    assert set(sla.STATE_CLAUSES) <= set(shown.values())
    for state, clause in sla.STATE_CLAUSES.items():
        picked = set(db_session.scalars(select(Case.id).where(Case.queue_id == queue.id, clause(now))))
        assert picked == {case_id for case_id, s in shown.items() if s is state}, state

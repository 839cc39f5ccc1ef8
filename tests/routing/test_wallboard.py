"""The wallboard's figures for a known set of cases, offers, decisions and agents, on the real database."""
from datetime import timedelta

from sqlalchemy import event, insert

from models import (
    CaseStatus,
    Channel,
    DecisionKind,
    DecisionOutcome,
    Presence,
    Role,
    RoutingDecision,
    utcnow,
)
from routing import wallboard
from routing.wallboard import AgentLine, Alert, ChannelLine, Load, QueueLine
from tests.factories import make_user
from tests.routing.builders import make_agent, make_routed_queue, open_case


def _decision(session, case, kind, outcome, at, user_id):
    session.execute(insert(RoutingDecision).values(
        case_id=case.id, queue_id=case.queue_id, user_id=user_id, kind=kind, outcome=outcome, created_at=at,
        responded_at=at if outcome is DecisionOutcome.ACCEPTED else None))


def _known_set(session, now):
    ago = lambda seconds: now - timedelta(seconds=seconds)  # noqa: E731
    benefits = make_routed_queue(session, "benefits", name="Benefits")
    streets = make_routed_queue(session, "streets", name="Streets")
    rosa = make_agent(session, "Rosa Delgado", [benefits])
    li = make_agent(session, "Li Wei", [streets], presence=Presence.AWAY)
    rosa.presence_changed_at, li.presence_changed_at = ago(125), ago(4000)
    make_user(session, Role.SUPERVISOR, display_name="Bea Boss")          # not an agent: not on the board
    for agent, slots, used in ((rosa, {Channel.CHAT: 3, Channel.EMAIL: 5}, {Channel.CHAT: 2, Channel.EMAIL: 2}),
                               (li, {Channel.EMAIL: 4}, {})):
        for capacity in agent.capacities:       # no slots on a channel: not shown
            capacity.slots, capacity.used = slots.get(capacity.channel, 0), used.get(capacity.channel, 0)

    open_case(session, "benefits", queued_at=ago(300))                           # waiting, the oldest
    open_case(session, "benefits", queued_at=ago(100))                           # waiting
    open_case(session, "benefits", channel=Channel.CHAT, queued_at=ago(50), offered_to_id=rosa.id)  # offered
    at_risk = open_case(session, "benefits", queued_at=ago(180), status=CaseStatus.ASSIGNED, assignee_id=rosa.id,
                        first_response_due_at=ago(-600), first_response_warn_at=ago(10))
    late = open_case(session, "benefits", queued_at=ago(330), status=CaseStatus.ASSIGNED, assignee_id=rosa.id,
                     first_response_due_at=ago(60), first_response_warn_at=ago(600))
    chat = open_case(session, "benefits", channel=Channel.CHAT, queued_at=ago(100), status=CaseStatus.ASSIGNED,
                     assignee_id=rosa.id)
    _decision(session, at_risk, DecisionKind.ASSIGNMENT, DecisionOutcome.ASSIGNED, ago(120), rosa.id)   # waited 60
    _decision(session, late, DecisionKind.ASSIGNMENT, DecisionOutcome.ASSIGNED, ago(30), rosa.id)      # waited 300
    _decision(session, chat, DecisionKind.OFFER, DecisionOutcome.ACCEPTED, ago(60), rosa.id)           # waited 40
    _decision(session, late, DecisionKind.ASSIGNMENT, DecisionOutcome.ASSIGNED, ago(3600), rosa.id)    # too long ago

    open_case(session, "streets", channel=Channel.WEBFORM, queued_at=ago(20))
    # Waiting on the constituent since before its due time: paused, neither at risk nor breached.
    open_case(session, "streets", channel=Channel.WEBFORM, status=CaseStatus.PENDING_CONSTITUENT, assignee_id=li.id,
              resolution_due_at=ago(10), resolution_warn_at=ago(200), sla_paused_at=ago(100))
    open_case(session, "streets", channel=Channel.WEBFORM, status=CaseStatus.RESOLVED,      # closed: not counted
              resolution_due_at=ago(1000), queued_at=ago(5000))
    session.flush()
    return benefits, streets, rosa, li


def test_the_figures_of_a_known_set_per_queue_channel_and_agent(db_session):
    now = utcnow()
    benefits, streets, rosa, li = _known_set(db_session, now)
    statements = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    bind = db_session.get_bind()
    event.listen(bind, "before_cursor_execute", count)
    try:
        board = wallboard.snapshot(db_session, now)
    finally:
        event.remove(bind, "before_cursor_execute", count)
    assert len(statements) == 6, "six aggregate queries, not one per queue or agent"

    assert board.queues == [
        QueueLine(benefits.id, "Benefits", Channel.CHAT, waiting=0, oldest_wait=None, handled=1, average_wait=40,
                  at_risk=0, breached=0, offers=1),
        QueueLine(benefits.id, "Benefits", Channel.EMAIL, waiting=2, oldest_wait=300, handled=2, average_wait=180,
                  at_risk=1, breached=1, offers=0),
        QueueLine(streets.id, "Streets", Channel.WEBFORM, waiting=1, oldest_wait=20, handled=0, average_wait=None,
                  at_risk=0, breached=0, offers=0),
    ]
    assert board.channels() == [
        ChannelLine(Channel.CHAT, 0, None, 1, 40, 0, 0, 1),
        ChannelLine(Channel.EMAIL, 2, 300, 2, 180, 1, 1, 0),
        ChannelLine(Channel.WEBFORM, 1, 20, 0, None, 0, 0, 0),
    ]
    assert board.agents == [
        AgentLine(li.id, "Li Wei", Presence.AWAY, 4000, [Load(Channel.EMAIL, 0, 4)], cases=1, chats=0),
        AgentLine(rosa.id, "Rosa Delgado", Presence.AVAILABLE, 125,
                  [Load(Channel.CHAT, 2, 3), Load(Channel.EMAIL, 2, 5)], cases=3, chats=1),
    ]


def test_alerts_name_the_queue_lines_past_a_threshold(db_session):
    now = utcnow()
    benefits, *_ = _known_set(db_session, now)
    board = wallboard.snapshot(db_session, now)
    assert board.alerts(oldest_wait_seconds=None, at_risk=None) == []
    assert board.alerts(oldest_wait_seconds=240, at_risk=2) == [
        Alert(f"wait-{benefits.id}-email", "Benefits, email: oldest wait 5 min 0 s, over the 4 min 0 s threshold."),
        Alert(f"risk-{benefits.id}-email", "Benefits, email: 1 at risk and 1 breached, threshold 2."),
    ]


def test_an_empty_system_has_an_empty_board(db_session):
    board = wallboard.snapshot(db_session)
    assert board.queues == [] and board.agents == []


def test_durations_read_as_words():
    assert [wallboard.duration(s) for s in (None, 0, 59, 95, 3600, 7384)] == [
        "none", "0 s", "59 s", "1 min 35 s", "1 h 0 min", "2 h 3 min"]


def test_channel_totals_weight_the_average_wait_by_cases_handled():
    lines = [QueueLine(1, "A", Channel.EMAIL, waiting=1, oldest_wait=30, handled=3, average_wait=10),
             QueueLine(2, "B", Channel.EMAIL, waiting=2, oldest_wait=90, handled=1, average_wait=50, breached=1)]
    board = wallboard.Wallboard(utcnow(), lines, [])
    assert board.channels() == [ChannelLine(Channel.EMAIL, 3, 90, 4, 20, 0, 1, 0)]

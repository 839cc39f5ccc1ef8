"""The claim on PostgreSQL: routing reads the agents without locking them, so another transaction can commit
between that read and the claim. The claim's guarded writes must notice, leave the agent as the other
transaction left them and give the case to the next agent. (SQLite runs one writer at a time: nothing
commits in between, and the claim is skipped.)"""
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session as OrmSession

from models import (
    Case,
    Channel,
    DecisionOutcome,
    Presence,
    RoutingDecision,
    UserCapacity,
    get_engine,
    init_engine,
    migrate,
    transaction,
)
from routing import engine
from tests.conftest import engine_name
from tests.routing.builders import make_agent, make_routed_queue, open_case, slots_held

pytestmark = pytest.mark.skipif(engine_name() != "postgresql",
                                reason="SQLite serialises writers: nothing can commit between the read and the claim")


@pytest.fixture
def centre(scratch_database_url):
    """Committed: Maria (first by id, so she wins a tie) and James, one email slot each, in one queue, and a
    waiting case; plus a second case in the queue to fill Maria with."""
    migrate.upgrade(scratch_database_url)
    init_engine(scratch_database_url)
    with transaction() as session:
        queue = make_routed_queue(session, "streets")
        maria = make_agent(session, "Maria Garcia", [queue], capacity={"email": 1})
        james = make_agent(session, "James Okafor", [queue], capacity={"email": 1})
        waiting, other = open_case(session, "streets"), open_case(session, "streets")
        ids = maria.id, james.id, waiting.id, other.id
    return ids


def _meanwhile(monkeypatch, change) -> None:
    """Commit `change(session)` in its own transaction right after the routing transaction has read the agents."""
    read = engine._agents

    def read_then_change(*args, **kwargs):
        agents = read(*args, **kwargs)
        with OrmSession(get_engine()) as other:      # another connection, as another process would have
            change(other)
            other.commit()
        return agents
    monkeypatch.setattr(engine, "_agents", read_then_change)


@pytest.mark.parametrize("change, reason", [("away", "presence"), ("full", "capacity")])
def test_a_pick_whose_agent_went_away_or_filled_up_after_the_read_goes_to_the_next_agent(centre, monkeypatch,
                                                                                           change, reason):
    maria_id, james_id, case_id, other_id = centre
    if change == "away":
        _meanwhile(monkeypatch, lambda session: engine.set_presence(session, maria_id, Presence.AWAY))
    else:
        _meanwhile(monkeypatch, lambda session: engine.assign_manually(session, other_id, maria_id))
    with transaction() as session:
        effects = engine.route_case(session, case_id)
    assert effects.assigned == [(case_id, james_id, effects.assigned[0][2])]
    with transaction() as session:
        assert session.get(Case, case_id).assignee_id == james_id
        for agent_id, held in ((maria_id, 0 if change == "away" else 1), (james_id, 1)):
            assert session.get(UserCapacity, (agent_id, Channel.EMAIL)).used == held
            assert slots_held(session, agent_id, Channel.EMAIL) == held
        decision = session.execute(select(RoutingDecision).where(RoutingDecision.case_id == case_id)).scalar_one()
        assert decision.outcome is DecisionOutcome.ASSIGNED
        # The explanation tells the facts the claim found, not the stale read: Maria away, or at capacity.
        assert decision.explanation["filtered"] == {reason: 1}
        assert decision.explanation["filtered_ids"] == {reason: [maria_id]}
        assert decision.explanation["pick"]["user_id"] == james_id and decision.explanation["pick"]["used"] == 0


def test_when_everyone_picked_went_away_after_the_read_the_case_waits_and_no_slot_is_left_taken(centre,
                                                                                                monkeypatch):
    maria_id, james_id, case_id, _other = centre

    def both_away(session):
        for agent_id in (maria_id, james_id):
            engine.set_presence(session, agent_id, Presence.AWAY)
    _meanwhile(monkeypatch, both_away)
    with transaction() as session:
        effects = engine.route_cases(session, [case_id])
    assert effects.assigned == [] and [c for c, _q, _at in effects.waiting] in ([], [case_id])
    with transaction() as session:
        assert session.get(Case, case_id).assignee_id is None
        assert [session.get(UserCapacity, (a, Channel.EMAIL)).used for a in (maria_id, james_id)] == [0, 0]
        decision = session.execute(select(RoutingDecision).where(RoutingDecision.case_id == case_id)).scalar_one()
        assert decision.outcome is DecisionOutcome.NO_CANDIDATE
        assert decision.explanation["filtered"] == {"presence": 2}

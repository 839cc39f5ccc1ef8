"""The process's copy of the agents' presence and loads (`routing.roster.Loads`), on PostgreSQL: routing picks
from it while it is younger than `loads_max_age_seconds`, the claim checks each pick, a case never finds
nobody on it, and `fill` ranks the agent it routes for as it just read them. "Another process" here is a
change committed in SQL, which this process's copy cannot learn of. (SQLite reads the loads in every
transaction.)"""
import re
import time

import pytest
from sqlalchemy import select, text

from models import (
    Case,
    CaseStatus,
    Channel,
    DecisionOutcome,
    QueueMember,
    RoutingDecision,
    UserCapacity,
    reading,
    transaction,
)
from caseworker.cli import refresh_routing_copy
from routing import engine, roster, settings
from routing.explain import describe
from tests.conftest import engine_name
from tests.routing.builders import maria_and_james, make_routed_queue, open_case

pytestmark = pytest.mark.skipif(engine_name() != "postgresql",
                                reason="SQLite has no claim, so it never routes from a copy")


@pytest.fixture
def centre(scratch_database_url) -> dict:
    return maria_and_james(scratch_database_url, 6)


@pytest.fixture
def max_age():
    """Set `loads_max_age_seconds` for the test; the setting is put back after."""
    before = settings.current
    yield lambda seconds: settings.configure(loads_max_age_seconds=seconds)
    settings.current = before


def _elsewhere(statement: str, **params) -> None:
    """Commit `statement` as another process would: nothing in this process's routing sees it happen."""
    with transaction() as session:
        session.execute(text(statement), params)


def _set_used(user_id: int, used: int) -> None:
    _elsewhere("UPDATE user_capacities SET used = :used WHERE user_id = :user AND channel = 'email'",
               used=used, user=user_id)


def _route(case_id: int) -> int | None:
    with transaction() as session:
        engine.route_case(session, case_id)
    with transaction() as session:
        return session.get(Case, case_id).assignee_id


def _decision(case_id: int) -> RoutingDecision:
    with transaction() as session:
        return session.execute(select(RoutingDecision).where(RoutingDecision.case_id == case_id)
                               .order_by(RoutingDecision.id.desc()).limit(1)).scalar_one()


@pytest.mark.parametrize("seconds, expected", [(60, "james"), (0, "maria")])
def test_routing_ranks_on_its_copy_until_it_is_max_age_old(centre, max_age, seconds, expected):
    """After the first case, the copy has Maria 1 of 2 used and James 0. Elsewhere, Maria's slot frees and
    James takes one. Within the copy's age James still looks the less loaded, and he has room, so the claim
    lets the pick stand; with an age of 0 the loads are read, and Maria is the less loaded."""
    max_age(seconds)
    maria, james, (first, second) = centre["maria"], centre["james"], centre["cases"][:2]
    assert _route(first) == maria
    _set_used(maria, 0)
    _set_used(james, 1)
    time.sleep(1.05)
    assert _route(second) == centre[expected]
    decision = _decision(second)
    pick = decision.explanation["pick"]
    assert (pick["used"], pick["slots"]) == (1 if expected == "james" else 0, 2)    # as the claim found it
    # The case page says how old the others' loads were, once it is a second or more.
    with transaction() as session:
        words = describe(session.merge(decision))
    assert bool(re.search(r"\(the others' presence and loads as seen [1-9]\d* s before\)\.$", words)) == (
        expected == "james")


def test_a_pick_from_a_copy_that_is_behind_goes_to_the_next_agent_when_the_claim_finds_them_away(centre, max_age):
    max_age(60)
    maria, james, (first, second) = centre["maria"], centre["james"], centre["cases"][:2]
    assert _route(first) == maria                # the copy: Maria 1 of 2, James 0 of 2 and available
    _elsewhere("UPDATE users SET presence = 'away' WHERE id = :user", user=james)
    assert _route(second) == maria
    explanation = _decision(second).explanation
    assert explanation["filtered_ids"] == {"presence": [james]}
    with transaction() as session:
        assert session.get(UserCapacity, (james, Channel.EMAIL)).used == 0


def test_a_case_that_finds_nobody_on_the_copy_is_chosen_again_on_loads_read_afresh(centre, max_age):
    """The copy has both agents full; elsewhere, Maria's two cases are resolved. The case must not be left
    waiting on the copy's word."""
    max_age(60)
    maria, james, cases = centre["maria"], centre["james"], centre["cases"]
    with transaction() as session:
        engine.route_cases(session, cases[:4])
    with transaction() as session:
        held = session.execute(select(Case.id).where(Case.assignee_id == maria)).scalars().all()
        assert len(held) == 2 and session.get(UserCapacity, (james, Channel.EMAIL)).used == 2
    _elsewhere("UPDATE cases SET status = 'resolved', slot_channel = NULL WHERE id = ANY(:ids)", ids=held)
    _set_used(maria, 0)
    assert _route(cases[4]) == maria
    decision = _decision(cases[4])
    assert decision.outcome is DecisionOutcome.ASSIGNED
    assert decision.explanation["filtered"] == {"capacity": 1}           # James, as read afresh
    assert (decision.explanation["pick"]["used"], decision.explanation["pick"]["slots"]) == (0, 2)


def test_fill_ranks_the_freed_agent_as_it_read_them_whoever_freed_the_slot(centre, max_age):
    """Maria is full and James has one slot left in the copy. Elsewhere, Maria's two cases are resolved, and
    her freed slots pull the next case (`fill`): she has the more room, as `fill` read her, and gets it."""
    max_age(60)
    maria, james, cases = centre["maria"], centre["james"], centre["cases"]
    with transaction() as session:
        session.get(UserCapacity, (james, Channel.EMAIL)).slots = 3
    with transaction() as session:
        engine.route_cases(session, cases[:4])          # Maria 2 of 2, James 2 of 3
    with transaction() as session:
        held = session.execute(select(Case.id).where(Case.assignee_id == maria)).scalars().all()
    _elsewhere("UPDATE cases SET status = 'resolved', slot_channel = NULL WHERE id = ANY(:ids)", ids=held)
    _set_used(maria, 0)
    with transaction() as session:
        effects = engine.fill(session, maria)
    assert [(c, u) for c, u, _q in effects.assigned] == [(cases[4], maria)]
    with transaction() as session:
        assert session.get(Case, cases[4]).status is CaseStatus.ASSIGNED
        assert session.get(UserCapacity, (james, Channel.EMAIL)).used == 2


def test_a_case_that_finds_nobody_after_another_queue_of_the_batch_came_from_the_copy_is_chosen_again(
        centre, max_age):
    """Maria serves two queues, James one. The batch takes the streets queue from the copy, where Maria is
    full, and reads the parks queue, where she has room again (her case was resolved elsewhere); building
    parks' pool after streets' gives her the load the transaction saw first. The parks case must not be left
    waiting on that."""
    max_age(60)
    maria, james, cases = centre["maria"], centre["james"], centre["cases"]
    with transaction() as session:
        parks = make_routed_queue(session, "parks")
        session.add(QueueMember(queue_id=parks.id, user_id=maria))
        session.get(UserCapacity, (maria, Channel.EMAIL)).slots = 1
        parks_case = open_case(session, "parks").id
    assert [_route(cases[0]), _route(cases[1])] == [james, maria]     # the copy: Maria 1 of 1, James 1 of 2
    _elsewhere("UPDATE cases SET status = 'resolved', slot_channel = NULL WHERE id = :id", id=cases[1])
    _set_used(maria, 0)
    with transaction() as session:
        engine.route_cases(session, [cases[2], parks_case])
    with transaction() as session:
        assert session.get(Case, cases[2]).assignee_id == james
        assert session.get(Case, parks_case).assignee_id == maria


def test_between_jobs_the_copy_is_read_again_before_a_routing_transaction_finds_it_stale(centre, max_age):
    """A worker refreshes its copy between jobs (`refresh_copy`): the queue never read first, then nothing
    while the copy is young, then the queue again once it is three quarters of its max age old. Routing
    then ranks on what that refresh read: Maria busy, so James, though Maria has since been freed elsewhere
    (a read in the routing transaction would give her the case: a tie, and she comes first)."""
    max_age(1.0)
    maria, james, streets = centre["maria"], centre["james"], _queue_of(centre["cases"][0])
    with reading() as session:
        assert engine.refresh_copy(session) == streets
        assert engine.refresh_copy(session) is None
    _set_used(maria, 1)
    time.sleep(0.8)
    with reading() as session:
        assert engine.refresh_copy(session) == streets
    _set_used(maria, 0)
    assert _route(centre["cases"][0]) == james
    assert _decision(centre["cases"][0]).explanation["loads_age_ms"] > 0


def test_a_worker_starts_with_every_active_queue_read(centre):
    with transaction() as session:
        parks = make_routed_queue(session, "parks").id
        closed = make_routed_queue(session, "closed")
        closed.is_active = False
    refresh_routing_copy(every_due_queue=True)
    streets = _queue_of(centre["cases"][0])
    with reading() as session:
        assert engine.refresh_copy(session) is None
        assert roster.current(session).active_queues(session) == (streets, parks)


def _queue_of(case_id: int) -> int:
    with transaction() as session:
        return session.get(Case, case_id).queue_id


def test_the_pools_kept_with_the_copy_follow_each_claim_and_freed_slot_of_this_process(centre, max_age):
    """Pools built from the copy are kept with it and changed with every value the process learns: without
    that, the third case would go to James (his claim unseen) and the fourth to James (Maria's freed slots
    unseen)."""
    max_age(60)
    maria, james, cases = centre["maria"], centre["james"], centre["cases"]
    assert [_route(case_id) for case_id in cases[:3]] == [maria, james, maria]
    for case_id in (cases[0], cases[2]):
        with transaction() as session:
            engine.resolve(session, case_id)                 # Maria 0 of 2, James 1 of 2
    assert _route(cases[3]) == maria
    assert (_decision(cases[3]).explanation["pick"]["used"], _decision(cases[3]).explanation["loads_age_ms"] > 0) == (
        0, True)


def test_a_pool_outlives_a_read_of_the_same_agents_and_ranks_on_what_the_read_found(centre, max_age, monkeypatch):
    """Reading a queue's agents again (between jobs, every few seconds) sets what it found in the kept pool
    rather than dropping it to be built again: one pool built for three cases, and each refresh's reading
    decides the next case where what the pool held before would have decided otherwise, with room for the
    claim to let that pick stand (the pool as built: both free, so Maria; as this process's claims left it:
    Maria 1 of 2, so James)."""
    built = []
    candidates = engine._candidates
    monkeypatch.setattr(engine, "_candidates", lambda agents, channel: built.append(channel) or candidates(
        agents, channel))
    max_age(1.0)
    maria, james, cases = centre["maria"], centre["james"], centre["cases"]
    streets = _queue_of(cases[0])

    def refreshed() -> None:
        time.sleep(0.8)
        with reading() as session:
            assert engine.refresh_copy(session) == streets

    with reading() as session:
        engine.refresh_copy(session)
    assert _route(cases[0]) == maria                # Maria 1 of 2
    _set_used(maria, 0)
    _set_used(james, 1)
    refreshed()
    assert _route(cases[1]) == maria                # read: Maria 0, James 1 (the claims alone: James)
    _set_used(james, 0)
    refreshed()
    assert _route(cases[2]) == james                # read: Maria 1, James 0 (the pool as built: Maria)
    assert built == [Channel.EMAIL]

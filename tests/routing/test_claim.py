"""The claim on PostgreSQL: routing reads the agents without locking them, so another transaction can change
them between that read and the claim, committed before the claim or still open while it runs. The claim must
leave each agent as the other transaction left them, take no slot an agent has no room for or an absent agent,
give the case to the next agent, and explain the decision with the facts it found. (SQLite runs one writer at
a time: nothing commits in between, and the claim is skipped.)"""
import threading
import time

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session as OrmSession

from models import (
    Case,
    Channel,
    DecisionOutcome,
    Presence,
    RoutingDecision,
    User,
    UserCapacity,
    get_engine,
    transaction,
)
from routing import engine
from tests.conftest import engine_name
from tests.routing.builders import maria_and_james, open_case, slots_held

pytestmark = pytest.mark.skipif(engine_name() != "postgresql",
                                reason="SQLite serialises writers: nothing can commit between the read and the claim")


@pytest.fixture
def centre(scratch_database_url) -> dict:
    return maria_and_james(scratch_database_url, 4)


def _after_the_read(monkeypatch, action) -> None:
    """Run `action()` right after the routing transaction has read the agents, before its claim."""
    read = engine._agents

    def read_then_act(*args, **kwargs):
        agents = read(*args, **kwargs)
        action()
        return agents
    monkeypatch.setattr(engine, "_agents", read_then_act)


def _meanwhile(monkeypatch, change) -> None:
    """Commit `change(session)` in another connection right after the routing transaction read the agents."""
    def commit_change():
        with OrmSession(get_engine()) as other:
            change(other)
            other.commit()
    _after_the_read(monkeypatch, commit_change)


def _fill(agent_id: int, case_ids: list[int]):
    def change(session):
        for case_id in case_ids:
            engine.assign_manually(session, case_id, agent_id)
    return change


def _decision(session, case_id: int) -> RoutingDecision:
    return session.execute(select(RoutingDecision).where(RoutingDecision.case_id == case_id)).scalar_one()


def _assert_loads_match_cases(session, *agent_ids: int) -> None:
    for agent_id in agent_ids:
        used = session.get(UserCapacity, (agent_id, Channel.EMAIL)).used
        assert used == slots_held(session, agent_id, Channel.EMAIL)


@pytest.mark.parametrize("change, reason", [("away", "presence"), ("full", "capacity"), ("deactivated", "presence")])
def test_a_pick_whose_agent_went_away_filled_up_or_was_deactivated_goes_to_the_next_agent(centre, monkeypatch,
                                                                                          change, reason):
    maria, james, (case_id, first, second) = centre["maria"], centre["james"], centre["cases"][:3]
    changes = {"away": lambda session: engine.set_presence(session, maria, Presence.AWAY),
               "full": _fill(maria, [first, second]),
               "deactivated": lambda session: session.execute(update(User).where(User.id == maria)
                                                              .values(is_active=False))}
    _meanwhile(monkeypatch, changes[change])
    with transaction() as session:
        effects = engine.route_case(session, case_id)
    assert [(c, u) for c, u, _q in effects.assigned] == [(case_id, james)]
    with transaction() as session:
        assert session.get(Case, case_id).assignee_id == james
        assert session.get(UserCapacity, (maria, Channel.EMAIL)).used == (2 if change == "full" else 0)
        _assert_loads_match_cases(session, maria, james)
        decision = _decision(session, case_id)
        assert decision.outcome is DecisionOutcome.ASSIGNED
        # The facts the claim found, not the stale read: Maria away (or gone), or with both slots taken.
        assert decision.explanation["filtered"] == {reason: 1}
        assert decision.explanation["filtered_ids"] == {reason: [maria]}
        assert decision.explanation["pick"] == decision.explanation["pick"] | {"user_id": james, "used": 0, "slots": 2}


def test_when_everyone_picked_went_away_after_the_read_the_case_waits_and_no_slot_is_left_taken(centre,
                                                                                                monkeypatch):
    maria, james, case_id = centre["maria"], centre["james"], centre["cases"][0]

    def both_away(session):
        for agent_id in (maria, james):
            engine.set_presence(session, agent_id, Presence.AWAY)
    _meanwhile(monkeypatch, both_away)
    with transaction() as session:
        effects = engine.route_cases(session, [case_id])
    assert effects.assigned == []
    with transaction() as session:
        assert session.get(Case, case_id).assignee_id is None
        assert [session.get(UserCapacity, (a, Channel.EMAIL)).used for a in (maria, james)] == [0, 0]
        decision = _decision(session, case_id)
        assert decision.outcome is DecisionOutcome.NO_CANDIDATE
        assert decision.explanation["filtered"] == {"presence": 2}


def test_a_slot_with_room_for_only_some_of_its_picks_takes_what_fits_and_the_rest_wait(centre, monkeypatch):
    maria, james, (first_case, taken_1, taken_2, second_case) = centre["maria"], centre["james"], centre["cases"]
    with transaction() as session:
        session.get(UserCapacity, (maria, Channel.EMAIL)).slots = 3
        engine.set_presence(session, james, Presence.AWAY)
    # The batch reads Maria with 0 of 3 used and gives her both cases; meanwhile she takes two by hand.
    _meanwhile(monkeypatch, _fill(maria, [taken_1, taken_2]))
    with transaction() as session:
        effects = engine.route_cases(session, [first_case, second_case])
    assert [(c, u) for c, u, _q in effects.assigned] == [(first_case, maria)]
    with transaction() as session:
        assert session.get(UserCapacity, (maria, Channel.EMAIL)).used == 3
        _assert_loads_match_cases(session, maria, james)
        assert _decision(session, first_case).explanation["pick"]["used"] == 2
        waiting = _decision(session, second_case)
        assert waiting.outcome is DecisionOutcome.NO_CANDIDATE
        assert waiting.explanation["filtered"] == {"presence": 1, "capacity": 1}


def test_an_agent_picked_on_two_channels_who_filled_one_meanwhile_takes_only_the_other(centre, monkeypatch):
    """One claim, two of Maria's rows: her web-form row still has room, her email row is full by the time
    the claim locks it. Her web-form pick stands, and the email case goes to James; no row exceeds its slots."""
    maria, james, (email_case, taken_1, taken_2) = centre["maria"], centre["james"], centre["cases"][:3]
    with transaction() as session:
        session.get(UserCapacity, (maria, Channel.WEBFORM)).slots = 1
        session.get(UserCapacity, (james, Channel.WEBFORM)).slots = 0
        form_case = open_case(session, "streets", channel=Channel.WEBFORM).id
    _meanwhile(monkeypatch, _fill(maria, [taken_1, taken_2]))
    with transaction() as session:
        effects = engine.route_cases(session, [form_case, email_case])
    assert sorted((c, u) for c, u, _q in effects.assigned) == sorted([(form_case, maria), (email_case, james)])
    with transaction() as session:
        assert session.get(UserCapacity, (maria, Channel.EMAIL)).used == 2
        assert session.get(UserCapacity, (maria, Channel.WEBFORM)).used == 1
        _assert_loads_match_cases(session, maria, james)
        assert _decision(session, email_case).explanation["filtered"] == {"capacity": 1}


def _waiting_on_a_lock(database_connection) -> bool:
    return database_connection.execute(text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )).scalar_one() > 0


def test_a_claim_waiting_on_an_open_presence_change_sees_it_once_committed(centre, monkeypatch):
    """Maria's presence change is still open when the claim reaches her row: the claim waits, then sees her
    away and gives the case to James."""
    maria, james, case_id = centre["maria"], centre["james"], centre["cases"][0]
    locked, failures = threading.Event(), []

    def go_away_slowly():
        try:
            with OrmSession(get_engine()) as other, get_engine().connect() as watcher:
                engine.set_presence(other, maria, Presence.AWAY)          # holds Maria's capacity rows
                locked.set()
                deadline = time.monotonic() + 20
                while not _waiting_on_a_lock(watcher):
                    assert time.monotonic() < deadline, "the routing transaction never waited on Maria's row"
                    time.sleep(0.02)
                other.commit()
        except BaseException as error:          # reported by the test thread
            failures.append(error)
            locked.set()

    mover = threading.Thread(target=go_away_slowly)

    def start_moving():
        mover.start()
        assert locked.wait(20)
    _after_the_read(monkeypatch, start_moving)
    with transaction() as session:
        effects = engine.route_case(session, case_id)
    mover.join(20)
    assert not failures
    assert [(c, u) for c, u, _q in effects.assigned] == [(case_id, james)]
    with transaction() as session:
        assert session.get(User, maria).presence is Presence.AWAY
        _assert_loads_match_cases(session, maria, james)
        assert _decision(session, case_id).explanation["filtered"] == {"presence": 1}

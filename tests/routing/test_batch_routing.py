"""Routing a batch of given cases (an intake batch's new and reopened cases) in one transaction."""
import pytest
import redis as redis_lib
from rq import SimpleWorker
from sqlalchemy import select

import routing
from models import Case, Channel, DecisionOutcome, RoutingDecision, UserCapacity, utcnow
from routing import engine
from tests.routing.builders import make_agent, make_routed_queue, open_case, slots_held


@pytest.fixture
def two_queues(db_session):
    """Maria works both queues, James only the second; three email slots each."""
    first, second = make_routed_queue(db_session, "parking"), make_routed_queue(db_session, "streets")
    maria = make_agent(db_session, "Maria Garcia", [first, second], capacity={"email": 3})
    james = make_agent(db_session, "James Okafor", [second], capacity={"email": 3})
    db_session.commit()
    return maria, james


def _decisions(session, case_ids):
    rows = session.execute(select(RoutingDecision).where(RoutingDecision.case_id.in_(case_ids))
                           .order_by(RoutingDecision.id)).scalars().all()
    return {d.case_id: d for d in rows}


def test_each_case_of_a_batch_is_decided_on_the_load_a_fresh_read_would_see(db_session, two_queues):
    maria, james = two_queues
    b1, a1, b2, b3 = (open_case(db_session, code) for code in ("streets", "parking", "streets", "streets"))
    db_session.commit()
    ids = [b1.id, a1.id, b2.id, b3.id]
    effects = engine.route_cases(db_session, ids, now=utcnow())
    db_session.commit()
    # The streets agents were read for b1; a1 then gave Maria a second case in the other queue. b3 must see
    # that (Maria 2, James 1: James), not the load read for b1 (1 and 1: a tie Maria would win).
    assert [(case_id, user_id) for case_id, user_id, _q in effects.assigned] == [
        (b1.id, maria.id), (a1.id, maria.id), (b2.id, james.id), (b3.id, james.id)]
    decisions = _decisions(db_session, ids)
    assert [decisions[i].explanation["pick"]["used"] for i in ids] == [0, 1, 0, 1]
    assert all(decisions[i].outcome is DecisionOutcome.ASSIGNED for i in ids)
    for agent, held in ((maria, 2), (james, 2)):
        used = db_session.get(UserCapacity, (agent.id, Channel.EMAIL))
        db_session.refresh(used)
        assert used.used == slots_held(db_session, agent.id, Channel.EMAIL) == held


def test_a_batch_leaves_alone_cases_that_are_not_waiting_and_a_retry_routes_nothing(db_session, two_queues):
    maria, _james = two_queues
    waiting, taken = open_case(db_session, "parking"), open_case(db_session, "parking")
    engine.assign_manually(db_session, taken.id, maria.id)
    db_session.commit()
    effects = engine.route_cases(db_session, [taken.id, waiting.id, 987654])
    db_session.commit()
    assert effects.assigned == [(waiting.id, maria.id, waiting.queue_id)]
    assert engine.route_cases(db_session, [taken.id, waiting.id]).assigned == []
    db_session.commit()
    assert len(db_session.execute(select(RoutingDecision).where(RoutingDecision.case_id == waiting.id)).all()) == 1
    assert db_session.get(Case, taken.id).assignee_id == maria.id


def test_a_starting_worker_routes_what_a_lost_routing_job_left_waiting_beside_a_free_slot(db_session, two_queues,
                                                                                          redis_url):
    maria, james = two_queues
    # Two cases committed whose routing jobs were lost (a worker killed inside them): nothing pulls them.
    lost = [open_case(db_session, "streets"), open_case(db_session, "parking")]
    db_session.commit()
    rq_redis = redis_lib.Redis.from_url(redis_url)
    rq_redis.flushdb()
    routing.request_recovery(rq_redis)
    SimpleWorker([routing.ROUTING_QUEUE], connection=rq_redis).work(burst=True)
    db_session.expire_all()
    owners = {case.id: db_session.get(Case, case.id).assignee_id for case in lost}
    assert set(owners.values()) <= {maria.id, james.id} and None not in owners.values()
    for agent in (maria, james):
        used = db_session.get(UserCapacity, (agent.id, Channel.EMAIL))
        db_session.refresh(used)
        assert used.used == slots_held(db_session, agent.id, Channel.EMAIL)

"""Routing and SLA timers are RQ scheduled jobs; RQ keeps their times in whole seconds, cut down."""
import math
import time
from datetime import datetime, timedelta, timezone

import redis as redis_lib
from rq import Queue, SimpleWorker
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select

import routing
from models import Channel, DecisionOutcome, RoutingDecision
from routing import engine, settings
from routing.timers import not_before
from tests.routing.builders import make_agent, make_routed_queue, open_case


def test_a_time_is_rounded_up_to_the_whole_second():
    at = datetime(2026, 11, 23, 12, 0, 21, 500_000, tzinfo=timezone.utc)
    assert not_before(at) == datetime(2026, 11, 23, 12, 0, 22, tzinfo=timezone.utc)
    assert not_before(at.replace(microsecond=0)) == at.replace(microsecond=0)


def test_an_offer_timer_never_runs_before_the_offer_expires(db_session, redis_url):
    """The job used to be scored at the expiry cut to the second: run up to a second early, it found the offer
    not yet expired, did nothing, and the offer stayed open for good."""
    queue = make_routed_queue(db_session, "phones")
    agent = make_agent(db_session, "Agent", [queue], capacity={"chat": 2})
    chat = open_case(db_session, "phones", Channel.CHAT)
    db_session.commit()
    expires_at = datetime.fromtimestamp(math.floor(time.time()) + 2.9, timezone.utc)      # x.9 s past a second
    offer_timeout = timedelta(seconds=settings.current.offer_timeout_seconds)
    effects = engine.route_case(db_session, chat.id, now=expires_at - offer_timeout)
    db_session.commit()
    assert [o.user_id for o in effects.offered] == [agent.id]
    rq_redis = redis_lib.Redis.from_url(redis_url)
    routing.announce(rq_redis, effects)
    registry = ScheduledJobRegistry(queue=Queue("routing", connection=rq_redis))
    due = registry.get_scheduled_time(f"routing-expire-{effects.offered[0].decision_id}")
    assert due >= expires_at
    time.sleep(max(0.0, due.timestamp() - time.time()) + 0.05)
    SimpleWorker(["routing"], connection=rq_redis).work(burst=True, with_scheduler=True)
    db_session.expire_all()
    outcome = db_session.execute(select(RoutingDecision.outcome).where(
        RoutingDecision.id == effects.offered[0].decision_id)).scalar_one()
    db_session.commit()
    assert outcome is DecisionOutcome.TIMED_OUT

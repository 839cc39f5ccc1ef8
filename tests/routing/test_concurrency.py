"""Several `flask worker` processes route hundreds of cases at once while agents change presence, answer
offers and resolve cases; the invariants hold throughout and at the end, on the configured engines."""
import random
import subprocess
import sys
import time
from collections import Counter

import pytest
import redis as redis_lib
from rq import Queue
from rq.registry import FailedJobRegistry, StartedJobRegistry
from sqlalchemy import func, select

import routing
from caseworker import realtime
from caseworker.extensions import socketio
from models import (
    Case,
    CaseStatus,
    Channel,
    DecisionKind,
    DecisionOutcome,
    Presence,
    RoutingDecision,
    Session,
    User,
    UserCapacity,
    init_engine,
    transaction,
)
from routing import engine, roster, rules, settings
from tests.conftest import ROOT
from tests.routing.builders import make_agent, make_routed_queue, open_case

WORKERS = 3
CASES = 300
AGENTS = 24
CHURN_SECONDS = 12
CHANNELS = [Channel.EMAIL] * 4 + [Channel.WEBFORM] * 2 + [Channel.CHAT] * 3 + [Channel.PHONE]


def _seed(rng: random.Random) -> list[int]:
    with transaction() as session:
        queues = [make_routed_queue(session, "streets"),
                  make_routed_queue(session, "benefits", skills=[("benefits", True), ("housing", False)],
                                    strategy="best_match"),
                  make_routed_queue(session, "licensing", skills=[("licensing", True)], strategy="round_robin")]
        for n in range(AGENTS):
            member_of = rng.sample(queues, rng.choice([1, 2]))
            make_agent(session, f"Agent {n}", member_of, languages=("en", "es") if n % 3 == 0 else ("en",),
                       skills={"benefits": rng.randint(1, 3), "housing": rng.randint(0, 2), "licensing": 1})
        case_ids = [open_case(session, rng.choice(queues).code, rng.choice(CHANNELS),
                              language=rng.choice(["en", "en", "es"])).id for _ in range(CASES)]
    return case_ids


def _step(rq_redis, step, *args) -> engine.Effects:
    return routing.perform(rq_redis, step, *args)


def _capacity_exceeded(session) -> list:
    holder = func.coalesce(Case.offered_to_id, Case.assignee_id)
    held = (select(holder.label("user_id"), Case.slot_channel.label("channel"), func.count().label("n"))
            .where(Case.slot_channel.is_not(None)).group_by(holder, Case.slot_channel).subquery())
    return session.execute(
        select(held.c.user_id, held.c.channel, held.c.n, UserCapacity.slots)
        .join(UserCapacity, (UserCapacity.user_id == held.c.user_id) & (UserCapacity.channel == held.c.channel))
        .where(held.c.n > UserCapacity.slots)).all()


def _churn(rq_redis, rng: random.Random, agent_ids: list[int], samples: list) -> None:
    deadline = time.monotonic() + CHURN_SECONDS
    while time.monotonic() < deadline:
        roll = rng.random()
        if roll < 0.25:
            _step(rq_redis, engine.set_presence, rng.choice(agent_ids),
                  rng.choice([Presence.AVAILABLE, Presence.AVAILABLE, Presence.AWAY, Presence.OFFLINE]))
        elif roll < 0.65:
            with transaction() as session:
                offers = session.execute(select(RoutingDecision.id, RoutingDecision.user_id).where(
                    RoutingDecision.outcome == DecisionOutcome.OFFERED).limit(6)).all()
            for offer_id, user_id in offers:
                answer = rng.random()
                if answer < 0.7:
                    _step(rq_redis, engine.accept_offer, offer_id, user_id)
                elif answer < 0.9:
                    _step(rq_redis, engine.decline_offer, offer_id, user_id)
        else:
            with transaction() as session:
                owned = session.execute(select(Case.id).where(Case.status == CaseStatus.ASSIGNED)).scalars().all()
            for case_id in rng.sample(owned, min(3, len(owned))):
                _step(rq_redis, engine.resolve if rng.random() < 0.8 else engine.return_to_queue, case_id)
            if owned and rng.random() < 0.5:           # freed slots taken by a batch of a queue's waiting cases
                with transaction() as session:
                    queue_id = session.execute(select(Case.queue_id).where(Case.id == owned[0])).scalar_one()
                _step(rq_redis, engine.route_waiting, queue_id, 10)
        with transaction() as session:
            samples.append(_capacity_exceeded(session))
        time.sleep(0.02)


def _settle(rq_redis, agent_ids: list[int], timeout: float = 90) -> None:
    """Everyone available; accept every offer until nothing is queued, running or offered, three times running."""
    for user_id in agent_ids:
        _step(rq_redis, engine.set_presence, user_id, Presence.AVAILABLE)
    queue, quiet, deadline = Queue("routing", connection=rq_redis), 0, time.monotonic() + timeout
    while quiet < 3:
        assert time.monotonic() < deadline, "the routing queue did not settle"
        with transaction() as session:
            offers = session.execute(select(RoutingDecision.id, RoutingDecision.user_id).where(
                RoutingDecision.outcome == DecisionOutcome.OFFERED)).all()
        for offer_id, user_id in offers:
            _step(rq_redis, engine.accept_offer, offer_id, user_id)
        busy = offers or queue.count or StartedJobRegistry(queue=queue).count
        quiet = 0 if busy else quiet + 1
        time.sleep(0.3)


def _forgotten(session) -> list[int]:
    """Waiting cases that some available agent could take right now."""
    waiting = session.execute(select(*engine._CASE_COLUMNS).where(
        Case.status == CaseStatus.NEW, Case.offered_to_id.is_(None))).all()
    found = []
    staffing = roster.current(session)
    for case in waiting:
        queue = staffing.queue(session, case.queue_id)
        need = rules.Need(case.channel.value, case.language, queue.skills, case.is_skill_relaxed)
        pool = engine._candidates(engine._agents(session, staffing, queue, (case.channel,), copy=False), case.channel)
        evaluation = rules.evaluate(queue.strategy, need, pool, engine._declined(session, [case])[case.id])
        if evaluation.ranked:
            found.append(case.id)
    return found


def _check_ownership(session) -> None:
    both = session.execute(select(Case.id).where(Case.assignee_id.is_not(None), Case.offered_to_id.is_not(None))).all()
    assert both == [], "a case is owned and offered at once"
    open_offers = Counter(session.execute(select(RoutingDecision.case_id).where(
        RoutingDecision.outcome == DecisionOutcome.OFFERED)).scalars())
    assert [c for c, n in open_offers.items() if n > 1] == [], "a case has two open offers"
    takes = Counter(session.execute(select(RoutingDecision.case_id).where(
        RoutingDecision.outcome.in_((DecisionOutcome.ASSIGNED, DecisionOutcome.ACCEPTED)))).scalars())
    releases = Counter(session.execute(select(RoutingDecision.case_id).where(
        RoutingDecision.kind == DecisionKind.RELEASE)).scalars())
    assert [c for c, n in takes.items() if n > releases[c] + 1] == [], "a case was taken twice without release"


def _check_capacity(session) -> None:
    assert _capacity_exceeded(session) == []
    holder = func.coalesce(Case.offered_to_id, Case.assignee_id)
    held = dict(((u, ch), n) for u, ch, n in session.execute(
        select(holder, Case.slot_channel, func.count()).where(Case.slot_channel.is_not(None))
        .group_by(holder, Case.slot_channel)))
    counters = {(u, ch): used for u, ch, used in session.execute(
        select(UserCapacity.user_id, UserCapacity.channel, UserCapacity.used))}
    assert {k: v for k, v in counters.items() if v} == held, "slot counters drifted from the cases"


@pytest.mark.integration
def test_worker_processes_route_hundreds_of_cases_without_breaking_an_invariant(live_env, tmp_path):
    rng = random.Random(311)
    env = live_env | {"CASEWORK_ROUTING_OFFER_TIMEOUT_SECONDS": "2", "CASEWORK_LOG_LEVEL": "WARNING"}
    init_engine(env["DATABASE_URL"])
    previous = settings.current
    routing.configure(offer_timeout_seconds=2)
    rq_redis = redis_lib.Redis.from_url(env["REDIS_URL"])
    realtime.use_write_only_emitter(env["REDIS_URL"])       # this process announces as a web process would
    logs = [open(tmp_path / f"worker{n}.log", "wb") for n in range(WORKERS)]
    workers = [subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "worker", "routing"],
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT) for log in logs]
    try:
        case_ids = _seed(rng)
        with transaction() as session:
            agent_ids = session.execute(select(User.id)).scalars().all()
        for case_id in case_ids:
            routing.request_assignment(rq_redis, case_id)
        samples: list = []
        _churn(rq_redis, rng, agent_ids, samples)
        _settle(rq_redis, agent_ids)
        assert all(w.poll() is None for w in workers), "a worker died"
        assert [s for s in samples if s] == [], "an agent held more slots than they have"
        assert FailedJobRegistry(queue=Queue("routing", connection=rq_redis)).count == 0
        with transaction() as session:
            _check_ownership(session)
            _check_capacity(session)
            assert _forgotten(session) == []
            routed = session.execute(select(func.count(func.distinct(RoutingDecision.case_id))).where(
                RoutingDecision.outcome.in_((DecisionOutcome.ASSIGNED, DecisionOutcome.ACCEPTED)))).scalar_one()
            declined = session.execute(select(func.count()).where(
                RoutingDecision.outcome.in_((DecisionOutcome.DECLINED, DecisionOutcome.TIMED_OUT)))).scalar_one()
        assert routed > CASES // 2 and declined > 0, (routed, declined)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            try:
                worker.wait(15)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        for log in logs:
            log.close()
        routing.configure(**previous.__dict__)
        realtime._emitter = socketio
        Session.remove()

"""Routing decisions per second, and the latency of one decision, with a backlog of waiting cases.

    .venv/bin/python -m bench.routing [--agents 1000] [--cases 100000] [--waiting 10000] [--processes 2] [--json]

Runs on the engines DATABASE_URL points to (an empty database; default: a scratch SQLite file). It builds
20 queues (30 skills, 5 languages, the three strategies), `--agents` agents in mixed presence, and a
backlog of `--waiting` waiting cases, then `--processes` processes make `--cases` routing decisions:
mostly an agent resolves a case and the freed slot pulls the best waiting case (`engine.fill`), and one
in four is a new case arriving (`engine.route_case`); chat and phone offers are accepted at once, and
agents now and then go away and come back. One decision's latency runs from the moment the case is
routable (the freeing or arrival committed) to the routing transaction's commit. The resolves, accepts
and presence changes are not timed but do count against the wall-clock rate. Redis is not on this path:
RQ transport (enqueue, dequeue) comes on top of these figures. The last line with --json is one JSON
object of the figures.
"""
import argparse
import json
import multiprocessing
import os
import random
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, insert, select, text

from bench import production_engines
from models import (
    Case,
    CaseStatus,
    Channel,
    Presence,
    Priority,
    Queue,
    QueueMember,
    QueueSkill,
    Skill,
    User,
    UserCapacity,
    UserSkill,
    init_engine,
    make_engine,
    migrate,
    transaction,
    utcnow,
)
from routing import engine

LANGUAGES = ("en", "es", "it", "fr", "pt")
STRATEGIES = ("least_loaded", "round_robin", "best_match")
CHANNELS = (Channel.EMAIL,) * 4 + (Channel.WEBFORM,) * 2 + (Channel.CHAT,) * 2 + (Channel.PHONE, Channel.OPEN311)
SLOTS = {Channel.EMAIL: 8, Channel.WEBFORM: 8, Channel.OPEN311: 8, Channel.CHAT: 3, Channel.PHONE: 1}
CHUNK = 10_000


def seed_centre(agents: int, rng: random.Random) -> None:
    """Skills, queues and agents (with skills, languages, capacities, memberships), in bulk."""
    with transaction() as session:
        session.execute(insert(Skill), [{"id": n, "code": f"skill{n}", "name": f"Skill {n}"} for n in range(1, 31)])
        session.execute(insert(Queue), [{"id": q, "code": f"queue{q}", "name": f"Queue {q}", "priority": q % 3,
                                         "strategy": STRATEGIES[q % 3], "languages": list(LANGUAGES)}
                                        for q in range(1, 21)])
        session.execute(insert(QueueSkill), [{"queue_id": q, "skill_id": s, "min_level": 1, "is_essential": i == 0}
                                             for q in range(1, 21) for i, s in enumerate({q, 20 + q % 10})])
        presence = [Presence.AVAILABLE] * 8 + [Presence.AWAY, Presence.OFFLINE]
        session.execute(insert(User), [{"id": u, "email": f"agent{u}@bench.example", "display_name": f"Agent {u}",
                                        "password_hash": "-", "languages": ["en", rng.choice(LANGUAGES)],
                                        "presence": rng.choice(presence)} for u in range(1, agents + 1)])
        session.execute(insert(UserCapacity), [{"user_id": u, "channel": c, "slots": n, "used": 0}
                                               for u in range(1, agents + 1) for c, n in SLOTS.items()])
        members, skills = [], []
        for u in range(1, agents + 1):
            queues = rng.sample(range(1, 21), 3)
            members += [{"queue_id": q, "user_id": u} for q in queues]
            owned = {s for q in queues for s in (q, 20 + q % 10)} | set(rng.sample(range(1, 31), 2))
            skills += [{"user_id": u, "skill_id": s, "level": rng.randint(1, 3)} for s in owned]
        session.execute(insert(QueueMember), members)
        session.execute(insert(UserSkill), skills)


def _case_row(n: int, rng: random.Random, queued_at) -> dict:
    return {"reference": f"B-{n:09d}", "subject": "", "channel": rng.choice(CHANNELS), "status": CaseStatus.NEW,
            "priority": rng.choice([Priority.LOW, Priority.NORMAL, Priority.NORMAL, Priority.HIGH, Priority.URGENT]),
            "language": rng.choice(("en", "en", "en") + LANGUAGES), "queue_id": rng.randint(1, 20),
            "queued_at": queued_at, "created_at": queued_at, "updated_at": queued_at, "last_activity_at": queued_at}


def seed_backlog(waiting: int, rng: random.Random) -> None:
    """`waiting` cases waiting in the queues, arrived over the last days."""
    now = utcnow()
    for start in range(0, waiting, CHUNK):
        rows = [_case_row(n, rng, now - timedelta(seconds=rng.randint(60, 7 * 86400)))
                for n in range(start, min(start + CHUNK, waiting))]
        with transaction() as session:
            session.execute(insert(Case), rows)


def _timed(step, *args) -> tuple[engine.Effects, float]:
    """Run one routing step in its own transaction; its duration ends with the commit."""
    started = time.perf_counter()
    with transaction() as session:
        effects = step(session, *args)
    return effects, time.perf_counter() - started


def _untimed(step, *args) -> engine.Effects:
    with transaction() as session:
        return step(session, *args)


def _accept_offers(effects: engine.Effects) -> None:
    for offer in effects.offered:
        _untimed(engine.accept_offer, offer.decision_id, offer.user_id)


def _arrival(n: int, rng: random.Random) -> tuple[engine.Effects, float]:
    with transaction() as session:
        case_id = session.execute(insert(Case).values(**_case_row(n, rng, utcnow())).returning(Case.id)).scalar_one()
    return _timed(engine.route_case, case_id)


def _one_held_case(user_id: int) -> int | None:
    with transaction() as session:
        return session.execute(select(Case.id).where(Case.assignee_id == user_id, Case.status == CaseStatus.ASSIGNED,
                                                      Case.slot_channel.is_not(None)).limit(1)).scalar()


def work(url: str, worker: int, decisions: int, agents: int, out) -> None:
    """One process: make `decisions` routing decisions; put (latencies, no-candidate count) on `out`."""
    init_engine(url)
    rng = random.Random(1000 + worker)
    latencies, misses, arrivals = [], 0, 0
    while len(latencies) < decisions:
        if rng.random() < 0.25:
            arrivals += 1
            effects, seconds = _arrival(10**8 * (worker + 1) + arrivals, rng)
        else:
            user_id = rng.randint(1, agents)
            if rng.random() < 0.01:
                _untimed(engine.set_presence, user_id, rng.choice([Presence.AWAY, Presence.AVAILABLE]))
            held = _one_held_case(user_id)
            if held is not None:
                _untimed(engine.resolve, held)
            effects, seconds = _timed(engine.fill, user_id)
            if not (effects.assigned or effects.offered):
                continue             # nothing the agent could take, or not available: no decision made
        if effects.assigned or effects.offered:
            latencies.append(seconds)
            _accept_offers(effects)
        else:
            misses += 1
            latencies.append(seconds)          # a NO_CANDIDATE decision is a decision too
    out.put((latencies, misses))


def _analyze(url: str) -> None:
    """Planner statistics after the bulk load, as autovacuum would gather them on a live system."""
    engine = make_engine(url)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("ANALYZE"))
    engine.dispose()


def run(url: str, agents: int, decisions: int, waiting: int, processes: int) -> dict:
    migrate.upgrade(url)
    init_engine(url)
    with transaction() as session:
        if session.execute(select(func.count(User.id))).scalar_one():
            raise SystemExit("the database has users already: give the benchmark an empty database")
    rng = random.Random(311)
    started = time.perf_counter()
    seed_centre(agents, rng)
    seed_backlog(waiting, rng)
    _analyze(url)
    seeded = time.perf_counter()
    out = multiprocessing.get_context("fork").Queue()
    init_engine("sqlite://")                      # no pool crosses the fork
    children = [multiprocessing.get_context("fork").Process(
        target=work, args=(url, n, decisions // processes, agents, out)) for n in range(processes)]
    measure_start = time.perf_counter()
    for child in children:
        child.start()
    results = [out.get() for _ in children]
    wall = time.perf_counter() - measure_start
    for child in children:
        child.join()
    latencies = sorted(s for lat, _m in results for s in lat)
    quantile = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]
    init_engine(url)
    with transaction() as session:
        still_waiting = session.execute(select(func.count(Case.id)).where(Case.status == CaseStatus.NEW)).scalar_one()
    return {"engine": url.split(":", 1)[0].split("+")[0], "agents": agents, "waiting_at_start": waiting,
            "waiting_at_end": still_waiting, "processes": processes, "decisions": len(latencies),
            "no_candidate": sum(m for _l, m in results), "seed_seconds": round(seeded - started, 1),
            "seconds": round(wall, 2), "decisions_per_second": round(len(latencies) / wall),
            "p50_ms": round(quantile(0.50) * 1000, 2), "p99_ms": round(quantile(0.99) * 1000, 2),
            "mean_ms": round(statistics.fmean(latencies) * 1000, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--cases", type=int, default=100_000, help="routing decisions to make")
    parser.add_argument("--waiting", type=int, default=10_000, help="waiting cases at the start")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--servers", action="store_true",
                        help="start a throwaway PostgreSQL (as `make test` does) and use it")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON on the last line")
    args = parser.parse_args()
    if args.servers:
        with production_engines() as (url, _redis_url):
            figures = run(url, args.agents, args.cases, args.waiting, args.processes)
    else:
        with tempfile.TemporaryDirectory() as scratch:
            url = os.environ.get("DATABASE_URL") or f"sqlite:///{Path(scratch) / 'bench.db'}"
            figures = run(url, args.agents, args.cases, args.waiting, args.processes)
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:>20}: {value}")


if __name__ == "__main__":
    main()

"""Routing decisions per second, and the latency of one decision, with a backlog of waiting cases.

    .venv/bin/python -m bench.routing [--agents 1000] [--cases 100000] [--waiting 10000] [--history 0]
        [--processes 2] [--batch N] [--servers] [--phases] [--json]

Runs on the engines DATABASE_URL points to (an empty database; default: a scratch SQLite file). It builds
20 queues (30 skills, 5 languages, the three strategies), `--agents` agents in mixed presence, `--history`
resolved cases older than the backlog, and a backlog of `--waiting` waiting cases. Then `--processes`
processes make `--cases` routing decisions: mostly an agent resolves a case and the freed slot pulls the
best waiting case (`engine.fill`), and one in four is a new case arriving (`engine.route_case`); chat and
phone offers are accepted at once, and agents now and then go away and come back. One decision's latency
runs from the moment the case is routable (the freeing or arrival committed) to the routing transaction's
commit. The resolves, accepts and presence changes are not timed but do count against the wall-clock rate.
Each process starts as `flask worker` does (the routing copies of the agents' loads read) and runs what a
worker runs between jobs between its rounds (`caseworker.cli.between_jobs`: the garbage collector's full
collections, a refresh of the one routing copy most due): untimed too, and counted in the wall clock.
Redis is not on this path: RQ transport (enqueue, dequeue) comes on top of these figures. The last line
with --json is one JSON object of the figures.

With --batch N the processes route in batches instead (`engine.route_waiting`): each round frees up to N
slots of one queue's agents in one transaction (resolves of cases the process gave out, untimed: `Held`),
adds N/4 new cases to it, then routes
up to N of its waiting cases in one timed transaction; one that deadlocks is run again (counted in
`deadlocks_retried`) and its latency runs from the first attempt, while its phases and CPU time are those
of the attempt that committed. A batch's latency is given whole and per decision;
`routing_decisions_per_second` counts the routing transactions' time only (decisions x processes / time
spent routing), `decisions_per_second` the wall clock with the untimed resolves and accepts.
`cpu_ms_per_decision` is the CPU time the processes spent per decision, all their work, and that of their
PostgreSQL server processes (`Cpu`): steadier than the rates on a shared machine, it shows when the machine,
not the code, moved.

With --phases the engine's steps are timed too (reading the agents, the declines, building the pools,
ranking, the explanations, the claim, the writes), in milliseconds per routing
transaction; what they leave of a transaction is locking its cases, the commit and the glue. The timers
cost about a microsecond a call. It also gives the bench process's own CPU time per routing transaction
(`time.process_time`): the Python side of the transaction, without the database's. `bench.routing_floor`
gives the same statements' cost without the engine.
"""
import argparse
import functools
import multiprocessing
import os
import random
import statistics
import tempfile
import time
import traceback
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import NamedTuple

from sqlalchemy import bindparam, func, insert, select, text
from sqlalchemy.exc import OperationalError

from bench import print_figures, production_engines
from caseworker.cli import between_jobs, freeze_startup_objects, hold_full_collections, refresh_routing_copy
from models import (
    Case,
    CaseStatus,
    Channel,
    Presence,
    Priority,
    Queue,
    QueueMember,
    RoutingDecision,
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
from models.db import execute_core
from routing import engine, rules
from routing.dispatch import DEADLOCK

LANGUAGES = ("en", "es", "it", "fr", "pt")
STRATEGIES = ("least_loaded", "round_robin", "best_match")
CHANNELS = (Channel.EMAIL,) * 4 + (Channel.WEBFORM,) * 2 + (Channel.CHAT,) * 2 + (Channel.PHONE, Channel.OPEN311)
SLOTS = {Channel.EMAIL: 8, Channel.WEBFORM: 8, Channel.OPEN311: 8, Channel.CHAT: 3, Channel.PHONE: 1}
CHUNK = 10_000


# The engine's steps `--phases` times: name -> (module, function). The engine calls each through its module.
PHASES = {"agents read": (engine, "_agents"), "declines read": (engine, "_declined"),
          "pools built": (engine, "_candidates"), "ranking": (rules, "evaluate"),
          "explanations (in writes)": (engine, "_explanation"), "claim": (engine, "_claim"),
          "writes": (engine, "_write")}
CPU = "python cpu (whole transaction)"   # this process's CPU time in a timed transaction: ours, not the database's
_deadlocks = 0                       # transactions run again after a deadlock, in this process
_spent: Counter = Counter()          # phase -> seconds, over the transactions counted, in this process
_step: Counter = Counter()           # phase -> seconds, in the timed transaction running now
_in_timed_step = False


def time_phases() -> None:
    """Wrap each of PHASES with a timer that adds its seconds to `_step` while a timed transaction runs
    (the untimed resolves, accepts and presence changes route too); before the processes fork."""
    for name, (module, function) in PHASES.items():
        setattr(module, function, _timer(name, getattr(module, function)))


def _timer(name: str, function):
    @functools.wraps(function)
    def timed(*args, **kwargs):
        if not _in_timed_step:
            return function(*args, **kwargs)
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            _step[name] += time.perf_counter() - started
    return timed


def _counted(into: list, item) -> None:
    """Count a timed transaction that made decisions: `item` goes into `into`, its phases into `_spent`."""
    into.append(item)
    _spent.update(_step)


class Done(NamedTuple):
    """What one benchmark process reports: its timed items (latencies, or (seconds, decisions) per batch), its
    NO_CANDIDATE decisions, its phases (seconds by name), the transactions it ran again after a deadlock, and
    the CPU seconds its work took (`Cpu.spent`)."""

    timed: list
    misses: int
    phases: dict
    deadlocks: int
    cpu: tuple[float, float | None]


class Cpu:
    """The CPU time a benchmark process spends from here on, timed or not: its own, and on PostgreSQL that of
    its server process (read from /proc: the server runs on this machine). The 2 cores are shared by the
    processes and the server, so the two add up to what a decision costs the machine, whatever the
    contention of the moment; the latencies depend on it."""

    def __init__(self):
        self.backend = _backend_pid()
        self.started = time.process_time(), _process_seconds(self.backend)

    def spent(self) -> tuple[float, float | None]:
        """(this process's seconds, its server process's or None: SQLite, or the connection was replaced)."""
        python = time.process_time() - self.started[0]
        if self.backend is None or _backend_pid() != self.backend:
            return python, None
        return python, _process_seconds(self.backend) - self.started[1]


def _backend_pid() -> int | None:
    with transaction() as session:
        if session.connection().dialect.name != "postgresql":
            return None
        return session.execute(text("SELECT pg_backend_pid()")).scalar_one()


def _process_seconds(pid: int | None) -> float:
    """User and system CPU seconds of process `pid` so far (0 for None)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
    """`waiting` cases waiting in the queues, arrived over the last days, stored in the order they arrived
    (as a live system stores them: the longest waiting sit together in the table's oldest pages)."""
    now = utcnow()
    ages = sorted((rng.randint(60, 7 * 86400) for _ in range(waiting)), reverse=True)
    for start in range(0, waiting, CHUNK):
        rows = [_case_row(n, rng, now - timedelta(seconds=ages[n])) for n in range(start, min(start + CHUNK, waiting))]
        with transaction() as session:
            session.execute(insert(Case), rows)


def _timed(step, *args) -> tuple[engine.Effects, float]:
    """Run one routing step in its own transaction; its duration ends with the commit."""
    global _in_timed_step
    _step.clear()
    _in_timed_step = True
    try:
        started, cpu = time.perf_counter(), time.process_time()
        with transaction() as session:
            effects = step(session, *args)
        _step[CPU] = time.process_time() - cpu
        return effects, time.perf_counter() - started
    finally:
        _in_timed_step = False


def _untimed(step, *args) -> engine.Effects:
    with transaction() as session:
        return step(session, *args)


class Held:
    """The cases this process's routing gave out (assigned, or offered and accepted) and has not resolved, by
    queue or by agent (`key` of an `Effects.assigned` entry), oldest first: the slots the process frees. Read
    back from the database instead, they would cost a walk through the growing history of the queue or agent
    on every round (none of the console's indexes serves "held cases of a queue"), which made long runs
    slower the longer they ran."""

    def __init__(self, key: Callable[[tuple[int, int, int]], int]):
        self.key = key
        self.cases: dict[int, deque[tuple[int, int]]] = defaultdict(deque)    # key -> (case, its agent)

    def add(self, effects: engine.Effects) -> None:
        for assigned in effects.assigned:
            self.cases[self.key(assigned)].append(assigned[:2])

    def take(self, key: int, count: int) -> list[tuple[int, int]]:
        """Up to `count` of the cases held under `key`, oldest first, no longer held."""
        cases = self.cases[key]
        return [cases.popleft() for _ in range(min(count, len(cases)))]


def _accept_offers(effects: engine.Effects, held: Held) -> None:
    for offer in effects.offered:
        held.add(_untimed(engine.accept_offer, offer.decision_id, offer.user_id))


def _arrival(n: int, rng: random.Random) -> tuple[engine.Effects, float]:
    with transaction() as session:
        case_id = session.execute(insert(Case).values(**_case_row(n, rng, utcnow())).returning(Case.id)).scalar_one()
    return _timed(engine.route_case, case_id)


def _start_like_a_worker(url: str) -> None:
    """Start as `flask worker` does: the routing copies read, what startup built left out of full garbage
    collections, and those held for `between_jobs`."""
    init_engine(url)
    refresh_routing_copy(every_due_queue=True)
    freeze_startup_objects()
    hold_full_collections()


def work(url: str, worker: int, decisions: int, agents: int, out) -> None:
    """One process: make `decisions` routing decisions; put a `Done` of their latencies on `out`."""
    _start_like_a_worker(url)
    rng = random.Random(1000 + worker)
    cpu, held = Cpu(), Held(key=lambda assigned: assigned[1])     # by agent
    latencies, misses, arrivals = [], 0, 0
    while len(latencies) < decisions:
        between_jobs()                            # untimed: as `flask worker` does between jobs
        if rng.random() < 0.25:
            arrivals += 1
            effects, seconds = _arrival(10**8 * (worker + 1) + arrivals, rng)
        else:
            user_id = rng.randint(1, agents)
            if rng.random() < 0.01:
                _untimed(engine.set_presence, user_id, rng.choice([Presence.AWAY, Presence.AVAILABLE]))
            for case_id, _user_id in held.take(user_id, 1):
                _untimed(engine.resolve, case_id)
            effects, seconds = _timed(engine.fill, user_id)
            if not (effects.assigned or effects.offered):
                continue             # nothing the agent could take, or not available: no decision made
        _counted(latencies, seconds)    # a NO_CANDIDATE decision is a decision too
        if effects.assigned or effects.offered:
            held.add(effects)
            _accept_offers(effects, held)
        else:
            misses += 1
    out.put(Done(latencies, misses, dict(_spent), _deadlocks, cpu.spent()))


def _deadlock_retried(run, *args):
    """`run(*args)`, again when PostgreSQL broke a deadlock (as `routing.dispatch.perform` does); counted."""
    global _deadlocks
    for attempt in range(4):
        try:
            return run(*args)
        except OperationalError as error:
            if getattr(error.orig, "sqlstate", None) != DEADLOCK or attempt == 3:
                raise
            _deadlocks += 1


# The capacity rows of agents, locked in the order the claim (`engine._TAKE_FREE`) locks them in.
_LOCK_CAPACITY = (select(UserCapacity.user_id).where(UserCapacity.user_id.in_(bindparam("users", expanding=True)))
                  .order_by(UserCapacity.user_id, UserCapacity.channel).with_for_update())


def _free_slots(cases: list[tuple[int, int]]) -> None:
    """Resolve the cases (case, its agent), in one transaction (untimed). Their agents' capacity rows are locked
    first, in the claim's order: resolved one by one, the cases would lock them in another, and could meet
    a routing transaction's claim in a deadlock, which PostgreSQL finds only after `deadlock_timeout` (1 s),
    all of it in that transaction's latency. (The console resolves one case a transaction: one row.)"""
    with transaction() as session:
        if cases:
            execute_core(session, _LOCK_CAPACITY, {"users": sorted({user_id for _case_id, user_id in cases})}).all()
        for case_id, _user_id in cases:
            engine.resolve(session, case_id)


def work_batched(url: str, worker: int, decisions: int, batch: int, out) -> None:
    """One process, batched: put a `Done` of [(batch seconds, decisions in it)] on `out`."""
    _start_like_a_worker(url)
    rng = random.Random(1000 + worker)
    cpu, held = Cpu(), Held(key=lambda assigned: assigned[2])     # by queue
    batches, made, misses, arrivals, seen = [], 0, 0, 0, 0
    while made < decisions:
        between_jobs()                            # untimed: as `flask worker` does between jobs
        queue_id = rng.randint(1, 20)
        _deadlock_retried(_free_slots, held.take(queue_id, batch))
        rows = []
        for _ in range(batch // 4):
            arrivals += 1
            rows.append(_case_row(10**8 * (worker + 1) + arrivals, rng, utcnow()) | {"queue_id": queue_id})
        with transaction() as session:
            session.execute(insert(Case), rows)
        now = utcnow()
        started = time.perf_counter()                 # a deadlocked attempt counts in the latency of its retry
        effects, _attempt = _deadlock_retried(_timed, engine.route_waiting, queue_id, batch, now)
        seconds = time.perf_counter() - started
        decided, seen = _decided(queue_id, now, seen)
        if decided:
            _counted(batches, (seconds, decided))
            made += decided
            misses += decided - len(effects.assigned) - len(effects.offered)
        held.add(effects)
        _accept_offers(effects, held)
    out.put(Done(batches, misses, dict(_spent), _deadlocks, cpu.spent()))


def _decided(queue_id: int, now, seen: int) -> tuple[int, int]:
    """The decisions the batch routed at `now` in `queue_id` made, and the last decision id there is now.
    Only decisions after `seen` (the last id there was before the batch) are looked at: the batch's came after,
    and a count over the whole table would grow with the run."""
    with transaction() as session:
        decided, last = session.execute(
            select(func.count().filter((RoutingDecision.created_at == now) & (RoutingDecision.queue_id == queue_id)),
                   func.max(RoutingDecision.id)).where(RoutingDecision.id > seen)).one()
    return decided, last or seen


def _reporting(target, out, *args) -> None:
    """Run a benchmark process; a failure goes on `out` as its traceback, so the parent does not wait forever."""
    try:
        target(*args, out)
    except BaseException:
        out.put(traceback.format_exc())
        raise


def _analyze(url: str) -> None:
    """Planner statistics after the bulk load, as autovacuum would gather them on a live system; on PostgreSQL
    a checkpoint too, which a live system would have taken long before: otherwise the bulk load's pages are
    written out during the measurement, slowing it by as much as a third with a million cases waiting)."""
    engine = make_engine(url)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("ANALYZE"))
        if connection.dialect.name == "postgresql":
            connection.execute(text("CHECKPOINT"))
    engine.dispose()


def seed_history(count: int, rng: random.Random) -> None:
    """`count` resolved cases that arrived before the backlog (8 to 400 days ago), the history a live queue
    keeps: routing walks a queue's waiting cases best first, and must not walk these on its way."""
    now = utcnow()
    ages = sorted((rng.randint(8 * 86400, 400 * 86400) for _ in range(count)), reverse=True)
    for start in range(0, count, CHUNK):
        rows = []
        for n in range(start, min(start + CHUNK, count)):
            arrived = now - timedelta(seconds=ages[n])
            rows.append(_case_row(9 * 10**8 + n, rng, arrived)
                        | {"status": CaseStatus.RESOLVED, "resolved_at": arrived + timedelta(hours=4)})
        with transaction() as session:
            session.execute(insert(Case), rows)


def build(url: str, agents: int, waiting: int, history: int = 0) -> float:
    """Migrate the empty database at `url`, seed the centre, `history` resolved cases and a backlog of `waiting`
    cases, and gather the planner's statistics; returns the seconds the seeding took. The process's engine is
    left bound to `url`."""
    migrate.upgrade(url)
    init_engine(url)
    with transaction() as session:
        if session.execute(select(func.count(User.id))).scalar_one():
            raise SystemExit("the database has users already: give the benchmark an empty database")
    rng = random.Random(311)
    started = time.perf_counter()
    seed_centre(agents, rng)
    seed_history(history, rng)
    seed_backlog(waiting, rng)
    _analyze(url)
    return time.perf_counter() - started


def in_processes(target, arguments: list[tuple]) -> tuple[list, float]:
    """Run `target(*args, out)` in a forked process for each of `arguments`; returns what each put on `out`
    and the wall-clock seconds until the last result came. A process that fails stops the benchmark."""
    init_engine("sqlite://")                      # no pool crosses the fork
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    children = [context.Process(target=_reporting, args=(target, out, *args)) for args in arguments]
    started = time.perf_counter()
    for child in children:
        child.start()
    results = [out.get() for _ in children]
    wall = time.perf_counter() - started
    if any(isinstance(result, str) for result in results):
        raise SystemExit("a benchmark process failed:\n" + "\n".join(r for r in results if isinstance(r, str)))
    for child in children:
        child.join()
    return results, wall


def run(url: str, agents: int, decisions: int, waiting: int, processes: int, batch: int = 0,
        phases: bool = False, history: int = 0) -> dict:
    seed_seconds = build(url, agents, waiting, history)
    if phases:
        time_phases()
    target, extra = (work_batched, batch) if batch else (work, agents)
    results, wall = in_processes(target, [(url, n, decisions // processes, extra) for n in range(processes)])
    init_engine(url)
    with transaction() as session:
        still_waiting = session.execute(select(func.count(Case.id)).where(Case.status == CaseStatus.NEW)).scalar_one()
    figures = {"engine": url.split(":", 1)[0].split("+")[0], "agents": agents, "history": history,
               "waiting_at_start": waiting,
               "waiting_at_end": still_waiting, "processes": processes, "batch": batch or None,
               "no_candidate": sum(r.misses for r in results), "deadlocks_retried": sum(r.deadlocks for r in results),
               "seed_seconds": round(seed_seconds, 1),
               "seconds": round(wall, 2)}
    if phases:
        transactions = sum(len(r.timed) for r in results)
        spent = sum((Counter(r.phases) for r in results), Counter())
        figures["phases_ms_per_transaction"] = {name: round(spent[name] * 1000 / transactions, 3)
                                                for name in (*PHASES, CPU)}
    if batch:
        batches = [b for r in results for b in r.timed]
        made = sum(n for _s, n in batches)
        routing_seconds = sum(s for s, _n in batches)
        return figures | {"decisions": made, "decisions_per_second": round(made / wall), **_cpu_figures(results, made),
                          "routing_decisions_per_second": round(made * processes / routing_seconds),
                          "mean_batch_size": round(made / len(batches), 1),
                          **quantiles(sorted(s for s, _n in batches), "batch_"),
                          **quantiles(sorted(s / n for s, n in batches), "per_decision_")}
    latencies = sorted(s for r in results for s in r.timed)
    return figures | {"decisions": len(latencies), "decisions_per_second": round(len(latencies) / wall),
                      **_cpu_figures(results, len(latencies)),
                      "routing_decisions_per_second": round(len(latencies) * processes / sum(latencies)),
                      **quantiles(latencies)}


def _cpu_figures(results: list[Done], decisions: int) -> dict:
    """The processes' CPU time per decision made (all their work, timed or not), and their PostgreSQL server
    processes', when every process could read its own."""
    python = sum(r.cpu[0] for r in results)
    database = None if any(r.cpu[1] is None for r in results) else sum(r.cpu[1] for r in results)
    return {"cpu_ms_per_decision": {"bench processes": round(python * 1000 / decisions, 3),
                                    "postgresql": None if database is None else round(database * 1000 / decisions, 3)}}


def quantiles(seconds: list[float], prefix: str = "") -> dict:
    quantile = lambda q: seconds[min(len(seconds) - 1, int(q * len(seconds)))]
    return {f"{prefix}p50_ms": round(quantile(0.50) * 1000, 2), f"{prefix}p99_ms": round(quantile(0.99) * 1000, 2),
            f"{prefix}mean_ms": round(statistics.fmean(seconds) * 1000, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--cases", type=int, default=100_000, help="routing decisions to make")
    parser.add_argument("--waiting", type=int, default=10_000, help="waiting cases at the start")
    parser.add_argument("--history", type=int, default=0, help="resolved cases that arrived before the backlog")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--batch", type=int, default=0,
                        help="route in batches of up to N waiting cases per transaction (engine.route_waiting)")
    parser.add_argument("--servers", action="store_true",
                        help="start a throwaway PostgreSQL (as `make test` does) and use it")
    parser.add_argument("--phases", action="store_true", help="time the engine's steps too (ms per transaction)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON on the last line")
    args = parser.parse_args()
    measure = functools.partial(run, agents=args.agents, decisions=args.cases, waiting=args.waiting,
                                processes=args.processes, batch=args.batch, phases=args.phases, history=args.history)
    if args.servers:
        with production_engines() as (url, _redis_url):
            figures = measure(url)
    else:
        with tempfile.TemporaryDirectory() as scratch:
            figures = measure(os.environ.get("DATABASE_URL") or f"sqlite:///{Path(scratch) / 'bench.db'}")
    figures["load_average"] = " ".join(f"{n:.2f}" for n in os.getloadavg())
    print_figures(figures, args.json)


if __name__ == "__main__":
    main()

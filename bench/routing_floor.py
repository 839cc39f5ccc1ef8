"""The least a routing transaction costs on this PostgreSQL: the engine's statements and nothing else, or the
writes alone. It shows what limits `bench.routing` and what a faster design would have to drop.

    .venv/bin/python -m bench.routing_floor [--batch 10] [--processes 2] [--rounds 1000] [--waiting 30000]
        [--writes-only] [--json]

It starts a throwaway PostgreSQL with its production durability (as `bench.routing --servers`) and builds the
same centre and backlog: 1,000 agents, 20 queues, `--waiting` waiting cases. Then `--processes` processes run
`--rounds` routing transactions each. A transaction takes up to `--batch` waiting cases of one queue. The
statements are raw psycopg, with no SQLAlchemy and no ranking: the n-th case goes to the n-th agent with a
free email slot, and every decision stores the same explanation, as large as a real one.

- By default a transaction runs the statements `engine.route_waiting` runs. It locks the waiting cases (SKIP
  LOCKED), reads the staffing token, reads the queue's agents with their loads, locks the picked agents'
  capacity rows and reads their presence. Then it writes.
- With `--writes-only`, it writes and nothing else; the cases and agents are chosen before it starts. That is
  what a router would commit if it kept the agents' presence and loads in memory and owned its queues.

The writes are: take the slots, mark the agents' last assignment, insert the decisions (RETURNING their ids),
update the cases, and commit. A transaction's latency runs from its first statement to its commit. Each
process routes its own queues (queue number modulo processes). Between transactions, untimed, a process
resolves up to `--batch` assigned cases of the queue and now and then empties the agents who are full, so
that there is always room. A deadlock between the processes' writes is retried and counted.
"""
import argparse
import json
import multiprocessing
import random
import statistics
import time

import psycopg

from bench import print_figures, production_engines
from bench import routing as centre
from models import init_engine, migrate

# As large as a real explanation of a queue of 150 agents (`engine._explanation`).
EXPLANATION = json.dumps({
    "strategy": "least_loaded", "channel": "email", "language": "en", "skills": ["skill1", "skill21"],
    "relaxed": False, "considered": 150, "filtered": {"presence": 30, "language": 80},
    "absent": {"away": 15, "offline": 15}, "filtered_ids": {"presence": list(range(20)), "language": list(range(20))},
    "scores": [{"user_id": 5, "score": 7.0, "used": 1, "slots": 8}] * 5, "declined": [],
    "pick": {"user_id": 5, "name": "Agent 5", "languages": ["en", "es"], "skills": {"skill1": 2}, "used": 1,
             "slots": 8}})

WAITING = ("SELECT id, channel FROM cases WHERE queue_id = %s AND status = 'new' AND assignee_id IS NULL"
           " AND offered_to_id IS NULL ORDER BY priority DESC, queued_at LIMIT %s")
AGENTS = ("SELECT u.id, u.presence, u.last_assigned_at, c.slots, c.used FROM queue_members m"
          " JOIN users u ON u.id = m.user_id"
          " LEFT JOIN user_capacities c ON c.user_id = u.id AND c.channel = 'email'"
          " WHERE m.queue_id = %s AND u.is_active")


def _choose(agents: list[tuple], cases: list[tuple]) -> list[tuple[int, str, int]]:
    """(case, channel, agent) for each case, to the agents with a free email slot in turn; sorted by case."""
    free = [a[0] for a in agents if a[1] == "available" and a[3] is not None and a[4] < a[3]]
    return sorted((case_id, channel, free[n % len(free)]) for n, (case_id, channel) in enumerate(cases)) if free else []


def _slots(picks: list[tuple[int, str, int]]) -> tuple[list[int], list[str]]:
    """The (agent, channel) capacity rows the picks take, in order, as two arrays."""
    slots = sorted({(agent_id, channel) for _case, channel, agent_id in picks})
    return [s[0] for s in slots], [s[1] for s in slots]


def _claim(connection: psycopg.Connection, picks: list[tuple[int, str, int]]) -> None:
    """The engine's claim: lock the capacity rows in order, then read the agents' presence."""
    agent_ids, channels = _slots(picks)
    connection.execute("SELECT c.user_id, c.slots, c.used FROM user_capacities c"
                       " JOIN unnest(%s::int[], %s::text[]) AS k(user_id, channel)"
                       " ON c.user_id = k.user_id AND c.channel = k.channel"
                       " ORDER BY c.user_id, c.channel FOR UPDATE OF c", (agent_ids, channels)).fetchall()
    connection.execute("SELECT id, presence FROM users WHERE id = ANY(%s)", (sorted(set(agent_ids)),)).fetchall()


def _write(connection: psycopg.Connection, queue_id: int, picks: list[tuple[int, str, int]]) -> None:
    agent_ids, channels = _slots(picks)
    connection.execute("UPDATE user_capacities c SET used = c.used + 1 FROM unnest(%s::int[], %s::text[])"
                       " AS k(user_id, channel) WHERE c.user_id = k.user_id AND c.channel = k.channel",
                       (agent_ids, channels))
    connection.execute("UPDATE users SET last_assigned_at = now() WHERE id = ANY(%s)", (sorted(set(agent_ids)),))
    rows = ",".join(["(%s, %s, %s, 'assignment', 'assigned', 'least_loaded', 'least_loaded: assigned directly',"
                     " %s, now())"] * len(picks))
    connection.execute("INSERT INTO routing_decisions (case_id, queue_id, user_id, kind, outcome, strategy, rule,"
                       f" explanation, created_at) VALUES {rows} RETURNING id",
                       [v for case_id, _c, agent_id in picks for v in (case_id, queue_id, agent_id, EXPLANATION)]
                       ).fetchall()
    connection.execute("UPDATE cases c SET assignee_id = k.agent_id, status = 'assigned', slot_channel = k.channel,"
                       " last_activity_at = now() FROM unnest(%s::int[], %s::int[], %s::text[])"
                       " AS k(case_id, agent_id, channel) WHERE c.id = k.case_id",
                       ([p[0] for p in picks], [p[2] for p in picks], [p[1] for p in picks]))


def _full_transaction(connection: psycopg.Connection, queue_id: int, batch: int) -> int:
    with connection.transaction():
        cases = connection.execute(WAITING + " FOR UPDATE SKIP LOCKED", (queue_id, batch)).fetchall()
        connection.execute("SELECT token FROM staffing_version WHERE id = 1").fetchall()
        picks = _choose(connection.execute(AGENTS, (queue_id,)).fetchall(), cases)
        if picks:
            _claim(connection, picks)
            _write(connection, queue_id, picks)
    return len(picks)


def _writes_only_transaction(connection: psycopg.Connection, queue_id: int, picks: list) -> int:
    with connection.transaction():
        if picks:
            _write(connection, queue_id, picks)
    return len(picks)


def _make_room(connection: psycopg.Connection, queue_id: int, batch: int, empty_full: bool) -> None:
    with connection.transaction():
        connection.execute("UPDATE cases SET status = 'resolved', slot_channel = NULL WHERE id IN (SELECT id"
                           " FROM cases WHERE queue_id = %s AND status = 'assigned' LIMIT %s)", (queue_id, batch))
        if empty_full:
            connection.execute("UPDATE user_capacities SET used = 0 WHERE used >= slots")


def work(conninfo: str, worker: int, processes: int, rounds: int, batch: int, writes_only: bool, out) -> None:
    """One process: put ([(seconds, decisions)], deadlocks retried) on `out`."""
    rng = random.Random(worker)
    queues = [q for q in range(1, 21) if q % processes == worker]
    timed, deadlocks = [], 0
    with psycopg.connect(conninfo) as connection:
        for round_ in range(rounds):
            queue_id = rng.choice(queues)
            _make_room(connection, queue_id, batch, empty_full=round_ % 20 == 0)
            picks = []
            if writes_only:
                with connection.transaction():
                    picks = _choose(connection.execute(AGENTS, (queue_id,)).fetchall(),
                                    connection.execute(WAITING, (queue_id, batch)).fetchall())
            started = time.perf_counter()
            try:
                made = (_writes_only_transaction(connection, queue_id, picks) if writes_only
                        else _full_transaction(connection, queue_id, batch))
            except psycopg.errors.DeadlockDetected:
                deadlocks += 1
                continue
            timed.append((time.perf_counter() - started, made))
    out.put((timed, deadlocks))


def measure(batch: int, processes: int, rounds: int, waiting: int, writes_only: bool) -> dict:
    with production_engines() as (url, _redis_url):
        migrate.upgrade(url)
        init_engine(url)
        rng = random.Random(311)
        centre.seed_centre(1000, rng)
        centre.seed_backlog(waiting, rng)
        centre._analyze(url)
        init_engine("sqlite://")                      # no pool crosses the fork
        conninfo = url.replace("postgresql+psycopg://", "postgresql://")
        context = multiprocessing.get_context("fork")
        out = context.Queue()
        children = [context.Process(target=work, args=(conninfo, n, processes, rounds, batch, writes_only, out))
                    for n in range(processes)]
        for child in children:
            child.start()
        results = [out.get() for _ in children]
        for child in children:
            child.join()
    timed = [t for done, _d in results for t in done if t[1]]
    seconds = sorted(s for s, _n in timed)
    made = sum(n for _s, n in timed)
    quantile = lambda q: round(seconds[min(len(seconds) - 1, int(q * len(seconds)))] * 1000, 2)
    return {"mode": "writes only" if writes_only else "engine's statements", "batch": batch, "processes": processes,
            "transactions": len(timed), "decisions": made, "mean_batch_size": round(made / len(timed), 1),
            "routing_decisions_per_second": round(made * processes / sum(seconds)),
            "p50_ms": quantile(0.5), "p99_ms": quantile(0.99), "mean_ms": round(statistics.fmean(seconds) * 1000, 2),
            "deadlocks_retried": sum(d for _t, d in results)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1000, help="routing transactions per process")
    parser.add_argument("--waiting", type=int, default=30_000, help="waiting cases at the start")
    parser.add_argument("--writes-only", action="store_true", help="time the writes alone")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON on the last line")
    args = parser.parse_args()
    figures = measure(args.batch, args.processes, args.rounds, args.waiting, args.writes_only)
    print_figures(figures, args.json)


if __name__ == "__main__":
    main()

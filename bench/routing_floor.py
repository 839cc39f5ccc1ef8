"""The least a routing transaction costs on this PostgreSQL: the engine's statements and nothing else, or the
writes alone. It shows what limits `bench.routing` and what a faster design would have to drop.

    .venv/bin/python -m bench.routing_floor [--batch 10] [--processes 2] [--rounds 1000] [--waiting 30000]
        [--writes-only] [--json]

It starts a throwaway PostgreSQL with its production durability (as `bench.routing --servers`) and builds the
same centre and backlog: 1,000 agents, 20 queues, `--waiting` waiting cases. Then `--processes` processes run
`--rounds` routing transactions each. A transaction takes up to `--batch` waiting cases of one queue. The
statements are raw psycopg, with no SQLAlchemy and no ranking: the n-th case goes to the n-th available agent
with a free slot on its channel, and every decision stores the same explanation, as large as a real one.

- By default a transaction runs the statements `engine.route_waiting` runs. It locks the waiting cases (SKIP
  LOCKED), reads the staffing token, the declined offers of its chat and phone cases, and the queue's agents
  with their loads on the cases' channels. Then it writes.
- With `--writes-only`, it writes and nothing else; the cases and agents are chosen before it starts. That is
  what a router would commit if it kept the agents' presence and loads in memory and owned its queues.
- Since 2026-11-24 (evening) the engine itself reads the staffing token with the cases, and on most
  transactions takes the agents from its process's copy instead of reading them (`routing.roster.Loads`): it
  runs between the two modes. The default mode here still reads both, as the engine did before.

The writes are the engine's two statements: its claim (lock the picked capacity rows in order, then their
agents, and take the picks where all of them fit and the agent is available, returning each row), then the
decisions (RETURNING their ids) and the cases of the picks that stand, in one statement; and the commit. Before
252c6a4 the engine locked the picked capacity rows and read their agents' presence first, then took the slots
unguarded, and the floor did too; before 741208a it wrote the decisions and the cases in two statements, and
before ec190a7 it claimed in two (and gave back the slots of agents who had gone away in a third). A
transaction's latency runs from its first statement to its commit. Each process routes its own queues (queue
number modulo processes); agents are in several queues, so the processes share them. Between transactions,
untimed, a process resolves up to `--batch` assigned cases of the queue and now and then empties the agents who
are full, so that there is always room. A round that deadlocks with the other process is run again and counted.
"""
import argparse
import json
import random
import time
from collections import Counter
from datetime import datetime, timezone

import psycopg
from sqlalchemy.dialects import postgresql

from bench import print_figures, production_engines
from bench import routing as centre
from routing import engine

# As large as a real explanation of a queue of 150 agents (`engine._explanation`).
EXPLANATION = {
    "strategy": "least_loaded", "channel": "email", "language": "en", "skills": ["skill1", "skill21"],
    "relaxed": False, "considered": 150, "filtered": {"presence": 30, "language": 80},
    "absent": {"away": 15, "offline": 15}, "filtered_ids": {"presence": list(range(20)), "language": list(range(20))},
    "scores": [{"user_id": 5, "score": 7.0, "used": 1, "slots": 8}] * 5, "declined": [],
    "pick": {"user_id": 5, "name": "Agent 5", "languages": ["en", "es"], "skills": {"skill1": 2}, "used": 1,
             "slots": 8}}

WAITING = ("SELECT id, channel FROM cases WHERE queue_id = %s AND status = 'new' AND assignee_id IS NULL"
           " AND offered_to_id IS NULL ORDER BY priority DESC, queued_at LIMIT %s")
DECLINED = ("SELECT case_id, user_id, created_at FROM routing_decisions WHERE case_id = ANY(%s)"
            " AND outcome IN ('declined', 'timed_out')")
OFFERED_CHANNELS = ("chat", "phone")


def _agents_statement(channels: list[str]) -> str:
    """The queue's active agents with their presence, last assignment, and slots and used slots on each of
    `channels`: one outer join of user_capacities per channel, as `engine._loads`."""
    columns = "".join(f", c{n}.slots, c{n}.used" for n in range(len(channels)))
    joins = "".join(f" LEFT JOIN user_capacities c{n} ON c{n}.user_id = u.id AND c{n}.channel = '{channel}'"
                    for n, channel in enumerate(channels))
    return (f"SELECT u.id, u.presence, u.last_assigned_at{columns} FROM queue_members m"
            f" JOIN users u ON u.id = m.user_id{joins} WHERE m.queue_id = %s AND u.is_active")


def _read(connection: psycopg.Connection, queue_id: int, cases: list[tuple]) -> list[tuple]:
    """The agents' read and, for chat and phone cases, the declines' read, as the engine makes them."""
    channels = sorted({channel for _case, channel in cases})
    offered = [case_id for case_id, channel in cases if channel in OFFERED_CHANNELS]
    if offered:
        connection.execute(DECLINED, (offered,)).fetchall()
    return connection.execute(_agents_statement(channels), (queue_id,)).fetchall() if channels else []


def _choose(agents: list[tuple], cases: list[tuple]) -> list[tuple[int, str, int]]:
    """(case, channel, agent) for each case that an available agent has a free slot for on its channel, to
    those agents in turn; sorted by case. `agents` has the slots of the cases' channels in sorted order."""
    channels = sorted({channel for _case, channel in cases})
    free = {channel: [a[0] for a in agents if a[1] == "available" and a[3 + 2 * n] is not None
                      and a[4 + 2 * n] < a[3 + 2 * n]] for n, channel in enumerate(channels)}
    return sorted((case_id, channel, free[channel][n % len(free[channel])])
                  for n, (case_id, channel) in enumerate(cases) if free[channel])


def _slots(picks: list[tuple[int, str, int]]) -> tuple[list[int], list[str], list[int]]:
    """The (agent, channel) capacity rows the picks take, in order, and how many each, as three arrays."""
    taken = Counter((agent_id, channel) for _case, channel, agent_id in picks)
    slots = sorted(taken)
    return [s[0] for s in slots], [s[1] for s in slots], [taken[s] for s in slots]


# The engine's claim statement itself (`routing.engine._TAKE_FREE`), rendered once for psycopg: lock the picked
# capacity rows in order, then their agents, take the picks where all of them fit and the agent is available (marking
# the agent as just assigned), return every row and whether it took.
CLAIM = str(engine._TAKE_FREE.compile(dialect=postgresql.dialect()))


def _claim(connection: psycopg.Connection, picks: list[tuple[int, str, int]]) -> list[tuple[int, str, int]]:
    """The engine's claim statement; returns the picks that stand."""
    agent_ids, channels, counts = _slots(picks)
    rows = connection.execute(CLAIM, {"k_users": agent_ids, "k_channels": channels, "k_counts": counts,
                                      "now": datetime.now(timezone.utc)}).fetchall()
    took = {(row[0], row[1]) for row in rows if row[4]}
    return [p for p in picks if (p[2], p[1]) in took]


# The engine's statement that stores a batch's decisions and cases (`routing.engine._STORE`), rendered the same way.
STORE = str(engine._STORE.compile(dialect=postgresql.dialect()))


def _write(connection: psycopg.Connection, queue_id: int, picks: list[tuple[int, str, int]]) -> int:
    """Claim the picks' slots, then store the decisions and cases of those that stand; returns how many."""
    picks = _claim(connection, picks)
    if not picks:
        return 0
    now = datetime.now(timezone.utc)
    decisions = [{"case_id": case_id, "queue_id": queue_id, "user_id": agent_id, "kind": "assignment",
                  "outcome": "assigned", "strategy": "least_loaded", "rule": "least_loaded: assigned directly",
                  "explanation": EXPLANATION, "expires_at": None} for case_id, _c, agent_id in picks]
    cases = [{"b_case": case_id, "assignee_id": agent_id, "offered_to_id": None, "status": "assigned",
              "slot_channel": channel, "b_active": now.isoformat()} for case_id, channel, agent_id in picks]
    connection.execute(STORE, {"now": now, "decisions": json.dumps(decisions), "cases": json.dumps(cases),
                               "case_ids": [p[0] for p in picks]}).fetchall()
    return len(picks)


def _full_transaction(connection: psycopg.Connection, queue_id: int, batch: int) -> int:
    with connection.transaction():
        cases = connection.execute(WAITING + " FOR UPDATE SKIP LOCKED", (queue_id, batch)).fetchall()
        connection.execute("SELECT token FROM staffing_version WHERE id = 1").fetchall()
        picks = _choose(_read(connection, queue_id, cases), cases)
        return _write(connection, queue_id, picks) if picks else 0


def _writes_only_transaction(connection: psycopg.Connection, queue_id: int, picks: list) -> int:
    with connection.transaction():
        return _write(connection, queue_id, picks) if picks else 0


def _make_room(connection: psycopg.Connection, queue_id: int, batch: int, empty_full: bool) -> None:
    with connection.transaction():
        connection.execute("UPDATE cases SET status = 'resolved', slot_channel = NULL WHERE id IN (SELECT id"
                           " FROM cases WHERE queue_id = %s AND status = 'assigned' LIMIT %s)", (queue_id, batch))
        if empty_full:
            connection.execute("UPDATE user_capacities SET used = 0 WHERE used >= slots")


def _round(connection: psycopg.Connection, queue_id: int, batch: int, writes_only: bool,
           empty_full: bool) -> tuple[float, int]:
    """Make room (untimed), then one timed routing transaction: (seconds, decisions)."""
    _make_room(connection, queue_id, batch, empty_full)
    picks = []
    if writes_only:
        with connection.transaction():
            cases = connection.execute(WAITING, (queue_id, batch)).fetchall()
            picks = _choose(_read(connection, queue_id, cases), cases)
    started = time.perf_counter()
    made = (_writes_only_transaction(connection, queue_id, picks) if writes_only
            else _full_transaction(connection, queue_id, batch))
    return time.perf_counter() - started, made


def work(conninfo: str, worker: int, processes: int, rounds: int, batch: int, writes_only: bool, out) -> None:
    """One process: put ([(seconds, decisions)], deadlocks) on `out`; a round that deadlocked runs again."""
    rng = random.Random(worker)
    queues = [q for q in range(1, 21) if q % processes == worker]
    timed, deadlocks = [], 0
    with psycopg.connect(conninfo) as connection:
        while len(timed) < rounds:
            try:
                timed.append(_round(connection, rng.choice(queues), batch, writes_only, len(timed) % 20 == 0))
            except psycopg.errors.DeadlockDetected:
                deadlocks += 1
    out.put((timed, deadlocks))


def measure(batch: int, processes: int, rounds: int, waiting: int, writes_only: bool) -> dict:
    with production_engines() as (url, _redis_url):
        centre.build(url, 1000, waiting)
        conninfo = url.replace("postgresql+psycopg://", "postgresql://")
        results, _wall = centre.in_processes(work, [(conninfo, n, processes, rounds, batch, writes_only)
                                                    for n in range(processes)])
    timed = [t for done, _d in results for t in done if t[1]]
    seconds = sorted(s for s, _n in timed)
    made = sum(n for _s, n in timed)
    return {"mode": "writes only" if writes_only else "engine's statements", "batch": batch, "processes": processes,
            "transactions": len(timed), "decisions": made, "mean_batch_size": round(made / len(timed), 1),
            "routing_decisions_per_second": round(made * processes / sum(seconds)), **centre.quantiles(seconds),
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

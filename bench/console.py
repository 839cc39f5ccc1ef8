"""Console pages at scale: p50/p95 server time of the inbox, the queue views (with filters) and the 360° view.

    .venv/bin/python -m bench.console [--cases N ...] [--only TEXT] [--servers | --database-url URL --redis-url URL] [--json]

It builds a data set of N cases (default 100,000 and 1,000,000) with one or two messages each, 20 queues,
100 agents and a supervisor, by bulk Core inserts with the indexes dropped and rebuilt after (as a restore
would), then ANALYZE. It then times full page requests through the app (Flask test client: routing,
login, the queries, rendering) for each scenario: first pages, filtered pages, text search, and deep
keyset pages (following "Next page" links), and the 360° view of a frequent contact: a constituent with
500 interactions on 50 cases across five queues (the agent sees 400 of them), email and phone, and a
look-alike record. Without URLs it uses a scratch SQLite file and an embedded Redis; --servers starts a throwaway PostgreSQL and redis-server (as `make test` does).

The issue's target: under 100 ms at the 95th percentile on PostgreSQL with 1,000,000 cases.
"""
import argparse
import json
import os
import random
import re
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import insert, text

from bench import add_engine_arguments, with_engines
from caseworker import create_app
from caseworker.accounts import hash_password
from models import (
    OPEN_STATUSES,
    Base,
    Case,
    CaseStatus,
    Channel,
    Constituent,
    ContactKind,
    ContactPoint,
    Direction,
    Interaction,
    InteractionKind,
    Priority,
    Queue,
    QueueMember,
    Role,
    User,
    make_engine,
)

PASSWORD = "bench-password-1"
QUEUES, AGENTS, BATCH = 20, 100, 5000
COMMON = ("pothole", "streetlight", "benefit", "housing", "noise", "bins", "permit", "tree", "parking", "water")
STATUS_WEIGHTS = {CaseStatus.CLOSED: 70, CaseStatus.RESOLVED: 8, CaseStatus.NEW: 8, CaseStatus.ASSIGNED: 11,
                  CaseStatus.PENDING_CONSTITUENT: 3}
RARE_WORD = "zanzibarite"            # in about 1 in 20,000 messages
FREQUENT_CASES, FREQUENT_INTERACTIONS = 50, 500


def _rows_of_cases(n: int, rng: random.Random, now: datetime, agents_of_queue: dict[int, list[int]],
                   constituents: int):
    statuses, weights = list(STATUS_WEIGHTS), list(STATUS_WEIGHTS.values())
    channels, priorities = list(Channel), [Priority.LOW, Priority.NORMAL, Priority.NORMAL, Priority.NORMAL,
                                           Priority.HIGH, Priority.URGENT]
    languages = ("en",) * 6 + ("es", "es", "it", "fr")
    for i in range(1, n + 1):
        queue_id = rng.randint(1, QUEUES)
        status = rng.choices(statuses, weights)[0]
        created = now - timedelta(minutes=rng.randint(0, 2 * 365 * 24 * 60))
        activity = created + timedelta(minutes=rng.randint(0, 3 * 24 * 60))
        is_open = status in OPEN_STATUSES
        has_owner = status is not CaseStatus.NEW
        first_due = created + timedelta(hours=rng.choice((4, 8, 24)))
        yield {
            "id": i, "reference": f"B-{i:08d}", "subject": f"{rng.choice(COMMON).title()} report {i}",
            "channel": rng.choice(channels), "status": status, "priority": rng.choice(priorities),
            "language": rng.choice(languages), "queue_id": queue_id,
            "constituent_id": rng.randint(1, constituents),
            "assignee_id": rng.choice(agents_of_queue[queue_id]) if has_owner else None,
            "created_at": created, "updated_at": activity, "queued_at": created, "last_activity_at": activity,
            # Open cases get SLA targets around now, warnings an hour before, so that every SLA state occurs.
            **_sla_times(now, rng, first_due, is_open),
            "first_responded_at": None if status is CaseStatus.NEW else created + timedelta(hours=1),
            "resolved_at": None if is_open else activity,
            "closed_at": activity if status is CaseStatus.CLOSED else None,
        }


def _sla_times(now: datetime, rng: random.Random, first_due: datetime, is_open: bool) -> dict:
    if not is_open:
        return {"first_response_due_at": first_due, "first_response_warn_at": None, "resolution_due_at": None,
                "resolution_warn_at": None}
    first, resolution = now + timedelta(minutes=rng.randint(-600, 600)), now + timedelta(hours=rng.randint(-24, 72))
    return {"first_response_due_at": first, "first_response_warn_at": first - timedelta(hours=1),
            "resolution_due_at": resolution, "resolution_warn_at": resolution - timedelta(hours=1)}


def _rows_of_messages(n: int, rng: random.Random, now: datetime):
    filler = ("please", "help", "outside", "number", "since", "last", "week", "street", "again", "thanks")
    for case_id in range(1, n + 1):
        for _ in range(1 if rng.random() < 0.6 else 2):
            words = [rng.choice(filler) for _ in range(12)] + [rng.choice(COMMON), f"ref{case_id}"]
            if rng.random() < 1 / 20000:
                words.append(RARE_WORD)
            rng.shuffle(words)
            yield {"case_id": case_id, "kind": InteractionKind.MESSAGE, "channel": Channel.EMAIL,
                   "direction": Direction.INBOUND, "subject": "", "body_text": " ".join(words), "meta": {},
                   "is_public": False, "occurred_at": now, "created_at": now}


def _frequent_contact(conn, rng: random.Random, now: datetime, n: int, constituents: int,
                      agents_of_queue: dict[int, list[int]]) -> int:
    """A constituent with FREQUENT_INTERACTIONS interactions on FREQUENT_CASES cases (ids after the n cases),
    four in five in queue 1 (the bench agent's) and the rest in queues 2 to 5, with an email address and a phone
    number, and a look-alike record; returns its id."""
    frequent, look_alike = constituents + 1, constituents + 2
    conn.execute(insert(Constituent.__table__), [
        {"id": frequent, "display_name": "Margaret Okonkwo", "notes": "Calls about her housing benefit."},
        {"id": look_alike, "display_name": "Margaret Okonkwo", "notes": ""}])
    conn.execute(insert(ContactPoint.__table__), [
        {"constituent_id": frequent, "kind": ContactKind.EMAIL, "value": "m.okonkwo@mail.example", "display": ""},
        {"constituent_id": frequent, "kind": ContactKind.PHONE, "value": "+14155550199", "display": ""},
        {"constituent_id": look_alike, "kind": ContactKind.EMAIL, "value": "maggie.o@mail.example", "display": ""}])
    queue_of = [1 if i % 5 else 2 + i // 5 % 4 for i in range(FREQUENT_CASES + 1)]     # 4 in 5 in the agent's queue
    cases = [row | {"id": n + i, "reference": f"B-{n + i:08d}", "queue_id": queue_of[i], "constituent_id": frequent,
                    "assignee_id": rng.choice(agents_of_queue[queue_of[i]]) if row["assignee_id"] else None}
             for i, row in enumerate(_rows_of_cases(FREQUENT_CASES, rng, now, agents_of_queue, constituents), 1)]
    cases.append(next(_rows_of_cases(1, rng, now, agents_of_queue, constituents)) | {
        "id": n + FREQUENT_CASES + 1, "reference": f"B-{n + FREQUENT_CASES + 1:08d}", "queue_id": 1,
        "constituent_id": look_alike})
    _bulk(conn, Case.__table__, cases)
    kinds = [(InteractionKind.MESSAGE, Channel.EMAIL, Direction.INBOUND), (InteractionKind.MESSAGE, Channel.EMAIL,
             Direction.OUTBOUND), (InteractionKind.CALL, Channel.PHONE, Direction.INBOUND),
             (InteractionKind.NOTE, Channel.EMAIL, Direction.INTERNAL)]
    rows = []
    for k in range(FREQUENT_INTERACTIONS):
        kind, channel, direction = kinds[k % len(kinds)]
        at = now - timedelta(hours=k * 7)
        rows.append({"case_id": n + 1 + k % FREQUENT_CASES, "constituent_id": frequent, "kind": kind,
                     "channel": channel, "direction": direction, "subject": f"Housing benefit, letter {k}",
                     "body_text": f"Message {k} about the housing benefit claim and the rent statement.",
                     "meta": {}, "is_public": False, "occurred_at": at, "created_at": at})
    _bulk(conn, Interaction.__table__, rows)
    return frequent


def _bulk(conn, table, rows) -> None:
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            conn.execute(insert(table), batch)
            batch = []
    if batch:
        conn.execute(insert(table), batch)


def seed(database_url: str, n: int, seed_: int = 5) -> dict:
    """Build the data set in an empty database; returns the ids the scenarios use. Commits."""
    rng, now = random.Random(seed_), datetime.now(timezone.utc)
    engine = make_engine(database_url)
    Base.metadata.create_all(engine)
    password_hash = hash_password(PASSWORD)
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(insert(Queue.__table__), [{"id": q, "code": f"q{q}", "name": f"Queue {q}", "description": "",
                                                "priority": 0, "strategy": "least_loaded", "languages": [],
                                                "is_active": True, "created_at": now} for q in range(1, QUEUES + 1)])
        users = [{"id": u, "email": f"agent{u}@bench.example", "display_name": f"Agent {u}", "role": Role.AGENT,
                  "password_hash": password_hash, "languages": ["en"]} for u in range(1, AGENTS + 1)]
        users.append({"id": AGENTS + 1, "email": "supervisor@bench.example", "display_name": "Supervisor",
                      "role": Role.SUPERVISOR, "password_hash": password_hash, "languages": ["en"]})
        conn.execute(insert(User.__table__), users)
        members = [{"queue_id": 1 + (u - 1) % QUEUES, "user_id": u} for u in range(1, AGENTS + 1)]
        conn.execute(insert(QueueMember.__table__), members)
        agents_of_queue = {q: [m["user_id"] for m in members if m["queue_id"] == q] for q in range(1, QUEUES + 1)}
        constituents = max(n // 4, 1)
        _bulk(conn, Constituent.__table__, ({"id": c, "display_name": f"Resident {c}", "notes": ""}
                                            for c in range(1, constituents + 1)))
        for table in (Case.__table__, Interaction.__table__):      # load first, index after: as a restore does
            for index in table.indexes:
                index.drop(conn)
        _bulk(conn, Case.__table__, _rows_of_cases(n, rng, now, agents_of_queue, constituents))
        _bulk(conn, Interaction.__table__, _rows_of_messages(n, rng, now))
        frequent = _frequent_contact(conn, rng, now, n, constituents, agents_of_queue)
        loaded = time.perf_counter()
        for table in (Case.__table__, Interaction.__table__):
            for index in table.indexes:
                index.create(conn)
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT setval(pg_get_serial_sequence('cases', 'id'), :n)"),
                         {"n": n + FREQUENT_CASES + 1})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    engine.dispose()
    return {"agent_email": "agent1@bench.example", "agent_queue": 1, "frequent_contact": frequent,
            "load_seconds": round(loaded - started, 1), "index_seconds": round(time.perf_counter() - loaded, 1)}


def _login(client, email: str) -> None:
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302, "bench login failed"


def pick(values: list[float], q: float) -> float:
    """The `q` quantile of `values` (seconds), nearest rank, in milliseconds."""
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000, 1)


def _percentiles(times: list[float], cpu: list[float]) -> dict:
    return {"p50_ms": pick(times, 0.5), "p95_ms": pick(times, 0.95), "cpu_p50_ms": pick(cpu, 0.5),
            "cpu_p95_ms": pick(cpu, 0.95)}


def _timed_get(client, url: str, times: list[float], cpu: list[float]):
    """GET `url`, adding its wall time and this process's CPU time (the app's share; on PostgreSQL the
    database's work is in its own process) to the lists."""
    started, started_cpu = time.perf_counter(), time.process_time()
    response = client.get(url)
    times.append(time.perf_counter() - started)
    cpu.append(time.process_time() - started_cpu)
    assert response.status_code == 200, (url, response.status_code)
    return response


def _time(client, url: str, repeat: int) -> dict:
    client.get(url)                                          # warm the plan and statement caches
    times, cpu = [], []
    for _ in range(repeat):
        _timed_get(client, url, times, cpu)
    return _percentiles(times, cpu)


def _time_paging(client, url: str, pages: int) -> dict:
    """Follow "Next page" from the first page: each request is a deeper keyset page."""
    times, cpu = [], []
    for _ in range(pages):
        response = _timed_get(client, url, times, cpu)
        found = re.search(r'href="([^"]+)" rel="next"', response.get_data(as_text=True))
        if not found:
            break
        url = found.group(1).replace("&amp;", "&")
    return _percentiles(times, cpu) | {"pages": len(times)}


def scenarios(ids: dict) -> list[tuple[str, str, str, str]]:
    """(who, name, url, kind): kind is "page" (repeated) or "paging" (follows next links)."""
    q, c = ids["agent_queue"], ids["frequent_contact"]
    return [
        ("agent", "inbox", "/inbox/", "page"),
        ("agent", "inbox rows partial", "/inbox/rows", "page"),
        ("agent", "inbox, any status, oldest first", "/inbox/?status=all&sort=oldest", "page"),
        ("agent", "inbox, search (common word)", "/inbox/?status=all&q=pothole", "page"),
        ("agent", "inbox, paging x20", "/inbox/?status=all", "paging"),
        ("agent", "queue", f"/queues/{q}", "page"),
        ("agent", "queue, urgent + SLA breached", f"/queues/{q}?priority=4&sla=breached", "page"),
        ("agent", "queue, unassigned, chat, es", f"/queues/{q}?assignee=none&channel=chat&language=es", "page"),
        ("agent", "queue, closed, paging x20", f"/queues/{q}?status=closed&sort=recent", "paging"),
        ("agent", "all my queues, search (rare word)", f"/queues/?status=all&q={RARE_WORD}", "page"),
        ("supervisor", "all queues", "/queues/", "page"),
        ("supervisor", "all queues, at risk", "/queues/?sla=at_risk", "page"),
        ("supervisor", "all queues, any status, newest", "/queues/?status=all&sort=newest", "page"),
        ("supervisor", "all queues, closed, paging x20", "/queues/?status=closed&sort=oldest", "paging"),
        ("supervisor", "all queues, search (rare word)", f"/queues/?status=all&q={RARE_WORD}", "page"),
        ("supervisor", "all queues, search (common word)", "/queues/?q=streetlight", "page"),
        ("agent", "360° view, 500 interactions", f"/constituents/{c}", "page"),
        ("agent", "360° view, timeline page 4", f"/constituents/{c}?offset=300", "page"),
        ("supervisor", "360° view, 500 interactions", f"/constituents/{c}", "page"),
        ("supervisor", "360° view, timeline page 5", f"/constituents/{c}?offset=400", "page"),
    ]


def measure(database_url: str, redis_url: str, ids: dict, repeat: int, only: str | None = None) -> list[dict]:
    app = create_app({"DATABASE_URL": database_url, "REDIS_URL": redis_url, "SOCKETIO_MESSAGE_QUEUE": None,
                      "SECRET_KEY": "bench", "TESTING": True, "RATELIMIT_ENABLED": False})
    clients = {"agent": app.test_client(), "supervisor": app.test_client()}
    _login(clients["agent"], ids["agent_email"])
    _login(clients["supervisor"], "supervisor@bench.example")
    results = []
    for who, name, url, kind in scenarios(ids):
        if only and only not in name:
            continue
        figures = _time(clients[who], url, repeat) if kind == "page" else _time_paging(clients[who], url, 20)
        results.append({"who": who, "scenario": name, **figures})
    return results


def run(cases: int, database_url: str, redis_url: str, repeat: int, only: str | None = None) -> dict:
    started = time.perf_counter()
    ids = seed(database_url, cases)
    seeded = time.perf_counter() - started
    engine = make_engine(database_url)
    dialect = engine.dialect.name
    engine.dispose()
    results = measure(database_url, redis_url, ids, repeat, only)
    return {"engine": dialect, "cases": cases, "seed_seconds": round(seeded, 1),
            "load_seconds": ids["load_seconds"], "index_seconds": ids["index_seconds"],
            "load_average": os.getloadavg()[0], "cpus": os.cpu_count(), "results": results}


def _print(figures: dict) -> None:
    print(f"\n{figures['engine']}, {figures['cases']:,} cases (seeded in {figures['seed_seconds']} s: "
          f"load {figures['load_seconds']} s, indexes {figures['index_seconds']} s); "
          f"load average {figures['load_average']:.1f} on {figures['cpus']} CPUs")
    print(f"{'who':<11} {'scenario':<40} {'p50 ms':>8} {'p95 ms':>8} {'cpu p50':>8} {'cpu p95':>8}")
    for row in figures["results"]:
        print(f"{row['who']:<11} {row['scenario']:<40} {row['p50_ms']:>8} {row['p95_ms']:>8} "
              f"{row['cpu_p50_ms']:>8} {row['cpu_p95_ms']:>8}")


def _database_url(given: str | None, scratch: Path, n: int) -> str:
    if given is None:
        return f"sqlite:///{scratch / f'bench-{n}.db'}"
    engine = make_engine(given)                 # the same server for every size: start from empty each time
    Base.metadata.drop_all(engine)
    engine.dispose()
    return given


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=30, help="requests per scenario")
    parser.add_argument("--only", help="run only the scenarios whose name contains this text")
    add_engine_arguments(parser)
    args = parser.parse_args()
    all_figures = with_engines(args, lambda scratch, redis_url: _measure(args, scratch, redis_url))
    if args.json:
        print(json.dumps(all_figures))


def _measure(args: argparse.Namespace, scratch: Path, redis_url: str) -> list[dict]:
    all_figures = []
    for n in args.cases:
        figures = run(n, _database_url(args.database_url, scratch, n), redis_url, args.repeat, args.only)
        all_figures.append(figures)
        if not args.json:
            _print(figures)
    return all_figures


if __name__ == "__main__":
    main()

"""Supervisor reports at scale: p50/p95 time of each report query, and of whole report pages, over 30, 90 and
365 days of a data set of N cases (default 1,000,000).

    .venv/bin/python -m bench.reports [--cases N] [--repeat R] [--servers | --database-url URL --redis-url URL] [--json]

The cases come from bench/console.py's generator (two years of cases, 20 queues, 100 agents). This adds
what the reports group by and the generator leaves out: 40 categories, a district on 24 cases in 25, first
responses between 0 and 8 hours, and a satisfaction answer on three resolved cases in ten. Then REINDEX (the
bulk UPDATE leaves every index twice its size, which a live database never sees) and VACUUM ANALYZE, as
autovacuum would have done on a live database (index-only scans need the visibility map).

The reports read live tables through range indexes that carry the grouped columns (models/reports.py); there
are no summaries to refresh, so there is no refresh time to report: today's figures are always exact.
Without URLs it uses a scratch SQLite file and an embedded Redis; --servers starts a throwaway PostgreSQL
and redis-server.
"""
import argparse
import json
import os
import time
from datetime import timedelta

from sqlalchemy import insert, text
from sqlalchemy.engine import make_url

from bench import add_engine_arguments, with_engines
from bench.console import QUEUES, _database_url, _login, pick, seed
from caseworker import create_app
from caseworker.reports import PAGES
from models import Category, init_engine, make_engine, reading, utcnow
from routing import reports
from routing.reports import Dimension, Filters

CATEGORIES, DISTRICTS = 40, 24
RANGES = (30, 90, 365)
QUERIES = [(f"volume by {by.value}", lambda s, f, by=by: reports.volume(s, f, by))
           for by in (Dimension.DAY, Dimension.CHANNEL, Dimension.QUEUE, Dimension.CATEGORY, Dimension.HOUR)] + \
          [(f"times by {by.value}", lambda s, f, by=by: reports.times(s, f, by))
           for by in (Dimension.ALL, Dimension.QUEUE, Dimension.CHANNEL, Dimension.LANGUAGE, Dimension.DISTRICT)] + \
          [(f"sla by {by.value}", lambda s, f, by=by: reports.sla_attainment(s, f, by))
           for by in (Dimension.QUEUE, Dimension.CHANNEL)] + \
          [("agents", reports.agents), ("csat by queue", lambda s, f: reports.csat(s, f, Dimension.QUEUE)),
           ("csat scores", reports.csat_scores)]

ENRICH = {
    "postgresql": [
        "UPDATE cases SET category_id = 1 + id % {categories}, "
        "district = CASE WHEN id % 25 = 0 THEN NULL ELSE 'District ' || (1 + id % {districts}) END, "
        "first_responded_at = CASE WHEN first_responded_at IS NULL THEN NULL "
        "ELSE created_at + (id % 481) * interval '1 minute' END",
        "INSERT INTO survey_responses (case_id, agent_id, queue_id, channel, language, sent_at, score, answered_at) "
        "SELECT id, assignee_id, queue_id, channel, coalesce(language, 'en'), resolved_at, 1 + id % 5, "
        "resolved_at + interval '2 hours' FROM cases WHERE resolved_at IS NOT NULL AND id % 10 < 3",
    ],
    "sqlite": [
        "UPDATE cases SET category_id = 1 + id % {categories}, "
        "district = CASE WHEN id % 25 = 0 THEN NULL ELSE 'District ' || (1 + id % {districts}) END, "
        "first_responded_at = CASE WHEN first_responded_at IS NULL THEN NULL "
        "ELSE strftime('%Y-%m-%d %H:%M:%f', created_at, '+' || (id % 481) || ' minutes') END",
        "INSERT INTO survey_responses (case_id, agent_id, queue_id, channel, language, sent_at, score, answered_at) "
        "SELECT id, assignee_id, queue_id, channel, coalesce(language, 'en'), resolved_at, 1 + id % 5, "
        "strftime('%Y-%m-%d %H:%M:%f', resolved_at, '+2 hours') FROM cases "
        "WHERE resolved_at IS NOT NULL AND id % 10 < 3",
    ],
}


def enrich(database_url: str) -> float:
    """Categories, districts, spread first responses and survey answers on the generated cases; then VACUUM
    ANALYZE. Commits. Returns the seconds it took."""
    started = time.perf_counter()
    engine = make_engine(database_url)
    dialect = engine.dialect.name
    with engine.begin() as conn:
        conn.execute(insert(Category.__table__), [
            {"id": c, "code": f"c{c}", "name": f"Category {c}", "queue_id": 1 + c % QUEUES}
            for c in range(1, CATEGORIES + 1)])
        for statement in ENRICH[dialect]:
            conn.execute(text(statement.format(categories=CATEGORIES, districts=DISTRICTS)))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if dialect == "postgresql":      # the UPDATE of every row doubled the indexes: rebuild, as after a restore
            conn.execute(text("REINDEX TABLE cases"))
        conn.execute(text("VACUUM ANALYZE" if dialect == "postgresql" else "ANALYZE"))
    engine.dispose()
    return time.perf_counter() - started


def _ms(times: list[float]) -> dict:
    return {"p50_ms": pick(times, 0.5), "p95_ms": pick(times, 0.95)}


def time_queries(database_url: str, repeat: int) -> list[dict]:
    """Each report query over each range ending today, `repeat` times after one warm-up run."""
    init_engine(database_url)
    today, results = utcnow().date(), []
    for days in RANGES:
        filters = Filters(today - timedelta(days=days - 1), today)
        for name, query in QUERIES:
            times = []
            with reading() as session:
                query(session, filters)
                for _ in range(repeat):
                    started = time.perf_counter()
                    query(session, filters)
                    times.append(time.perf_counter() - started)
            results.append({"kind": "query", "days": days, "name": name, **_ms(times)})
    return results


def time_pages(database_url: str, redis_url: str, repeat: int) -> list[dict]:
    """Whole report pages (all tables, rendering) through the app, as a supervisor, for 30 and 365 days."""
    app = create_app({"DATABASE_URL": database_url, "REDIS_URL": redis_url, "SOCKETIO_MESSAGE_QUEUE": None,
                      "SECRET_KEY": "bench", "TESTING": True, "RATELIMIT_ENABLED": False})
    client = app.test_client()
    _login(client, "supervisor@bench.example")
    today, results = utcnow().date(), []
    for days in (30, 365):
        query = f"start={today - timedelta(days=days - 1)}&end={today}"
        for slug in PAGES:
            url = f"/reports/{slug}?{query}"
            assert client.get(url).status_code == 200, url
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                client.get(url)
                times.append(time.perf_counter() - started)
            results.append({"kind": "page", "days": days, "name": f"page {slug}", **_ms(times)})
    return results


def run(cases: int, database_url: str, redis_url: str, repeat: int) -> dict:
    started = time.perf_counter()
    ids = seed(database_url, cases)
    seeded = time.perf_counter() - started
    enriched = enrich(database_url)
    dialect = make_url(database_url).get_backend_name()
    results = time_queries(database_url, repeat) + time_pages(database_url, redis_url, repeat)
    return {"engine": dialect, "cases": cases, "seed_seconds": round(seeded, 1), "load_seconds": ids["load_seconds"],
            "enrich_seconds": round(enriched, 1), "refresh": "none (live queries, no summaries)",
            "load_average": os.getloadavg()[0], "cpus": os.cpu_count(), "results": results}


def _print(figures: dict) -> None:
    print(f"\n{figures['engine']}, {figures['cases']:,} cases (seeded in {figures['seed_seconds']} s, enriched and "
          f"vacuumed in {figures['enrich_seconds']} s); summary refresh: {figures['refresh']}; "
          f"load average {figures['load_average']:.1f} on {figures['cpus']} CPUs")
    print(f"{'what':<26} {'days':>5} {'p50 ms':>8} {'p95 ms':>8}")
    for row in figures["results"]:
        print(f"{row['name']:<26} {row['days']:>5} {row['p50_ms']:>8} {row['p95_ms']:>8}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=10, help="runs per query or page")
    add_engine_arguments(parser)
    args = parser.parse_args()
    figures = with_engines(args, lambda scratch, redis_url: run(
        args.cases, _database_url(args.database_url, scratch, args.cases), redis_url, args.repeat))
    if args.json:
        print(json.dumps(figures))
    else:
        _print(figures)


if __name__ == "__main__":
    main()

"""How long `flask seed-demo` takes to build the demo centre, and its peak memory.

    .venv/bin/python -m bench.seed_demo [--cases N] [--constituents N] [--database-url URL] [--json]

Without --database-url it builds a scratch SQLite file in a temporary directory. The last line with
--json is one JSON object of the figures.
"""
import argparse
import resource
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bench import print_figures
from caseworker import demo
from models import Case, make_engine, migrate


def run(url: str, cases: int, constituents: int) -> dict:
    started = time.perf_counter()
    migrate.upgrade(url)
    migrated = time.perf_counter()
    engine = make_engine(url)
    with Session(engine) as session:
        counts = demo.seed(session, constituents=constituents, cases=cases, seed=311)
        session.commit()
        seeded = time.perf_counter()
        assert session.execute(select(func.count(Case.id))).scalar_one() == cases
    engine.dispose()
    return {"engine": engine.dialect.name, "cases": counts["cases"], "constituents": counts["constituents"],
            "interactions": counts["interactions"], "migrate_seconds": round(migrated - started, 2),
            "seed_seconds": round(seeded - migrated, 2),
            "cases_per_second": round(cases / (seeded - migrated)),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--constituents", type=int, default=2_000)
    parser.add_argument("--database-url", help="an empty database (default: a scratch SQLite file)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON on the last line")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        url = args.database_url or f"sqlite:///{Path(scratch) / 'bench.db'}"
        figures = run(url, args.cases, args.constituents)
    print_figures(figures, args.json)


if __name__ == "__main__":
    main()

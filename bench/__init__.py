"""Benchmarks: each prints its figures (and one JSON line with --json). Run as `python -m bench.<name>`."""
import argparse
import json
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


@contextmanager
def production_engines() -> Iterator[tuple[str, str]]:
    """A throwaway PostgreSQL cluster and redis-server on loopback, as `make test` starts them but with
    PostgreSQL's durability on (fsync, full-page writes, synchronous commit), as in production: yields
    (database_url, redis_url) and removes both afterwards."""
    from tests.engines import postgres_cluster, redis_server

    with postgres_cluster(durable=True) as database_url, redis_server() as redis_url:
        yield database_url, redis_url


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every benchmark takes: where to run (--database-url, --redis-url, or --servers) and --json."""
    parser.add_argument("--database-url", help="an empty database (default: scratch SQLite)")
    parser.add_argument("--redis-url", help="a Redis server (default: embedded)")
    parser.add_argument("--servers", action="store_true",
                        help="start a throwaway PostgreSQL and redis-server (as `make test` does) and use them")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON on the last line")


def print_figures(figures: dict, as_json: bool) -> None:
    """The figures as one JSON line (--json), or a line each, aligned."""
    if as_json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:>28}: {value}")


def with_engines(args: argparse.Namespace, measure: Callable[[Path, str], T]) -> T:
    """`measure(scratch folder, redis_url)` on the engines the options name: --servers' throwaway ones (which
    set args.database_url), else --redis-url or an embedded Redis in the scratch folder, stopped afterwards."""
    if args.servers:
        with production_engines() as (args.database_url, args.redis_url):
            return _in_scratch(args, measure)
    return _in_scratch(args, measure)


def _in_scratch(args: argparse.Namespace, measure: Callable[[Path, str], T]) -> T:
    from caseworker import embedded_redis

    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        redis_url = args.redis_url
        if redis_url is None:
            embedded_redis.ensure_running(str(scratch))
            redis_url = embedded_redis.url(str(scratch))
        try:
            return measure(scratch, redis_url)
        finally:
            if args.redis_url is None:
                embedded_redis.stop(str(scratch))

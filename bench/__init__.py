"""Benchmarks: each prints its figures (and one JSON line with --json). Run as `python -m bench.<name>`."""
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def production_engines() -> Iterator[tuple[str, str]]:
    """A throwaway PostgreSQL cluster and redis-server on loopback, as `make test` starts them:
    yields (database_url, redis_url) and removes both afterwards."""
    from tests.engines import postgres_cluster, redis_server

    with postgres_cluster() as database_url, redis_server() as redis_url:
        yield database_url, redis_url

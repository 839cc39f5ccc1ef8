"""The pool's check of a connection before use (`models.db`), on PostgreSQL: a connection the server ended
while it sat idle is found and replaced before use, however soon it is taken back; one the server left alone
is taken back without a round trip, unless it sat idle for long."""
import pytest
from sqlalchemy import create_engine, text

from models import db, make_engine
from tests.conftest import engine_name

pytestmark = pytest.mark.skipif(engine_name() != "postgresql", reason="SQLite has no server to end a connection")


@pytest.fixture
def pool(scratch_database_url):
    engine = make_engine(scratch_database_url, pool_size=1, max_overflow=0)
    admin = create_engine(scratch_database_url, isolation_level="AUTOCOMMIT")
    yield engine, admin
    engine.dispose()
    admin.dispose()


@pytest.fixture
def pings(pool, monkeypatch) -> list:
    """The round trips the pool's check makes (each still made)."""
    made, dialect = [], pool[0].dialect
    ping = dialect.do_ping
    monkeypatch.setattr(dialect, "do_ping", lambda connection: made.append(1) or ping(connection))
    return made


def _backend_pid(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(text("SELECT pg_backend_pid()")).scalar_one()


def test_a_connection_the_server_ended_while_idle_is_replaced_before_use(pool, pings):
    engine, admin = pool
    ended = _backend_pid(engine)
    with admin.connect() as connection:                 # as a restart or an idle timeout of the server would
        assert connection.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": ended}).scalar_one()
    assert _backend_pid(engine) != ended
    assert len(pings) == 1


def test_a_connection_the_server_left_alone_is_checked_only_after_a_long_idle(pool, pings, monkeypatch):
    engine, _admin = pool
    first = _backend_pid(engine)
    assert (_backend_pid(engine), pings) == (first, [])
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)
    assert (_backend_pid(engine), pings) == (first, [1])

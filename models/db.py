"""Engine and session factory: `Session` (scoped), `init_engine(url)` and `transaction()`."""
import logging
import select
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import scoped_session, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

log = logging.getLogger(__name__)

Session = scoped_session(sessionmaker(expire_on_commit=False))
# Execution option: this transaction will write (SQLite takes the write lock at BEGIN; others ignore it).
WRITE_INTENT = "casework_write_intent"
_engine: Engine | None = None


def _configure_sqlite(dbapi_connection, _record) -> None:
    # WAL lets readers (web) run while a writer (worker) commits; the busy timeout makes a second
    # writer wait for the lock instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _begin(conn) -> None:
    # We issue BEGIN ourselves (pysqlite's own handling is switched off) so that a unit of work that will
    # write can take the write lock up front: BEGIN IMMEDIATE queues writers on the busy timeout, where a
    # deferred one that read first would fail with SQLITE_BUSY on upgrade. Readers stay deferred, so a
    # long read never blocks writers in WAL mode.
    immediate = conn.get_execution_options().get(WRITE_INTENT, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def begin_writing() -> None:
    """Make the scoped Session's unit of work a writer from here on (see `_begin`): ends what it read so far,
    then begins with the write lock. On SQLite a transaction that read first could not take the write lock
    later while others write (the upgrade fails at once, whatever the busy timeout)."""
    Session.commit()
    Session.connection(execution_options={WRITE_INTENT: True})


def serialises_writers(bind: Engine | Connection) -> bool:
    """Whether the engine runs one writing transaction at a time (SQLite: BEGIN IMMEDIATE takes the database's
    write lock up front), so that what a writing transaction reads stays exact until it commits."""
    return bind.dialect.name == "sqlite"


def execute_core(session: OrmSession, statement, params: dict | None = None):
    """Run a prebuilt Core statement on the session's connection: hot paths (intake, routing) skip the ORM
    layer. Flushes first (a no-op for a clean session), so pending objects are visible as with session.execute."""
    session.flush()
    return session.connection().execute(statement, params)


def execute_update(session: OrmSession, statement, params: dict, model: type, key: object, **values):
    """`execute_core` for an UPDATE of one row, then `sync_loaded` the object `(model, key)` with `values`."""
    result = execute_core(session, statement, params)
    if result.rowcount:
        sync_loaded(session, model, key, **values)
    return result


def sync_loaded(session: OrmSession, model: type, key: object, **values) -> None:
    """Give the object `(model, key)` the session holds, if any, the `values` a Core UPDATE just wrote to its
    row (a callable maps the old value), as an ORM-enabled UPDATE does."""
    loaded = session.identity_map.get(identity_key(model, key))
    if loaded is None:
        return
    for name, value in values.items():
        if name in loaded.__dict__:
            set_committed_value(loaded, name, value(loaded.__dict__[name]) if callable(value) else value)


def make_engine(url: str, **kwargs) -> Engine:
    """Create an engine for `url` with this project's per-dialect settings. Does not connect.

    Statement parameters are personal data (addresses, names, message text): they are kept out of SQLAlchemy's
    log lines and out of the text of its errors, which the callers log.
    """
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        event.listen(engine, "connect", _configure_sqlite)
        # Take over transaction control from pysqlite so that BEGIN IMMEDIATE is ours to issue.
        event.listen(engine, "connect", lambda dbapi_conn, _r: setattr(dbapi_conn, "isolation_level", None))
        event.listen(engine, "begin", _begin)
        return engine
    engine = create_engine(url, **kwargs)
    event.listen(engine.pool, "checkin", _note_idle)
    event.listen(engine.pool, "checkout", lambda dbapi_conn, record, _proxy: _ping_if_idle(engine, dbapi_conn, record))
    return engine


# A connection taken from the pool is checked with a round trip first, as `pool_pre_ping` checks every one,
# only when the server may have left it: it sent something to the idle connection (a shutdown notice, or it
# closed it: the socket is readable), or the connection sat idle long enough for a firewall to have dropped it
# without a word. A worker routing back to back so saves a round trip on each transaction (one in six), and
# a restarted server is still found before use, however quick the restart.
PING_AFTER_IDLE_SECONDS = 10.0


def _note_idle(_dbapi_connection, record) -> None:
    record.info["idle_since"] = time.monotonic()


def _ping_if_idle(engine: Engine, dbapi_connection, record) -> None:
    idle_since = record.info.pop("idle_since", None)           # none: connected just now
    if idle_since is None or (time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS
                              and not _server_spoke(dbapi_connection)):
        return
    try:
        engine.dialect.do_ping(dbapi_connection)
    except Exception as error:
        raise DisconnectionError("the connection was lost while idle in the pool") from error  # pool: connect anew


def _server_spoke(dbapi_connection) -> bool:
    """Whether the idle connection's socket has something to read (no round trip)."""
    try:
        socket = dbapi_connection.fileno()
    except Exception:                                          # closed already
        return True
    poller = select.poll()
    poller.register(socket, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


def init_engine(url: str, **kwargs) -> Engine:
    """Bind `Session` to an engine for `url` and return it; an engine for the same URL is kept."""
    global _engine
    if _engine is not None and not kwargs and _engine.url.render_as_string(hide_password=False) == url:
        return _engine                 # same database: keep the pool (tests build many apps)
    if _engine is not None:
        Session.remove()
        _engine.dispose()
    _engine = make_engine(url, **kwargs)
    Session.configure(bind=_engine)
    return _engine


def get_engine() -> Engine:
    """The engine bound by `init_engine`. Raises RuntimeError before that."""
    if _engine is None:
        raise RuntimeError("init_engine() has not been called")
    return _engine


@contextmanager
def transaction() -> Iterator[OrmSession]:
    """A unit of work for jobs and commands: commits on success, rolls back on error, then removes the session.

    It is taken as a writer from the start (see `_begin`).
    """
    session = Session()
    try:
        session.connection(execution_options={WRITE_INTENT: True})   # inside: a refused connection cleans up too
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        Session.remove()


@contextmanager
def reading() -> Iterator[OrmSession]:
    """A read-only unit of work: a plain (deferred) transaction that never blocks writers.

    Closing ends the transaction and detaches what was loaded, which stays readable afterwards.
    """
    session = Session()
    try:
        yield session
    finally:
        Session.remove()

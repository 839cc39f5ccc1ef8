"""Fixtures for both engine pairs.

TEST_DATABASE_URL / TEST_REDIS_URL name a PostgreSQL database and a Redis server (the test command starts
throwaway ones); without them the tests use SQLite files and an embedded Redis, the zero-setup default.
On PostgreSQL each test runs inside one outer transaction that is rolled back (savepoint recipe); on
SQLite each test gets a fresh copy of a migrated database file.
"""
import os
import re
import shutil
import uuid
from pathlib import Path

import pytest
import redis as redis_lib
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from caseworker import create_app, embedded_redis
from models import Base, Session, get_engine, init_engine, make_engine

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


def pytest_configure(config):
    for marker, text_ in {
        "integration": "uses real Redis and the database across processes or the RQ worker",
        "browser": "drives Debian's chromium through Playwright against a live server",
    }.items():
        config.addinivalue_line("markers", f"{marker}: {text_}")


def engine_name() -> str:
    return "postgresql" if os.environ.get("TEST_DATABASE_URL") else "sqlite"


# ---- Redis ------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory) -> str:
    """A Redis on DB index 1 of the test server, or of an embedded one started for this run."""
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        yield url
        return
    folder = tmp_path_factory.mktemp("redis")
    embedded_redis.ensure_running(str(folder))
    yield embedded_redis.url(str(folder)) + "?db=1"
    embedded_redis.stop(str(folder))


@pytest.fixture
def redis(redis_url):
    """A client of the test Redis; the database is flushed after each test."""
    client = redis_lib.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.flushdb()
    client.close()


# ---- databases --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def database_template(tmp_path_factory):
    """The migrated schema: the PostgreSQL test database itself, or a SQLite file each test copies."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        engine = make_engine(url)
        Base.metadata.drop_all(engine)
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        Base.metadata.create_all(engine)
        engine.dispose()
        return url
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    engine.dispose()
    return path


@pytest.fixture
def database_url(database_template, tmp_path) -> str:
    """The URL the app under test uses."""
    if isinstance(database_template, str):
        return database_template
    path = tmp_path / "casework.db"
    shutil.copyfile(database_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def scratch_database_url(tmp_path):
    """An empty database on the engine under test, for migrations and other processes; dropped after."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        yield f"sqlite:///{tmp_path / 'scratch.db'}"
        return
    name = f"scratch_{uuid.uuid4().hex[:12]}"
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(url).set(database=name).render_as_string(hide_password=False)
    init_engine("sqlite://")           # let go of any pool on the scratch database before dropping it
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def app_config(database_url: str, redis_url: str, **extra) -> dict:
    return {"TESTING": True, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
            "SOCKETIO_MESSAGE_QUEUE": None, "SECRET_KEY": "test-secret", "LOGIN_LOCK_SECONDS": 60} | extra


@pytest.fixture
def app(database_url, redis_url, redis):
    """The app under test. No app context stays pushed: each request gets its own, as in production."""
    return create_app(app_config(database_url, redis_url))


@pytest.fixture
def db_session(app, database_url):
    """The session code under test uses. On PostgreSQL its commits only release SAVEPOINTs."""
    if not database_url.startswith("postgresql"):
        yield Session()
        Session.remove()
        return
    engine = make_engine(database_url)
    with engine.connect() as conn:
        outer = conn.begin()
        Session.remove()
        Session.configure(bind=conn, join_transaction_mode="create_savepoint")
        yield Session()
        Session.remove()
        outer.rollback()
    engine.dispose()
    Session.configure(bind=get_engine())


@pytest.fixture
def client(app, db_session):
    return app.test_client()


# ---- signing in -------------------------------------------------------------------------------------

CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


def csrf_token(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1) or match.group(2)


class Auth:
    """Signs a test client in and out through the real login form."""

    def __init__(self, client):
        self.client = client

    def login(self, email: str, password: str, follow: bool = False):
        page = self.client.get("/login")
        return self.client.post("/login", data={"email": email, "password": password,
                                                "csrf_token": csrf_token(page.get_data(as_text=True))},
                                follow_redirects=follow)

    def logout(self):
        page = self.client.get("/inbox/")
        return self.client.post("/logout", data={"csrf_token": csrf_token(page.get_data(as_text=True))})


@pytest.fixture
def auth(client):
    return Auth(client)

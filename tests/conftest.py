"""Fixtures for both engine pairs.

TEST_DATABASE_URL / TEST_REDIS_URL name a PostgreSQL database and a Redis server (the test command starts
throwaway ones); without them the tests use SQLite files and an embedded Redis, the zero-setup default.
On PostgreSQL each test runs inside one outer transaction that is rolled back (savepoint recipe); on
SQLite each test gets a fresh copy of a migrated database file.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis as redis_lib
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from caseworker import create_app, embedded_redis
from models import Base, Session, get_engine, init_engine, make_engine, migrate
from models.db import WRITE_INTENT
from tests.security.logpii import pytest_addoption, pytest_runtest_call  # noqa: F401  (`--check-log-pii`)

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
            "SOCKETIO_MESSAGE_QUEUE": None, "SECRET_KEY": "test-secret", "LOGIN_LOCK_SECONDS": 60,
            "REALTIME_COALESCE_MS": 0} | extra


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


def see_commits(session) -> None:
    """Read what the app committed since: end this session's transaction (on PostgreSQL a savepoint that the
    app's own savepoints sit inside, so it is released, never rolled back) and forget the rows it loaded."""
    session.commit()
    session.expire_all()


@contextmanager
def a_worker_commits_after_the_first_read(user_id: int):
    """While the block runs, the first SELECT of a reading transaction is followed by a change that another
    connection commits, as a worker does at any time. On SQLite a transaction that has read can then no longer
    write. A transaction that took the write lock at its start (models.db.WRITE_INTENT) is left alone: there
    the other connection would wait for this one, in the same thread, for good."""
    armed = True

    def commit_a_change(conn, _cursor, statement, _parameters, _context, _executemany):
        nonlocal armed
        reading = not conn.get_execution_options().get(WRITE_INTENT, False)
        if armed and reading and statement.lstrip().upper().startswith("SELECT"):
            armed = False
            with get_engine().begin() as other:
                # a real change: SQLite commits nothing for an UPDATE that leaves the row as it was
                other.execute(text("UPDATE users SET failed_logins = failed_logins + 1 WHERE id = :id"),
                              {"id": user_id})

    event.listen(Engine, "after_cursor_execute", commit_a_change)
    try:
        yield
    finally:
        event.remove(Engine, "after_cursor_execute", commit_a_change)


@pytest.fixture(params=[False, True], ids=["quiet", "a worker commits meanwhile"])
def worker_commits(request):
    """Runs the test twice: `with worker_commits(user_id):` does nothing, then
    `a_worker_commits_after_the_first_read(user_id)`."""
    return a_worker_commits_after_the_first_read if request.param else lambda _user_id: nullcontext()


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


# ---- a live server in its own process ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    env: dict

    def flask(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """Run a `flask` command against the live server's database and Redis."""
        return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=timeout, check=True)


def _wait_until_healthy(url: str, process: subprocess.Popen, timeout: float = 30) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the server did not become healthy")


@pytest.fixture
def sink():
    """A loopback SMTP server (aiosmtpd) that keeps every message it is sent."""
    from tests.channels import mailtools

    sink, controller = mailtools.start_sink()
    yield sink
    controller.stop()


@pytest.fixture
def live_env(scratch_database_url, redis_url, redis, tmp_path) -> dict:
    """Environment for processes of the system under test: a migrated scratch database and the test Redis."""
    migrate.upgrade(scratch_database_url)
    return os.environ | {"DATABASE_URL": scratch_database_url, "REDIS_URL": redis_url,
                         "CASEWORK_LOG_LEVEL": "WARNING", "CASEWORK_ATTACHMENT_DIR": str(tmp_path / "files")}


@pytest.fixture
def live_server(live_env):
    """`flask serve` (web only, no workers) on a free port, in its own process."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "serve", "--port", str(port),
                                "--workers", "0", "--smtp-port", "0"], cwd=ROOT, env=live_env, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(url, process)
        yield LiveServer(url, live_env)
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()


# ---- browser tests ----------------------------------------------------------------------------------
# pytest-playwright's fixtures, pointed at Debian's chromium: no browser is ever downloaded.

CHROMIUM = os.environ.get("CASEWORK_CHROMIUM", "/usr/bin/chromium")
AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "headless": True,
            "args": ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync"]}


@pytest.fixture(scope="session")
def base_url() -> None:
    """Tests take their URL from `live_server`; this replaces the plugin's fallback fixture."""
    return None


@pytest.fixture
def axe(page):
    """Runs axe-core (from npm) on the current page for WCAG 2.1 A/AA and best practice; returns violations."""
    assert AXE_JS.exists(), "axe-core is missing: `make test` installs it with npm"
    page.context.add_init_script(path=str(AXE_JS))   # injected by the browser, not subject to the page's CSP

    def run() -> list[dict]:
        result = page.evaluate("""() => axe.run(document, {resultTypes: ['violations'], runOnly: {type: 'tag',
            values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})""")
        return [{"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
                for v in result["violations"]]

    return run


@pytest.fixture
def screenshot(tmp_path):
    """`screenshot(page, "name.png")`: into docs/screenshots when CASEWORK_SCREENSHOTS=1 (`make screenshots`),
    else into the test's scratch folder, so that an ordinary run never rewrites the committed images."""
    folder = ROOT / "docs" / "screenshots" if os.environ.get("CASEWORK_SCREENSHOTS") == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)

    def take(page, name: str, *, full_page: bool = True) -> Path:
        page.screenshot(path=str(folder / name), full_page=full_page)
        return folder / name

    return take

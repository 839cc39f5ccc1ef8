"""Fixtures of the fault tests: a Redis server of their own (so it can be stopped), the processes, a centre."""
from dataclasses import dataclass

import pytest

from models import Presence, Role, Session, init_engine, transaction
from tests.factories import make_user
from tests.reliability.harness import Processes, RedisServer
from tests.routing.builders import make_agent, make_routed_queue


@pytest.fixture
def redis_server(tmp_path):
    """A dedicated redis-server for one test, started; the test may stop and start it again."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def env(live_env, redis_server, tmp_path) -> dict:
    """The environment of every process under test: the scratch database and the dedicated Redis."""
    return live_env | {"REDIS_URL": redis_server.url, "CASEWORK_OUTBOX_DIR": str(tmp_path / "outbox"),
                       "SECRET_KEY": "reliability-secret", "CASEWORK_WEBFORM_RATE_LIMIT": "10000/minute"}


@pytest.fixture
def procs(env, tmp_path):
    running = Processes(env, tmp_path / "logs")
    yield running
    running.stop_all()


@dataclass(frozen=True)
class Centre:
    category: str
    agent_ids: list[int]
    agent_emails: list[str]
    supervisor_email: str


@pytest.fixture
def centre(env) -> Centre:
    """A routed queue whose category is on the contact page, three available agents and a supervisor."""
    init_engine(env["DATABASE_URL"])
    with transaction() as session:
        queue = make_routed_queue(session, "streets", name="Streets")
        agents = [make_agent(session, f"Agent {n}", [queue], presence=Presence.AVAILABLE) for n in range(3)]
        supervisor = make_user(session, Role.SUPERVISOR, display_name="Sam Okafor")
        found = Centre("streets", [a.id for a in agents], [a.email for a in agents], supervisor.email)
    yield found
    Session.remove()

"""Scale-out (docs/deploy.md): two web processes and two RQ workers on one database and one Redis.

An event raised in one process reaches Socket.IO clients connected to another, through the Redis message
queue: a web form sent to web A opens a case (web A announces it to the supervisors) and a worker routes
it (the worker announces the assignment to the agent); sockets on both web processes, websocket transport
only, hear both. Jobs enqueued through web A are done by whichever worker is up. A long-polling session
lives in the process that opened it and the other process refuses it: polling needs sticky sessions,
websocket-only does not.
"""
import json
import subprocess
import uuid
from dataclasses import dataclass

import pytest
import redis as redis_lib
from rq import Worker
from sqlalchemy import select

from models import Case, Presence, Role, Session, init_engine, reading, transaction
from tests.conftest import free_port
from tests.factories import PASSWORD, make_user
from tests.reliability.harness import Console, Processes, WebForm, eventually, sign_in
from tests.routing.builders import make_agent, make_routed_queue

pytestmark = pytest.mark.integration

WAIT = 30.0                    # seconds: two engines, four processes and a shared CPU


@dataclass(frozen=True)
class ScaleCentre:
    agent_email: str
    agent_id: int
    supervisor_email: str
    queue_id: int
    category: str


@dataclass
class Cluster:
    web: list[str]
    workers: list[subprocess.Popen]
    procs: Processes
    rq_redis: redis_lib.Redis

    def running_workers(self) -> int:
        return len(Worker.all(connection=self.rq_redis))


@pytest.fixture
def scale_centre(live_env) -> ScaleCentre:
    """A routed queue with a public service, an available agent in it and a supervisor."""
    init_engine(live_env["DATABASE_URL"])
    with transaction() as session:
        queue = make_routed_queue(session, "streets", name="Streets")
        agent = make_agent(session, "Rosa Delgado", [queue], presence=Presence.AVAILABLE)
        supervisor = make_user(session, Role.SUPERVISOR, display_name="Sam Okafor")
        found = ScaleCentre(agent.email, agent.id, supervisor.email, queue.id, "streets")
    yield found
    Session.remove()


@pytest.fixture
def cluster(live_env, scale_centre, redis_url, tmp_path):
    """Web A and web B (`flask serve --workers 0`) and two `flask worker`s on the test's database and Redis
    (on the SQLite leg the embedded Redis, which every process reaches by its unix socket URL)."""
    procs = Processes(live_env | {"SECRET_KEY": "scale-out-secret"}, tmp_path / "logs")  # sessions signed alike
    rq_redis = redis_lib.Redis.from_url(redis_url)
    try:
        web = [procs.web(free_port()) for _ in range(2)]
        found = Cluster(web, [procs.worker(f"worker{n}") for n in range(2)], procs, rq_redis)
        eventually(lambda: found.running_workers() == 2, "two RQ workers", 60)
        yield found
    finally:
        procs.stop_all()
        rq_redis.close()


@pytest.fixture
def consoles():
    opened: list[Console] = []

    def open_(url: str, email: str) -> Console:
        opened.append(Console(url, email, PASSWORD))          # websocket transport only
        return opened[-1]

    yield open_
    for console in opened:
        console.close()


def _send_web_form(url: str, category: str) -> int:
    """A member of the public sends the contact form to `url`; returns the id of the case it opened."""
    marker = uuid.uuid4().hex[:12]
    form = WebForm(url)
    response = form.send(form.load(), category=category, description=f"Streetlight out, marker {marker}",
                         language="en", email=f"{marker}@residents.example", website="")
    assert response.status_code == 302, response.status_code
    with reading() as session:
        return session.execute(select(Case.id).where(Case.subject.contains(marker))).scalar_one()


def _assignee(case_id: int) -> int | None:
    with reading() as session:
        return session.execute(select(Case.assignee_id).where(Case.id == case_id)).scalar_one()


def test_an_event_raised_in_one_process_reaches_clients_of_the_other(cluster, scale_centre, consoles):
    web_a, web_b = cluster.web
    supervisor_b = consoles(web_b, scale_centre.supervisor_email)
    agent_b = consoles(web_b, scale_centre.agent_email)
    agent_a = consoles(web_a, scale_centre.agent_email)       # the same agent, a console on each process

    case_id = _send_web_form(web_a, scale_centre.category)

    # Web A announced the new case: the supervisor's socket on web B hears it.
    eventually(lambda: supervisor_b.heard("queue.changed", queue_id=scale_centre.queue_id), "queue.changed on B", WAIT)
    # A worker routed it and announced the assignment: the agent hears it on both web processes.
    eventually(lambda: agent_b.heard("case.assigned", case_id=case_id), "case.assigned on web B", WAIT)
    eventually(lambda: agent_a.heard("case.assigned", case_id=case_id), "case.assigned on web A", WAIT)
    eventually(lambda: supervisor_b.heard("wallboard.changed", case_id=case_id), "wallboard.changed on B", WAIT)
    assert _assignee(case_id) == scale_centre.agent_id


def test_jobs_enqueued_through_one_web_process_are_done_by_whichever_worker_is_up(cluster, scale_centre, consoles):
    web_a, web_b = cluster.web
    agent_b = consoles(web_b, scale_centre.agent_email)
    for n in range(2):                               # each worker alone in turn does the routing job
        _stop(cluster.workers[n])
        eventually(lambda: cluster.running_workers() == 1, "one worker left", WAIT)
        case_id = _send_web_form(web_a, scale_centre.category)
        eventually(lambda: _assignee(case_id) == scale_centre.agent_id, f"case {case_id} routed", WAIT)
        eventually(lambda: agent_b.heard("case.assigned", case_id=case_id), "case.assigned on web B", WAIT)
        cluster.workers[n] = cluster.procs.worker(f"worker{n}")
        eventually(lambda: cluster.running_workers() == 2, "the worker back", WAIT)


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM: an RQ worker's warm shutdown (it finishes its job and leaves the worker registry)."""
    process.terminate()
    process.wait(15)


def test_a_polling_session_is_known_only_to_the_process_that_opened_it(cluster, scale_centre):
    web_a, web_b = cluster.web
    http = sign_in(web_a, scale_centre.agent_email, PASSWORD)
    opened = http.get(f"{web_a}/socket.io/?EIO=4&transport=polling", timeout=WAIT)
    assert opened.status_code == 200 and opened.text.startswith("0")
    sid = json.loads(opened.text[1:])["sid"]            # an Engine.IO "open" packet: 0{"sid": ...}
    elsewhere = http.get(f"{web_b}/socket.io/?EIO=4&transport=polling&sid={sid}", timeout=WAIT)
    assert elsewhere.status_code == 400                 # web B never heard of it: without sticky sessions it fails
    here = http.post(f"{web_a}/socket.io/?EIO=4&transport=polling&sid={sid}", data="40", timeout=WAIT)
    assert here.status_code == 200 and here.text == "OK"                  # Socket.IO CONNECT sent to web A
    reply = http.get(f"{web_a}/socket.io/?EIO=4&transport=polling&sid={sid}", timeout=WAIT)
    assert reply.text.startswith("40{")              # CONNECT accepted (signed in), where "44" would refuse it

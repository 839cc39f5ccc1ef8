"""`flask simulate` drives the running system: contacts through the intake, routed by a worker process."""
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from models import Case, RoutingDecision, init_engine, transaction
from tests.conftest import ROOT
from tests.routing.builders import make_agent, make_routed_queue


@pytest.mark.integration
def test_simulate_opens_cases_that_a_worker_routes(live_env, tmp_path):
    init_engine(live_env["DATABASE_URL"])
    with transaction() as session:
        queue = make_routed_queue(session, "streets")
        for n in range(3):
            make_agent(session, f"Agent {n}", [queue], languages=("en", "es", "it"))
    with open(tmp_path / "worker.log", "wb") as log:
        worker = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "worker", "routing"], cwd=ROOT,
                                  env=live_env, stdout=log, stderr=subprocess.STDOUT)
        try:
            result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "simulate", "--rate", "5",
                                     "--duration", "4", "--seed", "7"], cwd=ROOT, env=live_env,
                                    capture_output=True, text=True, timeout=120, check=True)
        finally:
            worker.terminate()
            worker.wait(15)
    assert "contacts" in result.stdout
    with transaction() as session:
        cases = session.execute(select(func.count(Case.id))).scalar_one()
        routed = session.execute(select(func.count(func.distinct(RoutingDecision.case_id)))).scalar_one()
    assert cases >= 5 and routed >= 1, (cases, routed)


def test_the_simulator_leaves_alone_agents_who_have_a_console_open(redis):
    from caseworker.simulate import simulated_agents
    from routing import presence

    presence.socket_opened(redis, 41, "sid-a")
    assert simulated_agents(redis, [40, 41, 42]) == [40, 42]
    presence.socket_closed(redis, 41, "sid-a")
    assert simulated_agents(redis, [40, 41, 42]) == [40, 41, 42]

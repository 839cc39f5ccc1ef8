"""Fault: the outbound SMTP server is down when a caseworker replies.

A supervisor replies on a case through the real web server; the worker's delivery fails (connection
refused) and RQ schedules retries further and further apart; the case page shows the reply as "queued".
The test moves each scheduled retry to now rather than wait minutes, and reads the schedule first. Once
the SMTP server is up the reply goes, the page says "sent", and the server has it exactly once.
"""
import re
import time
from datetime import datetime, timezone

import pytest
from aiosmtpd.controller import Controller
from rq import Queue
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from sqlalchemy import select

from channels import jobs
from models import Interaction, Role, reading, transaction
from tests.channels import mailtools
from tests.conftest import csrf_token, free_port
from tests.factories import PASSWORD, make_user
from tests.reliability.harness import eventually, figures, sign_in
from tests.routing.builders import open_case

pytestmark = pytest.mark.integration

REPLY = "We have sent a crew to fix the streetlight this week."


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def env(env, smtp_port):
    return env | {"CASEWORK_SMTP_HOST": "127.0.0.1", "CASEWORK_SMTP_PORT": str(smtp_port),
                  "CASEWORK_MAIL_ACKNOWLEDGE": "false"}


def _delivery(case_page: str) -> list[str]:
    return re.findall(r'class="badge delivery-(\w+)"', case_page)


def _next_retry(registry: ScheduledJobRegistry) -> tuple[str, float]:
    """The one scheduled send job and in how many seconds it is due."""
    ids = registry.get_job_ids()
    assert len(ids) == 1, ids
    return ids[0], registry.connection.zscore(registry.key, ids[0]) - time.time()


def test_a_reply_waits_while_smtp_is_down_is_retried_with_backoff_and_sent_once(procs, centre, env, smtp_port,
                                                                                 redis_server):
    with transaction() as session:
        case_id = open_case(session, centre.category, email="ana.lopez@mail.example").id
        supervisor = make_user(session, Role.SUPERVISOR).email
    url = procs.web(free_port())
    procs.worker()
    rq_redis = redis_server.client()
    scheduled = ScheduledJobRegistry(queue=Queue("channels", connection=rq_redis))

    http = sign_in(url, supervisor, PASSWORD)
    page = http.get(f"{url}/cases/{case_id}", timeout=20).text
    last_seen = re.search(r'name="last_seen" type="hidden" value="(\d*)"', page)
    answer = http.post(f"{url}/cases/{case_id}/reply", timeout=20, allow_redirects=False, data={
        "csrf_token": csrf_token(page), "body": REPLY, "last_seen": last_seen.group(1) if last_seen else ""})
    assert answer.status_code in (302, 303), answer.status_code

    # Each failed try is scheduled again, further off each time (SEND_RETRY: 10, 60, 300, ... seconds).
    delays = []
    for attempt in range(3):
        job_id, due_in = eventually(lambda: scheduled.get_job_ids() and _next_retry(scheduled),
                                    f"retry {attempt + 1} to be scheduled", timeout=30)
        delays.append(due_in)
        assert _delivery(http.get(f"{url}/cases/{case_id}", timeout=20).text) == ["queued"]
        if attempt < 2:
            scheduled.schedule(Queue("channels", connection=rq_redis).fetch_job(job_id), datetime.now(timezone.utc))
            eventually(lambda: job_id not in scheduled.get_job_ids() or _next_retry(scheduled)[1] > delays[-1] + 1,
                       "the retry to run and fail again", timeout=30)
    assert 5 < delays[0] <= 10 and 40 < delays[1] <= 60 and 250 < delays[2] <= 300, delays

    sink = mailtools.SmtpSink(smtp_port)
    controller = Controller(sink, hostname="127.0.0.1", port=smtp_port, ready_timeout=10)
    controller.start()
    try:
        came_back = time.monotonic()
        scheduled.schedule(Queue("channels", connection=rq_redis).fetch_job(job_id), datetime.now(timezone.utc))
        eventually(lambda: _delivery(http.get(f"{url}/cases/{case_id}", timeout=20).text) == ["sent"],
                   "the case page to show the reply as sent", timeout=30)
        sent_after = time.monotonic() - came_back
        time.sleep(3)                                  # anything that would send it again has had its chance
    finally:
        controller.stop()
    with reading() as session:
        message_id = session.execute(select(Interaction.external_id).where(
            Interaction.case_id == case_id, Interaction.delivery_status.is_not(None))).scalar_one()
    got = [m for m in sink.received if m["Message-ID"] == f"<{message_id}>"]
    assert len(got) == 1 and len(sink.received) == 1 and REPLY in got[0].get_content()
    assert scheduled.get_job_ids() == [] and FailedJobRegistry(queue=Queue("channels", connection=rq_redis)).count == 0
    figures("retries scheduled %s s after each failure; sent %.1f s after the server came back; delivered once",
            ", ".join(f"{d:.0f}" for d in delays), sent_after)


class RefusesTheSecondOnce(mailtools.SmtpSink):
    """An SMTP server that takes the first message of a connection and defers the second, once (a rate limit)."""

    deferred = False

    async def handle_DATA(self, server, session, envelope):
        if len(self.received) == 1 and not self.deferred:
            self.deferred = True
            return "451 4.7.1 Rate limited, try again later"
        return await super().handle_DATA(server, session, envelope)


def test_a_batch_cut_short_by_the_server_sends_no_message_twice(procs, centre, env, smtp_port, redis_server):
    with transaction() as session:
        case_ids = [open_case(session, centre.category, email=f"resident{n}@mail.example").id for n in range(3)]
    sink = RefusesTheSecondOnce(smtp_port)
    controller = Controller(sink, hostname="127.0.0.1", port=smtp_port, ready_timeout=10)
    controller.start()
    try:
        procs.worker()
        rq_redis = redis_server.client()
        queue = Queue("channels", connection=rq_redis)
        queue.enqueue(jobs.acknowledge_cases, case_ids, job_timeout=120, retry=jobs.SEND_RETRY)
        scheduled = ScheduledJobRegistry(queue=queue)
        job_id, _due = eventually(lambda: scheduled.get_job_ids() and _next_retry(scheduled), "the retry", timeout=30)
        scheduled.schedule(queue.fetch_job(job_id), datetime.now(timezone.utc))
        eventually(lambda: len(sink.received) >= 3, "all three acknowledgements", timeout=30)
        time.sleep(2)
    finally:
        controller.stop()
    ids = [m["Message-ID"] for m in sink.received]
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 3, ids


def test_a_reply_written_while_redis_is_down_is_kept_and_sent_when_it_is_back(procs, centre, env, smtp_port,
                                                                               redis_server):
    with transaction() as session:
        case_id = open_case(session, centre.category, email="ana.lopez@mail.example").id
        supervisor = make_user(session, Role.SUPERVISOR).email
    sink = mailtools.SmtpSink(smtp_port)
    controller = Controller(sink, hostname="127.0.0.1", port=smtp_port, ready_timeout=10)
    controller.start()
    try:
        url = procs.web(free_port())
        procs.worker()
        http = sign_in(url, supervisor, PASSWORD)
        page = http.get(f"{url}/cases/{case_id}", timeout=20).text
        redis_server.stop()
        answer = http.post(f"{url}/cases/{case_id}/reply", timeout=20, allow_redirects=False, data={
            "csrf_token": csrf_token(page), "body": REPLY, "last_seen": _last_seen(page)})
        assert answer.status_code in (302, 303), answer.status_code
        assert _delivery(http.get(f"{url}/cases/{case_id}", timeout=20).text) == ["queued"]
        redis_server.start()
        came_back = time.monotonic()
        eventually(lambda: len(sink.received) >= 1, "the reply to be sent once Redis is back", timeout=30)
        sent_after = time.monotonic() - came_back
        time.sleep(2)
    finally:
        controller.stop()
    assert len(sink.received) == 1 and REPLY in sink.received[0].get_content()
    assert "backlog" in procs.log("web")
    figures("reply written during the outage: answered %s, sent %.1f s after Redis was back", answer.status_code,
            sent_after)


def _last_seen(case_page: str) -> str:
    found = re.search(r'name="last_seen" type="hidden" value="(\d*)"', case_page)
    return found.group(1) if found else ""

"""Fault: a worker is killed (SIGKILL) while it ingests and routes a stream of contacts.

Mail arrives over the real SMTP listener and web form submissions at the real web server while one
`flask worker` ingests and routes; it is killed in the middle, the stream goes on, a new worker starts.
Afterwards every contact is one interaction on one case, no case has two owners and no agent holds more
than their capacity (the slot counters agree with the cases).
"""
import threading
import time
from collections import Counter
from email.utils import make_msgid

import pytest
from rq.registry import StartedJobRegistry
from sqlalchemy import func, select

from models import Case, Channel, InboundRaw, InboundStatus, Interaction, UserCapacity, reading
from tests.channels.mailtools import email
from tests.conftest import free_port
from tests.reliability.harness import WebForm, eventually, figures, kill, send_mail
from tests.routing.test_concurrency import _check_capacity, _check_ownership

pytestmark = pytest.mark.integration

MAILS = 40
FORM_EVERY = 3                 # a web form submission after every third mail


def _ingested() -> int:
    with reading() as session:
        return session.execute(select(func.count()).where(InboundRaw.status == InboundStatus.INGESTED)).scalar_one()


def _running_jobs(rq_redis) -> list[str]:
    return [job_id for name in ("channels", "routing")
            for job_id in StartedJobRegistry(name, connection=rq_redis).get_job_ids()]


def _routed() -> bool:
    """No case of a routed queue waits while an agent has a free web form slot."""
    with reading() as session:
        waiting = session.execute(select(func.count()).where(
            Case.queue_id.is_not(None), Case.assignee_id.is_(None), Case.offered_to_id.is_(None))).scalar_one()
        spare = session.execute(select(func.sum(UserCapacity.slots - UserCapacity.used)).where(
            UserCapacity.channel == Channel.WEBFORM)).scalar_one()
    return waiting == 0 or spare == 0


def _send_stream(smtp_port: int, url: str, category: str, message_ids: list[str], tokens: list[str],
                 errors: list) -> None:
    form = WebForm(url)
    for n in range(MAILS):
        message_id = make_msgid(domain="mail.example")
        code, _text = send_mail(smtp_port, email(sender=f"resident{n}@mail.example", message_id=message_id,
                                                 subject=f"Streetlight out {n}"))
        if code != 250:
            errors.append(("smtp", n, code))
        message_ids.append(message_id.strip("<>"))
        if n % FORM_EVERY == 0:
            fields = form.load()
            answer = form.send(fields, category=category, description=f"Broken bench number {n} in the park",
                               email=f"walker{n}@mail.example", language="en")
            if answer.status_code != 302:
                errors.append(("form", n, answer.status_code))
            tokens.append(fields["token"])


def test_a_killed_worker_loses_and_duplicates_nothing(procs, centre, redis_server):
    smtp_port = free_port()
    procs.smtpd(smtp_port)
    url = procs.web(free_port())
    first = procs.worker("worker-1")
    message_ids: list[str] = []
    tokens: list[str] = []
    errors: list = []
    stream = threading.Thread(target=_send_stream, args=(smtp_port, url, centre.category, message_ids, tokens, errors))
    started = time.monotonic()
    stream.start()
    rq_redis = redis_server.client()
    eventually(lambda: _ingested() >= 8, "the first worker to ingest some mail")
    eventually(lambda: _running_jobs(rq_redis), "the first worker to be inside a job", every=0.002)
    kill(first)                                     # in the middle of a job; mail keeps arriving
    abandoned = _running_jobs(rq_redis)             # the dead worker's job, still marked as running
    killed_at = time.monotonic()
    time.sleep(1.0)
    procs.worker("worker-2")
    stream.join(60)
    assert not stream.is_alive() and errors == []

    def all_taken_in() -> bool:
        with reading() as session:
            waiting = session.execute(select(func.count()).where(
                InboundRaw.status.in_((InboundStatus.RECEIVED, InboundStatus.FAILED)))).scalar_one()
        return waiting == 0

    eventually(all_taken_in, "every stored contact to be taken in after the restart", timeout=40)
    eventually(_routed, "the routable cases to be routed", timeout=30)
    recovered = time.monotonic() - killed_at
    with reading() as session:
        external_ids = [f"webform-{t}" for t in tokens] + message_ids
        seen = Counter(session.execute(select(Interaction.external_id).where(
            Interaction.external_id.in_(external_ids))).scalars())
        assert sorted(seen) == sorted(external_ids), "a contact was lost"
        assert [i for i, n in seen.items() if n > 1] == [], "a contact became two interactions"
        cases = session.execute(select(func.count(func.distinct(Interaction.case_id))).where(
            Interaction.external_id.in_(external_ids))).scalar_one()
        assert cases == MAILS + len(tokens) == session.execute(select(func.count(Case.id))).scalar_one()
        _check_ownership(session)
        _check_capacity(session)
    figures("%s mails + %s forms -> %s cases; killed inside job %s; recovered %.1f s after the kill, %.1f s in all",
            MAILS, len(tokens), cases, abandoned, recovered, time.monotonic() - started)

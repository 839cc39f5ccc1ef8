"""Fault: Redis goes away during traffic and comes back on the same port.

The SMTP listener and the web form keep accepting while Redis is down (what they receive is committed to
the database first). The worker is paused (SIGSTOP) before the outage, so the jobs of the first contacts
wait in Redis through the restart (append-only file) and the worker's connections break under it; what
arrived during the outage is enqueued from the receiving processes' backlogs when Redis is back; a staff
member's live view hears events again after the restart.
"""
import os
import signal
import time
from email.utils import make_msgid

import pytest
from rq import Worker
from sqlalchemy import func, select

from models import Case, InboundRaw, InboundStatus, Interaction, reading
from tests.channels.mailtools import email
from tests.conftest import free_port
from tests.factories import PASSWORD
from tests.reliability.harness import Console, WebForm, eventually, figures, send_mail

pytestmark = pytest.mark.integration

PER_PHASE = 5             # mails and forms before, during and after the outage
OUTAGE_SECONDS = 4.0


def _mail(smtp_port: int, tag: str) -> str:
    message_id = make_msgid(domain="mail.example")
    code, text = send_mail(smtp_port, email(message_id=message_id, sender=f"{tag}@mail.example",
                                            subject=f"Missed collection {tag}"))
    assert code == 250, (code, text)
    return message_id.strip("<>")


def _form(url: str, category: str, tag: str) -> str:
    form = WebForm(url)
    fields = form.load()
    answer = form.send(fields, category=category, description=f"Overflowing bin at the corner, {tag}",
                       email=f"{tag}@mail.example", language="en")
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/contact/received"), \
        (answer.status_code, answer.text[:300])
    return f"webform-{fields['token']}"


def _case_of(external_id: str) -> int | None:
    with reading() as session:
        return session.execute(select(Interaction.case_id).where(Interaction.external_id == external_id)).scalar()


def test_intake_goes_on_while_redis_restarts_and_queued_work_resumes(procs, centre, redis_server):
    smtp_port = free_port()
    procs.smtpd(smtp_port)
    url = procs.web(free_port())
    worker = procs.worker()
    eventually(lambda: len(Worker.all(connection=redis_server.client())) == 1, "the worker to start")
    console = Console(url, centre.supervisor_email, PASSWORD)
    contacts = []
    try:
        os.kill(worker.pid, signal.SIGSTOP)             # jobs queue up in Redis and wait out the restart
        for n in range(PER_PHASE):
            contacts += [_mail(smtp_port, f"before{n}"), _form(url, centre.category, f"before{n}")]

        redis_server.stop()
        down_at = time.monotonic()
        for n in range(PER_PHASE):
            contacts += [_mail(smtp_port, f"during{n}"), _form(url, centre.category, f"during{n}")]
            time.sleep(OUTAGE_SECONDS / PER_PHASE)
        outage = time.monotonic() - down_at
        redis_server.start()
        up_at = time.monotonic()
        os.kill(worker.pid, signal.SIGCONT)

        for n in range(PER_PHASE):
            contacts += [_mail(smtp_port, f"after{n}"), _form(url, centre.category, f"after{n}")]
        last_form = contacts[-1]

        def all_cases() -> bool:
            with reading() as session:
                left = session.execute(select(func.count()).where(
                    InboundRaw.status != InboundStatus.INGESTED)).scalar_one()
            return left == 0 and all(_case_of(c) for c in contacts)

        eventually(all_cases, "every contact to become a case after the restart", timeout=40)
        recovered = time.monotonic() - up_at
        forms = [_case_of(c) for c in contacts if c.startswith("webform-")]
        eventually(lambda: all(_assignee(c) for c in forms), "every web form case routed", timeout=30)
        # The live view: events published while the web process's Redis listener was reconnecting are gone
        # (pub/sub keeps nothing); the first new case after it is back reaches the supervisor's console.
        live_again = eventually(lambda: _heard_new_case(console, url, centre.category),
                                "the console to hear a new case after the restart", timeout=30, every=0)
        live_after = time.monotonic() - up_at
    finally:
        console.close()
    with reading() as session:
        per_contact = session.execute(select(Interaction.external_id, func.count()).where(
            Interaction.external_id.in_(contacts)).group_by(Interaction.external_id)).all()
        cases = session.execute(select(func.count(func.distinct(Interaction.case_id))).where(
            Interaction.external_id.in_(contacts))).scalar_one()
    assert len(per_contact) == len(contacts) == cases and all(n == 1 for _, n in per_contact)
    assert worker.poll() is None, "the worker did not survive the outage"
    assert "backlog" in procs.log("smtpd") and "backlog" in procs.log("web"), "nothing waited for Redis"
    figures("%s contacts (%s during a %.1f s outage) -> %s cases; all taken in %.1f s after Redis was back; "
            "live events again after %.1f s (case %s)", len(contacts), 2 * PER_PHASE, outage, cases, recovered,
            live_after, live_again)


def _heard_new_case(console: Console, url: str, category: str) -> int | None:
    """Send one more form; the id of its case when the console hears of it within two seconds."""
    case_id = _case_of(_form(url, category, f"probe{time.monotonic_ns()}"))
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        if console.heard("wallboard.changed", case_id=case_id):
            return case_id
        time.sleep(0.05)
    return None


def _assignee(case_id: int) -> int | None:
    with reading() as session:
        return session.execute(select(Case.assignee_id).where(Case.id == case_id)).scalar_one()

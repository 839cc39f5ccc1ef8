"""Fault: the same contact is delivered more than once, some copies at the same moment.

An MTA that lost our 250 sends the same bytes again; a second MX route brings the same Message-ID with
another envelope; an inbound-parse provider retries its webhook; a person double-clicks "Send"; a
telephony provider retries its incoming-call event. Each contact ends as one interaction on one case.
"""
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from email.utils import make_msgid
from urllib.parse import urlencode

import pytest
import requests
from sqlalchemy import func, select

from channels import phone
from models import Case, InboundRaw, InboundStatus, Interaction, reading
from tests.channels.mailtools import email
from tests.conftest import free_port
from tests.reliability.harness import WebForm, eventually, figures, send_mail

pytestmark = pytest.mark.integration

COPIES = 4
WEBHOOK_AUTH = ("postmark", "inbound-secret-for-tests")
PHONE_SECRET = "phone-secret-for-tests"


@pytest.fixture
def env(env):
    return env | {"CASEWORK_WEBHOOK_USERNAME": WEBHOOK_AUTH[0], "CASEWORK_WEBHOOK_PASSWORD": WEBHOOK_AUTH[1],
                  "CASEWORK_PHONE_WEBHOOK_SECRET": PHONE_SECRET, "CASEWORK_PHONE_QUEUE": "streets"}


def _at_once(*calls):
    """Run the calls in parallel threads; their results in order."""
    with ThreadPoolExecutor(len(calls)) as pool:
        return [f.result() for f in [pool.submit(call) for call in calls]]


def _postmark(message_id: str, attempt: int) -> bytes:
    """A Postmark inbound payload; each retry differs in its bytes (the provider's delivery date)."""
    return json.dumps({"From": "ana@mail.example", "To": "help@riverton.example", "Subject": "Pothole on Elm",
                       "TextBody": "The pothole is back.", "MessageID": str(uuid.uuid4()),
                       "Headers": [{"Name": "Message-ID", "Value": message_id},
                                   {"Name": "X-Delivery-Attempt", "Value": str(attempt)}]}).encode()


def _call(url: str, call_sid: str):
    body = urlencode({"CallSid": call_sid, "From": "+15550104477", "To": "+15550100311"}).encode()
    stamp = int(time.time())
    return requests.post(f"{url}/inbound/phone/call", data=body, timeout=30, headers={
        "Content-Type": "application/x-www-form-urlencoded", phone.TIMESTAMP_HEADER: str(stamp),
        phone.SIGNATURE_HEADER: phone.sign(PHONE_SECRET, stamp, body)})


def _interactions(external_id: str) -> tuple[int, int]:
    """(interactions, cases) carrying `external_id`."""
    with reading() as session:
        return session.execute(select(func.count(Interaction.id), func.count(func.distinct(Interaction.case_id)))
                               .where(Interaction.external_id == external_id)).one()


def test_every_duplicate_delivery_is_one_interaction(procs, centre, env):
    smtp_port = free_port()
    procs.smtpd(smtp_port)
    url = procs.web(free_port())
    procs.worker()

    # Email: the same bytes twice at once, the same Message-ID to a second recipient, and two webhook retries.
    message_id = make_msgid(domain="mail.example")
    mail = email(message_id=message_id, sender="ana@mail.example", subject="Pothole on Elm")
    smtp_answers = _at_once(*[lambda: send_mail(smtp_port, mail)] * 2,
                            lambda: send_mail(smtp_port, mail, to="streets@riverton.example"))
    webhook_answers = _at_once(*[lambda n=n: requests.post(
        f"{url}/inbound/email/postmark", data=_postmark(message_id, n), auth=WEBHOOK_AUTH, timeout=30,
        headers={"Content-Type": "application/json"}) for n in range(2)])
    assert [code for code, _ in smtp_answers] == [250] * 3
    assert [r.status_code for r in webhook_answers] == [200, 200]

    # Web form: one page, "Send" clicked COPIES times before the first answer came back.
    form = WebForm(url)
    fields = form.load()
    form_answers = _at_once(*[lambda: form.send(fields, category=centre.category, language="en",
                                                description="The bench in Elm Park is broken.")] * COPIES)
    assert [r.status_code for r in form_answers] == [302] * COPIES

    # Phone: the provider sends the incoming-call event COPIES times at once.
    call_sid = f"CA{uuid.uuid4().hex}"
    call_answers = _at_once(*[lambda: _call(url, call_sid)] * COPIES)
    assert sorted(r.status_code for r in call_answers) == [200] * COPIES
    assert len({r.json()["case_id"] for r in call_answers}) == 1
    assert sum(not r.json()["duplicate"] for r in call_answers) == 1

    def settled() -> bool:
        with reading() as session:
            return session.execute(select(func.count()).where(
                InboundRaw.status.in_((InboundStatus.RECEIVED, InboundStatus.FAILED)))).scalar_one() == 0

    eventually(settled, "every stored copy to be processed", timeout=40)
    assert _interactions(message_id.strip("<>")) == (1, 1)
    assert _interactions(f"webform-{fields['token']}") == (1, 1)
    assert _interactions(phone.external_id(call_sid)) == (1, 1)
    with reading() as session:
        cases = session.execute(select(func.count(Case.id))).scalar_one()
        copies = session.execute(select(InboundRaw.outcome, func.count()).group_by(InboundRaw.outcome)).all()
    assert cases == 3, cases
    figures("5 email copies, %s form posts, %s call events -> %s cases; stored payloads by outcome: %s",
            COPIES, COPIES, cases, dict(copies))

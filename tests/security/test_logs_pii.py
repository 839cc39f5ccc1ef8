"""No personal data in logs: every record at DEBUG, from every logger (ours and third parties': RQ, aiosmtpd,
Socket.IO, werkzeug), while distinctive people contact the service through every channel, must hold none
of their addresses, phone numbers (as typed or in E.164), names or words. Records carry ids.

The focused test drives the channels in this process and captures the records themselves (message, args,
exception text); the process test runs the real `flask` processes at DEBUG and reads their log files.
"""
import logging
import re
import sys
import time
from dataclasses import dataclass
from urllib.parse import urlencode

import phonenumbers
import pytest
import requests

from caseworker import logconfig
from channels import phone as phone_channel
from models import Case, InboundRaw, InboundStatus, Session, init_engine, reading
from sqlalchemy import func, select
from tests.conftest import csrf_token, free_port
from tests.reliability.harness import Processes
from tests.security import drive


@dataclass(frozen=True)
class Person:
    """Somebody whose details must never reach a log."""

    name: str
    email: str
    phone: str                         # as they typed it
    words: str                         # a sentence only they wrote

    def secrets(self) -> list[str]:
        number = phonenumbers.parse(self.phone, "US")
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        national = str(number.national_number)
        return [self.name, *self.name.split(), self.email, self.email.split("@")[0], self.email.replace("@", "%40"),
                self.phone, e164, national, self.words]


EMAILER = Person("Zephyrine Quillfeather", "zephyrine.q7@mail.example", "(415) 555-0142", "Sentinel-emailbody-4d1f")
FORMER = Person("Bartholomew Oddsock", "barth.oddsock@mail.example", "415.555.0157", "Sentinel-webform-91ac")
CHATTER = Person("Clementine Wobblesworth", "clem.wobble@mail.example", "+1 415 555 0163", "Sentinel-chat-7e22")
API_USER = Person("Dorabella Fizzwick", "dora.fizz@mail.example", "415-555-0178", "Sentinel-open311-c0de")
CALLER = Person("Evander Plumtree", "evander.plum@mail.example", "+14155550186", "Sentinel-callnote-5b5b")
PEOPLE = [EMAILER, FORMER, CHATTER, API_USER, CALLER]
SECRET = "pii-phone-secret"


def leaks(text: str) -> list[str]:
    """Which personal strings of the people above appear in `text` (case-insensitively)."""
    lowered = text.lower()
    return sorted({s for p in PEOPLE for s in p.secrets() if s.lower() in lowered})


class Everything(logging.Handler):
    """Keeps every record with its message, its arguments and its exception text."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[tuple[str, str]] = []
        self.formatter_ = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        parts = [str(record.msg), repr(record.args)]
        try:
            parts.append(record.getMessage())
        except Exception as exc:  # noqa: BLE001  (a bad format string is a finding, not a crash)
            parts.append(f"unformattable: {exc}")
        if record.exc_info:
            parts.append(self.formatter_.formatException(record.exc_info))
        parts.append(record.exc_text or "")
        self.texts.append((record.name, "\n".join(parts)))


@pytest.fixture
def site(scratch_database_url, redis_url, redis, tmp_path):
    return drive.site_app(scratch_database_url, redis_url, tmp_path, PHONE_WEBHOOK_SECRET=SECRET)


@pytest.fixture
def records(site):
    """Every logger at DEBUG (after create_app configured logging) and one handler on the root that keeps all.

    Except the third-party loggers that write content by design, which logging pins at WARNING whatever the
    level (logconfig.CONTENT_LOGGERS; a test below holds it to that). SQLAlchemy's engine logger is heard at
    INFO, where it would log statement parameters if models.db did not hide them.
    """
    handler = Everything()
    root = logging.getLogger()
    saved = {name: logger.level for name, logger in logging.Logger.manager.loggerDict.items()
             if isinstance(logger, logging.Logger)}
    saved_root = root.level
    saved |= {name: logging.getLogger(name).level for name in logconfig.CONTENT_LOGGERS}
    for name in saved:
        logging.getLogger(name).setLevel(logging.NOTSET)
    for name in logconfig.CONTENT_LOGGERS:                 # as logconfig.configure() pins them
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)
    root.setLevel(saved_root)
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


def signed_call(app, person: Person):
    """The telephony provider's signed incoming-call event for `person`."""
    body = urlencode({"CallSid": f"CA{'e' * 32}", "From": person.phone, "To": "+14155550100",
                      "CallerName": person.name}).encode()
    at = int(time.time())
    return app.test_client().post("/inbound/phone/call", data=body, content_type=phone_channel.CONTENT_TYPE,
                                  headers={phone_channel.TIMESTAMP_HEADER: str(at),
                                           phone_channel.SIGNATURE_HEADER: phone_channel.sign(SECRET, at, body)})


def contact_everywhere(app, redis_url: str) -> None:
    """Each person contacts the service through one channel, and staff work the cases."""
    with drive.smtp_listener(app) as port:
        raw = drive.mt.email(sender=EMAILER.email, name=EMAILER.name, subject=f"About {EMAILER.words}",
                             body=f"{EMAILER.words}. Call me on {EMAILER.phone}.")
        assert drive.send_email(port, raw, sender=EMAILER.email)[0] == 250
    assert drive.submit_webform(app, description=f"{FORMER.words}: a pothole.", name=FORMER.name,
                                email=FORMER.email, phone=FORMER.phone, address="9 Elm Street").status_code == 302
    assert drive.submit_webform(app, description=f"{FORMER.words}: a bad phone.", name=FORMER.name,
                                phone="555 01").status_code == 400
    sock = drive.start_chat(app, name=CHATTER.name, email=CHATTER.email, question=CHATTER.words)
    assert drive.say(sock, f"{CHATTER.words} and my number is {CHATTER.phone}", "c1")["ok"] is True
    sock.disconnect(namespace="/chat")
    first, _, last = API_USER.name.partition(" ")
    key = drive.open311_key()
    assert drive.post_open311(app, key, description=API_USER.words, first_name=first, last_name=last,
                              email=API_USER.email, phone=API_USER.phone).status_code == 200
    assert drive.post_open311(app, key, description=API_USER.words, email=f"not an address {API_USER.email}",
                              ).status_code == 400
    assert signed_call(app, CALLER).status_code == 200
    agent = drive.signed_in(app, drive.AGENT)
    assert drive.log_call(agent, phone=CALLER.phone, caller_name=CALLER.name, notes=CALLER.words).status_code == 302
    assert agent.get(f"/phone/calls/new?lookup_phone={CALLER.phone}").status_code == 200
    drive.work(redis_url, logging_level="DEBUG")
    admin = drive.signed_in(app, drive.ADMIN)
    pages = drive.console_pages(admin)
    assert any(EMAILER.words in html for html in pages.values())
    assert admin.get(f"/constituents/?q={FORMER.email}").status_code == 200
    status = app.test_client()
    page = status.get("/status").get_data(as_text=True)
    with reading() as session:
        reference = session.execute(select(Case.reference).order_by(Case.id)).scalars().all()[1]
    status.post("/status", data={"csrf_token": csrf_token(page), "reference": reference, "secret": FORMER.email})


def test_no_record_of_any_logger_holds_personal_data(site, records, redis_url):
    contact_everywhere(site, redis_url)
    with reading() as session:
        stored = session.execute(select(func.count(InboundRaw.id)).where(
            InboundRaw.status == InboundStatus.INGESTED)).scalar_one()
    assert stored >= 5                                            # every channel took its person in
    assert len(records.texts) > 50                                # the loggers were heard, at DEBUG
    found = {(name, tuple(leaks(text))) for name, text in records.texts if leaks(text)}
    assert found == set(), found


def test_the_log_format_redacts_addresses_and_numbers_that_slip_through():
    formatter = logconfig.RedactingFormatter("%(message)s")
    query = f"lookup_phone={CALLER.phone}&q={FORMER.email.replace('@', '%40')}"
    record = logging.LogRecord("werkzeug", logging.INFO, __file__, 1, '%s - - "GET %s HTTP/1.1" 200 -',
                               ("127.0.0.1", f"/phone/calls/new?{query}"), None)
    line = formatter.format(record)
    assert leaks(line) == [] and "127.0.0.1" in line and "/phone/calls/new" in line
    kept = logging.LogRecord("channels", logging.INFO, __file__, 1, "case %s (C-2026-000123) took %s ms; job %s",
                             (4812, 15, "0b1c2d3e-1234-4cde-9f00-123456789abc"), None)
    assert formatter.format(kept) == "case 4812 (C-2026-000123) took 15 ms; job 0b1c2d3e-1234-4cde-9f00-123456789abc"
    try:
        raise ValueError(f"cannot reach {EMAILER.email} or {EMAILER.phone}")
    except ValueError:
        failed = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    assert leaks(formatter.format(failed)) == [] and "ValueError" in formatter.format(failed)


def test_loggers_that_write_content_stay_pinned_whatever_the_level(monkeypatch):
    monkeypatch.setenv("CASEWORK_LOG_LEVEL", "DEBUG")
    saved = {name: logging.getLogger(name).level for name in ("", *logconfig.CONTENT_LOGGERS)}
    try:
        logconfig.configure()
        assert logging.getLogger().level == logging.DEBUG
        for name in logconfig.CONTENT_LOGGERS:
            assert not logging.getLogger(name).isEnabledFor(logging.INFO), name
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


# ---- the real processes ------------------------------------------------------------------------------


def _web_session(url: str, email: str) -> requests.Session:
    http = requests.Session()
    page = http.get(f"{url}/login", timeout=20).text
    assert http.post(f"{url}/login", data={"email": email, "password": drive.PASSWORD, "csrf_token": csrf_token(page)},
                     allow_redirects=False, timeout=20).status_code == 302
    return http


def _webform(url: str, person: Person) -> int:
    http = requests.Session()
    page = http.get(f"{url}/contact?lang=en", timeout=20).text
    token = re.search(r'name="token" type="hidden" value="([^"]+)"', page).group(1)
    return http.post(f"{url}/contact?lang=en", allow_redirects=False, timeout=20, data={
        "csrf_token": csrf_token(page), "token": token, "category": drive.CATEGORY, "language": "en",
        "description": f"{person.words}: a pothole.", "name": person.name, "email": person.email,
        "phone": person.phone, "address": "", "website": ""}).status_code


def test_the_processes_log_files_at_debug_hold_no_personal_data(live_env, tmp_path):
    env = live_env | {"CASEWORK_LOG_LEVEL": "DEBUG", "CASEWORK_OPEN311_JURISDICTION_ID": drive.JURISDICTION,
                      "CASEWORK_MAIL_SERVICE_ADDRESS": drive.SERVICE, "CASEWORK_OUTBOX_DIR": str(tmp_path / "outbox")}
    init_engine(env["DATABASE_URL"])
    drive.seed()
    key = drive.open311_key()
    procs = Processes(env, tmp_path / "logs")
    try:
        url = procs.web(free_port())
        smtp_port = free_port()
        procs.smtpd(smtp_port)
        procs.worker()
        raw = drive.mt.email(sender=EMAILER.email, name=EMAILER.name, subject=EMAILER.words,
                             body=f"{EMAILER.words}, phone {EMAILER.phone}")
        assert drive.send_email(smtp_port, raw, sender=EMAILER.email)[0] == 250
        assert _webform(url, FORMER) == 302
        first, _, last = API_USER.name.partition(" ")
        assert requests.post(f"{url}/open311/v2/requests.json", timeout=20, data={
            "api_key": key, "jurisdiction_id": drive.JURISDICTION, "service_code": drive.CATEGORY,
            "address_string": "1 Main Street", "description": API_USER.words, "first_name": first, "last_name": last,
            "email": API_USER.email, "phone": API_USER.phone}).status_code == 200
        agent = _web_session(url, drive.AGENT)
        assert agent.get(f"{url}/phone/calls/new", params={"lookup_phone": CALLER.phone}, timeout=20).ok
        assert agent.get(f"{url}/constituents/", params={"q": FORMER.email}, timeout=20).ok
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with reading() as session:
                if session.execute(select(func.count(Case.id))).scalar_one() == 3:
                    break
            time.sleep(0.3)
        else:
            pytest.fail("the worker did not take the email in")
    finally:
        procs.stop_all()
        Session.remove()
    logs = {path.name: path.read_text(errors="replace") for path in (tmp_path / "logs").glob("*.log")}
    assert set(logs) == {"web.log", "smtpd.log", "worker.log"}
    assert " DEBUG " in "".join(logs.values()) and "interaction" in logs["worker.log"]    # they did log, at DEBUG
    found = {name: leaks(text) for name, text in logs.items() if leaks(text)}
    assert found == {}, found

"""The inbound paths of email: SMTP listener, bulk import, provider webhooks; and what happens on failure."""
import base64
import csv
import json
import mailbox
import os
import signal
import smtplib
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from rq import Queue as RqQueue
from sqlalchemy import func, select

from caseworker.channels_cli import start_smtpd
from channels import inbound, jobs, retention, webhooks
from models import (
    Attachment,
    Case,
    Channel,
    InboundRaw,
    InboundStatus,
    Interaction,
    Role,
    User,
    init_engine,
    reading,
    transaction,
    utcnow,
)
from tests.channels import mailtools as mt
from tests.conftest import Auth, csrf_token, free_port
from tests.factories import PASSWORD, make_user

CORPORA = Path(__file__).resolve().parents[3] / "shared" / "corpora"
WEBHOOKS = CORPORA / "webhooks" / "multi_mail" / "spec" / "fixtures"


@pytest.fixture
def mail(scratch_database_url, redis_url, redis, tmp_path):
    app = mt.mail_app(scratch_database_url, redis_url, tmp_path, MAIL_ACKNOWLEDGE=False,
                      MAILGUN_SIGNING_KEY="mg-test-key", WEBHOOK_USERNAME="provider", WEBHOOK_PASSWORD="s3cret",
                      MAIL_MAX_BYTES=200_000)
    return app        # no app context stays pushed: each request and command brings its own, as in production


@pytest.fixture
def db_admin_login():
    def login(app):
        with transaction() as session:
            make_user(session, Role.ADMIN, email="admin@staff.example")
        client = app.test_client()
        Auth(client).login("admin@staff.example", PASSWORD)
        return client

    return login


def count(model) -> int:
    with reading() as session:
        return session.execute(select(func.count(model.id))).scalar_one()


# ---- SMTP -----------------------------------------------------------------------------------------------


@pytest.fixture
def listener(mail):
    port = free_port()
    with mail.app_context():
        controller = start_smtpd("127.0.0.1", port)
    yield port
    controller.stop()


def test_smtp_answers_250_only_once_the_message_is_committed(mail, listener, redis_url):
    with smtplib.SMTP("127.0.0.1", listener) as client:
        client.ehlo()
        client.mail("ana.lopez@mail.example")
        client.rcpt("help@riverton.example")
        code, text = client.data(mt.email(message_id="<smtp-1@mail.example>"))
    assert code == 250
    raw_id = int(text.decode().rsplit(" ", 1)[1])
    with reading() as session:                        # committed before the 250: visible to anyone now
        raw = session.get(InboundRaw, raw_id)
        assert raw.status is InboundStatus.RECEIVED and b"smtp-1@mail.example" in raw.payload
        assert raw.payload.startswith(b"Return-Path: <ana.lopez@mail.example>\r\nX-Original-To: help@riverton.example")
    mt.work(redis_url)
    assert count(Case) == 1


def test_smtp_refuses_a_message_over_the_size_limit_with_552(mail, listener):
    big = mt.email(attachments=[("scan.bin", "application/octet-stream", b"x" * 300_000)])
    with smtplib.SMTP("127.0.0.1", listener) as client:          # a client that declares SIZE is refused early
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.sendmail("ana.lopez@mail.example", ["help@riverton.example"], big)
    assert refused.value.smtp_code == 552
    with smtplib.SMTP("127.0.0.1", listener) as client:          # one that does not, after the data
        client.ehlo()
        client.mail("ana.lopez@mail.example")
        client.rcpt("help@riverton.example")
        code, text = client.data(big)
    assert code == 552, text
    assert count(InboundRaw) == 0


def test_smtp_answers_451_while_the_database_is_down_and_the_retry_is_stored(mail, listener, scratch_database_url):
    init_engine(f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/nothing")     # a database that is not there
    with smtplib.SMTP("127.0.0.1", listener) as client:
        client.ehlo()
        client.mail("ana.lopez@mail.example")
        client.rcpt("help@riverton.example")
        code, _text = client.data(mt.email(message_id="<retry@mail.example>"))
    assert code == 451
    init_engine(scratch_database_url)                                              # it comes back
    with smtplib.SMTP("127.0.0.1", listener) as client:                           # the sender's MTA retries
        assert client.sendmail("ana.lopez@mail.example", ["help@riverton.example"],
                               mt.email(message_id="<retry@mail.example>")) == {}
    assert count(InboundRaw) == 1


def test_the_smtpd_command_serves_until_stopped(mail, scratch_database_url, redis_url, tmp_path):
    port = free_port()
    env = os.environ | {"DATABASE_URL": scratch_database_url, "REDIS_URL": redis_url,
                        "CASEWORK_LOG_LEVEL": "WARNING"}
    process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "channels", "smtpd", "--port", str(port)],
                               cwd=Path(__file__).resolve().parents[2], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert "SMTP listener on 127.0.0.1" in process.stdout.readline()
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.sendmail("ana.lopez@mail.example", ["help@riverton.example"], mt.email())
        assert count(InboundRaw) == 1
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(10)
        process.stdout.close()


# ---- bulk import ----------------------------------------------------------------------------------------


def _history(n: int) -> list[bytes]:
    """A mailbox's worth: new messages, replies to them, one auto-reply, one duplicate."""
    messages = [mt.email(sender=f"person{i}@mail.example", subject=f"Request {i}", message_id=f"<m{i}@mail.example>")
                for i in range(n)]
    messages += [mt.email(sender="person0@mail.example", subject="Re: Request 0", message_id="<r0@mail.example>",
                          in_reply_to="<m0@mail.example>")]
    messages += [mt.email(subject="Away", headers={"Auto-Submitted": "auto-replied"}, message_id="<auto@x.example>")]
    messages += [messages[1].replace(b"Subject:", b"X-Copy: 1\nSubject:")]
    return messages


def _write_store(kind: str, folder: Path, messages: list[bytes]) -> Path:
    if kind == "eml":
        target = folder / "eml"
        (target / "sub").mkdir(parents=True)
        for i, message in enumerate(messages):
            (target / ("sub" if i % 2 else "") / f"{i:03d}.eml").write_bytes(message)
        return target
    if kind == "mbox":
        target = folder / "mail.mbox"
        box = mailbox.mbox(target)
    else:
        target = folder / "Maildir"
        box = mailbox.Maildir(target)
    for message in messages:
        box.add(message)
    box.close()
    return target


@pytest.mark.parametrize("kind", ["eml", "mbox", "maildir"])
def test_import_mail_waits_and_summarises_and_reports(mail, kind, tmp_path):
    store = _write_store(kind, tmp_path, _history(5))
    report = tmp_path / "report.csv"
    result = mail.test_cli_runner().invoke(args=["channels", "import-mail", str(store), "--wait", "--report", str(report)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert {k: summary[k] for k in ("received", "new_cases", "threaded", "auto_replies", "bounces", "duplicates",
                                    "failed")} == {"received": 8, "new_cases": 5, "threaded": 1, "auto_replies": 1,
                                                   "bounces": 0, "duplicates": 1, "failed": 0}
    assert summary["seconds"] >= 0
    rows = list(csv.DictReader(report.read_text().splitlines()))
    assert len(rows) == 8 and set(rows[0]) == {"message_id", "outcome", "case_reference", "error"}
    by_id = {row["message_id"]: row for row in rows}
    assert by_id["r0@mail.example"]["case_reference"] == by_id["m0@mail.example"]["case_reference"] != ""
    assert by_id["auto@x.example"]["outcome"] == "auto_reply"
    again = mail.test_cli_runner().invoke(args=["channels", "import-mail", str(store), "--wait"])
    summary = json.loads(again.stdout.strip().splitlines()[-1])
    assert (summary["new_cases"], summary["duplicates"]) == (0, 8)                  # importing twice adds nothing
    assert count(Case) == 5


def test_import_mail_explains_a_path_that_holds_no_mail(mail, tmp_path):
    empty_file = tmp_path / "notes.txt"
    empty_file.write_text("not a mailbox\n")
    result = mail.test_cli_runner().invoke(args=["channels", "import-mail", str(tmp_path / "missing")])
    assert result.exit_code != 0 and "does not exist" in result.output


# ---- webhooks -------------------------------------------------------------------------------------------


def _captured(provider_path: str) -> tuple[str, bytes]:
    """Content type and body of a captured provider request (read to the end, not to Content-Length)."""
    head, _, body = (WEBHOOKS / provider_path).read_bytes().partition(b"\r\n\r\n")
    if not body:
        head, _, body = (WEBHOOKS / provider_path).read_bytes().partition(b"\n\n")
    content_type = next(line.split(b":", 1)[1].strip() for line in head.splitlines()
                        if line.lower().startswith(b"content-type:"))
    return content_type.decode(), body


def _resign_mailgun(body: bytes, content_type: str, key: str, timestamp: str) -> bytes:
    fields, _files = webhooks.form_fields(content_type, body)
    old = {name: webhooks._first(fields, name) for name in ("timestamp", "signature")}
    signature = webhooks.mailgun_signature(key, timestamp, webhooks._first(fields, "token"))
    return body.replace(old["timestamp"].encode(), timestamp.encode()).replace(old["signature"].encode(),
                                                                             signature.encode())


def _post(mail, provider: str, content_type: str, body: bytes, auth=None):
    return mail.test_client().post(f"/inbound/email/{provider}", data=body, content_type=content_type,
                                   headers={"Authorization": auth} if auth else {})


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_a_signed_mailgun_post_becomes_a_case_with_its_attachments(mail, redis_url):
    content_type, body = _captured("mailgun/parsed/valid.txt")
    signed = _resign_mailgun(body, content_type, "mg-test-key", str(int(time.time())))
    response = _post(mail, "mailgun", content_type, signed)
    assert response.status_code == 200, response.data
    mt.work(redis_url)
    with reading() as session:
        case = session.execute(select(Case)).scalar_one()
        message = session.execute(select(Interaction)).scalar_one()
        names = sorted(a.filename for a in session.execute(select(Attachment)).scalars())
    assert message.external_id == "E102015D-F580-4316-81FA-7324838A3AE8@opennorth.ca"
    assert case.subject and names == ["bar.txt", "foo.txt"]


@pytest.mark.parametrize("tamper", ["signature", "stale"])
def test_mailgun_posts_with_a_bad_or_old_signature_are_refused(mail, tamper):
    content_type, body = _captured("mailgun/parsed/valid.txt")
    stamp = str(int(time.time()) - (3600 if tamper == "stale" else 0))
    signed = _resign_mailgun(body, content_type, "mg-test-key" if tamper == "stale" else "wrong-key", stamp)
    assert _post(mail, "mailgun", content_type, signed).status_code == 403
    assert count(InboundRaw) == 0


@pytest.mark.parametrize("provider", ["sendgrid", "postmark"])
def test_sendgrid_and_postmark_posts_need_the_configured_credentials(mail, redis_url, provider):
    content_type, body = _captured(f"{provider}/valid.txt")
    assert _post(mail, provider, content_type, body).status_code == 401
    assert _post(mail, provider, content_type, body, _basic("provider", "wrong")).status_code == 401
    assert _post(mail, provider, content_type, body, _basic("provider", "s3cret")).status_code == 200
    mt.work(redis_url)
    with reading() as session:
        message = session.execute(select(Interaction)).scalar_one()
        attachments = session.execute(select(func.count(Attachment.id))).scalar_one()
        raw = session.execute(select(InboundRaw)).scalar_one()
    assert raw.payload == body and raw.outcome == "new_case"             # the request body, untouched
    assert message.body_text.strip() and attachments >= 1


def test_an_unknown_provider_is_not_found(mail):
    assert mail.test_client().post("/inbound/email/mandrill", data=b"{}").status_code == 404


# ---- failure and bad input ------------------------------------------------------------------------------


def test_garbage_is_stored_and_still_becomes_something_to_read(mail, redis_url):
    ids = []
    with transaction() as session:
        for payload in (b"\x00\xff\xfe not a message at all", b"", b"Subject: only a header"):
            ids.append(inbound.store_raw(session, channel=Channel.EMAIL, source="smtp", payload=payload)[0].id)
    jobs.request_ingest(mt.rq_redis(redis_url), ids)
    mt.work(redis_url)
    with reading() as session:
        rows = session.execute(select(InboundRaw).where(InboundRaw.id.in_(ids))).scalars().all()
    assert all(r.status in (InboundStatus.INGESTED, InboundStatus.FAILED) for r in rows)
    assert all(r.error for r in rows if r.status is InboundStatus.FAILED)


def test_a_failing_payload_is_shown_to_admins_and_retried_once_fixed(mail, redis_url, db_admin_login, worker_commits):
    with transaction() as session:
        raw_id = inbound.store_raw(session, channel=Channel.EMAIL, source="webhook:postmark",
                                   payload=b"{not json", content_type="application/json")[0].id
    jobs.request_ingest(mt.rq_redis(redis_url), [raw_id])
    mt.work(redis_url)
    client = db_admin_login(mail)
    page = client.get("/admin/inbound").get_data(as_text=True)
    assert f"Retry item {raw_id}" in page and "Postmark payload is not JSON" in page
    with transaction() as session:        # an admin repairs the payload, then presses retry
        session.get(InboundRaw, raw_id).payload = (WEBHOOKS / "postmark" / "valid.txt").read_bytes().partition(b"\n\n")[2]
    with reading() as session:
        admin_id = session.execute(select(User.id).where(User.email == "admin@staff.example")).scalar_one()
    with worker_commits(admin_id):
        response = client.post(f"/admin/inbound/{raw_id}/retry", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    mt.work(redis_url)
    with reading() as session:
        raw = session.get(InboundRaw, raw_id)
        assert raw.status is InboundStatus.INGESTED and raw.attempts == 2 and raw.error is None
    client.post(f"/admin/inbound/{raw_id}/retry", data={"csrf_token": csrf_token(page)})
    mt.work(redis_url)
    assert count(Interaction) == 1                                             # a second retry adds nothing


def test_a_failed_payload_emptied_by_retention_is_neither_listed_nor_retried(mail, redis_url, db_admin_login):
    with transaction() as session:
        kept, emptied = (inbound.store_raw(session, channel=Channel.EMAIL, source="webhook:postmark",
                                           payload=b"{not json " + bytes([n]), content_type="application/json")[0].id
                         for n in (1, 2))
    jobs.request_ingest(mt.rq_redis(redis_url), [kept, emptied])
    mt.work(redis_url)
    with transaction() as session:
        retention.purge_raws(session, [emptied], utcnow())
    client = db_admin_login(mail)
    page = client.get("/admin/inbound").get_data(as_text=True)
    assert f"Retry item {kept}" in page and f"Retry item {emptied}" not in page
    response = client.post(f"/admin/inbound/{emptied}/retry", data={"csrf_token": csrf_token(page)},
                           follow_redirects=True)
    assert "emptied under the retention policy" in response.get_data(as_text=True)
    assert RqQueue(jobs.CHANNELS_QUEUE, connection=mt.rq_redis(redis_url)).count == 0   # nothing sent to retry


def test_a_worker_that_dies_mid_ingest_leaves_the_payload_to_retry_without_duplicates(mail, redis_url):
    with transaction() as session:
        raw_id = inbound.store_raw(session, channel=Channel.EMAIL, source="smtp", payload=mt.email())[0].id

    def die(_session, _raw):
        raise SystemExit("worker killed")          # not an Exception: nothing catches it, as with a crash

    with pytest.raises(SystemExit):
        with transaction() as session:
            inbound.process(session, raw_id, die)
    with reading() as session:
        assert session.get(InboundRaw, raw_id).status is InboundStatus.RECEIVED
        assert inbound.stale(session, timedelta(0)) == [raw_id]
    runner = mail.test_cli_runner()
    for _ in range(2):
        assert runner.invoke(args=["channels", "retry", "--older-than", "0"]).exit_code == 0
        mt.work(redis_url)
    assert count(Interaction) == 1 and count(Case) == 1

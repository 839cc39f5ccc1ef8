"""Email intake end to end: threading, auto-replies, bounces, acknowledgements and replies over real SMTP."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from channels import inbound, jobs, outbound
from models import (
    Attachment,
    Case,
    CaseStatus,
    Channel,
    ContactPoint,
    DeliveryStatus,
    Direction,
    InboundRaw,
    InboundStatus,
    Interaction,
    reading,
    transaction,
)
from tests.channels import mailtools as mt


@pytest.fixture
def mail(scratch_database_url, redis_url, redis, tmp_path, sink):
    app = mt.mail_app(scratch_database_url, redis_url, tmp_path, sink)
    return app        # no app context stays pushed: each request and command brings its own, as in production


def deliver(redis_url: str, *messages: bytes, source: str = "smtp") -> list[int]:
    """Store raw messages the way the listeners do, then let an in-process worker ingest them."""
    with transaction() as session:
        ids = [inbound.store_raw(session, channel=Channel.EMAIL, source=source, payload=m)[0].id for m in messages]
    jobs.request_ingest(mt.rq_redis(redis_url), ids)
    mt.work(redis_url)
    return ids


def outcomes(ids: list[int]) -> list[str]:
    with reading() as session:
        rows = dict(session.execute(select(InboundRaw.id, InboundRaw.outcome).where(InboundRaw.id.in_(ids))).all())
    return [rows[i] for i in ids]


def cases() -> list[Case]:
    with reading() as session:
        return list(session.execute(select(Case).order_by(Case.id)).scalars())


def interactions(case_id: int) -> list[Interaction]:
    with reading() as session:
        return list(session.execute(select(Interaction).where(Interaction.case_id == case_id)
                                    .order_by(Interaction.id)).scalars())


def test_a_new_message_opens_a_case_and_is_acknowledged_once_with_its_reference(mail, redis_url, sink):
    first = deliver(redis_url, mt.email(message_id="<first@mail.example>"))
    (case,) = cases()
    assert outcomes(first) == ["new_case"] and case.channel is Channel.EMAIL
    (ack,) = sink.wait_for(1)
    assert ack["To"] == "ana.lopez@mail.example"
    assert case.reference in ack["Subject"] and case.reference in ack.get_content()
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["In-Reply-To"] == "<first@mail.example>"
    # A second new message from the same sender inside the window opens a case but gets no second ack.
    deliver(redis_url, mt.email(subject="Streetlight out", message_id="<second@mail.example>"))
    assert len(cases()) == 2
    assert len(sink.wait_for(2, timeout=1)) == 1
    sent = [i for i in interactions(case.id) if i.direction is Direction.OUTBOUND]
    assert [i.delivery_status for i in sent] == [DeliveryStatus.SENT]


def test_the_constituents_answer_to_our_mail_threads_back_and_reopens_a_resolved_case(mail, redis_url, sink):
    deliver(redis_url, mt.email(message_id="<q@mail.example>"))
    (ack,) = sink.wait_for(1)
    (case,) = cases()
    with transaction() as session:
        session.get(Case, case.id).status = CaseStatus.RESOLVED
    answer = mt.email(subject="Re: anything at all", body="It is still there.", message_id="<a@mail.example>",
                      in_reply_to=ack["Message-ID"], references=[ack["Message-ID"]])
    ids = deliver(redis_url, answer)
    assert outcomes(ids) == ["threaded"]
    (case,) = cases()
    assert case.status is CaseStatus.NEW                   # reopened: back to the queue, nobody had it
    assert [i.external_id for i in interactions(case.id) if i.direction is Direction.INBOUND] == [
        "q@mail.example", "a@mail.example"]


@pytest.mark.parametrize("where", ["subject", "plus-address"])
def test_a_quoted_reference_threads_without_headers(mail, redis_url, where):
    deliver(redis_url, mt.email(message_id="<orig@mail.example>"))
    (case,) = cases()
    other = mt.email(sender="someone.else@post.example", name="", message_id="<x@post.example>",
                     subject=f"About [{case.reference}]" if where == "subject" else "About my report",
                     to=f"help+{case.reference}@riverton.example" if where == "plus-address" else mt.SERVICE)
    assert outcomes(deliver(redis_url, other)) == ["threaded"]
    assert len(cases()) == 1


def test_the_same_message_twice_is_one_interaction(mail, redis_url):
    message = mt.email(message_id="<once@mail.example>")
    ids = deliver(redis_url, message, message.replace(b"Subject:", b"X-Relayed: yes\nSubject:"))
    assert outcomes(ids) == ["new_case", "duplicate"]
    with reading() as session:
        assert session.execute(select(func.count(Interaction.id)).where(
            Interaction.external_id == "once@mail.example")).scalar_one() == 1


def test_an_auto_reply_opens_no_case_and_is_not_acknowledged(mail, redis_url, sink):
    vacation = mt.email(subject="Out of office", body="I am away until Monday.",
                        headers={"Auto-Submitted": "auto-replied"})
    ids = deliver(redis_url, vacation)
    assert outcomes(ids) == ["auto_reply"] and cases() == []
    assert sink.wait_for(1, timeout=1) == []
    with reading() as session:
        raw = session.get(InboundRaw, ids[0])
        assert raw.status is InboundStatus.IGNORED and raw.payload == vacation      # kept, visible


def test_an_auto_reply_to_a_case_joins_it_without_reopening(mail, redis_url, sink):
    deliver(redis_url, mt.email(message_id="<q2@mail.example>"))
    (ack,) = sink.wait_for(1)
    (case,) = cases()
    with transaction() as session:
        session.get(Case, case.id).status = CaseStatus.RESOLVED
    deliver(redis_url, mt.email(subject="Auto: away", in_reply_to=ack["Message-ID"],
                                headers={"X-Autoreply": "yes"}))
    (case,) = cases()
    assert case.status is CaseStatus.RESOLVED
    assert interactions(case.id)[-1].meta["auto_reply"] is True


def _bounce_of(original_message_id: str, recipient: str) -> bytes:
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.post.example>\r\n"
        "To: help@riverton.example\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <bounce-1@mx.post.example>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.post.example\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: help@riverton.example\r\nTo: {recipient}\r\nMessage-ID: <{original_message_id}>\r\n\r\n"
        "--B--\r\n"
    ).encode()


def test_a_bounce_joins_the_case_of_the_bounced_mail_and_marks_the_address_failing(mail, redis_url, sink):
    deliver(redis_url, mt.email(sender="gone@post.example", message_id="<g@post.example>"))
    (ack,) = sink.wait_for(1)
    (case,) = cases()
    ids = deliver(redis_url, _bounce_of(ack["Message-ID"].strip("<>"), "gone@post.example"))
    assert outcomes(ids) == ["bounce"] and len(cases()) == 1
    timeline = interactions(case.id)
    assert timeline[-1].meta["bounce"] is True
    assert [i.delivery_status for i in timeline if i.direction is Direction.OUTBOUND] == [DeliveryStatus.FAILED]
    with reading() as session:
        point = session.execute(select(ContactPoint).where(ContactPoint.value == "gone@post.example")).scalar_one()
        assert point.is_failing and point.failing_reason


def test_a_bounce_for_unknown_mail_opens_nothing(mail, redis_url):
    ids = deliver(redis_url, _bounce_of("never-sent@riverton.example", "who@post.example"))
    assert outcomes(ids) == ["bounce"] and cases() == []


def test_attachments_are_kept_with_their_bytes(mail, redis_url, tmp_path):
    pdf = b"%PDF-1.4 photo of the pothole" * 100
    deliver(redis_url, mt.email(attachments=[("pothole.pdf", "application/pdf", pdf)]))
    with reading() as session:
        (attachment,) = session.execute(select(Attachment)).scalars()
    assert (attachment.filename, attachment.content_type, attachment.size) == ("pothole.pdf", "application/pdf", len(pdf))
    assert (tmp_path / "attachments" / attachment.sha256[:2] / attachment.sha256).read_bytes() == pdf


def test_a_date_far_from_the_time_of_receipt_is_not_believed(mail, redis_url):
    deliver(redis_url, mt.email(date=datetime(1999, 1, 1, tzinfo=timezone.utc)))
    (case,) = cases()
    assert abs(case.created_at - datetime.now(timezone.utc)) < timedelta(minutes=5)


def test_a_reply_from_the_console_goes_out_with_threading_headers(mail, redis_url, sink):
    deliver(redis_url, mt.email(message_id="<ask@mail.example>", references=("<older@mail.example>",)))
    sink.wait_for(1)
    (case,) = cases()
    with transaction() as session:
        reply = outbound.queue_reply(session, session.get(Case, case.id), "We will fix it on Thursday.", None)
        reply_id = reply.id
    jobs.request_send(mt.rq_redis(redis_url), reply_id)
    mt.work(redis_url)
    _ack, sent = sink.wait_for(2)
    assert sent["Subject"] == f"Re: Pothole on Elm Street [{case.reference}]"
    assert sent["In-Reply-To"] == "<ask@mail.example>"
    assert sent["References"] == "<older@mail.example> <ask@mail.example>"
    assert "Auto-Submitted" not in sent and sent.get_content().strip() == "We will fix it on Thursday."
    with reading() as session:
        assert session.get(Interaction, reply_id).delivery_status is DeliveryStatus.SENT


def test_sending_retries_and_marks_the_mail_failed_after_the_last_try(mail, redis_url, sink, monkeypatch):
    deliver(redis_url, mt.email())
    sink.wait_for(1)
    (case,) = cases()
    with transaction() as session:
        reply_id = outbound.queue_reply(session, session.get(Case, case.id), "Hello", None).id
    mail.config["SMTP_PORT"] = mt.free_port()                     # nobody listens there
    from caseworker import config
    from channels import settings
    settings.configure(config.channel_settings(mail))
    monkeypatch.setattr(jobs, "SEND_RETRY", jobs.Retry(max=2, interval=0))
    jobs.request_send(mt.rq_redis(redis_url), reply_id)
    for _ in range(3):
        mt.work(redis_url)
    with reading() as session:
        assert session.get(Interaction, reply_id).delivery_status is DeliveryStatus.FAILED


def test_without_an_smtp_host_outbound_mail_lands_in_the_outbox(scratch_database_url, redis_url, redis, tmp_path):
    mt.mail_app(scratch_database_url, redis_url, tmp_path)            # no SMTP server configured
    deliver(redis_url, mt.email(message_id="<o@mail.example>"))
    (written,) = (tmp_path / "outbox").glob("*.eml")
    (case,) = cases()
    assert case.reference in written.read_text() and "In-Reply-To: <o@mail.example>" in written.read_text()
    sent = [i for i in interactions(case.id) if i.direction is Direction.OUTBOUND]
    assert [i.delivery_status for i in sent] == [DeliveryStatus.SENT]

"""Test tools for the email channel: a real SMTP server to receive outbound mail, message builders, an app
bound to a real (scratch) database, and in-process RQ workers."""
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import redis as redis_lib
from aiosmtpd.controller import Controller
from rq import SimpleWorker

from caseworker import create_app
from models import Base, make_engine
from tests.conftest import app_config, free_port

SERVICE = "help@riverton.example"


@dataclass
class SmtpSink:
    """A loopback SMTP server that keeps what it receives (the constituents' mail servers)."""

    port: int
    received: list[EmailMessage] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    async def handle_DATA(self, server, session, envelope):
        with self.arrived:
            self.received.append(message_from_bytes(envelope.original_content, policy=policy.default))
            self.arrived.notify_all()
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 10) -> list[EmailMessage]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.received) >= count, timeout)
        return list(self.received)


def start_sink() -> tuple[SmtpSink, Controller]:
    sink = SmtpSink(free_port())
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port, ready_timeout=10)
    controller.start()
    return sink, controller


def email(*, sender="ana.lopez@mail.example", name="Ana López", to=SERVICE, subject="Pothole on Elm Street",
          body="There is a deep pothole outside 12 Elm Street.", message_id=None, in_reply_to=None,
          references=(), headers=None, attachments=(), date=None) -> bytes:
    message = EmailMessage()
    message["From"] = f"{name} <{sender}>" if name else sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id or make_msgid(domain="mail.example")
    if date is not None:
        message["Date"] = format_datetime(date)
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = " ".join(references)
    for key, value in (headers or {}).items():
        message[key] = value
    message.set_content(body)
    for filename, content_type, data in attachments:
        maintype, subtype = content_type.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes(policy=policy.SMTP)          # CRLF line ends, as on the wire


def mail_app(database_url: str, redis_url: str, tmp_path, sink: SmtpSink | None = None, **extra):
    """An app on its own real database (commits are real), with outbound mail going to `sink`."""
    engine = make_engine(database_url)
    Base.metadata.create_all(engine)
    engine.dispose()
    config = {"ATTACHMENT_DIR": str(tmp_path / "attachments"), "OUTBOX_DIR": str(tmp_path / "outbox"),
              "MAIL_SERVICE_ADDRESS": SERVICE}
    if sink is not None:
        config |= {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": sink.port}
    return create_app(app_config(database_url, redis_url, **config, **extra))


def rq_redis(redis_url: str) -> redis_lib.Redis:
    return redis_lib.Redis.from_url(redis_url)


def work(redis_url: str, queues=("channels", "routing")) -> None:
    """Run every queued job in this process until the queues are empty."""
    SimpleWorker(list(queues), connection=rq_redis(redis_url)).work(burst=True, logging_level="WARNING")

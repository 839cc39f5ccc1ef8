"""The SMTP listener: every message is committed to the database before the client hears 250.

552 above the size limit (aiosmtpd refuses it before storing), 451 while the database cannot take the
message (the sending MTA keeps it and retries), 250 once it is stored. Ingestion happens in a worker; while
Redis is away the enqueue waits in this process (`jobs.Backlog`) and mail is still accepted.
"""
import asyncio
import logging
from collections.abc import Callable

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SmtpSession
from redis import Redis
from sqlalchemy.exc import SQLAlchemyError

from channels import inbound, jobs
from models import Channel, transaction

log = logging.getLogger(__name__)

SOURCE = "smtp"


def _header_safe(value: str) -> str:
    return "".join(c for c in value if c.isprintable() and c not in "\r\n<>")[:320]


def with_envelope(envelope: Envelope) -> bytes:
    """The message as delivered: Return-Path and X-Original-To from the envelope, then the sender's bytes."""
    lines = [f"Return-Path: <{_header_safe(envelope.mail_from or '')}>"]
    lines += [f"X-Original-To: {_header_safe(rcpt)}" for rcpt in envelope.rcpt_tos[:50]]
    return ("\r\n".join(lines) + "\r\n").encode("ascii", errors="replace") + (envelope.original_content or b"")


def store(payload: bytes) -> int:
    """Commit the payload; returns its InboundRaw id. Raises SQLAlchemyError when the database cannot."""
    with transaction() as session:
        raw, _created = inbound.store_raw(session, channel=Channel.EMAIL, source=SOURCE, payload=payload)
        return raw.id


class Handler:
    """aiosmtpd handler: store durably, answer, then ask a worker to ingest."""

    def __init__(self, redis_factory: Callable[[], Redis]):
        self._redis_factory = redis_factory
        self._backlog = jobs.Backlog()

    async def handle_DATA(self, server: SMTP, session: SmtpSession, envelope: Envelope) -> str:
        payload = with_envelope(envelope)
        loop = asyncio.get_running_loop()
        try:
            raw_id = await loop.run_in_executor(None, store, payload)
        except SQLAlchemyError:
            log.exception("could not store an inbound message; the sender will retry")
            return "451 4.3.0 Temporarily unable to store the message, try again later"
        # Stored already: while Redis is away the enqueue waits in the backlog, and the sender hears 250.
        await loop.run_in_executor(None, self._backlog.run, self._redis_factory,
                                   lambda redis: jobs.request_ingest(redis, [raw_id]))
        log.info("inbound %s stored from SMTP", raw_id)
        return f"250 2.0.0 Stored as {raw_id}"


def controller(redis_factory: Callable[[], Redis], host: str, port: int, max_bytes: int) -> Controller:
    """A started-on-demand aiosmtpd controller (`.start()`, `.stop()`) for this handler."""
    return Controller(Handler(redis_factory), hostname=host, port=port, data_size_limit=max_bytes,
                      server_hostname="casework", ready_timeout=10)

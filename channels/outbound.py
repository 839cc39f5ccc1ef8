"""Outbound email: replies and acknowledgements become outbound interactions, then mail through SMTP.

`queue_reply` and `queue_acknowledgement` only write the interaction (QUEUED, with its Message-ID and the
In-Reply-To/References that make the constituent's answer thread back); `channels.jobs.send_email` composes
and delivers it after commit, with retries.
"""
import functools
import logging
import smtplib
from collections.abc import Callable
from pathlib import Path
import ssl
import unicodedata
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid

import jinja2
from sqlalchemy import select
from sqlalchemy.orm import Session

import routing
from channels import storage
from channels.settings import SmtpServer
from channels.settings import current as settings
from models import (
    Case,
    Channel,
    ContactKind,
    ContactPoint,
    DeliveryStatus,
    Direction,
    Interaction,
    InteractionKind,
)

log = logging.getLogger(__name__)

MAX_REFERENCES = 20
ACKNOWLEDGEMENT_SUBJECT = {"en": "We received your message", "es": "Hemos recibido su mensaje",
                           "it": "Abbiamo ricevuto il suo messaggio"}


class NoEmailAddress(LookupError):
    """The case has no email address to write to."""


def _templates() -> jinja2.Environment:
    return _environment(settings().template_dir)


@functools.lru_cache(maxsize=8)
def _environment(template_dir: str) -> jinja2.Environment:
    """One environment per folder, kept: it caches compiled templates (and reloads one whose file changed),
    where a new environment compiled the template again for every message."""
    return jinja2.Environment(loader=jinja2.FileSystemLoader(template_dir), autoescape=False,
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def _last_inbound_email(session: Session, case_id: int) -> Interaction | None:
    return session.execute(
        select(Interaction).where(Interaction.case_id == case_id, Interaction.channel == Channel.EMAIL,
                                  Interaction.direction == Direction.INBOUND,
                                  Interaction.contact_point_id.is_not(None))
        .order_by(Interaction.occurred_at.desc(), Interaction.id.desc()).limit(1)
    ).scalar_one_or_none()


def _recipient(session: Session, case: Case, answering: Interaction | None) -> ContactPoint:
    if answering is not None:
        point = session.get(ContactPoint, answering.contact_point_id)
        if point is not None and not point.is_failing:
            return point
    if case.constituent_id is not None:
        point = session.execute(
            select(ContactPoint).where(ContactPoint.constituent_id == case.constituent_id,
                                       ContactPoint.kind == ContactKind.EMAIL, ContactPoint.is_failing.is_(False))
            .order_by(ContactPoint.id).limit(1)
        ).scalar_one_or_none()
        if point is not None:
            return point
    raise NoEmailAddress(case.id)


def reply_recipient(session: Session, case: Case) -> ContactPoint:
    """The address a reply on `case` would go to. Raises NoEmailAddress."""
    return _recipient(session, case, _last_inbound_email(session, case.id))


def _thread_headers(answering: Interaction | None) -> dict:
    if answering is None or not answering.external_id:
        return {"in_reply_to": None, "references": []}
    earlier = list(answering.meta.get("references") or [])
    return {"in_reply_to": answering.external_id, "references": (earlier + [answering.external_id])[-MAX_REFERENCES:]}


def _subject(case: Case, text: str) -> str:
    tag = f"[{case.reference}]"
    return text if tag in text else f"{text} {tag}".strip()


def _queue(session: Session, case: Case, *, subject: str, body: str, author_id: int | None, meta: dict) -> Interaction:
    answering = _last_inbound_email(session, case.id)
    point = _recipient(session, case, answering)
    interaction = Interaction(
        case=case, constituent_id=case.constituent_id, kind=InteractionKind.MESSAGE, channel=Channel.EMAIL,
        direction=Direction.OUTBOUND, author_id=author_id, contact_point_id=point.id, subject=subject[:500],
        body_text=body, external_id=make_msgid(domain=settings().message_id_domain).strip("<>"),
        delivery_status=DeliveryStatus.QUEUED, is_public=True,
        meta={"to": point.value, **_thread_headers(answering), **meta},
    )
    session.add(interaction)
    session.flush()
    return interaction


def queue_reply(session: Session, case: Case, body: str, author_id: int | None) -> Interaction:
    """An outbound reply on `case` to the constituent's address. Flushes; raises NoEmailAddress."""
    subject = case.subject if case.subject.lower().startswith("re:") else f"Re: {case.subject}"
    interaction = _queue(session, case, subject=_subject(case, subject), body=body, author_id=author_id, meta={})
    routing.record_first_response(session, case, interaction.occurred_at)   # stops the first-response clock
    return interaction


def queue_acknowledgement(session: Session, case: Case, status_secret: str | None = None) -> Interaction:
    """The automatic acknowledgement of a new case, in the constituent's language. Flushes.

    With `status_secret` (web form cases) it tells how to follow the case on the public status page.
    """
    language = case.language if case.language in ACKNOWLEDGEMENT_SUBJECT else "en"
    return queue_automatic(session, case, template=f"acknowledgement.{language}.txt",
                           subject=f"{ACKNOWLEDGEMENT_SUBJECT[language]}: {case.subject}"[:400],
                           auto_submitted="auto-replied", status_secret=status_secret,
                           status_url=f"{settings().public_url.rstrip('/')}/status")


def queue_automatic(session: Session, case: Case, *, template: str, subject: str, auto_submitted: str,
                    **context) -> Interaction:
    """A message the system writes on `case` (no author) from the text template `template`, threaded like a
    reply and marked Auto-Submitted (RFC 3834: `auto_submitted` is "auto-replied" or "auto-generated") so that
    auto-responders leave it alone. The template gets `name`, `reference`, `service_name` and `context`.
    Flushes; raises NoEmailAddress."""
    name = case.constituent.display_name if case.constituent else ""
    body = _templates().get_template(template).render(name=name, reference=case.reference,
                                                      service_name=settings().service_name, **context)
    return _queue(session, case, subject=_subject(case, subject), body=body, author_id=None,
                  meta={"auto_submitted": auto_submitted})


def header_text(value: str) -> str:
    """`value` on one line, fit for a mail header: line breaks and other control characters become spaces.

    Subjects and names come from outside (an encoded-word can decode to CR LF), and a line break in a header
    would start a new header (Bcc: ...). Pure.
    """
    return " ".join("".join(" " if unicodedata.category(c) == "Cc" else c for c in value).split())


def compose(interaction: Interaction) -> EmailMessage:
    """The RFC 5322 message for an outbound interaction; every header value on one line (see header_text).

    Raises ValueError when the stored recipient is not one plain address.
    """
    config = settings()
    message = EmailMessage()
    message["From"] = formataddr((header_text(config.service_name), config.service_address))
    recipient = interaction.meta["to"]
    if header_text(recipient) != recipient or "," in recipient:
        raise ValueError(f"interaction {interaction.id}: the recipient is not one plain address")
    message["To"] = recipient
    message["Subject"] = header_text(interaction.subject)
    message["Date"] = format_datetime(interaction.created_at)
    message["Message-ID"] = f"<{interaction.external_id}>"
    if interaction.meta.get("in_reply_to"):
        message["In-Reply-To"] = f"<{interaction.meta['in_reply_to']}>"
        message["References"] = " ".join(f"<{m}>" for m in interaction.meta.get("references") or [])
    if interaction.meta.get("auto_submitted"):
        message["Auto-Submitted"] = interaction.meta["auto_submitted"]
        message["X-Auto-Response-Suppress"] = "All"      # asks Exchange not to answer an automatic answer
    message.set_content(interaction.body_text)
    for attachment in interaction.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        message.add_attachment(storage.read(config.attachment_dir, attachment.sha256), maintype=maintype,
                               subtype=subtype or "octet-stream", filename=storage.safe_filename(attachment.filename))
    return message


def deliver(messages: list[EmailMessage], server: SmtpServer, on_sent: Callable[[int], None] = lambda _n: None) -> None:
    """Hand `messages` to the SMTP server over one connection (or, with no server, to the outbox folder).

    Calls `on_sent(index)` as soon as the server has taken each message, so that a failure part-way tells
    what went. Raises smtplib/OSError errors for the job's retries.
    """
    if not server.host:
        _write_to_outbox(messages, settings().outbox_dir)
        for n in range(len(messages)):
            on_sent(n)
        return
    context = ssl.create_default_context()
    if server.security == "tls":
        client = smtplib.SMTP_SSL(server.host, server.port, timeout=server.timeout, context=context)
    else:
        client = smtplib.SMTP(server.host, server.port, timeout=server.timeout)
    with client:
        if server.security == "starttls":
            client.starttls(context=context)
        if server.username:
            client.login(server.username, server.password or "")
        for n, message in enumerate(messages):
            client.send_message(message)
            on_sent(n)


def _write_to_outbox(messages: list[EmailMessage], folder: Path) -> None:
    """Development and demo transport: each message as an .eml file, named by its Message-ID."""
    folder.mkdir(parents=True, exist_ok=True)
    for message in messages:
        name = "".join(c if c.isalnum() or c in ".-_@" else "_" for c in message["Message-ID"].strip("<>"))
        (folder / f"{name}.eml").write_bytes(message.as_bytes())

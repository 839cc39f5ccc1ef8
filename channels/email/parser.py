"""parse_message: raw RFC 5322 bytes in, ParsedEmail out; pure, and it never raises on a broken message.

Parsing uses BytesParser with policy compat32, not policy.default: compat32 keeps every header as its raw
string (8-bit bytes preserved as surrogate escapes) and never parses or decodes lazily, so nothing can raise
later on access. Header and body decoding happen here, per header and per part, each failure becoming a
defect.
"""
import hashlib
import logging
import mimetypes
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32

from . import autoreply, quotes
from .charset import decode_bytes
from .headers import first_raw, header_text, parse_addresses, parse_date, parse_message_ids, raw_values
from .htmltext import html_to_text, sanitise_html
from .language import guess_language
from .mime import Part, uudecode_blocks, walk
from .model import Attachment, ParsedEmail

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
MAX_ENCLOSED_BODY_DEPTH = 5
BODY_TYPES = ("text/plain", "text/html")
EXTENSIONS = {"text/plain": ".txt", "text/html": ".html", "message/rfc822": ".eml", "message/global": ".eml",
              "message/delivery-status": ".txt", "message/disposition-notification": ".txt",
              "message/feedback-report": ".txt", "text/rfc822-headers": ".txt", "text/calendar": ".ics",
              "image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "application/pdf": ".pdf"}
RECIPIENT_HEADERS = ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To")


def parse_message(raw: bytes) -> ParsedEmail:
    """Parse one raw message. Never raises for malformed input; every repair is listed in `defects`."""
    defects: list[str] = []
    if len(raw) > MAX_MESSAGE_BYTES:
        defects.append(f"message larger than {MAX_MESSAGE_BYTES} bytes; the rest was ignored")
        raw = raw[:MAX_MESSAGE_BYTES]
    msg = BytesParser(policy=compat32).parsebytes(raw)
    result = ParsedEmail(defects=defects)
    read_envelope(msg, result, _charset_hint(msg))
    parts = walk(msg, defects, "\r\n" if b"\r\n" in raw[:65536] else "\n", raw)
    read_bodies(parts, result)
    result.attachments += [to_attachment(part) for part in parts if not is_body(part)]
    result.reply_text = quotes.reply_text(result.body_text)
    result.language = guess_language(result.reply_text or result.body_text)
    read_machine_flags(msg, parts, result)
    return result


def peek_message_id(raw: bytes) -> str | None:
    """The Message-ID of a raw message from its header block alone: cheap enough to run at receipt."""
    head = raw[:262_144].split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    msg = BytesParser(policy=compat32).parsebytes(head + b"\n\n", headersonly=True)
    found = parse_message_ids(first_raw(msg, "Message-ID"), [], "Message-ID")
    return found[0][:998] if found else None


def _charset_hint(msg: Message) -> str | None:
    """The charset of the first text part: the likeliest one for raw 8-bit bytes in the headers."""
    for part in msg.walk():
        charset = part.get_param("charset") if part.get_content_maintype() == "text" else None
        if isinstance(charset, str) and charset.strip():
            return charset
    return None


def read_envelope(msg: Message, result: ParsedEmail, hint: str | None = None) -> None:
    """Fill the sender, recipients, subject, ids and date from the top-level headers."""
    defects = result.defects
    senders = [pair for raw in raw_values(msg, "From") for pair in parse_addresses(raw, defects, "From", hint)]
    if len(raw_values(msg, "From")) > 1:
        defects.append("more than one From header; the first usable address was taken")
    if not senders and raw_values(msg, "Sender"):
        senders = parse_addresses(first_raw(msg, "Sender"), defects, "Sender", hint)
        if senders:
            defects.append("no usable From address; the Sender header was used")
    if senders:
        result.from_name, result.from_email = senders[0][0] or None, senders[0][1]
    else:
        defects.append("no usable sender address")
    result.to = _addresses(msg, "To", defects, hint)
    result.cc = _addresses(msg, "Cc", defects, hint)
    result.reply_to = _addresses(msg, "Reply-To", defects, hint)
    extra = [a for name in RECIPIENT_HEADERS[2:] for a in _addresses(msg, name, defects, hint)]
    result.recipients = list(dict.fromkeys(result.to + result.cc + extra))
    result.subject = header_text(first_raw(msg, "Subject"), defects, "Subject", hint)
    result.message_id = next(iter(parse_message_ids(first_raw(msg, "Message-ID"), defects, "Message-ID")), None)
    result.in_reply_to = next(iter(parse_message_ids(first_raw(msg, "In-Reply-To"), defects, "In-Reply-To")),
                              None)
    result.references = parse_message_ids(first_raw(msg, "References"), defects, "References")
    result.date = parse_date(first_raw(msg, "Date"), defects)


def _addresses(msg: Message, name: str, defects: list[str], hint: str | None) -> list[str]:
    found = [address for raw in raw_values(msg, name) for _, address in parse_addresses(raw, defects, name, hint)]
    return list(dict.fromkeys(found))


def is_body(part: Part) -> bool:
    """A text part meant to be read as the message, not an attached file."""
    return part.content_type in BODY_TYPES and part.disposition != "attachment" and part.filename is None


def read_bodies(parts: list[Part], result: ParsedEmail, depth: int = 0) -> None:
    """Set body_text and body_html; uuencoded files in the text become attachments.

    A message whose only readable text is in an enclosed message (a bare forward) takes that text.
    """
    plain, html = [], []
    for part in filter(is_body, parts):
        data = part.data
        if part.content_type == "text/plain":
            data = _extract_uuencoded(data, result)
        text = decode_bytes(data, part.charset, result.defects, f"body part {part.path}")
        (plain if part.content_type == "text/plain" else html).append(text.replace("\r\n", "\n"))
    if html:
        result.body_html = sanitise_html("\n".join(html))
    result.body_text = "\n".join(plain) if any(t.strip() for t in plain) else html_to_text("\n".join(html))
    if not result.body_text.strip() and depth < MAX_ENCLOSED_BODY_DEPTH:
        _read_enclosed_body(parts, result, depth)


def _read_enclosed_body(parts: list[Part], result: ParsedEmail, depth: int) -> None:
    for part in parts:
        if part.enclosed and part.content_type in ("message/rfc822", "message/global"):
            inner = ParsedEmail()
            read_bodies(walk(part.enclosed[0], inner.defects, "\n", part.data), inner, depth + 1)
            if inner.body_text.strip():
                result.body_text = inner.body_text
                result.body_html = result.body_html or inner.body_html
                return


def _extract_uuencoded(data: bytes, result: ParsedEmail) -> bytes:
    blocks = uudecode_blocks(data) if b"begin " in data else []
    for name, content, start, stop in reversed(blocks):
        guessed = mimetypes.guess_type(name, strict=True)[0] or "application/octet-stream"
        result.attachments.insert(0, _attachment(name, guessed, content, False, None))
        data = data[:start] + data[stop:]
    if blocks:
        result.defects.append(f"{len(blocks)} uuencoded file(s) in the text body extracted as attachments")
    return data


def to_attachment(part: Part) -> Attachment:
    """An Attachment for a non-body part; unnamed parts get a name from their description or type."""
    name = part.filename or _invented_name(part)
    inline = part.disposition == "inline" or (part.content_id is not None and part.disposition != "attachment")
    return _attachment(name, part.content_type, part.data, inline, part.content_id)


def _attachment(name: str, content_type: str, data: bytes, inline: bool, content_id: str | None) -> Attachment:
    return Attachment(filename=name, content_type=content_type, size=len(data),
                      sha256=hashlib.sha256(data).hexdigest(), inline=inline, content_id=content_id, data=data)


def _invented_name(part: Part) -> str:
    extension = EXTENSIONS.get(part.content_type, ".bin")
    if part.enclosed and part.content_type in ("message/rfc822", "message/global"):
        subject = header_text(first_raw(part.enclosed[0], "Subject"), [], "Subject")
        stem = subject or "message"
    else:
        stem = part.description or f"part-{part.path}"
    stem = "".join(ch for ch in stem if ch >= " " and ch not in '/\\:*?"<>|').strip()[:200] or "attachment"
    return stem + extension


def read_machine_flags(msg: Message, parts: list[Part], result: ParsedEmail) -> None:
    """Set is_auto_reply and is_bounce, and for bounces the original Message-ID and failed recipients."""
    result.is_auto_reply, result.is_bounce = autoreply.classify(msg, parts, result.from_email, result.subject)
    if result.is_bounce:
        result.bounce_recipients = autoreply.failed_recipients(msg, parts)
        result.bounce_message_id = autoreply.original_message_id(parts, result.body_text)

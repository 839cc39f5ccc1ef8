"""Inbound-parse webhooks of Mailgun, SendGrid and Postmark: verify, then turn the payload into one MIME message.

The view stores the request body untouched (the raw payload) and the worker calls `to_message`, so every
provider ends in the same parser and intake as SMTP and IMAP. Pure: no I/O.
"""
import base64
import hashlib
import hmac
import json
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser

PROVIDERS = ("mailgun", "sendgrid", "postmark")
MAILGUN_MAX_AGE_SECONDS = 15 * 60
_SKIPPED_HEADERS = {"content-type", "content-transfer-encoding", "mime-version", "content-disposition"}


class InvalidWebhook(ValueError):
    """The request is not a payload of the provider it claims to come from."""


def source_for(provider: str) -> str:
    return f"webhook:{provider}"


# ---- reading the request body ---------------------------------------------------------------------------


def form_fields(content_type: str, body: bytes) -> tuple[dict[str, list[str]], list[tuple[str, str, bytes]]]:
    """Fields and files (name, content type, bytes) of a multipart/form-data body."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise InvalidWebhook("expected multipart/form-data")
    envelope = BytesParser(policy=policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    fields: dict[str, list[str]] = {}
    files = []
    for part in envelope.iter_parts() if envelope.is_multipart() else ():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            files.append((part.get_filename(), part.get_content_type(), data))
        elif name is not None:
            charset = part.get_content_charset() or "utf-8"
            fields.setdefault(name, []).append(data.decode(charset, errors="replace"))
    return fields, files


def _first(fields: dict[str, list[str]], name: str, default: str = "") -> str:
    return (fields.get(name) or [default])[0]


# ---- signatures -----------------------------------------------------------------------------------------


def mailgun_signature(signing_key: str, timestamp: str, token: str) -> str:
    return hmac.new(signing_key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()


def verify_mailgun(fields: dict[str, list[str]], signing_key: str, now: float) -> None:
    """Raises InvalidWebhook unless the HMAC of timestamp+token matches and the timestamp is recent."""
    timestamp, token, signature = (_first(fields, k) for k in ("timestamp", "token", "signature"))
    if not (timestamp and token and signature):
        raise InvalidWebhook("missing Mailgun signature fields")
    if not hmac.compare_digest(mailgun_signature(signing_key, timestamp, token), signature):
        raise InvalidWebhook("bad Mailgun signature")
    try:
        age = abs(now - float(timestamp))
    except ValueError as exc:
        raise InvalidWebhook("bad Mailgun timestamp") from exc
    if age > MAILGUN_MAX_AGE_SECONDS:
        raise InvalidWebhook("stale Mailgun timestamp (replay?)")


def check_basic_auth(username: str | None, password: str | None, expected_user: str, expected_password: str) -> bool:
    return (hmac.compare_digest((username or "").encode(), expected_user.encode())
            & hmac.compare_digest((password or "").encode(), expected_password.encode()))


# ---- payload to MIME ------------------------------------------------------------------------------------


def to_message(source: str, content_type: str, payload: bytes) -> bytes:
    """The RFC 5322 bytes of a stored payload: raw mail as it is, a webhook payload rebuilt."""
    builders = {"webhook:mailgun": _from_mailgun, "webhook:sendgrid": _from_sendgrid,
                "webhook:postmark": _from_postmark}
    builder = builders.get(source)
    return payload if builder is None else builder(content_type, payload)


def _from_mailgun(content_type: str, payload: bytes) -> bytes:
    fields, files = form_fields(content_type, payload)
    if "body-mime" in fields:                                   # a "raw MIME" route
        return _first(fields, "body-mime").encode("utf-8", errors="surrogateescape")
    try:
        headers = [tuple(pair) for pair in json.loads(_first(fields, "message-headers", "[]"))]
    except (ValueError, TypeError) as exc:
        raise InvalidWebhook("message-headers is not a JSON list of pairs") from exc
    return _build(headers, _first(fields, "body-plain"), _first(fields, "body-html"), files)


def _from_sendgrid(content_type: str, payload: bytes) -> bytes:
    fields, files = form_fields(content_type, payload)
    if "email" in fields:                                       # "send raw" mode
        return _first(fields, "email").encode("utf-8", errors="surrogateescape")
    header_block = BytesParser(policy=policy.compat32).parsebytes(
        _first(fields, "headers").encode("utf-8", errors="replace") + b"\n\n", headersonly=True)
    return _build(list(header_block.items()), _first(fields, "text"), _first(fields, "html"), files)


def _from_postmark(_content_type: str, payload: bytes) -> bytes:
    try:
        data = json.loads(payload)
    except ValueError as exc:
        raise InvalidWebhook("Postmark payload is not JSON") from exc
    headers = [(h.get("Name", ""), h.get("Value", "")) for h in data.get("Headers") or []]
    present = {name.lower() for name, _ in headers}
    for name, key in (("From", "From"), ("To", "To"), ("Cc", "Cc"), ("Reply-To", "ReplyTo"),
                      ("Subject", "Subject"), ("Date", "Date")):
        if data.get(key) and name.lower() not in present:
            headers.append((name, data[key]))
    if "message-id" not in present and data.get("MessageID"):
        headers.append(("Message-ID", f"<{data['MessageID']}@postmark.invalid>"))
    files = [(a.get("Name") or "attachment", a.get("ContentType") or "application/octet-stream",
              base64.b64decode(a.get("Content") or "")) for a in data.get("Attachments") or []]
    return _build(headers, data.get("TextBody") or "", data.get("HtmlBody") or "", files)


def _build(headers: list[tuple[str, str]], text: str, html: str, files: list[tuple[str, str, bytes]]) -> bytes:
    message = EmailMessage(policy=policy.SMTPUTF8)
    for name, value in headers:
        if name and name.lower() not in _SKIPPED_HEADERS:
            _add_header(message, name, value)
    message.set_content(text or ("" if html else "(no text)"))
    if html:
        message.add_alternative(html, subtype="html")
    for filename, content_type, data in files:
        maintype, _, subtype = (content_type or "application/octet-stream").partition("/")
        message.add_attachment(data, maintype=maintype or "application", subtype=subtype or "octet-stream",
                               filename=filename)
    return message.as_bytes()


def _add_header(message: Message, name: str, value: str) -> None:
    clean = " ".join(str(value).split())          # providers unfold headers inconsistently; no CR/LF injection
    try:
        message[name] = clean
    except (ValueError, TypeError):
        message[name] = clean.encode("ascii", errors="replace").decode()

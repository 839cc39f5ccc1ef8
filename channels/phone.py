"""The phone channel's wire format: a telephony provider's incoming-call webhook, verified and parsed (pure).

The provider POSTs `application/x-www-form-urlencoded` fields as Twilio and most others send them: `CallSid`
(the call's id), `From` (the caller id), `To` (the number dialled) and optionally `CallerName`.

Signature scheme (one scheme, documented for whoever configures the provider or a relay in front of it):

    X-Casework-Timestamp: <unix seconds when the request was signed>
    X-Casework-Signature: v1=<hex HMAC-SHA256(PHONE_WEBHOOK_SECRET, "<timestamp>." + raw request body)>

The HMAC covers the raw body bytes exactly as sent, so no re-encoding of the fields can change its meaning.
Several `v1=` values separated by commas are accepted (a secret being rotated). A timestamp more than
`tolerance` seconds from now is refused, so a captured request cannot be replayed later; within the window a
replay is harmless because the CallSid makes the call idempotent.
"""
import hashlib
import hmac
import re
from dataclasses import dataclass
from urllib.parse import parse_qs

from channels.base import ContactAddress, InvalidContact, NormalizedContact
from channels.webform import e164
from models import Channel, ContactKind

SOURCE = "webhook:phone"
CONTENT_TYPE = "application/x-www-form-urlencoded"
TIMESTAMP_HEADER = "X-Casework-Timestamp"
SIGNATURE_HEADER = "X-Casework-Signature"
DEFAULT_TOLERANCE_SECONDS = 300
MAX_BODY_BYTES = 64 * 1024

_CALL_SID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# What providers put in `From` when the caller hides their number (Twilio sends "+266696687", "anonymous"...).
_WITHHELD = {"", "anonymous", "restricted", "private", "unknown", "unavailable", "blocked", "+266696687",
             "+86282452253", "+8656696", "+7378742833", "+2562533"}


class InvalidSignature(ValueError):
    """The webhook request is not signed with the shared secret, or not recently."""


@dataclass(frozen=True)
class IncomingCall:
    """One incoming call as the provider announced it."""

    call_sid: str
    caller: str | None        # E.164, or None when the number is withheld
    dialled: str | None       # the number the caller dialled (E.164 when it parses)
    caller_name: str = ""

    @property
    def external_id(self) -> str:
        return external_id(self.call_sid)


def external_id(call_sid: str) -> str:
    """The interaction external id of a call: one interaction per CallSid."""
    return f"call:{call_sid}"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The `X-Casework-Signature` value for `body` signed at `timestamp` (for providers' relays and tests)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"v1={mac}"


def verify(secret: str, timestamp: str | None, signature: str | None, body: bytes, now: float,
           tolerance: int = DEFAULT_TOLERANCE_SECONDS) -> None:
    """Check a webhook request's signature (constant-time) and freshness. Raises InvalidSignature."""
    if not secret:
        raise InvalidSignature("no secret configured")
    if not timestamp or not signature:
        raise InvalidSignature("signature headers missing")
    try:
        signed_at = int(timestamp)
    except ValueError:
        raise InvalidSignature("bad timestamp") from None
    if abs(now - signed_at) > tolerance:
        raise InvalidSignature("stale timestamp")
    expected = sign(secret, signed_at, body)
    given = [part.strip() for part in signature.split(",")]
    # compare_digest on every candidate, no early exit: the time taken says nothing about the secret.
    matches = [hmac.compare_digest(expected.encode(), candidate.encode()) for candidate in given]
    if not any(matches):
        raise InvalidSignature("signature mismatch")


def _field(fields: dict[str, list[str]], name: str) -> str:
    values = fields.get(name) or [""]
    return values[0].strip()


def parse(body: bytes, region: str) -> IncomingCall:
    """The call in a webhook body (form-encoded). Raises InvalidContact for a body that is not a call."""
    if len(body) > MAX_BODY_BYTES:
        raise InvalidContact("webhook body too large")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=100)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidContact(f"not a form-encoded call: {type(exc).__name__}") from exc
    call_sid = _field(fields, "CallSid")
    if not _CALL_SID.match(call_sid):
        raise InvalidContact("CallSid missing or malformed")
    raw_from = _field(fields, "From")
    caller = None if raw_from.lower() in _WITHHELD else e164(raw_from, region)
    raw_to = _field(fields, "To")
    try:
        dialled = e164(raw_to, region) if raw_to else None
    except InvalidContact:
        dialled = None               # a SIP address or short code: the call is still a call
    return IncomingCall(call_sid, caller, dialled, _field(fields, "CallerName")[:200])


def to_contact(call: IncomingCall) -> NormalizedContact:
    """The NormalizedContact of an incoming call: a phone interaction from the caller (or from nobody known)."""
    sender = ContactAddress(ContactKind.PHONE, call.caller, call.caller_name) if call.caller else None
    return NormalizedContact(
        channel=Channel.PHONE, sender=sender, subject="Phone call", body_text="",
        external_id=call.external_id,
        meta={"call_sid": call.call_sid, "to": call.dialled, "withheld": call.caller is None, "state": "ringing"},
    )

"""What every adapter produces: a NormalizedContact, or InvalidContact when the raw input cannot be read."""
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from models import Channel, ContactKind


class InvalidContact(ValueError):
    """Raw input that cannot become a contact. The raw payload is kept and shown with this message."""


@dataclass(frozen=True)
class ContactAddress:
    """How the sender can be reached: an email, an E.164 phone number, a chat handle or an API account."""

    kind: ContactKind
    value: str
    display_name: str = ""


@dataclass
class NormalizedContact:
    """One inbound contact, whatever its channel, ready for intake."""

    channel: Channel
    sender: ContactAddress | None
    subject: str
    body_text: str
    external_id: str | None = None            # Message-ID, chat id, call id, Open311 request id
    body_html: str | None = None              # sanitised by the adapter
    occurred_at: datetime | None = None
    language: str | None = None
    category_code: str | None = None
    case_reference: str | None = None         # a reference the sender quoted, for threading
    in_reply_to: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


class Adapter(Protocol):
    """A channel's wire format: raw bytes in, NormalizedContact out. Pure: no I/O, no database."""

    channel: Channel

    def parse(self, raw: bytes) -> NormalizedContact:
        """Raises InvalidContact when `raw` cannot be read."""
        ...

"""Live chat, the pure part: the pre-chat form and chat messages checked, and the chat's first contact.

No I/O here. `channels.chatting` stores what these functions accept.
"""
import json
import re
import unicodedata
from dataclasses import asdict, dataclass

from channels.base import ContactAddress, InvalidContact, NormalizedContact
from channels.webform import LANGUAGES
from models import Channel, ContactKind

SOURCE = "chat"
MAX_MESSAGE_CHARS = 2000
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")


class InvalidMessage(InvalidContact):
    """A chat message that cannot be taken: empty, too long, or without a usable client id."""


@dataclass(frozen=True)
class PreChat:
    """What a constituent gave before the chat: the form validated it already."""

    name: str
    language: str
    category_code: str
    token: str                       # one per form rendering: a resubmit opens one chat
    email: str = ""
    question: str = ""

    def to_payload(self) -> bytes:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True).encode()

    @classmethod
    def from_payload(cls, payload: bytes) -> "PreChat":
        try:
            return cls(**json.loads(payload))
        except (ValueError, TypeError) as exc:
            raise InvalidContact(f"not a pre-chat form: {exc}") from exc


@dataclass(frozen=True)
class ChatMessage:
    """One message as a client sent it: its own id (for idempotent resends) and the text."""

    client_id: str
    text: str


def clean_text(text: str) -> str:
    """`text` without control characters (newlines and tabs stay) and without outer blank space."""
    return "".join(c for c in text if c in "\n\t" or unicodedata.category(c) != "Cc").strip()


def message(data: object) -> ChatMessage:
    """A ChatMessage from a socket payload {"client_id", "text"}. Raises InvalidMessage."""
    if not isinstance(data, dict):
        raise InvalidMessage("not a message")
    client_id, text = data.get("client_id"), data.get("text")
    if not isinstance(client_id, str) or not _CLIENT_ID.match(client_id):
        raise InvalidMessage("a message needs a client id of letters, digits, - or _")
    if not isinstance(text, str):
        raise InvalidMessage("a message needs text")
    text = clean_text(text)
    if not text:
        raise InvalidMessage("the message is empty")
    if len(text) > MAX_MESSAGE_CHARS:
        raise InvalidMessage(f"a message holds at most {MAX_MESSAGE_CHARS} characters")
    return ChatMessage(client_id, text)


def email_address(value: object) -> str:
    """A lower-cased email address. Raises InvalidContact for something that is not one."""
    if not isinstance(value, str) or len(value) > 254 or not _EMAIL.match(value.strip()):
        raise InvalidContact("not an email address")
    return value.strip().lower()


def external_id(chat_id: int, side: str, client_id: str) -> str:
    """The interaction external id of a chat message: a resend with the same client id is the same message."""
    return f"chat:{chat_id}:{side}:{client_id}"


def to_contact(prechat: PreChat, subject: str) -> NormalizedContact:
    """The contact that opens a chat case. Without an email the constituent is known by a chat handle
    made from the form's token (one per chat). Raises InvalidContact."""
    if prechat.language not in LANGUAGES:
        raise InvalidContact("unknown language")
    if not _CLIENT_ID.match(prechat.token or ""):
        raise InvalidContact("the pre-chat form has no token")
    if prechat.email:
        sender = ContactAddress(ContactKind.EMAIL, email_address(prechat.email), prechat.name)
    else:
        sender = ContactAddress(ContactKind.CHAT, f"chat-{prechat.token}", prechat.name)
    return NormalizedContact(
        channel=Channel.CHAT, sender=sender, subject=subject[:500], body_text=clean_text(prechat.question),
        external_id=f"chat-start-{prechat.token}", language=prechat.language,
        category_code=prechat.category_code, meta={"chat": "start"},
    )

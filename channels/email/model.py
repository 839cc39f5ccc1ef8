"""What parse_message returns: ParsedEmail and its Attachments, with their JSON form."""
from dataclasses import dataclass, field
from typing import Any

JSON_KEYS = ("from_email", "from_name", "to", "cc", "reply_to", "subject", "message_id", "in_reply_to",
             "references", "date", "body_text", "body_html", "reply_text", "attachments", "is_auto_reply",
             "is_bounce", "language", "defects")


@dataclass
class Attachment:
    """One attached or inline file; `data` holds the decoded bytes (kept out of the JSON)."""

    filename: str
    content_type: str
    size: int
    sha256: str
    inline: bool
    content_id: str | None
    data: bytes = field(repr=False, default=b"")

    def to_json(self) -> dict[str, Any]:
        """The JSON form: every field except the bytes."""
        return {"filename": self.filename, "content_type": self.content_type, "size": self.size,
                "sha256": self.sha256, "inline": self.inline, "content_id": self.content_id}


@dataclass
class ParsedEmail:
    """A parsed message. Addresses are normalised (see headers.py); Message-IDs have no angle brackets.

    Not in the JSON: `recipients` (To, Cc, Delivered-To, X-Original-To, Envelope-To: for plus-addressed
    intake), `bounce_message_id` and `bounce_recipients` (for bounces), and each attachment's bytes.
    """

    from_email: str | None = None
    from_name: str | None = None
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    reply_to: list[str] = field(default_factory=list)
    subject: str = ""
    message_id: str | None = None
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    date: str | None = None
    body_text: str = ""
    body_html: str | None = None
    reply_text: str = ""
    attachments: list[Attachment] = field(default_factory=list)
    is_auto_reply: bool = False
    is_bounce: bool = False
    language: str | None = None
    defects: list[str] = field(default_factory=list)
    recipients: list[str] = field(default_factory=list)
    bounce_message_id: str | None = None
    bounce_recipients: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The JSON object printed by `python -m channels.email`: exactly JSON_KEYS."""
        out = {key: getattr(self, key) for key in JSON_KEYS}
        out["attachments"] = [attachment.to_json() for attachment in self.attachments]
        return out

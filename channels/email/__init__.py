"""Pure email parsing for the email channel: raw RFC 5322 bytes in, ParsedEmail out. No I/O, no database."""
from .model import Attachment, ParsedEmail
from .parser import parse_message, peek_message_id

__all__ = ["Attachment", "ParsedEmail", "parse_message", "peek_message_id"]

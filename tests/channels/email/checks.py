"""Expectations about the corpora that do not come from our parser: shared by the tests and corpus_report."""
import hashlib
import re
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from pathlib import Path

from channels.email import ParsedEmail
from channels.email.htmltext import html_to_text

from . import zammad_yaml
from .corpus import CORPORA

TALON_REPLIES = CORPORA / "talon" / "tests" / "fixtures" / "standard_replies"
ZAMMAD_MAIL = CORPORA / "zammad" / "test" / "data" / "mail"
TAGS = re.compile(r"<[^>]*>")


def _leaves(raw: bytes) -> list[Message]:
    """Leaf parts, not descending into enclosed messages (those are one attachment each)."""
    found, stack = [], [BytesParser(policy=compat32).parsebytes(raw)]
    while stack:
        node = stack.pop()
        payload = node.get_payload()
        if isinstance(payload, list) and node.get_content_maintype() == "multipart":
            stack += reversed([child for child in payload if isinstance(child, Message)])
        elif not isinstance(payload, list):
            found.append(node)
    return found


def has_readable_text(raw: bytes) -> bool:
    """Whether a text/plain or text/html part that is not an attachment holds letters or digits (stdlib view)."""
    for part in _leaves(raw):
        if part.get_content_type() not in ("text/plain", "text/html"):
            continue
        if (part.get("Content-Disposition") or "").strip().lower().startswith("attachment"):
            continue
        data = part.get_payload(decode=True) or b""
        if re.search(rb"\w", TAGS.sub("", data.decode("latin-1")).encode("latin-1")):
            return True
    return False


def stdlib_attachment_hashes(raw: bytes) -> list[str]:
    """sha256 of each named base64/quoted-printable part as the stdlib decodes it: an independent oracle."""
    hashes = []
    for part in _leaves(raw):
        encoding = (part.get("Content-Transfer-Encoding") or "").strip().lower()
        if encoding in ("base64", "quoted-printable") and part.get_filename():
            hashes.append(hashlib.sha256(part.get_payload(decode=True) or b"").hexdigest())
    return hashes


def talon_expected() -> dict[Path, str]:
    """talon's expected quote-stripped text per standard reply (test_standard_replies: "Hello" unless a
    <name>_reply_text file says otherwise)."""
    expected = {}
    for path in sorted(TALON_REPLIES.glob("*.eml")):
        text_file = path.with_name(path.stem + "_reply_text")
        expected[path] = text_file.read_text(encoding="utf-8") if text_file.exists() else "Hello"
    return expected


def zammad_pairs() -> list[tuple[Path, dict]]:
    """(message, expectation) for each Zammad .box with its .yml."""
    return [(box, zammad_yaml.load(box.with_suffix(".yml").read_text(encoding="utf-8")))
            for box in sorted(ZAMMAD_MAIL.glob("*.box")) if box.with_suffix(".yml").exists()]


def _words(text: str) -> str:
    return " ".join(text.split())


def zammad_checks(parsed: ParsedEmail, expected: dict) -> dict[str, bool]:
    """Each Zammad expectation, by name, compared with `parsed`. Zammad's text/html alternatives (its
    attachments marked content-alternative) are our body_html, so they are checked as `html_alternative`."""
    files = [a for a in expected.get("attachments", []) if not a["preferences"].get("content-alternative")]
    alternatives = [a for a in expected.get("attachments", []) if a["preferences"].get("content-alternative")]
    ours = {a.filename: a for a in parsed.attachments}
    is_html = expected.get("content_type") == "text/html"
    body, ours_body = (html_to_text(expected["body"]), html_to_text(parsed.body_html or "")) if is_html \
        else (expected["body"], parsed.body_text)
    checks = {
        "from_email": (parsed.from_email or "").lower() == expected["from_email"].lower(),
        "from_display_name": (parsed.from_name or "") == expected.get("from_display_name", ""),
        "subject": parsed.subject == expected["subject"],
        "content_type": (parsed.body_html is not None) == (expected.get("content_type") == "text/html"),
        "body": _words(body) in _words(ours_body),
        "attachment_count": len(parsed.attachments) == len(files),
        "filenames": sorted(ours) == sorted(a["filename"] for a in files),
        "mime_types": all(a["filename"] in ours and ours[a["filename"]].content_type == a["preferences"]["Mime-Type"]
                          for a in files),
        "data": all(a["filename"] in ours and ours[a["filename"]].data.replace(b"\r\n", b"\n")
                    == a["data"].encode("utf-8") for a in files),
    }
    if alternatives:
        checks["html_alternative"] = any(a["filename"] in ours for a in alternatives)
    return checks

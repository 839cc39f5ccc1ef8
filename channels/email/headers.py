"""Header decoding: raw 8-bit bytes, RFC 2047 encoded-words, addresses, dates and Message-IDs.

Addresses are normalised as: local part kept as sent, domain lowercased and IDNA-decoded to Unicode
(`xn--bcher-kva.example` -> `bücher.example`), no angle brackets, comments or display name.
Message-IDs are kept without their angle brackets.
"""
import binascii
import logging
import re
from datetime import timezone
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime

from .charset import decode_bytes

log = logging.getLogger(__name__)

ENCODED_WORD = re.compile(r"=\?([^?\s]{1,75})\?([QqBb])\?([^?\s]{0,2000})\?=")
FOLD = re.compile(r"\r?\n(?=[ \t])")
MSGID = re.compile(r"<([^<>\s]{1,998})>")
ATOM_CHARS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u0080-\U0010ffff]+")
DOMAIN_LABEL = re.compile(r"[A-Za-z0-9\u0080-\U0010ffff]([A-Za-z0-9\-_\u0080-\U0010ffff]{0,61}[A-Za-z0-9\u0080-\U0010ffff])?")
QUOTED_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
QUOTED_PAIR = re.compile(r"\\(.)")
QUOTED_LOCAL = re.compile(r'"(?:[^"\\\r\n]|\\.)*"')
MAX_ADDRESSES = 500


def raw_values(msg: Message, name: str) -> list[str]:
    """Every raw value of header `name` in `msg` (undecoded; 8-bit bytes as surrogate escapes)."""
    wanted = name.lower()
    return [value for key, value in msg.raw_items() if key.lower() == wanted and isinstance(value, str)]


def first_raw(msg: Message, name: str) -> str | None:
    """The first raw value of header `name`, or None."""
    values = raw_values(msg, name)
    return values[0] if values else None


def unfold(raw: str) -> str:
    """RFC 5322 unfolding: drop the line breaks of folded lines, and stray ones."""
    return FOLD.sub("", raw).replace("\r", "").replace("\n", " ")


def to_unicode(raw: str, defects: list[str], where: str, hint: str | None = None) -> str:
    """Repair raw 8-bit header bytes: RFC 6532 UTF-8, else (with a defect) the `hint` charset (the body's,
    which senders of raw headers use for both), else a detected one."""
    try:
        raw.encode("ascii")
        return raw
    except UnicodeEncodeError:
        pass
    data = raw.encode("utf-8", "surrogateescape")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        defects.append(f"{where}: raw 8-bit bytes in a header that are not UTF-8")
        return decode_bytes(data, hint, [], where) if hint else decode_bytes(data, None, defects, where)


def decode_words(text: str, defects: list[str], where: str) -> str:
    """Decode RFC 2047 encoded-words in `text`; whitespace between adjacent words is dropped."""
    out: list[str] = []
    pending: list[tuple[str, bytes]] = []    # adjacent words, joined before decoding: a character may span two
    pos = 0
    for match in ENCODED_WORD.finditer(text):
        gap = text[pos:match.start()]
        if gap and not (pending and gap.isspace()):
            out.append(_flush(pending, defects, where))
            out.append(gap)
        charset, data = _word_bytes(match, defects, where)
        if pending and pending[-1][0] != charset:
            out.append(_flush(pending, defects, where))
        pending.append((charset, data))
        pos = match.end()
    out.append(_flush(pending, defects, where))
    out.append(text[pos:])
    return "".join(out)


def _word_bytes(match: re.Match, defects: list[str], where: str) -> tuple[str, bytes]:
    charset = match.group(1).split("*", 1)[0]        # RFC 2231 section 5: charset*language
    payload = match.group(3)
    try:
        if match.group(2) in "Bb":
            payload = payload.rstrip("=")
            return charset, binascii.a2b_base64(payload + "=" * (-len(payload) % 4))
        return charset, binascii.a2b_qp(payload.replace("_", " ").encode("ascii", "replace"), header=True)
    except (binascii.Error, ValueError):
        defects.append(f"{where}: undecodable encoded-word kept as text")
        return "us-ascii", match.group(0).encode("ascii", "replace")


def _flush(pending: list[tuple[str, bytes]], defects: list[str], where: str) -> str:
    if not pending:
        return ""
    text = decode_bytes(b"".join(data for _, data in pending), pending[0][0], defects, where)
    pending.clear()
    return text


def header_text(raw: str | None, defects: list[str], name: str, hint: str | None = None) -> str:
    """A header's display text: unfolded, 8-bit repaired, encoded-words decoded. Never raises."""
    if raw is None:
        return ""
    where = f"{name} header"
    try:
        # Trailing spaces inside an encoded-word are the sender's text and are kept.
        return decode_words(to_unicode(unfold(raw).strip(), defects, where, hint), defects, where)
    except Exception:                                     # noqa: BLE001 (a header must never sink a message)
        log.exception("undecodable %s header", name)
        defects.append(f"{where}: could not be decoded; kept raw")
        return unfold(raw).encode("utf-8", "replace").decode("utf-8", "replace").strip()


def normalise_address(addr: str) -> str | None:
    """`addr` as local@domain (domain lowercased, Unicode), or None when it is not a usable address."""
    addr = addr.strip().strip("<>").strip()
    if addr.count("@") < 1 or len(addr) > 320:
        return None
    local, _, domain = addr.rpartition("@")
    if not _valid_local(local):
        return None
    domain = _unicode_domain(domain.strip().lower())
    if domain is None:
        return None
    return f"{local}@{domain}"


def _valid_local(local: str) -> bool:
    if not local or len(local) > 64:
        return False
    if local.startswith('"'):
        return QUOTED_LOCAL.fullmatch(local) is not None
    return all(ATOM_CHARS.fullmatch(atom) for atom in local.split("."))


def _unicode_domain(domain: str) -> str | None:
    if domain.startswith("[") and domain.endswith("]"):
        return domain
    labels = domain.split(".")
    if not domain or len(domain) > 253 or not all(DOMAIN_LABEL.fullmatch(label) for label in labels):
        return None
    if "xn--" not in domain:
        return domain
    try:
        return domain.encode("ascii").decode("idna")
    except UnicodeError:
        return None


def parse_addresses(raw: str | None, defects: list[str], name: str,
                    hint: str | None = None) -> list[tuple[str, str]]:
    """(display name, normalised address) pairs of an address header; bad entries become defects."""
    if not raw:
        return []
    where = f"{name} header"
    text = to_unicode(unfold(raw), defects, where, hint)
    pairs = _split_addresses(text)
    if len(re.findall(r'(?<!\\)"', text)) % 2 or text.count("[") != text.count("]"):
        defects.append(f"{where}: unbalanced quotes or brackets")
    as_written = _unescape_quoted(text)
    if not any(normalise_address(addr) for _, addr in pairs) and ENCODED_WORD.search(text):
        # Some senders encode the whole "Name <addr>" as one encoded-word.
        pairs = _split_addresses(decode_words(text, defects, where))
    found = []
    for display, addr in pairs[:MAX_ADDRESSES]:
        address = normalise_address(addr)
        if address is None:
            if addr.strip() or display.strip():
                defects.append(f"{where}: malformed address {(addr or display)[:80]!r} ignored")
            continue
        if _unescape_quoted(addr) not in as_written:
            defects.append(f"{where}: address {addr[:80]!r} repaired from malformed text")
        found.append((decode_words(display, defects, where).strip(), address))
    if len(pairs) > MAX_ADDRESSES:
        defects.append(f"{where}: more than {MAX_ADDRESSES} addresses; the rest ignored")
    return found


def _unescape_quoted(text: str) -> str:
    return QUOTED_STRING.sub(lambda m: QUOTED_PAIR.sub(r"\1", m.group(0)), text)


def _split_addresses(text: str) -> list[tuple[str, str]]:
    try:
        return getaddresses([text])
    except Exception:                                     # noqa: BLE001 (stdlib parser bugs on hostile input)
        return []


def parse_date(raw: str | None, defects: list[str]) -> str | None:
    """The Date header as ISO 8601 in UTC, or None (with a defect when present but unreadable)."""
    if not raw or not raw.strip():
        return None
    text = unfold(raw).strip()
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        moment = None
    if moment is None:
        defects.append("Date header: unreadable date ignored")
        return None
    if moment.tzinfo is None:                              # "-0000": the zone is unknown; RFC 5322 says assume UTC
        moment = moment.replace(tzinfo=timezone.utc)
    try:
        return moment.astimezone(timezone.utc).isoformat()
    except (ValueError, OverflowError):
        defects.append("Date header: date out of range ignored")
        return None


def parse_message_ids(raw: str | None, defects: list[str], name: str) -> list[str]:
    """Message-IDs in a header, without angle brackets; a bare id without brackets is accepted."""
    if not raw:
        return []
    text = unfold(to_unicode(raw, defects, f"{name} header"))
    found = MSGID.findall(text)
    if not found and text.strip() and " " not in text.strip() and "@" in text:
        defects.append(f"{name} header: Message-ID without angle brackets")
        found = [text.strip()]
    return list(dict.fromkeys(found))

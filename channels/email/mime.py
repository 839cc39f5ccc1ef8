"""A defensive walk over the MIME tree: every leaf with its decoded bytes, never an exception.

The stdlib's get_body()/iter_attachments() raise on nested multiparts and unknown charsets, so the tree is
walked here with a depth limit, a part-count limit and a guard against visiting one node twice.
"""
import binascii
import logging
import re
from dataclasses import dataclass, field
from email.generator import BytesGenerator
from email.message import Message
from email.policy import compat32
from io import BytesIO

from .headers import decode_words, first_raw, to_unicode, unfold

log = logging.getLogger(__name__)

MAX_DEPTH = 20
MAX_PARTS = 1000
IDENTITY_ENCODINGS = {"", "7bit", "8bit", "binary", "7-bit", "8-bit", "plain", "none", "text", "quoted", "base"}
UU_ENCODINGS = {"x-uuencode", "uuencode", "x-uue", "uue"}
STDLIB_DECODED = UU_ENCODINGS | {"base64", "quoted-printable"}
UU_BEGIN = re.compile(rb"^begin(?:-base64)? +([0-7]{3,4}) +(.{1,255}?)\s*$", re.MULTILINE)
BLANK_LINE = re.compile(rb"^\r?\n", re.MULTILINE)
UU_END = re.compile(rb"^end\s*$", re.MULTILINE)
VIEW_HEADERS = ("Content-Type", "Content-Disposition", "Content-Transfer-Encoding", "Content-ID",
                "Content-Description", "Content-Location")


@dataclass
class Part:
    """One leaf (or enclosed message) of the tree, with its transfer encoding already undone."""

    path: str
    content_type: str
    charset: str | None
    disposition: str | None
    filename: str | None
    content_id: str | None
    description: str | None
    data: bytes
    enclosed: list[Message] = field(default_factory=list)   # message/*: the parsed enclosed message(s)


def walk(root: Message, defects: list[str], linesep: str, raw: bytes | None = None) -> list[Part]:
    """Every leaf below `root` in document order; message/* parts are leaves holding their body bytes.

    With the `raw` bytes `root` was parsed from, enclosed messages keep their exact original bytes.
    """
    parts: list[Part] = []
    _visit(root, raw, "1", 0, parts, set(), defects, linesep)
    return parts


def _visit(node: Message, raw: bytes | None, path: str, depth: int, parts: list[Part], seen: set[int],
           defects: list[str], linesep: str) -> None:
    if id(node) in seen:
        defects.append(f"part {path}: MIME loop cut")
        return
    if depth > MAX_DEPTH or len(parts) >= MAX_PARTS:
        defects.append(f"part {path}: nested too deep or too many parts; the rest ignored")
        return
    seen.add(id(node))
    _record_stdlib_defects(node, path, defects)
    view = header_view(node, defects, path)
    content_type = view.get_content_type()
    payload = node.get_payload()
    if content_type.startswith("multipart/") and isinstance(payload, list):
        children = [child for child in payload if isinstance(child, Message)]
        raws = _child_raws(raw, node.get_boundary(), len(children))
        for index, (child, child_raw) in enumerate(zip(children, raws), 1):
            _visit(child, child_raw, f"{path}.{index}", depth + 1, parts, seen, defects, linesep)
        return
    if content_type.startswith("multipart/"):
        defects.append(f"part {path}: {content_type} without usable parts; read as text/plain")
        content_type = "text/plain"
    parts.append(_leaf(node, view, raw, path, content_type, defects, linesep))


def _leaf(node: Message, view: Message, raw: bytes | None, path: str, content_type: str,
          defects: list[str], linesep: str) -> Part:
    payload = node.get_payload()
    enclosed = [m for m in payload if isinstance(m, Message)] if isinstance(payload, list) else []
    if isinstance(payload, list) and raw is not None:
        data = decode_transfer(body_bytes(raw), view.get("Content-Transfer-Encoding", ""), defects, f"part {path}")
    elif isinstance(payload, list):
        data = _serialised_body(node, linesep, defects, path)
    else:
        data = _leaf_bytes(node, view, defects, path)
    return Part(path=path, content_type=content_type, charset=_charset(view), disposition=_disposition(view),
                filename=_filename(view, defects, path), content_id=_content_id(view),
                description=view.get("Content-Description") or None, data=data, enclosed=enclosed)


def header_view(node: Message, defects: list[str], path: str) -> Message:
    """A header-only copy of `node`'s MIME headers with 8-bit bytes repaired, safe for get_param()."""
    view = Message()
    for name in VIEW_HEADERS:
        raw = first_raw(node, name)
        if raw is not None:
            view[name] = to_unicode(unfold(raw), defects, f"part {path} {name}").strip()
    if "Content-Type" not in view and node.get_default_type() == "message/rfc822":
        view.set_default_type("message/rfc822")
    return view


def body_bytes(raw: bytes) -> bytes:
    """The body of a raw entity: everything after the first empty line (all of it if there is none)."""
    match = BLANK_LINE.search(raw)
    return raw[match.end():] if match else b""


def _child_raws(raw: bytes | None, boundary: str | None, count: int) -> list[bytes | None]:
    """The raw bytes of each part of a multipart entity, or Nones when they do not line up with the
    stdlib's parse (then enclosed messages are re-serialised instead)."""
    if raw is None or not boundary:
        return [None] * count
    delimiter = re.compile(rb"^--" + re.escape(boundary.encode("utf-8", "surrogateescape"))
                           + rb"(--)?[ \t]*\r?$", re.MULTILINE)
    body = body_bytes(raw)
    found, start = [], None
    for match in delimiter.finditer(body):
        if start is not None:
            end = match.start() - (2 if body[max(0, match.start() - 2):match.start()] == b"\r\n" else 1)
            found.append(body[start:max(start, end)])
        if match.group(1):
            break
        start = match.end() + (1 if body[match.end():match.end() + 1] == b"\n" else 0)
    else:
        if start is not None:
            found.append(body[start:])
    return found if len(found) == count else [None] * count


def _leaf_bytes(node: Message, view: Message, defects: list[str], path: str) -> bytes:
    """The decoded bytes of a leaf. get_payload(decode=True) gives the raw bytes, except for the exact
    encoding names the stdlib undoes itself; every other spelling is undone by decode_transfer."""
    data = node.get_payload(decode=True)
    data = data if isinstance(data, bytes) else b""
    if str(node.get("Content-Transfer-Encoding", "")).lower() in STDLIB_DECODED:
        return data
    return decode_transfer(data, view.get("Content-Transfer-Encoding", ""), defects, f"part {path}")


def _serialised_body(node: Message, linesep: str, defects: list[str], path: str) -> bytes:
    buffer = BytesIO()
    try:
        BytesGenerator(buffer, mangle_from_=False, maxheaderlen=0,
                       policy=compat32.clone(linesep=linesep)).flatten(node)
    except (RecursionError, ValueError, TypeError, LookupError, UnicodeError):
        defects.append(f"part {path}: enclosed message could not be re-serialised")
        return b""
    data = buffer.getvalue()
    separator = linesep.encode() * 2
    head_end = data.find(separator)
    return data[head_end + len(separator):] if head_end >= 0 else b""


def decode_transfer(data: bytes, encoding: str, defects: list[str], where: str) -> bytes:
    """Undo a Content-Transfer-Encoding, tolerating case, junk after the token and broken payloads."""
    token = re.split(r"[\s;,\"']+", encoding.strip().strip("\"'").lower() + " ", maxsplit=1)[0]
    if token in IDENTITY_ENCODINGS:
        return data
    if token == "base64":
        return _base64(data, defects, where)
    if token in ("quoted-printable", "qp"):
        return binascii.a2b_qp(data)
    if token in UU_ENCODINGS:
        found = uudecode_blocks(data)
        if found:
            return found[0][1]
        defects.append(f"{where}: uuencoded part without a begin line; kept encoded")
        return data
    defects.append(f"{where}: unknown Content-Transfer-Encoding {token[:30]!r}; kept as is")
    return data


def _base64(data: bytes, defects: list[str], where: str) -> bytes:
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:
        pass
    cleaned = re.sub(rb"[^A-Za-z0-9+/]", b"", data)
    if len(cleaned) % 4 == 1:
        cleaned = cleaned[:-1]
    defects.append(f"{where}: malformed base64 repaired")
    try:
        return binascii.a2b_base64(cleaned + b"=" * (-len(cleaned) % 4))
    except binascii.Error:
        defects.append(f"{where}: undecodable base64; kept as is")
        return data


def uudecode_blocks(data: bytes) -> list[tuple[str, bytes, int, int]]:
    """Every uuencoded block in `data`: (filename, decoded bytes, start offset, end offset)."""
    found = []
    pos = 0
    while (begin := UU_BEGIN.search(data, pos)) is not None:
        end = UU_END.search(data, begin.end())
        stop = end.end() if end else len(data)
        body = data[begin.end():end.start() if end else len(data)]
        name = begin.group(2).decode("utf-8", "replace").strip()
        found.append((name, _uudecode_lines(body), begin.start(), stop))
        pos = stop
    return found


def _uudecode_lines(body: bytes) -> bytes:
    out = bytearray()
    for line in body.splitlines():
        if not line or line in (b"`", b" "):
            continue
        try:
            out += binascii.a2b_uu(line)
        except binascii.Error:
            # Encoders that pad lines differently: decode exactly the length the first byte announces.
            length = (((line[0] - 32) & 63) * 4 + 5) // 3
            try:
                out += binascii.a2b_uu(line[:length])
            except binascii.Error:
                continue
    return bytes(out)


def _charset(view: Message) -> str | None:
    value = view.get_param("charset")
    if isinstance(value, tuple):                        # RFC 2231 form
        value = value[2]
    return str(value).strip() if value else None


def _disposition(view: Message) -> str | None:
    raw = view.get("Content-Disposition")
    if not raw:
        return None
    token = raw.split(";", 1)[0].strip().strip("\"'").lower()
    return token if token in ("inline", "attachment") else ("attachment" if "attach" in token else None)


def _filename(view: Message, defects: list[str], path: str) -> str | None:
    try:
        name = view.get_filename() or view.get_param("name")
    except (ValueError, LookupError, UnicodeError, IndexError):
        defects.append(f"part {path}: unreadable filename")
        return None
    if isinstance(name, tuple):
        name = name[2]
    if not name:
        return None
    name = decode_words(unfold(str(name)), defects, f"part {path} filename")
    name = re.split(r"[\\/]", name)[-1]                   # no directories from the sender
    name = "".join(ch for ch in name if ch >= " " and ch != "\x7f").strip().strip('"')
    return name[:255] or None


def _content_id(view: Message) -> str | None:
    raw = view.get("Content-ID")
    if not raw:
        return None
    return raw.strip().strip("<>").strip() or None


def _record_stdlib_defects(node: Message, path: str, defects: list[str]) -> None:
    for defect in node.defects:
        defects.append(f"part {path}: {describe_defect(defect)}")


def describe_defect(defect: Exception) -> str:
    """A readable sentence for a stdlib email defect."""
    name = type(defect).__name__
    return DEFECT_TEXT.get(name, (type(defect).__doc__ or name).strip().split("\n")[0])


DEFECT_TEXT = {
    "StartBoundaryNotFoundDefect": "multipart boundary never found; the body was read as one text part",
    "CloseBoundaryNotFoundDefect": "multipart closing boundary missing; read to the end",
    "MultipartInvariantViolationDefect": "declared multipart but has no parts; read as text",
    "FirstHeaderLineIsContinuationDefect": "first header line was a continuation line; ignored",
    "MissingHeaderBodySeparatorDefect": "a line in the headers was not a header; the body starts there",
    "NoBoundaryInMultipartDefect": "multipart without a boundary parameter; read as text",
    "MisplacedEnvelopeHeaderDefect": "a 'From ' envelope line inside the headers was ignored",
    "InvalidBase64PaddingDefect": "base64 with bad padding; repaired",
    "InvalidBase64CharactersDefect": "base64 with invalid characters; they were skipped",
    "InvalidMultipartContentTransferEncodingDefect": "multipart with a transfer encoding; ignored",
}

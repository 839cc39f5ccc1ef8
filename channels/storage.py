"""Attachment bytes on disk, addressed by their SHA-256: the same file twice is stored once.

A file from outside never chooses where it lands: the path on disk is its digest, under the configured root.
Its name is only shown and offered on download, made safe by `safe_filename` (the raw payload keeps the
name as sent). Archives are stored as the bytes received and never expanded.
"""
import hashlib
import os
import re
import tempfile
import unicodedata
from pathlib import Path
from urllib.parse import quote

MAX_NAME_BYTES = 255
MAX_EXTENSION_CHARS = 16
WINDOWS_DEVICES = frozenset({"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$",
                             *(f"{d}{n}" for d in ("COM", "LPT") for n in "123456789")})
# Control, format (bidi overrides, zero-width), surrogate, private-use and unassigned characters.
_HIDDEN = {"Cc", "Cf", "Cs", "Co", "Cn"}
_RESERVED = re.compile(r'[<>:"|?*]')          # Windows reserves these; ':' also names NTFS streams


def safe_filename(name: str, fallback: str = "attachment") -> str:
    """A name for a file from outside that is safe to show, to put in a header and to save on any system.

    Keeps the last path segment only, drops control and direction-changing characters, collapses blank
    space, strips leading dots (hidden files) and trailing dots and spaces, replaces characters Windows
    reserves, prefixes Windows device names (CON, NUL, COM1...) with "_", and keeps at most 255 UTF-8
    bytes with the extension. `fallback` when nothing is left. Pure and idempotent.
    """
    text = unicodedata.normalize("NFC", name or "")
    text = re.split(r"[\\/]", text)[-1]
    text = "".join(c for c in text if unicodedata.category(c) not in _HIDDEN or c in "\t\n")
    text = _RESERVED.sub("_", " ".join(text.split())).lstrip(". ")
    stem, dot, extension = text.rpartition(".")
    if not dot or len(extension) > MAX_EXTENSION_CHARS or not stem:
        stem, dot, extension = text, "", ""
    if stem.split(".", 1)[0].rstrip(" ").upper() in WINDOWS_DEVICES:
        stem = "_" + stem
    room = MAX_NAME_BYTES - len((dot + extension).encode())
    stem = stem.encode()[:room].decode("utf-8", "ignore").rstrip(". ")
    return (stem + dot + extension).strip(". ") or fallback


def content_disposition(name: str) -> str:
    """An RFC 6266 Content-Disposition that makes a browser save the file as `name` (made safe), never show it:
    an ASCII `filename` for every client, and the UTF-8 name as `filename*` when it is not plain ASCII."""
    name = safe_filename(name)
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    plain = safe_filename(plain.replace("/", "_").replace("\\", "_"))
    value = f'attachment; filename="{plain}"'
    return value if plain == name else f"{value}; filename*=UTF-8''{quote(name, safe='')}"


def path_for(root: Path, sha256: str) -> Path:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError("not a sha256 hex digest")
    return root / sha256[:2] / sha256


def store(root: Path, data: bytes) -> str:
    """Write `data` durably (write, fsync, rename) unless it is there already; return its SHA-256."""
    digest = hashlib.sha256(data).hexdigest()
    target = path_for(root, digest)
    if target.exists():
        return digest
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return digest


def read(root: Path, sha256: str) -> bytes:
    return path_for(root, sha256).read_bytes()

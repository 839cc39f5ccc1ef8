"""Attachment bytes on disk, addressed by their SHA-256: the same file twice is stored once."""
import hashlib
import os
import tempfile
from pathlib import Path


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

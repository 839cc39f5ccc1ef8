"""Bulk import of old mail: a directory of .eml files, an mbox file or a Maildir, stored then ingested by workers."""
import logging
import mailbox
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy.orm import Session

from channels import inbound
from models import Channel

log = logging.getLogger(__name__)

SOURCE = "import"
COMMIT_EVERY = 500


def _is_maildir(path: Path) -> bool:
    return path.is_dir() and all((path / sub).is_dir() for sub in ("cur", "new", "tmp"))


def messages(path: Path) -> Iterator[tuple[str, bytes]]:
    """(where, raw bytes) of every message under `path`, in a stable order.

    A Maildir or an mbox is read with `mailbox`; any other directory is walked for `*.eml` files.
    Raises FileNotFoundError or ValueError for a path that holds no mail store.
    """
    if not path.exists():
        raise FileNotFoundError(path)
    if _is_maildir(path):
        box = mailbox.Maildir(path, factory=None, create=False)
        for key in sorted(box.iterkeys()):
            yield f"maildir:{key}", box.get_bytes(key)
    elif path.is_dir():
        for file in sorted(path.rglob("*.eml")):
            yield str(file.relative_to(path)), file.read_bytes()
    elif path.is_file():
        box = mailbox.mbox(path, factory=None, create=False)
        try:
            for key in box.iterkeys():
                yield f"mbox:{key}", box.get_bytes(key)
        finally:
            box.close()
    else:
        raise ValueError(f"{path} is neither a directory nor an mbox file")


def store_all(session_factory, path: Path) -> list[tuple[int, bool]]:
    """Store every message under `path`, committing every COMMIT_EVERY; returns (raw id, newly stored) pairs.

    Importing the same store twice stores nothing new: the content key makes each message one row.
    """
    stored = []
    session: Session = session_factory()
    try:
        for count, (_where, raw) in enumerate(messages(path), start=1):
            row, created = inbound.store_raw(session, channel=Channel.EMAIL, source=SOURCE, payload=raw)
            stored.append((row.id, created))
            if count % COMMIT_EVERY == 0:
                session.commit()
        session.commit()
    finally:
        session.close()
    return stored

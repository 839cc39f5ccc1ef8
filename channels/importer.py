"""Bulk import of old mail: a directory of .eml files, an mbox file or a Maildir, stored then ingested by workers."""
import logging
import mailbox
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy.orm import Session

from channels import inbound
from models import Channel

log = logging.getLogger(__name__)

SOURCE = "import"
# Small enough that the workers start on the first chunk while the rest is still being stored (the store and
# the ingest overlap), large enough that a commit (an fsync on SQLite) is a small part of each chunk.
COMMIT_EVERY = 250


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


def store_all(session_factory, path: Path,
              on_commit: Callable[[list[int]], object] | None = None) -> list[tuple[int, bool]]:
    """Store every message under `path`, committing every COMMIT_EVERY; returns (raw id, newly stored) pairs.

    After each commit `on_commit` (e.g. an enqueue of the ingest) gets the ids that chunk newly stored, so the
    workers ingest while the rest is stored; a payload is handed on only once it is committed. Importing the
    same store twice stores nothing new (the content key makes each message one row), so nothing is handed on.
    Commits; raises what `messages` raises, or a database error: the chunks committed before it stay stored
    and handed on.
    """
    stored: list[tuple[int, bool]] = []
    session: Session = session_factory()
    try:
        chunk: list[int] = []
        for count, (_where, raw) in enumerate(messages(path), start=1):
            row, created = inbound.store_raw(session, channel=Channel.EMAIL, source=SOURCE, payload=raw)
            stored.append((row.id, created))
            if created:
                chunk.append(row.id)
            if count % COMMIT_EVERY == 0:
                _commit(session, chunk, on_commit)
                chunk = []
        _commit(session, chunk, on_commit)
    finally:
        session.close()
    return stored


def _commit(session: Session, new_ids: list[int], on_commit: Callable[[list[int]], object] | None) -> None:
    session.commit()
    session.expunge_all()           # the stored rows are not needed again: keep a large import's memory flat
    if on_commit is not None and new_ids:
        on_commit(new_ids)

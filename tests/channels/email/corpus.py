"""Where the third-party mail corpora live (read in place, never copied) and which files are messages."""
from pathlib import Path

CORPORA = (Path(__file__).resolve().parents[3] / ".." / "shared" / "corpora").resolve()

# Raw RFC 5322 messages only; the address lists, talon's HTML snippets and signature samples, and the
# webhooks folder (HTTP requests, not messages) are fixtures of other kinds.
MESSAGE_GLOBS = (
    "flanker/tests/fixtures/messages/**/*.eml",
    "mail-parser/tests/mails/*",
    "mail-ruby/spec/fixtures/emails/**/*.eml",
    "talon/tests/fixtures/**/*.eml",
    "zammad/test/data/mail/*.box",
)


def message_files() -> list[Path]:
    """Every message file of the corpora, sorted; empty when the corpora are absent."""
    found = {path for pattern in MESSAGE_GLOBS for path in CORPORA.glob(pattern) if path.is_file()}
    return sorted(found)


def name(path: Path) -> str:
    """A file's path relative to the corpora, for test ids and reports."""
    return path.relative_to(CORPORA).as_posix()

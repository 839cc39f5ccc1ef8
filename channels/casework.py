"""Working a case: replies through the case's channel (with attachments), internal notes with @mentions,
links between related cases, macros (canned replies with placeholders, one variant per language) and the
collision check before a reply goes out.

No web here: the console and any other entry point call these. Services flush; the caller commits, then
sends the signals (`channels.signals`) and enqueues delivery (`channels.jobs.request_send`).
"""
import logging
import mimetypes
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from channels import outbound, storage
from models import (
    Attachment,
    Case,
    CaseLink,
    Direction,
    Interaction,
    InteractionKind,
    Macro,
    MacroVariant,
    Mention,
    User,
    utcnow,
)

log = logging.getLogger(__name__)

MAX_REPLY_FILES = 5
MAX_REPLY_FILE_BYTES = 10 * 1024 * 1024
MENTION_RE = re.compile(r"(?<![\w@])@([A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9]|[A-Za-z0-9])")
PLACEHOLDER_RE = re.compile(r"\{\{\s*([a-z_]+(?:\.[a-z_]+)?)\s*\}\}")
PLACEHOLDERS = {
    "constituent.name": "the constituent's name",
    "case.reference": "the case reference",
    "case.subject": "the case subject",
    "case.category": "the case category",
    "queue.name": "the queue's name",
    "agent.name": "your name",
}


class CaseworkError(ValueError):
    """A request that cannot be done as asked; the message says why, for the person who asked."""


class UnknownMention(CaseworkError):
    """A note @mentions someone who does not exist or may not see the case."""

    def __init__(self, handles: list[str]):
        self.handles = handles
        names = ", ".join(f"@{h}" for h in handles)
        super().__init__(f"Nobody who can see this case answers to {names}. "
                         "Check the spelling; the note was not saved.")


@dataclass(frozen=True)
class Upload:
    """A file attached to a reply, as read from the request."""

    filename: str
    data: bytes
    content_type: str | None = None


# ---- mentions and notes ------------------------------------------------------------------------------


def mention_handle(user: User) -> str:
    """How a user is @mentioned: the part of their email address before the @."""
    return user.email.split("@", 1)[0].lower()


def mentioned_handles(text: str) -> list[str]:
    """The @handles in `text`, lower-cased, first occurrence order, without repeats (e-mail addresses skipped)."""
    return list(dict.fromkeys(m.group(1).lower() for m in MENTION_RE.finditer(text)))


def _users_by_handle(session: Session, handles: Iterable[str]) -> dict[str, User]:
    handles = list(handles)
    if not handles:
        return {}
    users = session.execute(select(User).where(
        User.is_active, or_(*[func.lower(User.email).like(f"{h}@%") for h in handles]))).scalars()
    return {mention_handle(u): u for u in users}


def add_note(session: Session, case: Case, text: str, author_id: int,
             may_see: Callable[[User, Case], bool]) -> tuple[Interaction, list[User]]:
    """An internal note on `case`; every @handle must name an active user who `may_see` the case, and each of
    them gets a Mention. Flushes; raises UnknownMention (nothing written) or CaseworkError for an empty note."""
    text = text.strip()
    if not text:
        raise CaseworkError("Write the note before saving it.")
    handles = mentioned_handles(text)
    found = _users_by_handle(session, handles)
    missing = [h for h in handles if h not in found or not may_see(found[h], case)]
    if missing:
        raise UnknownMention(missing)
    note = Interaction(case_id=case.id, constituent_id=case.constituent_id, kind=InteractionKind.NOTE,
                       channel=case.channel, direction=Direction.INTERNAL, author_id=author_id, body_text=text,
                       meta={"mentions": [found[h].id for h in handles]})
    session.add(note)
    session.flush()
    users = [found[h] for h in handles]
    for user in users:
        session.add(Mention(interaction_id=note.id, case_id=case.id, user_id=user.id))
    case.last_activity_at = utcnow()
    session.flush()
    return note, users


# ---- replies -------------------------------------------------------------------------------------------


def answered_since(session: Session, case_id: int, last_seen_id: int, user_id: int) -> Interaction | None:
    """The latest reply someone else sent on the case after interaction `last_seen_id` (what the person had on
    screen), or None: the collision check before a reply goes out."""
    return session.execute(
        select(Interaction).where(Interaction.case_id == case_id, Interaction.id > last_seen_id,
                                  Interaction.direction == Direction.OUTBOUND,
                                  Interaction.kind == InteractionKind.MESSAGE,
                                  Interaction.author_id.is_not(None), Interaction.author_id != user_id)
        .order_by(Interaction.id.desc()).limit(1)
    ).scalar_one_or_none()


def check_uploads(uploads: list[Upload]) -> None:
    """Raise CaseworkError when the reply's files are too many or too large."""
    if len(uploads) > MAX_REPLY_FILES:
        raise CaseworkError(f"Attach at most {MAX_REPLY_FILES} files to one reply.")
    for upload in uploads:
        if len(upload.data) > MAX_REPLY_FILE_BYTES:
            raise CaseworkError(f"{upload.filename[:80]} is larger than 10 MB.")


def _safe_filename(name: str) -> str:
    name = Path(name.replace("\\", "/")).name.strip() or "attachment"
    return "".join(c for c in name if c.isprintable())[:255]


def attach(session: Session, interaction: Interaction, uploads: list[Upload], root: Path) -> list[Attachment]:
    """Store `uploads` (content-addressed, under `root`) as attachments of `interaction`. Flushes."""
    attachments = []
    for upload in uploads:
        filename = _safe_filename(upload.filename)
        content_type = upload.content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        attachment = Attachment(interaction_id=interaction.id, filename=filename, content_type=content_type[:255],
                                size=len(upload.data), sha256=storage.store(root, upload.data))
        session.add(attachment)
        attachments.append(attachment)
    session.flush()
    return attachments


def reply(session: Session, case: Case, body: str, author_id: int, uploads: list[Upload], root: Path) -> Interaction:
    """A reply to the constituent through the case's channel. Every channel but a live chat answers by email
    (the constituent's address on the case), QUEUED for `channels.jobs.request_send` after commit; the live chat
    has its own panel (channels.chatting). Flushes; raises CaseworkError, outbound.NoEmailAddress."""
    body = body.strip()
    if not body:
        raise CaseworkError("Write the reply before sending it.")
    check_uploads(uploads)
    message = outbound.queue_reply(session, case, body, author_id)      # also stops the first-response clock
    attach(session, message, uploads, root)
    case.last_activity_at = utcnow()
    session.flush()
    log.info("reply %s queued on case %s", message.id, case.id)
    return message


# ---- links ---------------------------------------------------------------------------------------------


def link(session: Session, case: Case, other: Case, by_user_id: int) -> CaseLink | None:
    """Link two related cases (either lists the other). Flushes; None when they were linked already;
    raises CaseworkError for a case linked to itself."""
    if case.id == other.id:
        raise CaseworkError("A case cannot be linked to itself.")
    low, high = sorted((case.id, other.id))
    existing = session.execute(select(CaseLink).where(CaseLink.case_id == low, CaseLink.other_case_id == high)
                               ).scalar_one_or_none()
    if existing is not None:
        return None
    created = CaseLink(case_id=low, other_case_id=high, created_by_id=by_user_id)
    session.add(created)
    session.flush()
    return created


def unlink(session: Session, case_id: int, other_id: int) -> bool:
    """Remove the link between two cases. Flushes; False when there was none."""
    low, high = sorted((case_id, other_id))
    existing = session.execute(select(CaseLink).where(CaseLink.case_id == low, CaseLink.other_case_id == high)
                               ).scalar_one_or_none()
    if existing is None:
        return False
    session.delete(existing)
    session.flush()
    return True


def linked_case_ids(session: Session, case_id: int) -> list[int]:
    """The ids of the cases linked to `case_id`."""
    rows = session.execute(select(CaseLink.case_id, CaseLink.other_case_id).where(
        or_(CaseLink.case_id == case_id, CaseLink.other_case_id == case_id))).all()
    return sorted(b if a == case_id else a for a, b in rows)


# ---- macros --------------------------------------------------------------------------------------------


def unknown_placeholders(text: str) -> list[str]:
    """The {{ placeholders }} in `text` that macros do not know, for the admin form's validation."""
    return sorted({m.group(1) for m in PLACEHOLDER_RE.finditer(text)} - PLACEHOLDERS.keys())


def pick_variant(macro: Macro, languages: Iterable[str | None]) -> MacroVariant | None:
    """The variant in the first of `languages` the macro has (by full tag, then by primary language), else
    English, else the first there is."""
    variants = {v.language.lower(): v for v in macro.variants}
    for language in [*(lang for lang in languages if lang), "en"]:
        language = language.lower()
        found = variants.get(language) or variants.get(language.split("-")[0])
        if found is not None:
            return found
    return next(iter(macro.variants), None)


def placeholder_values(case: Case, agent: User) -> dict[str, str]:
    """What each placeholder stands for on `case`, written by `agent`."""
    constituent = case.constituent
    category = case.category
    return {"constituent.name": (constituent.display_name if constituent else "") or "",
            "case.reference": case.reference, "case.subject": case.subject or "",
            "case.category": category.names.get(case.language or "", category.name) if category else "",
            "queue.name": case.queue.name if case.queue else "", "agent.name": agent.display_name}


def render(text: str, values: dict[str, str]) -> str:
    """`text` with its placeholders filled in; an unknown one is left as written."""
    return PLACEHOLDER_RE.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def apply_macro(session: Session, macro_id: int, case: Case, agent: User) -> str:
    """The macro's text for `case`: the variant in the constituent's language (or the case's), filled in.
    Raises CaseworkError for an unknown, inactive or empty macro."""
    macro = session.get(Macro, macro_id)
    if macro is None or not macro.is_active:
        raise CaseworkError("That macro does not exist any more.")
    languages = [case.constituent.preferred_language if case.constituent else None, case.language]
    variant = pick_variant(macro, languages)
    if variant is None:
        raise CaseworkError(f"The macro {macro.name} has no text yet.")
    return render(variant.body, placeholder_values(case, agent))


def active_macros(session: Session) -> list[Macro]:
    """Macros people can apply, by name."""
    return list(session.execute(select(Macro).where(Macro.is_active).order_by(Macro.name)).scalars())


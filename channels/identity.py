"""Identity: which constituents are probably one person, merging two into one, and undoing a merge.

A merge moves the source's contact points, cases and interactions to the target and marks the source
`merged_into` the target (intake follows that link, so new mail to an old address lands on the target).
The ids that moved are kept in a ConstituentMerge row, so an undo moves exactly those back, together with
what arrived since through the source's own contact points. Everything here flushes; the view commits.
"""
import difflib
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime

import phonenumbers
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from models import Case, Constituent, ConstituentMerge, ContactKind, ContactPoint, Interaction, utcnow

log = logging.getLogger(__name__)

NAME_SIMILARITY = 0.85          # difflib ratio of normalised names that counts as "similar"
_CANDIDATES = 200               # rows looked at per signal: suggestions must stay cheap on a 360 view
_GMAIL = {"gmail.com", "googlemail.com"}
# Fields a merge fills on the target when it has none and the source has one; undo restores them.
_FILLED_FIELDS = ("display_name", "preferred_language", "postcode", "district")
_MOVED = ((ContactPoint, "contact_points"), (Case, "cases"), (Interaction, "interactions"))


class MergeError(ValueError):
    """A merge or undo that cannot be done (same record, already merged, merged again since...)."""


@dataclass
class Suggestion:
    """A constituent that is probably the same person, and why."""

    constituent_id: int
    display_name: str
    reasons: list[str] = field(default_factory=list)
    name_score: float = 0.0


def current(session: Session, constituent: Constituent) -> Constituent:
    """The record `constituent` lives on now: itself, or the end of its chain of merges."""
    seen = {constituent.id}
    while constituent.merged_into_id is not None and constituent.merged_into_id not in seen:
        seen.add(constituent.merged_into_id)
        constituent = session.get(Constituent, constituent.merged_into_id)
    return constituent


def canonical_email(value: str) -> str:
    """The mailbox an address reaches: lower case, no +tag, and Gmail's dots ignored."""
    local, _, domain = value.strip().lower().partition("@")
    local = local.split("+", 1)[0]
    if domain in _GMAIL:
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


def phone_key(value: str) -> str | None:
    """The national significant number of an E.164 value: one number typed with a wrong country still matches."""
    try:
        return str(phonenumbers.parse(value, None).national_number)
    except phonenumbers.NumberParseException:
        return None


def normalised_name(name: str) -> str:
    """Lower case, accents and punctuation dropped, words sorted ("García, María" == "maria garcia")."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return " ".join(sorted(re.findall(r"[a-z0-9]+", plain)))


def name_similarity(a: str, b: str) -> float:
    """0..1: how alike two names are after normalisation (0 when either is empty)."""
    left, right = normalised_name(a), normalised_name(b)
    if not left or not right:
        return 0.0
    return difflib.SequenceMatcher(None, left, right).ratio()


def _others(session: Session, constituent_id: int, where) -> list[tuple[int, str]]:
    """(constituent id, contact value) of other, unmerged constituents' contact points matching `where`."""
    return list(session.execute(
        select(ContactPoint.constituent_id, ContactPoint.value)
        .join(Constituent, Constituent.id == ContactPoint.constituent_id)
        .where(where, ContactPoint.constituent_id != constituent_id, Constituent.merged_into_id.is_(None))
        .limit(_CANDIDATES)
    ).all())


def _same_email(session: Session, constituent_id: int, emails: list[str]) -> set[int]:
    found = set()
    for email in emails:
        key = canonical_email(email)
        domain = key.partition("@")[2]
        patterns = [ContactPoint.value.startswith(key[0], autoescape=True)
                    & ContactPoint.value.endswith(f"@{d}", autoescape=True)
                    for d in (_GMAIL if domain == "gmail.com" else {domain})]
        rows = _others(session, constituent_id, (ContactPoint.kind == ContactKind.EMAIL) & or_(*patterns))
        found |= {cid for cid, value in rows if canonical_email(value) == key}
    return found


def _phones_mentioned(session: Session, constituent_id: int) -> set[str]:
    """Phone numbers the constituent gave in their own messages (a web form's phone field)."""
    metas = session.execute(select(Interaction.meta).where(Interaction.constituent_id == constituent_id)
                            .limit(_CANDIDATES)).scalars()
    return {meta["phone"] for meta in metas if isinstance(meta, dict) and isinstance(meta.get("phone"), str)
            and meta["phone"].startswith("+")}


def _same_phone(session: Session, constituent_id: int, phones: set[str]) -> set[int]:
    found = set()
    for number in phones:
        key = phone_key(number)
        if not key:
            continue
        rows = _others(session, constituent_id,
                       (ContactPoint.kind == ContactKind.PHONE) & ContactPoint.value.like(f"%{key}"))
        found |= {cid for cid, value in rows if phone_key(value) == key}
    return found


def _similar_names(session: Session, constituent: Constituent) -> dict[int, tuple[str, float]]:
    words = normalised_name(constituent.display_name).split()
    if not words:
        return {}
    probe = max(words, key=len)
    if len(probe) < 3:
        return {}
    rows = session.execute(
        select(Constituent.id, Constituent.display_name)
        .where(Constituent.display_name.ilike(f"%{probe}%"), Constituent.id != constituent.id,
               Constituent.merged_into_id.is_(None))
        .limit(_CANDIDATES)
    ).all()
    scored = {cid: (name, name_similarity(constituent.display_name, name)) for cid, name in rows}
    return {cid: value for cid, value in scored.items() if value[1] >= NAME_SIMILARITY}


def duplicates(session: Session, constituent_id: int, limit: int = 10) -> list[Suggestion]:
    """Constituents that are probably the same person: same mailbox, same phone number, or a similar name.

    Strongest first (more reasons, then closer names). Reads only; the caller filters by visibility.
    """
    constituent = session.get(Constituent, constituent_id)
    if constituent is None:
        return []
    points = constituent.contact_points
    emails = [p.value for p in points if p.kind is ContactKind.EMAIL]
    phones = {p.value for p in points if p.kind is ContactKind.PHONE} | _phones_mentioned(session, constituent_id)
    suggestions: dict[int, Suggestion] = {}

    def add(cid: int, reason: str) -> Suggestion:
        suggestion = suggestions.setdefault(cid, Suggestion(cid, ""))
        suggestion.reasons.append(reason)
        return suggestion

    for cid in _same_email(session, constituent_id, emails):
        add(cid, "same email")
    for cid in _same_phone(session, constituent_id, phones):
        add(cid, "same phone")
    for cid, (_name, score) in _similar_names(session, constituent).items():
        add(cid, "similar name").name_score = score
    names = dict(session.execute(select(Constituent.id, Constituent.display_name)
                                 .where(Constituent.id.in_(suggestions))).all()) if suggestions else {}
    for cid, suggestion in suggestions.items():
        suggestion.display_name = names.get(cid, "")
        if not suggestion.name_score:
            suggestion.name_score = name_similarity(constituent.display_name, suggestion.display_name)
    ranked = sorted(suggestions.values(), key=lambda s: (-len(s.reasons), -s.name_score, s.constituent_id))
    return ranked[:limit]


def _ids(session: Session, model, constituent_id: int) -> list[int]:
    return list(session.execute(select(model.id).where(model.constituent_id == constituent_id)
                                .order_by(model.id)).scalars())


def _move(session: Session, model, ids: list[int], from_id: int, to_id: int) -> None:
    if ids:
        session.execute(update(model).where(model.id.in_(ids), model.constituent_id == from_id)
                        .values(constituent_id=to_id).execution_options(synchronize_session=False))


def merge(session: Session, source_id: int, target_id: int, merged_by_id: int | None) -> ConstituentMerge:
    """Merge constituent `source_id` into `target_id`: contact points, cases and interactions move over.

    Raises MergeError for the same record twice, an unknown one, or one that was merged already.
    Flushes; the caller audits and commits.
    """
    if source_id == target_id:
        raise MergeError("a record cannot be merged into itself")
    # Locked in id order, so two merges of the same pair cannot deadlock.
    locked = {c.id: c for c in (session.get(Constituent, cid, with_for_update=True)
                                for cid in sorted((source_id, target_id))) if c is not None}
    source, target = locked.get(source_id), locked.get(target_id)
    if source is None or target is None:
        raise MergeError("no such constituent")
    if source.merged_into_id is not None or target.merged_into_id is not None:
        raise MergeError("one of the records was merged already")
    moved: dict = {key: _ids(session, model, source_id) for model, key in _MOVED}
    for model, key in _MOVED:
        _move(session, model, moved[key], source_id, target_id)
    moved["target"] = {}
    for name in _FILLED_FIELDS:
        if not getattr(target, name) and getattr(source, name):
            moved["target"][name] = getattr(target, name)
            setattr(target, name, getattr(source, name))
    source.merged_into_id = target.id
    record = ConstituentMerge(source_id=source_id, target_id=target_id, moved=moved, merged_by_id=merged_by_id)
    session.add(record)
    session.flush()
    session.expire_all()             # the bulk updates bypassed the identity map
    log.info("constituent %s merged into %s (merge %s)", source_id, target_id, record.id)
    return record


def _arrived_since(session: Session, target_id: int, point_ids: list[int], since: datetime) -> list[int]:
    """Interactions that reached the target after the merge through the source's own contact points."""
    if not point_ids:
        return []
    return list(session.execute(select(Interaction.id).where(
        Interaction.constituent_id == target_id, Interaction.contact_point_id.in_(point_ids),
        Interaction.created_at >= since)).scalars())


def _cases_opened_since(session: Session, target_id: int, source_id: int, since: datetime) -> list[int]:
    """Cases opened on the target after the merge that hold the source's interactions and none of the target's."""
    fresh = list(session.execute(select(Case.id).where(Case.constituent_id == target_id,
                                                       Case.created_at >= since)).scalars())
    if not fresh:
        return []

    def holding(constituent_id: int) -> set[int]:
        return set(session.execute(select(Interaction.case_id).where(
            Interaction.case_id.in_(fresh), Interaction.constituent_id == constituent_id)).scalars())

    return sorted(holding(source_id) - holding(target_id))


def undo(session: Session, merge_id: int, undone_by_id: int | None) -> ConstituentMerge:
    """Undo a merge: what moved goes back to the source, with what arrived since through its contact points.

    Raises MergeError when the merge is unknown, undone already, or the target was merged on since (undo
    that first). Fields the merge filled on the target are restored unless someone changed them since.
    Flushes; the caller audits and commits.
    """
    record = session.get(ConstituentMerge, merge_id, with_for_update=True)
    if record is None:
        raise MergeError("no such merge")
    if record.is_undone:
        raise MergeError("this merge was undone already")
    source, target = session.get(Constituent, record.source_id), session.get(Constituent, record.target_id)
    if source.merged_into_id != target.id or target.merged_into_id is not None:
        raise MergeError("the merged record was merged again since; undo that merge first")
    moved = record.moved
    points = moved.get("contact_points", [])
    _move(session, ContactPoint, points, target.id, source.id)
    interactions = sorted(set(moved.get("interactions", [])) |
                          set(_arrived_since(session, target.id, points, record.merged_at)))
    _move(session, Interaction, interactions, target.id, source.id)
    cases = sorted(set(moved.get("cases", [])) |
                   set(_cases_opened_since(session, target.id, source.id, record.merged_at)))
    _move(session, Case, cases, target.id, source.id)
    session.expire_all()
    source, target = session.get(Constituent, record.source_id), session.get(Constituent, record.target_id)
    for name, before in moved.get("target", {}).items():
        if getattr(target, name) == getattr(source, name):
            setattr(target, name, before)
    source.merged_into_id = None
    record.undone_at, record.undone_by_id = utcnow(), undone_by_id
    session.flush()
    log.info("merge %s undone: constituent %s split from %s", merge_id, source.id, target.id)
    return record


def merges_of(session: Session, constituent_id: int, limit: int = 20) -> list[ConstituentMerge]:
    """Merges into or out of a constituent, newest first (for the 360 view's history and its undo buttons)."""
    return list(session.execute(
        select(ConstituentMerge).where((ConstituentMerge.target_id == constituent_id)
                                       | (ConstituentMerge.source_id == constituent_id))
        .order_by(ConstituentMerge.merged_at.desc(), ConstituentMerge.id.desc()).limit(limit)).scalars())

"""Lists of cases for the console: filters, sort orders, keyset pages, capped counts and text search.

Every list goes through `caseworker.access.case_filter`, so a list, its partial and its count show only
cases the user may see. Pages are keyset pages (a cursor holds the sort values of a page's last or first
row, with the case id as the tie-breaker), so page 1,000 costs what page 1 costs.
"""
import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, literal, or_, select, union_all
from sqlalchemy.orm import joinedload

from caseworker.access import case_filter
from models import OPEN_STATUSES, Case, CaseStatus, Channel, Interaction, Priority, Session, SlaState, User
from routing import sla

SEARCH_MAX_WORDS = 5
SEARCH_ID_LIST_MAX = 1000        # a word in at most this many cases is searched as a list of their ids
SEARCH_SUBQUERY_MAX = 5000       # ... in at most this many, through its index; beyond, row by row


class BadCursor(ValueError):
    """A page cursor that this server did not make (edited, truncated, or from another sort order)."""


@dataclass(frozen=True)
class Sort:
    """An order of the list: columns with their directions; the case id always breaks ties last."""

    key: str
    label: str
    columns: tuple[tuple[str, bool], ...]     # (Case attribute, descending?)


SORTS = {s.key: s for s in (
    Sort("priority", "Most urgent, then most recently active", (("priority", True), ("last_activity_at", True),
                                                                  ("id", True))),
    Sort("waiting", "Most urgent, then longest waiting", (("priority", True), ("queued_at", False), ("id", False))),
    Sort("recent", "Most recently active", (("last_activity_at", True), ("id", True))),
    Sort("newest", "Newest first", (("created_at", True), ("id", True))),
    Sort("oldest", "Oldest first", (("created_at", False), ("id", False))),
)}
DATETIME_COLUMNS = {"last_activity_at", "queued_at", "created_at"}


@dataclass(frozen=True)
class CaseFilters:
    """What a list shows. Empty values mean "any"; `status` "open" means any open status, "all" any at all."""

    queue_id: int | None = None
    status: str = "open"
    channel: Channel | None = None
    priority: Priority | None = None
    language: str | None = None
    sla: SlaState | None = None
    assignee: str | None = None               # None: anyone; "me"; "none" (unassigned); or a user id as text
    text: str = ""
    sort: str = "priority"

    def as_args(self) -> dict[str, str]:
        """The filters as URL query arguments (only those that differ from "any")."""
        args = {"queue": self.queue_id, "status": self.status, "channel": self.channel,
                "priority": int(self.priority) if self.priority else None, "language": self.language,
                "sla": self.sla, "assignee": self.assignee, "q": self.text, "sort": self.sort}
        return {key: str(value) for key, value in args.items() if value not in (None, "")}


@dataclass
class Page:
    """One page of a list, with the cursors of its neighbours (None when there is none)."""

    cases: list[Case]
    next_cursor: str | None = None
    prev_cursor: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def sla_state(case: Case, now: datetime) -> SlaState | None:
    """The SLA state a list shows for a case: the case page's (`routing.sla.sla_state`), for open cases with
    a clock; None otherwise (nothing to show)."""
    if not case.is_open:
        return None
    state = sla.sla_state(case, now)
    return None if state in (SlaState.NONE, SlaState.MET) else state


def _is_open() -> ColumnElement[bool]:
    """The case is open, written as "not closed": most cases are open, so an index on status would only
    mislead a planner (SQLite picks it and sorts every open case) away from the list's ordered index."""
    return Case.status.not_in([status for status in CaseStatus if status not in OPEN_STATUSES])


def sla_clause(state: SlaState, now: datetime) -> ColumnElement[bool]:
    """A WHERE clause on Case: open cases in SLA `state` at `now` (the rule of `routing.sla`)."""
    return and_(_is_open(), sla.STATE_CLAUSES[state](now))


def like_pattern(word: str) -> str:
    """`%word%` for LIKE/ILIKE with `\\` as the escape character."""
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _word_clause(word: str) -> ColumnElement[bool]:
    """Cases with `word` in the subject or in a message, by the plan that suits how common the word is.

    Probes first how many cases have it (stopping at SEARCH_SUBQUERY_MAX): a rare word becomes a list of
    ids, a less rare one the UNION of both tables' matches (on PostgreSQL bitmap scans of the trigram
    GIN indexes of models/views.py, then joins by primary key); a common word is checked row by row
    while the list is read in its order, which finds a page quickly precisely because matches are dense.
    """
    pattern = like_pattern(word)
    in_subject = Case.subject.ilike(pattern, escape="\\")
    in_body = Interaction.body_text.ilike(pattern, escape="\\")
    # UNION ALL: the probe can stop at its limit (a UNION would first collect every match to drop
    # duplicates); a case matching twice only counts twice towards the choice of plan.
    matching = union_all(select(Case.id).where(in_subject), select(Interaction.case_id).where(in_body))
    probe = select(matching.subquery().c[0]).limit(SEARCH_SUBQUERY_MAX + 1)
    ids = set(Session.execute(probe).scalars())
    if len(ids) <= SEARCH_ID_LIST_MAX:
        return Case.id.in_(sorted(ids))
    if len(ids) <= SEARCH_SUBQUERY_MAX:
        return Case.id.in_(matching)
    # A scalar subquery, not EXISTS: PostgreSQL may turn an EXISTS into a hashed subplan that collects
    # every match first, which for a common word is exactly the work this plan avoids.
    first_match = (select(literal(1)).where(Interaction.case_id == Case.id, in_body).limit(1)
                   .correlate(Case).scalar_subquery())
    return or_(in_subject, first_match.is_not(None))


def search_clause(text: str) -> ColumnElement[bool] | None:
    """A WHERE clause on Case: every word of `text` is in the subject or in one of the case's messages
    (case-insensitive substring match, ILIKE). Reads (one probe per word). None when `text` has no words."""
    clauses = [_word_clause(word) for word in text.split()[:SEARCH_MAX_WORDS]]
    return and_(*clauses) if clauses else None


def filter_clauses(user: User, filters: CaseFilters, *, now: datetime) -> list[ColumnElement]:
    """The WHERE clauses of a list: what `user` may see, narrowed by `filters`. Reads (text search probes)."""
    clauses: list[ColumnElement] = [case_filter(user)]
    if filters.queue_id is not None:
        clauses.append(Case.queue_id == filters.queue_id)
    if filters.status == "open":
        clauses.append(_is_open())
    elif filters.status != "all":
        clauses.append(Case.status == CaseStatus(filters.status))
    if filters.channel is not None:
        clauses.append(Case.channel == filters.channel)
    if filters.priority is not None:
        clauses.append(Case.priority == filters.priority)
    if filters.language:
        clauses.append(Case.language == filters.language)
    if filters.sla is not None:
        clauses.append(sla_clause(filters.sla, now))
    if filters.assignee == "me":
        clauses.append(Case.assignee_id == user.id)
    elif filters.assignee == "none":
        clauses.append(Case.assignee_id.is_(None))
    elif filters.assignee:
        clauses.append(Case.assignee_id == int(filters.assignee))
    if (found := search_clause(filters.text)) is not None:
        clauses.append(found)
    return clauses


# ---- keyset pages -----------------------------------------------------------------------------------------


def encode_cursor(sort: Sort, case: Case) -> str:
    """The cursor just past `case` in `sort` order: its sort values, URL-safe."""
    values = []
    for name, _desc in sort.columns:
        value = getattr(case, name)
        values.append(value.isoformat() if isinstance(value, datetime) else int(value))
    raw = json.dumps([sort.key, values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(sort: Sort, cursor: str) -> list[Any]:
    """The sort values in `cursor`. Raises BadCursor when it is not one of ours for this sort."""
    try:
        key, values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if key != sort.key or len(values) != len(sort.columns):
            raise BadCursor(cursor)
        return [datetime.fromisoformat(v) if name in DATETIME_COLUMNS else int(v)
                for (name, _desc), v in zip(sort.columns, values, strict=True)]
    except (binascii.Error, UnicodeDecodeError, json.JSONDecodeError, TypeError, ValueError) as error:
        raise BadCursor(cursor) from error


def _beyond(sort: Sort, values: list[Any], backwards: bool) -> ColumnElement[bool]:
    """Rows strictly after `values` in `sort` order (before them when `backwards`).

    Written out as (a beyond x) OR (a = x AND b beyond y) OR ..., which works for mixed directions on both
    engines; the first column's bound is repeated on its own so that an index range can use it.
    """
    def beyond(name: str, desc: bool, value: Any) -> ColumnElement[bool]:
        column = getattr(Case, name)
        return column < value if desc != backwards else column > value

    alternatives = []
    for i, (name, desc) in enumerate(sort.columns):
        equal = [getattr(Case, n) == v for (n, _d), v in zip(sort.columns[:i], values[:i], strict=True)]
        alternatives.append(and_(*equal, beyond(name, desc, values[i])))
    first_name, first_desc = sort.columns[0]
    first = getattr(Case, first_name)
    bound = first <= values[0] if first_desc != backwards else first >= values[0]
    return and_(bound, or_(*alternatives))


def _order_by(sort: Sort, backwards: bool) -> list:
    return [getattr(Case, name).desc() if desc != backwards else getattr(Case, name).asc()
            for name, desc in sort.columns]


def fetch_page(where: list[ColumnElement], sort_key: str, *, size: int, after: str | None = None,
               before: str | None = None) -> Page:
    """One page of the cases matching `where` (from `filter_clauses`) in `sort_key` order: the first page,
    or the one after the cursor `after`, or the one before the cursor `before`. Reads only. Raises BadCursor."""
    sort = SORTS[sort_key]
    backwards = before is not None
    query: Select = (select(Case).where(*where)
                     .options(joinedload(Case.constituent), joinedload(Case.queue), joinedload(Case.assignee))
                     .order_by(*_order_by(sort, backwards)).limit(size + 1))
    cursor = before if backwards else after
    if cursor:
        query = query.where(_beyond(sort, decode_cursor(sort, cursor), backwards))
    cases = list(Session.execute(query).unique().scalars())
    more = len(cases) > size
    cases = cases[:size]
    if backwards:
        cases.reverse()
    page = Page(cases)
    if cases:
        has_next = (not backwards and more) or backwards
        has_prev = (backwards and more) or (not backwards and bool(after))
        page.next_cursor = encode_cursor(sort, cases[-1]) if has_next else None
        page.prev_cursor = encode_cursor(sort, cases[0]) if has_prev else None
    return page


def count(where: list[ColumnElement], *, cap: int) -> int:
    """How many cases match `where`, counting no further than `cap` + 1 (so a count is never slower than
    reading that many index entries). Reads only."""
    capped = select(Case.id).where(*where).limit(cap + 1).subquery()
    return Session.execute(select(func.count()).select_from(capped)).scalar_one()


def format_count(n: int, cap: int) -> str:
    """A count for people: "1,000+" past the cap."""
    return f"{cap:,}+" if n > cap else f"{n:,}"

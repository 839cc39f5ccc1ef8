"""Retention (issue 8): cases closed longer ago than their category's period lose their personal data.

A case expires `retention_days` (its category's, else the configured default; None: never) after it was closed
or resolved, unless it is on legal hold. The job then, by default, anonymises it: message texts, subjects,
chat transcripts, call notes and Open311 details are replaced, personal fields of `meta` dropped, its files
deleted from disk (the attachment rows stay, marked purged, with size and sha256 as the record), the raw
payloads it came from emptied, survey comments cleared. The case keeps its skeleton (reference, category,
queue, channel, status, dates, SLA figures) so reports stay right. Its constituent is anonymised too once
none of their cases is still retained: contact points removed, name and notes cleared. In "delete" mode the
case goes whole (its rows cascade), and so does a constituent nobody refers to any more.

A run works in batches (`batch_size` cases per transaction). On PostgreSQL the batch's rows are locked with
SKIP LOCKED, so two runs at once share the work; on SQLite each transaction is the one writer. A file is
deleted after its batch commits, and only when no kept attachment still names it (files are stored once per
content). Every run is a RetentionRun row; every case and constituent it touched gets an AuditEvent with the
reason "retention". Logs carry ids and counts only. Idempotent: what is done is not found again, unless a
new contact reopened the case since (it is then anonymised again when it expires again).
"""
import enum
import logging
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from redis import Redis
from rq import Queue, Retry, get_current_job
from rq.job import Job
from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from channels import storage
from channels.settings import current as channel_settings
from models import (
    Attachment,
    AuditAction,
    AuditEvent,
    Case,
    CaseStatus,
    Category,
    Constituent,
    ConstituentMerge,
    ContactPoint,
    InboundRaw,
    InboundStatus,
    Interaction,
    InteractionKind,
    RetentionMode,
    RetentionRun,
    SurveyResponse,
    reading,
    transaction,
    utcnow,
)

log = logging.getLogger(__name__)

REASON = "retention"
REMOVED = "[removed under the retention policy]"
CLOSED_STATUSES = (CaseStatus.RESOLVED, CaseStatus.CLOSED)
# Interactions the system writes about the case itself (status, priority, category, assignment): no personal data.
SYSTEM_KINDS = (InteractionKind.STATUS_CHANGE, InteractionKind.ASSIGNMENT)
# `meta` keys that describe the interaction, not the person: everything else (addresses, phones, names,
# descriptions, locations, device and account ids, mail headers) is dropped.
KEPT_META = frozenset({"state", "outcome", "duration_seconds", "withheld", "manual", "chat", "chat_id",
                       "csat_survey_id", "auto_submitted", "api_key_id", "mentions", "change"})
RETENTION_QUEUE = "default"
JOB_TIMEOUT = 6 * 3600
_RETRY = Retry(max=2, interval=[300, 1800])


class LegalHoldError(Exception):
    """A legal hold that cannot be placed or released as asked; the message says why, for the person."""


# ---- settings ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetentionSettings:
    """Set once by the composition root (create_app): channels/ does not read Flask's config.

    `default_days`: the period of cases whose category has none (None: kept for ever). `run_hour`: the UTC
    hour of the daily run that `flask worker` schedules (None: no schedule; `flask retention run` still works).
    """

    default_days: int | None = None
    mode: RetentionMode = RetentionMode.ANONYMISE
    batch_size: int = 200
    run_hour: int | None = 3

    def __post_init__(self) -> None:
        if self.default_days is not None and self.default_days < 0:
            raise ValueError("the default retention period cannot be negative")
        if self.batch_size < 1:
            raise ValueError("the retention batch size must be at least 1")
        if self.run_hour is not None and not 0 <= self.run_hour <= 23:
            raise ValueError("the retention run hour is an hour of the day, 0 to 23 (UTC)")


_current = RetentionSettings()


def configure(settings: RetentionSettings) -> None:
    """Install the settings for this process."""
    global _current
    _current = settings


def current() -> RetentionSettings:
    """The settings in force in this process."""
    return _current


def parse_days(value: object) -> int | None:
    """A retention period from configuration: a whole number of days, or None / "" / "never" for no period.
    Raises ValueError for anything else."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "never", "none")):
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"a retention period is a number of days or 'never', not {value!r}")
    days = int(value)
    if days < 0:
        raise ValueError("a retention period cannot be negative")
    return days


# ---- which cases expire -------------------------------------------------------------------------------


def closed_at() -> ColumnElement[datetime]:
    """When a case stopped being worked on: closed, else resolved, else its last activity (old imports)."""
    return func.coalesce(Case.closed_at, Case.resolved_at, Case.last_activity_at)


def anonymised_now() -> ColumnElement[bool]:
    """The case was anonymised and nothing arrived on it since (a new contact would reopen it): SQL of
    `Case.is_anonymised`."""
    return and_(Case.anonymised_at.is_not(None), Case.anonymised_at >= Case.last_activity_at)


@dataclass(frozen=True)
class Policy:
    """The periods in force for one run: category id -> days, and the default (None: never)."""

    now: datetime
    periods: dict[int, int]
    default_days: int | None

    @classmethod
    def load(cls, session: Session, now: datetime, default_days: int | None) -> "Policy":
        rows = session.execute(select(Category.id, Category.retention_days)
                               .where(Category.retention_days.is_not(None))).all()
        return cls(now, {cid: days for cid, days in rows}, default_days)

    def days_for(self, category_id: int | None) -> int | None:
        """The period of a case of `category_id`: its category's, else the default."""
        if category_id is not None and category_id in self.periods:
            return self.periods[category_id]
        return self.default_days

    def expired(self) -> ColumnElement[bool] | None:
        """A WHERE clause on Case: closed longer ago than its period, not on hold, not anonymised already.
        None when no period applies to anything (nothing can expire)."""
        by_days: dict[int, list[int]] = defaultdict(list)
        for category_id, days in self.periods.items():
            by_days[days].append(category_id)
        ended = closed_at()
        periods = [and_(Case.category_id.in_(ids), ended <= self.now - timedelta(days=days))
                   for days, ids in sorted(by_days.items())]
        if self.default_days is not None:
            no_period = or_(Case.category_id.is_(None), Case.category_id.not_in(list(self.periods)))
            periods.append(and_(no_period, ended <= self.now - timedelta(days=self.default_days)))
        if not periods:
            return None
        return and_(Case.status.in_(CLOSED_STATUSES), Case.legal_hold.is_(False),
                    ~anonymised_now(), or_(*periods))


def expires_at(case: Case, policy: Policy) -> datetime | None:
    """When `case` expires under `policy`: None while it is open or when no period applies to it."""
    days = policy.days_for(case.category_id)
    if days is None or case.status not in CLOSED_STATUSES:
        return None
    ended = case.closed_at or case.resolved_at or case.last_activity_at
    return ended + timedelta(days=days)


def due_case_ids(session: Session, policy: Policy, *, after_id: int = 0, limit: int | None = None,
                 lock: bool = False) -> list[int]:
    """Ids of expired cases above `after_id`, in id order. `lock`: lock them, skipping rows another run
    holds (PostgreSQL; SQLite's one writer needs no row locks)."""
    expired = policy.expired()
    if expired is None:
        return []
    query = select(Case.id).where(expired, Case.id > after_id).order_by(Case.id)
    if limit is not None:
        query = query.limit(limit)
    if lock:
        query = query.with_for_update(skip_locked=True)
    return list(session.execute(query).scalars())


# ---- what one run does --------------------------------------------------------------------------------


@dataclass
class Tally:
    """What a run did (or, dry, would do). Counts and ids only."""

    mode: str = RetentionMode.ANONYMISE.value
    cases_anonymised: int = 0
    cases_deleted: int = 0
    constituents_anonymised: int = 0
    constituents_deleted: int = 0
    attachments_deleted: int = 0
    files_deleted: int = 0
    bytes_freed: int = 0
    raw_purged: int = 0
    errors: list[dict] = field(default_factory=list)

    def write_to(self, run: RetentionRun) -> None:
        """Copy the counts onto the run's row (the caller's transaction saves it)."""
        for name in ("cases_anonymised", "cases_deleted", "constituents_anonymised", "constituents_deleted",
                     "attachments_deleted", "files_deleted", "bytes_freed", "raw_purged"):
            setattr(run, name, getattr(self, name))
        run.errors, run.error_count = list(self.errors), len(self.errors)


def _audit(session: Session, action: AuditAction, object_type: str, object_id: int, constituent_id: int | None,
           run_id: int | None, **detail) -> None:
    session.add(AuditEvent(action=action, object_type=object_type, object_id=str(object_id),
                           constituent_id=constituent_id, detail={"reason": REASON, "run_id": run_id, **detail}))


def _scrub(interaction: Interaction) -> None:
    if interaction.kind in SYSTEM_KINDS:
        return
    interaction.subject, interaction.body_html, interaction.external_id = "", None, None
    interaction.body_text = REMOVED if interaction.body_text else ""
    interaction.meta = {k: v for k, v in (interaction.meta or {}).items() if k in KEPT_META}


def _raw_ids(session: Session, case_id: int) -> list[int]:
    via_interactions = select(Interaction.inbound_raw_id).where(Interaction.case_id == case_id,
                                                                Interaction.inbound_raw_id.is_not(None))
    return list(session.execute(select(InboundRaw.id).where(
        or_(InboundRaw.case_id == case_id, InboundRaw.id.in_(via_interactions)), InboundRaw.purged_at.is_(None))
        .order_by(InboundRaw.id)).scalars())


def purge_raws(session: Session, raw_ids: list[int], now: datetime) -> None:
    """Empty raw payloads (the row stays: its key still turns away a redelivery). Flushes."""
    if raw_ids:
        session.execute(update(InboundRaw).where(InboundRaw.id.in_(raw_ids)).values(
            payload=b"", error=None, message_id=None, purged_at=now).execution_options(synchronize_session=False))


def _live_attachments(session: Session, case_id: int) -> list[Attachment]:
    return list(session.execute(select(Attachment).join(Interaction).where(
        Interaction.case_id == case_id, Attachment.purged_at.is_(None)).order_by(Attachment.id)).scalars())


def anonymise_case(session: Session, case: Case, now: datetime) -> tuple[dict[str, int], int, int]:
    """Remove the personal data of `case` and keep its skeleton. Returns (files to check: sha256 -> size,
    attachments purged, raw payloads purged); the files themselves go after commit (`delete_files`).
    Idempotent. Flushes."""
    for interaction in session.execute(select(Interaction).where(Interaction.case_id == case.id)).scalars():
        _scrub(interaction)
    files = _live_attachments(session, case.id)
    for attachment in files:
        attachment.filename, attachment.content_id, attachment.purged_at = "", None, now
    raws = _raw_ids(session, case.id)
    purge_raws(session, raws, now)
    session.execute(update(SurveyResponse).where(SurveyResponse.case_id == case.id).values(comment=None)
                    .execution_options(synchronize_session=False))
    case.subject, case.status_secret_hash = "", None
    case.address = case.postcode = case.latitude = case.longitude = None
    case.anonymised_at = now
    session.flush()
    return {a.sha256: a.size for a in files}, len(files), len(raws)


def delete_case(session: Session, case: Case) -> tuple[dict[str, int], int, int]:
    """Delete `case` with everything on it (the database cascades) and the raw payloads it came from.
    Returns what `anonymise_case` returns. Flushes."""
    files = _live_attachments(session, case.id)
    found = {a.sha256: a.size for a in files}
    raws = _raw_ids(session, case.id)
    case_id = case.id
    session.expunge(case)
    session.execute(delete(Case).where(Case.id == case_id).execution_options(synchronize_session=False))
    if raws:
        session.execute(delete(InboundRaw).where(InboundRaw.id.in_(raws)).execution_options(synchronize_session=False))
    session.expire_all()
    return found, len(files), len(raws)


def _merge_group(session: Session, constituent_id: int) -> list[int]:
    """The constituent and every record merged into it (their cases moved to it, their names stayed)."""
    group, frontier = [constituent_id], [constituent_id]
    while frontier:
        frontier = list(session.execute(select(Constituent.id).where(Constituent.merged_into_id.in_(frontier))).scalars())
        group += [cid for cid in frontier if cid not in group]
    return group


def _has_kept_case(session: Session, group: list[int], done: set[int] = frozenset()) -> bool:
    """Whether any case of the group still holds personal data (open, within its period, on hold, or
    expired but not done yet); `done`: cases counted as done already (a preview's)."""
    query = select(Case.id).where(Case.constituent_id.in_(group), ~anonymised_now())
    if done:
        query = query.where(Case.id.not_in(done))
    return session.execute(query.limit(1)).first() is not None


def settled_candidates(session: Session, limit: int) -> list[int]:
    """Constituents whose every case is anonymised but who still hold personal data: what the last run left
    (two runs finishing one person's cases at once each leave the person to the other)."""
    kept = select(Case.id).where(Case.constituent_id == Constituent.id, ~anonymised_now())
    done = select(Case.id).where(Case.constituent_id == Constituent.id, anonymised_now())
    points = select(ContactPoint.id).where(ContactPoint.constituent_id == Constituent.id)
    return list(session.execute(select(Constituent.id).where(
        Constituent.merged_into_id.is_(None), done.exists(), ~kept.exists(),
        or_(Constituent.anonymised_at.is_(None), points.exists())).order_by(Constituent.id).limit(limit)).scalars())


def _is_referenced(session: Session, constituent_id: int) -> bool:
    checks = (select(Case.id).where(Case.constituent_id == constituent_id),
              select(Interaction.id).where(Interaction.constituent_id == constituent_id),
              select(Constituent.id).where(Constituent.merged_into_id == constituent_id),
              select(ConstituentMerge.id).where(or_(ConstituentMerge.source_id == constituent_id,
                                                    ConstituentMerge.target_id == constituent_id)))
    return any(session.execute(check.limit(1)).first() is not None for check in checks)


def _detach_points(session: Session, constituent_id: int) -> None:
    """Interactions keep no link to contact points that are about to go."""
    points = select(ContactPoint.id).where(ContactPoint.constituent_id == constituent_id)
    session.execute(update(Interaction).where(Interaction.contact_point_id.in_(points))
                    .values(contact_point_id=None).execution_options(synchronize_session=False))


def anonymise_constituent(session: Session, constituent: Constituent, now: datetime) -> bool:
    """Remove a constituent's contact points, name, notes and postcode (district and language stay, for
    reports). Returns False when there was nothing left to remove. Flushes."""
    has_points = session.execute(select(ContactPoint.id).where(ContactPoint.constituent_id == constituent.id)
                                 .limit(1)).first() is not None
    if constituent.anonymised_at is not None and not has_points and not constituent.display_name:
        return False
    _detach_points(session, constituent.id)
    session.execute(delete(ContactPoint).where(ContactPoint.constituent_id == constituent.id)
                    .execution_options(synchronize_session=False))
    for merge in session.execute(select(ConstituentMerge).where(ConstituentMerge.target_id == constituent.id)).scalars():
        merge.moved = {**merge.moved, "target": {}}      # the values the merge replaced on the target
    constituent.display_name, constituent.notes, constituent.postcode = "", "", None
    constituent.anonymised_at = now
    session.flush()
    session.expire(constituent, ["contact_points"])
    return True


def settle_constituents(session: Session, constituent_ids: list[int], mode: RetentionMode, tally: Tally,
                        run_id: int | None, now: datetime) -> None:
    """Anonymise (or delete, in delete mode, when nothing refers to them) each constituent with no case left
    that holds personal data. Audits each; a failure is recorded and skipped. Flushes."""
    for constituent_id in constituent_ids:
        try:
            with session.begin_nested():
                deleted, anonymised = _settle(session, constituent_id, mode, run_id, now)
        except Exception as exc:  # noqa: BLE001  (recorded; the cases stay anonymised, the next run retries)
            session.expire_all()
            _error(tally, "constituent_id", constituent_id, exc)
            continue
        tally.constituents_deleted += deleted
        tally.constituents_anonymised += anonymised


def _settle(session: Session, constituent_id: int, mode: RetentionMode, run_id: int | None,
            now: datetime) -> tuple[int, int]:
    # Two runs may settle one person at once: the one that locks the row does it.
    locked = session.execute(select(Constituent.id).where(Constituent.id == constituent_id)
                             .with_for_update(skip_locked=True)).scalar_one_or_none()
    if locked is None:
        return 0, 0
    group = _merge_group(session, constituent_id)
    if _has_kept_case(session, group):
        return 0, 0
    deleted = anonymised = 0
    for member_id in group:
        constituent = session.get(Constituent, member_id, populate_existing=True)
        if mode is RetentionMode.DELETE and not _is_referenced(session, member_id):
            _detach_points(session, member_id)
            session.delete(constituent)
            session.flush()
            deleted += 1
            _audit(session, AuditAction.DELETE, "constituent", member_id, None, run_id)
        elif anonymise_constituent(session, constituent, now):
            anonymised += 1
            _audit(session, AuditAction.UPDATE, "constituent", member_id, member_id, run_id, change="anonymised")
    return deleted, anonymised


def _process_case(session: Session, case_id: int, policy: Policy, mode: RetentionMode,
                  run_id: int | None) -> tuple[dict[str, int], int | None, int, int]:
    case = session.get(Case, case_id)
    reference, constituent_id = case.reference, case.constituent_id
    if mode is RetentionMode.DELETE:
        files, attachments, raws = delete_case(session, case)
        _audit(session, AuditAction.DELETE, "case", case_id, constituent_id, run_id, reference=reference,
               attachments=attachments)
    else:
        files, attachments, raws = anonymise_case(session, case, policy.now)
        _audit(session, AuditAction.UPDATE, "case", case_id, constituent_id, run_id, change="anonymised",
               attachments=attachments)
    return files, constituent_id, attachments, raws


def _error(tally: Tally, key: str, object_id: int, exc: BaseException) -> None:
    # The class name only: a database error's text can carry the values it was given (personal data).
    tally.errors.append({key: object_id, "error": type(exc).__name__})
    log.error("retention: %s %s left as it was (%s)", key, object_id, type(exc).__name__)


def run_batch(session: Session, policy: Policy, mode: RetentionMode, tally: Tally, run_id: int | None, *,
              after_id: int, limit: int) -> tuple[list[int], dict[str, int], set[int]]:
    """Process up to `limit` expired cases above `after_id`, each in a savepoint (a failure is recorded and
    skipped). Returns (case ids taken, files to check after commit, their constituents). Flushes."""
    ids = due_case_ids(session, policy, after_id=after_id, limit=limit, lock=True)
    files: dict[str, int] = {}
    constituents: set[int] = set()
    for case_id in ids:
        try:
            with session.begin_nested():
                found, constituent_id, attachments, raws = _process_case(session, case_id, policy, mode, run_id)
        except Exception as exc:  # noqa: BLE001  (one bad case must not stop the others; it is recorded)
            session.expire_all()
            _error(tally, "case_id", case_id, exc)
            continue
        if mode is RetentionMode.DELETE:
            tally.cases_deleted += 1
        else:
            tally.cases_anonymised += 1
        tally.attachments_deleted += attachments
        tally.raw_purged += raws
        files |= found
        if constituent_id is not None:
            constituents.add(constituent_id)
    return ids, files, constituents


def delete_files(files: dict[str, int]) -> tuple[int, int]:
    """Delete from disk the files whose every attachment row is purged or gone. Call after commit.
    Returns (files deleted, bytes freed). A file another kept attachment still names stays."""
    if not files:
        return 0, 0
    with reading() as session:
        kept = set(session.execute(select(Attachment.sha256).where(
            Attachment.sha256.in_(list(files)), Attachment.purged_at.is_(None))).scalars())
    root = channel_settings().attachment_dir
    count = freed = 0
    for sha256 in sorted(set(files) - kept):
        path = storage.path_for(root, sha256)
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            continue
        count, freed = count + 1, freed + size
    return count, freed


def _start(mode: RetentionMode, trigger: str, now: datetime) -> int:
    with transaction() as session:
        run = RetentionRun(mode=mode, trigger=trigger[:32], started_at=now)
        session.add(run)
        session.flush()
        return run.id


def _save(run_id: int, tally: Tally, finished: bool = False) -> None:
    with transaction() as session:
        run = session.get(RetentionRun, run_id)
        tally.write_to(run)
        if finished:
            run.finished_at = utcnow()


def run(*, trigger: str = "schedule", now: datetime | None = None, settings: RetentionSettings | None = None,
        dry_run: bool = False) -> dict:
    """Apply the retention policy to every expired case, in batches (one transaction each). Records a
    RetentionRun (unless `dry_run`) and an AuditEvent per case and constituent. Commits. Idempotent.
    `dry_run`: change nothing and say what would go. Returns the summary (counts, and the run id)."""
    settings = settings or current()
    now = now or utcnow()
    if dry_run:
        return preview(now, settings)
    tally = Tally(mode=settings.mode.value)
    run_id = _start(settings.mode, trigger, now)
    try:
        touched = _run_cases(settings, now, tally, run_id)
        _run_constituents(settings, now, touched, tally, run_id)
        _run_strays(settings, now, tally, run_id)
    finally:
        _save(run_id, tally, finished=True)
    summary = {"run_id": run_id, "dry_run": False, **asdict(tally)}
    log.info("retention run %s: %s cases anonymised, %s deleted, %s constituents anonymised, %s deleted, "
             "%s files (%s bytes) deleted, %s errors", run_id, tally.cases_anonymised, tally.cases_deleted,
             tally.constituents_anonymised, tally.constituents_deleted, tally.files_deleted, tally.bytes_freed,
             len(tally.errors))
    return summary


def _run_cases(settings: RetentionSettings, now: datetime, tally: Tally, run_id: int) -> set[int]:
    """The cases, batch by batch, each batch one transaction; then their files. Returns their constituents."""
    after_id, touched = 0, set()
    while True:
        with transaction() as session:
            policy = Policy.load(session, now, settings.default_days)
            ids, files, constituents = run_batch(session, policy, settings.mode, tally, run_id, after_id=after_id,
                                                 limit=settings.batch_size)
            tally.write_to(session.get(RetentionRun, run_id))
        if not ids:
            return touched
        after_id, touched = ids[-1], touched | constituents
        deleted, freed = delete_files(files)
        tally.files_deleted += deleted
        tally.bytes_freed += freed
        _save(run_id, tally)


def _run_constituents(settings: RetentionSettings, now: datetime, touched: set[int], tally: Tally, run_id: int) -> None:
    """Then the people: those of this run's cases, and any an earlier run left with no case holding data.
    Separate from the cases, so that no transaction locks a case and a person's rows both."""
    with reading() as session:
        pending = sorted(touched | set(settled_candidates(session, limit=100_000)))
    for start in range(0, len(pending), settings.batch_size):
        with transaction() as session:
            settle_constituents(session, pending[start:start + settings.batch_size], settings.mode, tally, run_id, now)
            tally.write_to(session.get(RetentionRun, run_id))


def stray_raw_ids(session: Session, now: datetime, default_days: int | None, limit: int | None = None) -> list[int]:
    """Raw payloads that never became part of a case (auto-replies, bounces, items that failed) and were
    received longer ago than the default period: they hold personal data too. None: no default, kept."""
    if default_days is None:
        return []
    on_a_case = select(Interaction.id).where(Interaction.inbound_raw_id == InboundRaw.id)
    query = (select(InboundRaw.id).where(
        InboundRaw.case_id.is_(None), InboundRaw.purged_at.is_(None), ~on_a_case.exists(),
        InboundRaw.status.in_((InboundStatus.IGNORED, InboundStatus.FAILED)),
        InboundRaw.received_at <= now - timedelta(days=default_days)).order_by(InboundRaw.id))
    return list(session.execute(query if limit is None else query.limit(limit)).scalars())


def _run_strays(settings: RetentionSettings, now: datetime, tally: Tally, run_id: int) -> None:
    """Last, the raw payloads no case holds, past the default period: emptied like a case's."""
    while True:
        with transaction() as session:
            ids = stray_raw_ids(session, now, settings.default_days, limit=settings.batch_size)
            if ids:
                purge_raws(session, ids, now)
                _audit(session, AuditAction.UPDATE, "inbound_raw", ids[0], None, run_id, change="purged", ids=ids)
                tally.raw_purged += len(ids)
            tally.write_to(session.get(RetentionRun, run_id))
        if len(ids) < settings.batch_size:
            return


def preview(now: datetime, settings: RetentionSettings) -> dict:
    """What a run at `now` would do, without changing anything: the cases (ids and references, which
    carry no personal data), their attachments and bytes, and how many constituents would follow."""
    with reading() as session:
        policy = Policy.load(session, now, settings.default_days)
        ids = due_case_ids(session, policy)
        references, attachments, size, constituents = [], 0, 0, set()
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            rows = session.execute(select(Case.reference, Case.constituent_id).where(Case.id.in_(chunk))).all()
            references += [r for r, _ in rows]
            constituents |= {c for _, c in rows if c is not None}
            count, total = session.execute(select(func.count(Attachment.id), func.coalesce(func.sum(Attachment.size), 0))
                                           .join(Interaction).where(Interaction.case_id.in_(chunk),
                                                                    Attachment.purged_at.is_(None))).one()
            attachments, size = attachments + count, size + int(total)
        done = set(ids)
        following = sum(1 for cid in constituents if not _has_kept_case(session, _merge_group(session, cid), done))
        strays = len(stray_raw_ids(session, now, settings.default_days))
    return {"run_id": None, "dry_run": True, "mode": settings.mode.value, "cases": len(ids),
            "case_ids": ids, "references": sorted(references), "attachments": attachments,
            "attachment_bytes": size, "constituents": following, "stray_raw": strays}


# ---- legal hold -----------------------------------------------------------------------------------------


def set_legal_hold(session: Session, case_id: int, *, on: bool, reason: str, by_user_id: int | None) -> Case | None:
    """Place (`on`) or release the legal hold of a case, with the reason. None when there is no such case.
    Raises LegalHoldError for an empty reason, a hold already in the asked state, or a hold on a case whose
    personal data retention removed already. Locks the case row (a running retention batch finishes first).
    Flushes; the caller audits and commits."""
    reason = (reason or "").strip()
    if not reason:
        raise LegalHoldError("Give the reason for the legal hold (a matter, an order, a request).")
    case = session.get(Case, case_id, with_for_update=True, populate_existing=True)
    if case is None:
        return None
    if case.legal_hold is on:
        raise LegalHoldError("This case is on legal hold already." if on else "This case is not on legal hold.")
    if on and case.is_anonymised:
        raise LegalHoldError("Retention removed this case's personal data already; a hold cannot bring it back.")
    case.legal_hold = on
    case.legal_hold_reason = reason[:500] if on else None
    case.legal_hold_by_id = by_user_id if on else None
    case.legal_hold_at = utcnow() if on else None
    session.flush()
    log.info("case %s legal hold %s by user %s", case_id, "placed" if on else "released", by_user_id)
    return case


def set_retention_days(session: Session, category_id: int, days: int | None) -> Category | None:
    """Set a category's retention period (None: the default applies). None when there is no such category.
    Raises ValueError for a negative period. Flushes; the caller audits and commits."""
    if days is not None and days < 0:
        raise ValueError("a retention period cannot be negative")
    category = session.get(Category, category_id)
    if category is None:
        return None
    category.retention_days = days
    session.flush()
    return category


# ---- the daily job ----------------------------------------------------------------------------------------


class Trigger(enum.StrEnum):
    SCHEDULE = "schedule"
    CLI = "cli"
    ADMIN = "admin"


def next_run_at(now: datetime, hour: int) -> datetime:
    """The next daily run: `hour` UTC today, or tomorrow when that is less than an hour away (a run that
    fires a little early must not schedule itself again under its own id)."""
    at = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    return at if at > now + timedelta(hours=1) else at + timedelta(days=1)


def schedule_retention(redis: Redis, now: datetime | None = None) -> Job | None:
    """Schedule the next daily run (RQ scheduled job, fired by `flask worker`'s scheduler). Several workers
    starting schedule one job: its id names the hour. None when no run hour is configured."""
    hour = current().run_hour
    if hour is None:
        return None
    at = next_run_at(now or utcnow(), hour)
    return Queue(RETENTION_QUEUE, connection=redis).enqueue_at(
        at, run_retention, job_id=f"retention-{at:%Y%m%d%H}", job_timeout=JOB_TIMEOUT, retry=_RETRY)


def request_run(redis: Redis, trigger: str = Trigger.ADMIN) -> Job:
    """Enqueue one run now (an admin's "run now"). Call after commit."""
    return Queue(RETENTION_QUEUE, connection=redis).enqueue(run_once, trigger, job_timeout=JOB_TIMEOUT, retry=_RETRY)


def run_once(trigger: str = Trigger.ADMIN) -> dict:
    """One run as a job. Idempotent."""
    return run(trigger=trigger)


def run_retention() -> dict:
    """The daily run as a job; schedules the next day's whatever happens. Idempotent."""
    try:
        return run(trigger=Trigger.SCHEDULE)
    finally:
        schedule_retention(get_current_job().connection)

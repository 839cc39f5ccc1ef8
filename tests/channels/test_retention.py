"""channels.retention: which cases expire, what anonymising removes and keeps, legal hold, constituents,
files on disk, raw payloads, idempotency, dry run, delete mode, the schedule and the CLI."""
import json
import re
from datetime import datetime, timedelta, timezone

import pytest
from rq import Queue
from sqlalchemy import func, select

from caseworker import create_app
from channels import retention, storage
from channels.settings import current as channel_settings
from models import (
    Attachment,
    AuditAction,
    AuditEvent,
    Case,
    CaseStatus,
    Channel,
    Constituent,
    ContactPoint,
    Direction,
    InboundRaw,
    InboundStatus,
    Interaction,
    InteractionKind,
    RetentionMode,
    RetentionRun,
    SurveyResponse,
)
from tests.conftest import app_config, see_commits
from tests.factories import make_case, make_category, make_queue

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
PHOTO = b"\xff\xd8\xff\xe0 a photo of the pothole outside number 12" + b"\x00" * 1000


@pytest.fixture
def app(database_url, redis_url, redis, tmp_path):
    """The app with attachments in the test's own folder (files are really deleted here)."""
    return create_app(app_config(database_url, redis_url, ATTACHMENT_DIR=str(tmp_path / "files")))


@pytest.fixture
def settings():
    before = retention.current()
    retention.configure(retention.RetentionSettings(default_days=90, batch_size=2))
    yield retention.current()
    retention.configure(before)


@pytest.fixture
def centre(db_session):
    queue = make_queue(db_session)
    short, unset = make_category(db_session, queue), make_category(db_session, queue)
    short.retention_days = 30
    db_session.flush()
    return short, unset


def closed(session, days_ago: float, *, category=None, status=CaseStatus.CLOSED, **kw) -> Case:
    at = NOW - timedelta(days=days_ago)
    return make_case(session, category=category, status=status, resolved_at=at, last_activity_at=at,
                     closed_at=at if status is CaseStatus.CLOSED else None, **kw)


def run(**kw) -> dict:
    return retention.run(now=NOW, trigger="test", **kw)


def test_a_case_expires_after_its_categorys_period_else_after_the_default(db_session, centre):
    short, unset = centre
    due = [closed(db_session, 31, category=short), closed(db_session, 91, category=unset), closed(db_session, 100),
           closed(db_session, 95, category=unset, status=CaseStatus.RESOLVED)]
    kept = [closed(db_session, 29, category=short), closed(db_session, 89, category=unset), closed(db_session, 60),
            make_case(db_session, category=short, created_at=NOW - timedelta(days=900))]        # still open
    db_session.commit()
    policy = retention.Policy.load(db_session, NOW, default_days=90)
    assert retention.due_case_ids(db_session, policy) == sorted(c.id for c in due)
    assert retention.expires_at(due[0], policy) == NOW - timedelta(days=1)
    assert retention.expires_at(kept[1], policy) == NOW + timedelta(days=1)
    assert retention.expires_at(kept[3], policy) is None
    never = retention.Policy.load(db_session, NOW, default_days=None)       # "never" is the default's default
    assert retention.due_case_ids(db_session, never) == [due[0].id]
    assert retention.expires_at(due[2], never) is None
    assert retention.due_case_ids(db_session, retention.Policy(NOW, {}, None)) == []


def test_periods_come_from_configuration_as_days_or_never():
    assert [retention.parse_days(v) for v in (None, "", "never", "Never", 0, 365, "30")] == [None, None, None, None,
                                                                                             0, 365, 30]
    for bad in (-1, "-5", "a year", True, 1.5):
        with pytest.raises(ValueError):
            retention.parse_days(bad)
    with pytest.raises(ValueError):
        retention.RetentionSettings(run_hour=24)


def _with_everything(session, case: Case) -> Interaction:
    """Give a case what retention must clear: an attachment on disk, a raw payload, a survey comment,
    Open311-style meta, a location."""
    message = case.interactions[0]
    raw = InboundRaw(channel=Channel.EMAIL, source="smtp", idempotency_key=f"test:{case.id}",
                     payload=b"From: ana.lopez@mail.example\r\n\r\nThere is a deep pothole.", message_id="m@x")
    session.add(raw)
    session.flush()
    raw.case_id, message.inbound_raw_id = case.id, raw.id
    message.meta = {"phone": "+15855550123", "address": "12 Elm Street", "device_id": "d-1", "api_key_id": 4}
    message.body_html = "<p>There is a deep pothole.</p>"
    digest = storage.store(channel_settings().attachment_dir, PHOTO)
    session.add(Attachment(interaction_id=message.id, filename="ana-house.jpg", content_type="image/jpeg",
                           size=len(PHOTO), sha256=digest))
    session.add(Interaction(case_id=case.id, constituent_id=case.constituent_id, kind=InteractionKind.STATUS_CHANGE,
                            channel=case.channel, direction=Direction.INTERNAL, body_text="Status: closed",
                            meta={"change": "status", "from": "assigned", "to": "closed"}))
    session.add(SurveyResponse(case_id=case.id, channel=case.channel, language="en", score=4,
                               comment="Ana at 12 Elm Street was helped", answered_at=NOW))
    case.address, case.postcode, case.latitude, case.longitude = "12 Elm Street", "14604", 43.15, -77.6
    case.district, case.status_secret_hash = "Northeast", "x" * 64
    session.flush()
    return message


def test_an_expired_case_loses_its_personal_data_and_keeps_its_skeleton(db_session, centre, settings):
    short, _ = centre
    case = closed(db_session, 40, category=short, email="ana.lopez@mail.example", channel=Channel.EMAIL,
                  first_responded_at=NOW - timedelta(days=49), sla_paused_seconds=120)
    message = _with_everything(db_session, case)
    skeleton = (case.reference, case.category_id, case.queue_id, case.channel, case.status, case.created_at,
                case.resolved_at, case.closed_at, case.first_responded_at, case.sla_paused_seconds, case.district,
                case.priority, case.language)
    digest = db_session.execute(select(Attachment.sha256)).scalar_one()
    path = storage.path_for(channel_settings().attachment_dir, digest)
    db_session.commit()
    assert path.exists()

    summary = run()

    see_commits(db_session)
    assert not path.exists()                                               # the file is really gone
    case = db_session.get(Case, case.id)
    assert (case.reference, case.category_id, case.queue_id, case.channel, case.status, case.created_at,
            case.resolved_at, case.closed_at, case.first_responded_at, case.sla_paused_seconds, case.district,
            case.priority, case.language) == skeleton
    assert case.anonymised_at == NOW and case.subject == ""
    assert (case.address, case.postcode, case.latitude, case.longitude, case.status_secret_hash) == (None,) * 5
    message = db_session.get(Interaction, message.id)
    assert message.body_text == retention.REMOVED and message.subject == "" and message.body_html is None
    assert message.meta == {"api_key_id": 4} and message.external_id is None
    change = db_session.execute(select(Interaction).where(Interaction.kind == InteractionKind.STATUS_CHANGE)).scalar_one()
    assert change.body_text == "Status: closed" and change.meta["to"] == "closed"       # system lines stay
    attachment = db_session.execute(select(Attachment)).scalar_one()
    assert attachment.purged_at == NOW and attachment.filename == ""
    assert (attachment.size, attachment.sha256) == (len(PHOTO), digest)                # the record of what went
    raw = db_session.execute(select(InboundRaw)).scalar_one()
    assert raw.payload == b"" and raw.purged_at == NOW and raw.message_id is None
    survey = db_session.execute(select(SurveyResponse)).scalar_one()
    assert survey.comment is None and survey.score == 4
    constituent = db_session.get(Constituent, case.constituent_id)
    assert constituent.anonymised_at == NOW and constituent.display_name == ""
    assert db_session.execute(select(func.count(ContactPoint.id))).scalar() == 0

    record = db_session.get(RetentionRun, summary["run_id"])
    assert (record.mode, record.trigger, record.cases_anonymised, record.constituents_anonymised,
            record.attachments_deleted, record.files_deleted, record.bytes_freed, record.raw_purged,
            record.error_count) == (RetentionMode.ANONYMISE, "test", 1, 1, 1, 1, len(PHOTO), 1, 0)
    assert record.started_at == NOW and record.finished_at is not None
    events = db_session.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars().all()
    assert [(e.action, e.object_type, e.object_id, e.detail["reason"], e.actor_id) for e in events] == [
        (AuditAction.UPDATE, "case", str(case.id), "retention", None),
        (AuditAction.UPDATE, "constituent", str(constituent.id), "retention", None)]
    assert summary["cases_anonymised"] == 1 and summary["bytes_freed"] == len(PHOTO)


def test_a_second_run_finds_nothing_to_do(db_session, centre, settings):
    short, _ = centre
    for days in (31, 40, 50):                            # more than one batch of two
        _with_everything(db_session, closed(db_session, days, category=short))
    db_session.commit()
    first, second = run(), run()
    assert first["cases_anonymised"] == 3 and first["attachments_deleted"] == 3
    assert {k: second[k] for k in ("cases_anonymised", "constituents_anonymised", "attachments_deleted",
                                   "files_deleted", "bytes_freed", "raw_purged")} == dict.fromkeys(
        ("cases_anonymised", "constituents_anonymised", "attachments_deleted", "files_deleted", "bytes_freed",
         "raw_purged"), 0)
    see_commits(db_session)
    assert db_session.execute(select(func.count(AuditEvent.id)).where(AuditEvent.object_type == "case")).scalar() == 3
    assert db_session.execute(select(func.count(RetentionRun.id))).scalar() == 2


def test_legal_hold_stops_it_until_it_is_released(db_session, centre, settings):
    short, _ = centre
    held = closed(db_session, 400, category=short)
    with pytest.raises(retention.LegalHoldError):
        retention.set_legal_hold(db_session, held.id, on=True, reason="  ", by_user_id=None)
    retention.set_legal_hold(db_session, held.id, on=True, reason="Claim 2026/114", by_user_id=None)
    db_session.commit()
    assert run()["cases_anonymised"] == 0
    see_commits(db_session)
    held = db_session.get(Case, held.id)
    assert held.anonymised_at is None and held.interactions[0].body_text == "There is a deep pothole."
    with pytest.raises(retention.LegalHoldError):
        retention.set_legal_hold(db_session, held.id, on=True, reason="again", by_user_id=None)
    retention.set_legal_hold(db_session, held.id, on=False, reason="Claim settled", by_user_id=None)
    db_session.commit()
    assert run()["cases_anonymised"] == 1
    with pytest.raises(retention.LegalHoldError):          # too late: the data is gone
        retention.set_legal_hold(db_session, held.id, on=True, reason="Another claim", by_user_id=None)


def test_a_constituent_is_anonymised_only_when_no_case_of_theirs_is_retained(db_session, centre, settings):
    short, _ = centre
    old = closed(db_session, 40, category=short, email="ana.lopez@mail.example")
    recent = closed(db_session, 10, category=short, email="ana.lopez@mail.example")
    held = closed(db_session, 400, category=short, email="bo@mail.example")
    other = closed(db_session, 400, category=short, email="bo@mail.example")
    held.legal_hold = True
    assert old.constituent_id == recent.constituent_id and held.constituent_id == other.constituent_id
    db_session.commit()
    assert run()["cases_anonymised"] == 2                               # old and other
    see_commits(db_session)
    ana, bo = db_session.get(Constituent, old.constituent_id), db_session.get(Constituent, held.constituent_id)
    assert ana.anonymised_at is None and [p.value for p in ana.contact_points] == ["ana.lopez@mail.example"]
    assert bo.anonymised_at is None and [p.value for p in bo.contact_points] == ["bo@mail.example"]

    later = retention.run(now=NOW + timedelta(days=25), trigger="test")   # the recent case expires too
    assert later["cases_anonymised"] == 1 and later["constituents_anonymised"] == 1
    see_commits(db_session)
    ana = db_session.get(Constituent, old.constituent_id)
    assert ana.anonymised_at is not None and ana.contact_points == []


def test_a_file_another_case_still_holds_stays_on_disk(db_session, centre, settings):
    short, _ = centre
    _with_everything(db_session, closed(db_session, 40, category=short))
    _with_everything(db_session, closed(db_session, 5, category=short))          # the same photo, still kept
    digest = db_session.execute(select(Attachment.sha256).limit(1)).scalar()
    db_session.commit()
    summary = run()
    assert summary["attachments_deleted"] == 1 and summary["files_deleted"] == 0 and summary["bytes_freed"] == 0
    assert storage.path_for(channel_settings().attachment_dir, digest).exists()


def test_a_dry_run_changes_nothing_and_says_what_would_go(db_session, centre, settings):
    short, _ = centre
    case = closed(db_session, 40, category=short)
    _with_everything(db_session, case)
    closed(db_session, 5, category=short)
    db_session.commit()
    preview = run(dry_run=True)
    assert preview == {"run_id": None, "dry_run": True, "mode": "anonymise", "cases": 1, "case_ids": [case.id],
                       "references": [case.reference], "attachments": 1, "attachment_bytes": len(PHOTO),
                       "constituents": 1, "stray_raw": 0}
    see_commits(db_session)
    assert db_session.get(Case, case.id).anonymised_at is None
    assert db_session.execute(select(func.count(RetentionRun.id))).scalar() == 0
    assert db_session.execute(select(func.count(AuditEvent.id))).scalar() == 0


def test_a_reopened_case_is_anonymised_again_when_it_expires_again(db_session, centre, settings):
    short, _ = centre
    case = closed(db_session, 40, category=short)
    db_session.commit()
    run()
    see_commits(db_session)
    case = db_session.get(Case, case.id)
    case.last_activity_at = NOW + timedelta(days=1)             # a new contact on it, later resolved again
    case.resolved_at = case.closed_at = NOW + timedelta(days=2)
    db_session.commit()
    assert retention.run(now=NOW + timedelta(days=20), trigger="test")["cases_anonymised"] == 0
    assert retention.run(now=NOW + timedelta(days=40), trigger="test")["cases_anonymised"] == 1


def test_delete_mode_removes_the_case_and_a_constituent_nobody_refers_to(db_session, centre):
    short, _ = centre
    gone = closed(db_session, 40, category=short, email="ana.lopez@mail.example")
    _with_everything(db_session, gone)
    kept = closed(db_session, 5, category=short, email="bo@mail.example")
    expired_too = closed(db_session, 50, category=short, email="bo@mail.example")
    digest = db_session.execute(select(Attachment.sha256)).scalar_one()
    db_session.commit()
    ids = (gone.id, gone.constituent_id, kept.id, kept.constituent_id, expired_too.id)
    summary = retention.run(now=NOW, trigger="test",
                            settings=retention.RetentionSettings(default_days=None, mode=RetentionMode.DELETE))
    assert (summary["cases_deleted"], summary["constituents_deleted"], summary["files_deleted"],
            summary["raw_purged"]) == (2, 1, 1, 1)
    see_commits(db_session)
    assert db_session.get(Case, ids[0]) is None and db_session.get(Case, ids[4]) is None
    assert db_session.get(Constituent, ids[1]) is None and db_session.get(Case, ids[2]) is not None
    assert db_session.get(Constituent, ids[3]).contact_points != []
    assert db_session.execute(select(func.count(InboundRaw.id))).scalar() == 0
    assert not storage.path_for(channel_settings().attachment_dir, digest).exists()
    deleted = db_session.execute(select(AuditEvent).where(AuditEvent.object_type == "case")).scalars().all()
    assert {(e.action, e.object_id) for e in deleted} == {(AuditAction.DELETE, str(ids[0])),
                                                           (AuditAction.DELETE, str(ids[4]))}
    assert all(e.detail["reason"] == "retention" and e.detail["reference"] for e in deleted)


def test_a_case_that_fails_is_recorded_and_the_others_go_on(db_session, centre, settings, monkeypatch):
    short, _ = centre
    first, second = closed(db_session, 40, category=short), closed(db_session, 41, category=short)
    db_session.commit()
    real = retention.anonymise_case

    def failing(session, case, now):
        if case.id == first.id:
            raise RuntimeError("Ana López's row")            # what an exception text might carry
        return real(session, case, now)

    monkeypatch.setattr(retention, "anonymise_case", failing)
    summary = run()
    assert summary["cases_anonymised"] == 1 and summary["errors"] == [{"case_id": first.id, "error": "RuntimeError"}]
    see_commits(db_session)
    assert db_session.get(Case, first.id).anonymised_at is None and db_session.get(Case, second.id).anonymised_at
    assert db_session.get(RetentionRun, summary["run_id"]).error_count == 1


# ---- schedule and command line ----------------------------------------------------------------------------


def test_the_daily_run_is_scheduled_once_however_many_workers_start(app, redis_url, settings):
    import redis as redis_lib

    assert retention.next_run_at(NOW, 3) == datetime(2026, 11, 24, 3, tzinfo=timezone.utc)
    assert retention.next_run_at(NOW, 13) == datetime(2026, 11, 24, 13, tzinfo=timezone.utc)   # under an hour away
    assert retention.next_run_at(NOW, 14) == datetime(2026, 11, 23, 14, tzinfo=timezone.utc)
    connection = redis_lib.Redis.from_url(redis_url)
    try:
        first = retention.schedule_retention(connection, now=NOW)
        second = retention.schedule_retention(connection, now=NOW + timedelta(hours=2))
        assert first.id == second.id == "retention-2026112403"
        assert Queue(retention.RETENTION_QUEUE, connection=connection).scheduled_job_registry.get_job_ids() == [first.id]
    finally:
        connection.close()


def test_flask_retention_run_prints_a_json_summary(app, db_session, centre):
    short, _ = centre
    case = closed(db_session, 4000, category=short)
    db_session.commit()
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["retention", "run", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["case_ids"] == [case.id]
    real = runner.invoke(args=["retention", "run"])
    assert real.exit_code == 0, real.output
    summary = json.loads(real.stdout)
    assert summary["cases_anonymised"] == 1 and summary["run_id"] and not summary["dry_run"]
    see_commits(db_session)
    assert db_session.get(RetentionRun, summary["run_id"]).trigger == "cli"
    assert "ana" not in real.output.lower()


def test_a_run_on_a_case_with_no_category_uses_the_default(db_session, settings):
    case = closed(db_session, 91)
    db_session.commit()
    assert run()["cases_anonymised"] == 1


def test_two_runs_at_once_share_the_work_and_do_each_case_once(scratch_database_url, redis_url, redis, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from models import migrate, reading, transaction

    migrate.upgrade(scratch_database_url)
    create_app(app_config(scratch_database_url, redis_url, ATTACHMENT_DIR=str(tmp_path / "files")))
    with transaction() as session:
        category = make_category(session, make_queue(session))
        category.retention_days = 30
        ids = [closed(session, 40 + n, category=category, email=f"person{n % 7}@mail.example").id
               for n in range(30)]
    settings = retention.RetentionSettings(default_days=None, batch_size=4)
    with ThreadPoolExecutor(2) as pool:
        summaries = list(pool.map(lambda _: retention.run(now=NOW, trigger="test", settings=settings), range(2)))
    assert sum(s["cases_anonymised"] for s in summaries) == 30
    assert sum(s["constituents_anonymised"] for s in summaries) == 7
    assert [s["errors"] for s in summaries] == [[], []]
    with reading() as session:
        per_case = dict(session.execute(select(AuditEvent.object_id, func.count(AuditEvent.id))
                                        .where(AuditEvent.object_type == "case").group_by(AuditEvent.object_id)).all())
        left = session.execute(select(func.count(Case.id)).where(Case.anonymised_at.is_(None))).scalar()
    assert per_case == {str(i): 1 for i in ids} and left == 0


def test_the_daily_job_runs_on_a_worker_and_schedules_the_next_day(app, db_session, centre, redis_url, settings):
    from tests.channels import mailtools

    short, _ = centre
    case = closed(db_session, 4000, category=short)
    db_session.commit()
    connection = mailtools.rq_redis(redis_url)
    try:
        queue = Queue(retention.RETENTION_QUEUE, connection=connection)
        queue.enqueue(retention.run_retention, job_timeout=60)
        mailtools.work(redis_url, queues=(retention.RETENTION_QUEUE,))
        scheduled = queue.scheduled_job_registry.get_job_ids()
    finally:
        connection.close()
    see_commits(db_session)
    (record,) = db_session.execute(select(RetentionRun)).scalars()
    assert record.trigger == "schedule" and record.cases_anonymised == 1 and record.finished_at is not None
    assert db_session.get(Case, case.id).anonymised_at is not None
    assert len(scheduled) == 1 and re.fullmatch(r"retention-\d{8}03", scheduled[0])


def test_raw_payloads_no_case_holds_go_after_the_default_period(db_session, settings):
    def raw(key: str, status: InboundStatus, days: int) -> InboundRaw:
        row = InboundRaw(channel=Channel.EMAIL, source="smtp", idempotency_key=key, status=status,
                         payload=b"From: ana.lopez@mail.example\r\n\r\nOut of office", error="ValueError: ana",
                         received_at=NOW - timedelta(days=days))
        db_session.add(row)
        return row

    old_reply, old_failure = raw("a", InboundStatus.IGNORED, 100), raw("b", InboundStatus.FAILED, 120)
    recent, waiting = raw("c", InboundStatus.IGNORED, 10), raw("d", InboundStatus.RECEIVED, 300)
    db_session.commit()
    assert run(dry_run=True)["stray_raw"] == 2
    assert run()["raw_purged"] == 2
    see_commits(db_session)
    for row in (old_reply, old_failure):
        row = db_session.get(InboundRaw, row.id)
        assert (row.payload, row.error, row.purged_at) == (b"", None, NOW)
    assert db_session.get(InboundRaw, recent.id).payload and db_session.get(InboundRaw, waiting.id).payload
    assert run()["raw_purged"] == 0
    never = retention.RetentionSettings(default_days=None)
    assert retention.run(now=NOW + timedelta(days=999), trigger="test", settings=never)["raw_purged"] == 0


def test_records_merged_into_a_constituent_are_anonymised_with_them(db_session, centre, settings):
    from channels import identity

    short, _ = centre
    case = closed(db_session, 40, category=short, email="ana.lopez@mail.example")
    other = closed(db_session, 41, category=short, email="ana.work@mail.example")
    source_id = other.constituent_id
    identity.merge(db_session, source_id, case.constituent_id, None)
    db_session.commit()
    summary = run()
    assert summary["cases_anonymised"] == 2 and summary["constituents_anonymised"] == 2
    see_commits(db_session)
    assert db_session.execute(select(func.count(ContactPoint.id))).scalar() == 0
    source = db_session.get(Constituent, source_id)
    assert source.anonymised_at is not None and source.display_name == ""


def test_the_app_hands_its_retention_configuration_over(database_url, redis_url, redis, settings):
    create_app(app_config(database_url, redis_url, RETENTION_DEFAULT_DAYS="730", RETENTION_MODE="delete",
                          RETENTION_RUN_HOUR="never", RETENTION_BATCH_SIZE=50))
    assert retention.current() == retention.RetentionSettings(default_days=730, mode=RetentionMode.DELETE,
                                                              batch_size=50, run_hour=None)
    create_app(app_config(database_url, redis_url, RETENTION_DEFAULT_DAYS="never"))
    assert retention.current() == retention.RetentionSettings()           # never, anonymise, 200, 03:00 UTC
    for bad in ({"RETENTION_MODE": "shred"}, {"RETENTION_DEFAULT_DAYS": "a year"}, {"RETENTION_RUN_HOUR": 25}):
        with pytest.raises(ValueError):
            create_app(app_config(database_url, redis_url, **bad))

"""`flask seed-demo`: a believable, deterministic service centre."""
from collections import Counter
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session as PlainSession

from caseworker import accounts, demo
from models import (
    OPEN_STATUSES,
    Case,
    CaseStatus,
    Channel,
    Constituent,
    ContactKind,
    ContactPoint,
    Interaction,
    QueueMember,
    User,
    make_engine,
    migrate,
)

NOW = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)


def _seed(session, seed=311):
    counts = demo.seed(session, constituents=150, cases=1200, seed=seed, now=NOW)
    session.commit()
    return counts


def _signature(session) -> list[tuple]:
    rows = session.execute(
        select(Case.reference, Case.subject, Case.status, Case.channel, User.email, Case.created_at)
        .outerjoin(User, User.id == Case.assignee_id).order_by(Case.reference)
    ).all()
    return [tuple(row) for row in rows]


@pytest.fixture
def seeded(db_session):
    counts = _seed(db_session)
    return counts


def test_it_builds_the_centre_it_says(seeded, db_session):
    assert seeded["cases"] == 1200 and seeded["constituents"] == 150 and seeded["staff"] == len(demo.STAFF)
    assert db_session.execute(select(func.count(Case.id))).scalar_one() == 1200
    assert db_session.execute(select(func.count(Interaction.id))).scalar_one() == seeded["interactions"]
    assert seeded["interactions"] > 2 * 1200
    statuses = Counter(db_session.execute(select(Case.status)).scalars())
    channels = Counter(db_session.execute(select(Case.channel)).scalars())
    assert set(statuses) == set(CaseStatus)
    assert set(channels) == set(Channel)
    assert statuses[CaseStatus.CLOSED] > statuses[CaseStatus.NEW]       # a year of history, a live backlog
    languages = Counter(db_session.execute(select(Constituent.preferred_language)).scalars())
    assert set(languages) == {"en", "es", "it"}
    kinds = Counter(db_session.execute(select(ContactPoint.kind)).scalars())
    assert kinds[ContactKind.EMAIL] > 0 and kinds[ContactKind.PHONE] > 0
    phones = db_session.execute(select(ContactPoint.value).where(ContactPoint.kind == ContactKind.PHONE)).scalars()
    assert all(p.startswith("+1") and len(p) == 12 for p in phones)         # E.164


def test_every_case_has_its_first_contact_and_a_readable_reference(seeded, db_session):
    without = db_session.execute(
        select(func.count(Case.id)).where(~select(Interaction.id).where(Interaction.case_id == Case.id).exists())
    ).scalar_one()
    assert without == 0
    references = db_session.execute(select(Case.reference).order_by(Case.created_at)).scalars().all()
    assert len(set(references)) == len(references)
    assert all(ref.startswith(("C-2025-", "C-2026-")) for ref in references)
    placeholders = db_session.execute(
        select(func.count(Interaction.id)).where(Interaction.body_text.contains("{"))).scalar_one()
    assert placeholders == 0


def test_open_cases_go_to_members_who_speak_the_language_within_capacity(seeded, db_session):
    members = set(db_session.execute(select(QueueMember.user_id, QueueMember.queue_id)).all())
    users = {u.id: u for u in db_session.execute(select(User)).scalars()}
    load = Counter()
    open_assigned = db_session.execute(
        select(Case).where(Case.status.in_(OPEN_STATUSES), Case.assignee_id.is_not(None))).scalars().all()
    assert open_assigned
    for case in open_assigned:
        assert (case.assignee_id, case.queue_id) in members
        assert case.language in users[case.assignee_id].languages
        load[(case.assignee_id, case.channel)] += 1
    assert all(n <= accounts.DEFAULT_CAPACITY[channel] for (_uid, channel), n in load.items())
    new_cases = db_session.execute(select(Case).where(Case.status == CaseStatus.NEW)).scalars().all()
    assert all(case.assignee_id is None for case in new_cases)


def test_the_demo_logins_work(seeded, db_session):
    for email in ("alex.morgan@riverton.example", "maria.garcia@riverton.example", "sam.taylor@riverton.example"):
        assert accounts.authenticate(db_session, email, demo.DEMO_PASSWORD, max_failures=5, lock_seconds=60)
    assert "maria.garcia@riverton.example" in demo.logins_text()


def test_same_seed_same_data_other_seed_other_data(seeded, db_session, scratch_database_url):
    migrate.upgrade(scratch_database_url)
    engine = make_engine(scratch_database_url)
    with PlainSession(engine) as other:
        _seed(other)
        assert _signature(other) == _signature(db_session)
    with PlainSession(engine) as other:
        for table in ("interactions", "routing_decisions", "cases", "contact_points", "constituents",
                      "reference_counters", "queue_members", "user_capacities", "user_skills", "users",
                      "sla_policies", "categories", "queue_skills", "queues", "business_calendars", "skills"):
            other.execute(text(f"DELETE FROM {table}"))
        other.commit()
        _seed(other, seed=42)
        assert _signature(other) != _signature(db_session)
    engine.dispose()


def test_the_command_seeds_once_and_prints_the_logins(app, db_session):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo", "--constituents", "40", "--cases", "200"])
    assert first.exit_code == 0, first.output
    assert "200 cases" in first.output and "sam.taylor@riverton.example" in first.output
    again = runner.invoke(args=["seed-demo", "--constituents", "40", "--cases", "200"])
    assert "demo data is there already" in again.output
    db_session.rollback()
    assert db_session.execute(select(func.count(Case.id))).scalar_one() == 200


def test_the_seeded_backlog_is_measured_so_the_sla_sweep_escalates_nothing(seeded, db_session):
    from routing import sla

    overdue = db_session.execute(select(func.count(Case.id)).where(
        Case.status.in_(OPEN_STATUSES), Case.resolution_due_at < NOW)).scalar_one()
    assert overdue > 0                                   # the demo has breached cases to show
    fired = [sla.check(db_session, case_id, NOW).notices for case_id in sla.cases_to_check(db_session, NOW)]
    assert [n for notices in fired for n in notices] == []

"""Storage conventions: enum values, UTC timestamps, references, uniqueness."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, StatementError

from models import (
    Case,
    CaseStatus,
    Channel,
    Constituent,
    ContactKind,
    ContactPoint,
    Priority,
    ReferenceCounter,
    next_reference,
)
from models.reference import current_value


def test_enums_are_stored_as_their_values(db_session):
    case = Case(reference="C-2026-999999", channel=Channel.WEBFORM, status=CaseStatus.PENDING_CONSTITUENT,
                priority=Priority.URGENT)
    db_session.add(case)
    db_session.flush()
    row = db_session.execute(text("SELECT channel, status, priority FROM cases WHERE id = :id"),
                             {"id": case.id}).one()
    assert tuple(row) == ("webform", "pending_constituent", 4)


def test_a_status_outside_the_enum_is_refused_by_the_database(db_session):
    db_session.add(Case(reference="C-2026-999998", channel=Channel.EMAIL))
    db_session.flush()
    with pytest.raises(IntegrityError):
        with db_session.begin_nested():
            db_session.execute(text("UPDATE cases SET status = 'lost' WHERE reference = 'C-2026-999998'"))


def test_timestamps_come_back_aware_in_utc(db_session):
    local = datetime(2026, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=-5)))
    case = Case(reference="C-2026-999997", channel=Channel.EMAIL, created_at=local)
    db_session.add(case)
    db_session.flush()
    db_session.expire_all()
    loaded = db_session.execute(select(Case).where(Case.reference == "C-2026-999997")).scalar_one()
    assert loaded.created_at == local
    assert loaded.created_at.utcoffset() == timedelta(0)
    assert loaded.created_at.hour == 14


def test_a_naive_timestamp_is_refused(db_session):
    db_session.add(Case(reference="C-2026-999996", channel=Channel.EMAIL, created_at=datetime(2026, 3, 1)))
    with pytest.raises(StatementError, match="naive datetime"):
        db_session.flush()


def test_references_count_up_per_year(db_session):
    start = current_value(db_session, 2031)
    first, second = next_reference(db_session, 2031), next_reference(db_session, 2031)
    other_year = next_reference(db_session, 2032)
    assert first == f"C-2031-{start + 1:06d}"
    assert second == f"C-2031-{start + 2:06d}"
    assert other_year.startswith("C-2032-")
    assert db_session.get(ReferenceCounter, 2031).value == start + 2


def test_a_contact_point_is_unique_per_kind_and_value(db_session):
    one, two = Constituent(display_name="One"), Constituent(display_name="Two")
    db_session.add_all([
        ContactPoint(constituent=one, kind=ContactKind.EMAIL, value="same@mail.example"),
        ContactPoint(constituent=two, kind=ContactKind.PHONE, value="same@mail.example"),
    ])
    db_session.flush()
    db_session.add(ContactPoint(constituent=two, kind=ContactKind.EMAIL, value="same@mail.example"))
    with pytest.raises(IntegrityError):
        db_session.flush()


def test_case_is_open_follows_the_lifecycle():
    assert Case(status=CaseStatus.NEW).is_open
    assert Case(status=CaseStatus.PENDING_CONSTITUENT).is_open
    assert not Case(status=CaseStatus.RESOLVED).is_open
    assert not Case(status=CaseStatus.CLOSED).is_open

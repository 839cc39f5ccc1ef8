"""Case references: C-<year>-<six-digit number>, numbered per year."""
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models.case import ReferenceCounter


def format_reference(year: int, number: int) -> str:
    return f"C-{year}-{number:06d}"


def next_reference(session: Session, year: int) -> str:
    """Give out the next reference of `year`. Flushes; the counter row stays locked until the caller commits."""
    bump = (
        update(ReferenceCounter)
        .where(ReferenceCounter.year == year)
        .values(value=ReferenceCounter.value + 1)
        .returning(ReferenceCounter.value)
    )
    number = session.execute(bump).scalar()
    if number is None:
        try:
            with session.begin_nested():
                session.execute(insert(ReferenceCounter).values(year=year, value=1))
            number = 1
        except IntegrityError:      # another transaction created the year's row first
            number = session.execute(bump).scalar_one()
    return format_reference(year, number)


def current_value(session: Session, year: int) -> int:
    """The last number given out in `year` (0 when none)."""
    return session.execute(select(ReferenceCounter.value).where(ReferenceCounter.year == year)).scalar() or 0

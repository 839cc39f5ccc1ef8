"""Case references: C-<year>-<six-digit number>, numbered per year.

Numbers are unique and given out in increasing order per year; gaps are tolerated (a rolled-back case, or the
unused rest of a reserved block). A batch that opens many cases reserves a block first, in a short transaction
of its own (`reserve_references`), so that concurrent batches do not queue on the year's counter row for the
whole of their write transactions; `next_reference` takes from the block that `use_block` put on the session.
"""
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models.case import ReferenceCounter
from models.db import execute_core

_BLOCK = "casework.reference_block"


def format_reference(year: int, number: int) -> str:
    return f"C-{year}-{number:06d}"


@dataclass
class ReferenceBlock:
    """Numbers `next`..`last` of `year`, reserved (committed) for one unit of work."""

    year: int
    next: int
    last: int

    def take(self, year: int) -> int | None:
        """The block's next number for a case of `year`, or None when the block is used up or of another year."""
        if year != self.year or self.next > self.last:
            return None
        number, self.next = self.next, self.next + 1
        return number


def _bump(session: Session, year: int, count: int) -> int:
    """Advance `year`'s counter by `count` and return its new value; creates the year's row. Flushes.

    A plain Core UPDATE ... RETURNING on the session's connection: the ORM's bulk-update path around it costs
    more than the rest of a case's insert.
    """
    bump = (update(ReferenceCounter).where(ReferenceCounter.year == year)
            .values(value=ReferenceCounter.value + count).returning(ReferenceCounter.value))
    number = execute_core(session, bump).scalar()
    if number is None:
        try:
            with session.begin_nested():
                session.connection().execute(insert(ReferenceCounter).values(year=year, value=count))
            number = count
        except IntegrityError:      # another transaction created the year's row first
            number = session.connection().execute(bump).scalar_one()
    return number


def next_reference(session: Session, year: int) -> str:
    """Give out the next reference of `year`: from the session's block (see `use_block`) while it lasts,
    else from the counter. Flushes; a number from the counter keeps its row locked until the caller commits."""
    block: ReferenceBlock | None = session.info.get(_BLOCK)
    number = block.take(year) if block is not None else None
    return format_reference(year, number if number is not None else _bump(session, year, 1))


def reserve_references(session: Session, year: int, count: int) -> ReferenceBlock:
    """Reserve `count` (>= 1) consecutive numbers of `year`. Flushes; commit at once (the counter row stays
    locked until then), and any number left unused is a gap."""
    if count < 1:
        raise ValueError("count must be at least 1")
    last = _bump(session, year, count)
    return ReferenceBlock(year, last - count + 1, last)


@contextmanager
def use_block(session: Session, block: ReferenceBlock | None) -> Iterator[None]:
    """While inside, `next_reference` on `session` takes from `block` first (None: no block)."""
    if block is None:
        yield
        return
    session.info[_BLOCK] = block
    try:
        yield
    finally:
        session.info.pop(_BLOCK, None)


def current_value(session: Session, year: int) -> int:
    """The last number given out in `year` (0 when none)."""
    return session.execute(select(ReferenceCounter.value).where(ReferenceCounter.year == year)).scalar() or 0

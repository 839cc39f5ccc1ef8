"""Retention: the record of each run of the retention job (issue 8), which anonymises or deletes expired cases."""
import enum
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class RetentionMode(enum.StrEnum):
    """What happens to an expired case: its personal data is removed and its skeleton kept, or it goes whole."""

    ANONYMISE = "anonymise"
    DELETE = "delete"


class RetentionRun(Base):
    """One run of the retention job: when, how, and what it did. Counts only: never a name or a text.
    `errors` lists {"case_id", "error"} (the exception's class name) for cases the run had to leave."""

    __tablename__ = "retention_runs"
    __table_args__ = (Index("ix_retention_runs_started_at", "started_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    mode: Mapped[RetentionMode]
    trigger: Mapped[str] = mapped_column(String(32), default="schedule")     # schedule, cli, admin
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    cases_anonymised: Mapped[int] = mapped_column(default=0)
    cases_deleted: Mapped[int] = mapped_column(default=0)
    constituents_anonymised: Mapped[int] = mapped_column(default=0)
    constituents_deleted: Mapped[int] = mapped_column(default=0)
    attachments_deleted: Mapped[int] = mapped_column(default=0)
    files_deleted: Mapped[int] = mapped_column(default=0)
    bytes_freed: Mapped[int] = mapped_column(BigInteger, default=0)
    raw_purged: Mapped[int] = mapped_column(default=0)
    error_count: Mapped[int] = mapped_column(default=0)
    errors: Mapped[list[Any]] = mapped_column(default=list)

    def __repr__(self) -> str:
        return f"<RetentionRun {self.id} {self.mode.value}>"

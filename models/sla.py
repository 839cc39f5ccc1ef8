"""SLA clocks and what they have fired: a warning before a due time, a breach at it (routing/sla.py)."""
import enum
from datetime import datetime

from sqlalchemy import ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class SlaKind(enum.StrEnum):
    FIRST_RESPONSE = "first_response"
    RESOLUTION = "resolution"


class SlaStage(enum.StrEnum):
    WARNING = "warning"
    BREACH = "breach"


class SlaState(enum.StrEnum):
    """What the console shows for a case's SLA clocks."""

    NONE = "none"            # no policy applies
    OK = "ok"
    AT_RISK = "at_risk"      # past the warning point
    BREACHED = "breached"
    PAUSED = "paused"        # waiting on the constituent: the clocks stand still
    MET = "met"              # every clock stopped in time


class SlaEvent(Base):
    """A warning or breach that fired for one due time of one clock. Unique per (case, kind, stage, due time),
    so a retried job, a doubled timer or the sweep fire it once; a due time that moves gets its own."""

    __tablename__ = "sla_events"
    __table_args__ = (UniqueConstraint("case_id", "kind", "stage", "due_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    kind: Mapped[SlaKind]
    stage: Mapped[SlaStage]
    due_at: Mapped[datetime]
    fired_at: Mapped[datetime] = mapped_column(default=utcnow)

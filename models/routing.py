"""Routing decisions: every offer and assignment of a case, its outcome, and why."""
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, utcnow
from models.caseworker import User
from models.enums import DecisionKind, DecisionOutcome


class RoutingDecision(Base):
    """`explanation` holds the candidates considered, who was filtered out and why, scores and the rule."""

    __tablename__ = "routing_decisions"
    __table_args__ = (
        Index("ix_routing_decisions_case_created", "case_id", "created_at"),
        Index("ix_routing_decisions_user_outcome", "user_id", "outcome"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id"))
    kind: Mapped[DecisionKind]
    outcome: Mapped[DecisionOutcome]
    strategy: Mapped[str | None] = mapped_column(String(32))
    rule: Mapped[str | None] = mapped_column(String(120))
    explanation: Mapped[dict[str, Any]] = mapped_column(default=dict)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    responded_at: Mapped[datetime | None]

    user: Mapped["User | None"] = relationship(foreign_keys=[user_id])

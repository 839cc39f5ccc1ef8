"""Satisfaction surveys: one per resolved case, sent through the case's channel, answered once (issue 7)."""
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow
from models.enums import Channel


class SurveyResponse(Base):
    """The survey of one case: created when it is sent (score empty), filled once when the constituent answers.
    `agent_id` is whoever owned the case when it was resolved, so results stay with the person who did the
    work even after a transfer; `language` is the one the survey was sent in."""

    __tablename__ = "survey_responses"
    __table_args__ = (
        CheckConstraint("score IS NULL OR (score >= 1 AND score <= 5)", name="score_range"),
        Index("ix_survey_responses_agent_answered", "agent_id", "answered_at"),
        Index("ix_survey_responses_answered_at", "answered_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), unique=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id"))
    channel: Mapped[Channel]
    language: Mapped[str] = mapped_column(String(16))
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
    score: Mapped[int | None]
    comment: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None]

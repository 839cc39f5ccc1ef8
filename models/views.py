"""Saved views of the console's case lists, and the text-search indexes those lists use.

A saved view is one user's named set of filters and a sort order for the inbox or the queue views.
"""
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, trigram_index, utcnow
from models.case import Case, Interaction


class SavedView(Base):
    __tablename__ = "saved_views"
    __table_args__ = (UniqueConstraint("user_id", "scope", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(16))           # "inbox" | "queues": the page the view belongs to
    name: Mapped[str] = mapped_column(String(80))
    filters: Mapped[dict[str, Any]] = mapped_column(default=dict)   # filter field -> value, as in the URL
    sort: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<SavedView {self.id} {self.scope}>"


# Text search over case subjects and message bodies (caseworker/caselist.py).
trigram_index("ix_cases_subject_trgm", Case.__table__.c.subject)
trigram_index("ix_interactions_body_text_trgm", Interaction.__table__.c.body_text)
# Each default sort of a list has an index that yields its rows in order, so a page is an ordered index
# scan that stops after one page (plus the rows the other filters skip) instead of a sort of every match.
Index("ix_cases_priority_queued", Case.priority.desc(), Case.queued_at, Case.id)               # all queues
Index("ix_cases_queue_priority_queued", Case.queue_id, Case.priority.desc(), Case.queued_at, Case.id)  # a queue
Index("ix_cases_queue_activity", Case.queue_id, Case.last_activity_at, Case.id)      # a queue, recent first
Index("ix_cases_assignee_priority_activity", Case.assignee_id, Case.priority, Case.last_activity_at, Case.id)
Index("ix_cases_activity", Case.last_activity_at, Case.id)                           # everything, recent first
Index("ix_cases_created", Case.created_at, Case.id)                                  # everything, newest/oldest
# The SLA filters: pending targets by due time, then warning point ("at risk": due > now, warn <= now, both
# read in the index); a case leaves the index once the target is met.
Index("ix_cases_first_response_due_warn_pending", Case.first_response_due_at, Case.first_response_warn_at,
      postgresql_where=Case.first_responded_at.is_(None), sqlite_where=Case.first_responded_at.is_(None))
Index("ix_cases_resolution_due_warn_pending", Case.resolution_due_at, Case.resolution_warn_at,
      postgresql_where=Case.resolved_at.is_(None), sqlite_where=Case.resolved_at.is_(None))

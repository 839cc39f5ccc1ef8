"""Identity: the record of two constituents merged into one, kept so that the merge can be undone."""
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class ConstituentMerge(Base):
    """`source` was merged into `target`; `moved` lists the ids that moved, so an undo can move them back."""

    __tablename__ = "constituent_merges"
    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("constituents.id"), index=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("constituents.id"), index=True)
    # {"contact_points": [...], "cases": [...], "interactions": [...], "target": {field: value before}}
    moved: Mapped[dict[str, Any]] = mapped_column(default=dict)
    merged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    merged_at: Mapped[datetime] = mapped_column(default=utcnow)
    undone_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    undone_at: Mapped[datetime | None]

    @property
    def is_undone(self) -> bool:
        return self.undone_at is not None

    def __repr__(self) -> str:
        return f"<ConstituentMerge {self.id} {self.source_id}->{self.target_id}>"

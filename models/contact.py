"""The public: constituents and the contact points (email, phone, chat handle, API account) that identify them."""
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, trigram_index, utcnow
from models.enums import ConstituentKind, ContactKind


class Constituent(Base):
    __tablename__ = "constituents"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[ConstituentKind] = mapped_column(default=ConstituentKind.PERSON)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    preferred_language: Mapped[str | None] = mapped_column(String(16))
    postcode: Mapped[str | None] = mapped_column(String(16))
    district: Mapped[str | None] = mapped_column(String(64))
    notes: Mapped[str] = mapped_column(Text, default="")
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("constituents.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    anonymised_at: Mapped[datetime | None]   # retention removed the personal data (channels/retention.py)

    contact_points: Mapped[list["ContactPoint"]] = relationship(
        back_populates="constituent", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        return f"<Constituent {self.id}>"


class ContactPoint(Base):
    """One way to reach a constituent; `value` is normalised (lower-case email, E.164 phone)."""

    __tablename__ = "contact_points"
    __table_args__ = (UniqueConstraint("kind", "value"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    constituent_id: Mapped[int] = mapped_column(ForeignKey("constituents.id", ondelete="CASCADE"), index=True)
    kind: Mapped[ContactKind]
    value: Mapped[str] = mapped_column(String(320), index=True)
    display: Mapped[str] = mapped_column(String(320), default="")
    is_verified: Mapped[bool] = mapped_column(default=False)
    is_failing: Mapped[bool] = mapped_column(default=False)
    failing_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    constituent: Mapped[Constituent] = relationship(back_populates="contact_points")

    def __repr__(self) -> str:
        return f"<ContactPoint {self.id} {self.kind.value}>"


# Name search and duplicate suggestions (`ILIKE '%name%'`), phone numbers typed in any format (`LIKE '%digits'`).
trigram_index("ix_constituents_display_name_trgm", Constituent.__table__.c.display_name)
trigram_index("ix_contact_points_value_trgm", ContactPoint.__table__.c.value)

"""What caseworkers add around cases: links between related cases, merges, macros (canned replies) and
@mentions in internal notes."""
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, utcnow
from models.caseworker import User


class CaseLink(Base):
    """Two related cases. Stored once, the smaller id first; either case lists the other."""

    __tablename__ = "case_links"
    __table_args__ = (
        UniqueConstraint("case_id", "other_case_id"),
        CheckConstraint("case_id < other_case_id", name="ordered"),
        Index("ix_case_links_other_case_id", "other_case_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    other_case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CaseMerge(Base):
    """A duplicate case merged into another: its interactions moved there and it was closed."""

    __tablename__ = "case_merges"
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True,
                                         autoincrement=False)
    into_case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    merged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    merged_at: Mapped[datetime] = mapped_column(default=utcnow)


class Macro(Base):
    """A canned reply managed by admins, with one variant per language."""

    __tablename__ = "macros"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    variants: Mapped[list["MacroVariant"]] = relationship(
        back_populates="macro", cascade="all, delete-orphan", order_by="MacroVariant.language"
    )

    def __repr__(self) -> str:
        return f"<Macro {self.id}>"


class MacroVariant(Base):
    """A macro's text in one language; `body` may hold placeholders like {{ constituent.name }}."""

    __tablename__ = "macro_variants"
    __table_args__ = (UniqueConstraint("macro_id", "language"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    macro_id: Mapped[int] = mapped_column(ForeignKey("macros.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(500), default="")
    body: Mapped[str] = mapped_column(Text)

    macro: Mapped[Macro] = relationship(back_populates="variants")


class Mention(Base):
    """A user @mentioned in an internal note: what their notifications list, read or not."""

    __tablename__ = "mentions"
    __table_args__ = (
        UniqueConstraint("interaction_id", "user_id"),
        Index("ix_mentions_user_read", "user_id", "read_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    interaction_id: Mapped[int] = mapped_column(ForeignKey("interactions.id", ondelete="CASCADE"))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()

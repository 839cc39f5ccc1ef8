"""How the centre is organised: skills, business calendars, queues (teams), SLA policies and categories."""
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, IntEnumType, utcnow
from models.enums import Priority, RoutingStrategy


class Skill(Base):
    __tablename__ = "skills"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(120))

    def __repr__(self) -> str:
        return f"<Skill {self.code}>"


class BusinessCalendar(Base):
    """Opening hours in a time zone, and the public holidays on which the centre is closed.

    `hours` maps ISO weekday ("1".."7") to a list of ["HH:MM", "HH:MM"] intervals; `holidays` lists ISO dates.
    """

    __tablename__ = "business_calendars"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    hours: Mapped[dict[str, Any]] = mapped_column(default=dict)
    holidays: Mapped[list[Any]] = mapped_column(default=list)


class Queue(Base):
    """A team and the cases waiting for it: what a case needs (skills, language) and how it is routed."""

    __tablename__ = "queues"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    priority: Mapped[int] = mapped_column(default=0)
    strategy: Mapped[RoutingStrategy] = mapped_column(default=RoutingStrategy.LEAST_LOADED)
    languages: Mapped[list[Any]] = mapped_column(default=list)
    calendar_id: Mapped[int | None] = mapped_column(ForeignKey("business_calendars.id"))
    overflow_queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id"))
    overflow_after_seconds: Mapped[int | None]
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    calendar: Mapped["BusinessCalendar | None"] = relationship()
    overflow_queue: Mapped["Queue | None"] = relationship(remote_side=[id])
    required_skills: Mapped[list["QueueSkill"]] = relationship(
        back_populates="queue", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        return f"<Queue {self.code}>"


class QueueSkill(Base):
    """A skill a queue's cases need; a non-essential one may be dropped when a case overflows."""

    __tablename__ = "queue_skills"
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"), primary_key=True)
    skill_id: Mapped[int] = mapped_column(ForeignKey("skills.id", ondelete="CASCADE"), primary_key=True)
    min_level: Mapped[int] = mapped_column(default=1)
    is_essential: Mapped[bool] = mapped_column(default=True)

    queue: Mapped[Queue] = relationship(back_populates="required_skills")
    skill: Mapped[Skill] = relationship()


class SlaPolicy(Base):
    """Targets for a queue's cases of one priority, in business minutes of the queue's calendar."""

    __tablename__ = "sla_policies"
    __table_args__ = (UniqueConstraint("queue_id", "priority"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"))
    priority: Mapped[Priority] = mapped_column(IntEnumType(Priority))
    first_response_minutes: Mapped[int]
    resolution_minutes: Mapped[int]


class Category(Base):
    """A service the public can ask for (an Open311 service); names per language in `names`."""

    __tablename__ = "categories"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    names: Mapped[dict[str, Any]] = mapped_column(default=dict)
    description: Mapped[str] = mapped_column(Text, default="")
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id"))
    is_public: Mapped[bool] = mapped_column(default=True)
    retention_days: Mapped[int | None]

    queue: Mapped[Queue] = relationship()

    def __repr__(self) -> str:
        return f"<Category {self.code}>"

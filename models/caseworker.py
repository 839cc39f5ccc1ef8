"""Staff: users with a role, skills, languages, per-channel capacity, presence and queue memberships."""
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, utcnow
from models.enums import Channel, Presence, Role
from models.organisation import Queue, Skill

# Roles in increasing order of reach; a role may do what those before it may.
ROLE_ORDER = (Role.AGENT, Role.CASEWORKER, Role.SUPERVISOR, Role.ADMIN)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(default=Role.AGENT)
    is_active: Mapped[bool] = mapped_column(default=True)
    languages: Mapped[list[Any]] = mapped_column(default=list)
    presence: Mapped[Presence] = mapped_column(default=Presence.OFFLINE)
    presence_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_assigned_at: Mapped[datetime | None]
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    skills: Mapped[list["UserSkill"]] = relationship(back_populates="user", cascade="all, delete-orphan")
    capacities: Mapped[list["UserCapacity"]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )
    queues: Mapped[list[Queue]] = relationship(secondary="queue_members")

    # The user protocol Flask-Login expects, written out so that models/ need not import it.
    is_authenticated = True
    is_anonymous = False

    def get_id(self) -> str:
        return str(self.id)

    def has_role(self, role: Role) -> bool:
        """True when this user's role reaches at least `role`."""
        return ROLE_ORDER.index(self.role) >= ROLE_ORDER.index(role)

    def __repr__(self) -> str:
        return f"<User {self.id} {self.role.value}>"


class UserSkill(Base):
    __tablename__ = "user_skills"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    skill_id: Mapped[int] = mapped_column(ForeignKey("skills.id", ondelete="CASCADE"), primary_key=True)
    level: Mapped[int] = mapped_column(default=1)

    user: Mapped[User] = relationship(back_populates="skills")
    skill: Mapped[Skill] = relationship()


class UserCapacity(Base):
    """How many cases of one channel a user can hold at once (e.g. chat 3, email 8, phone 1)."""

    __tablename__ = "user_capacities"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    channel: Mapped[Channel] = mapped_column(primary_key=True)
    slots: Mapped[int]
    # Slots taken (assigned cases and pending offers holding this channel); kept by routing/engine.py.
    used: Mapped[int] = mapped_column(default=0, server_default="0")

    user: Mapped[User] = relationship(back_populates="capacities")


class QueueMember(Base):
    """A user's membership of a queue (team): agents and caseworkers see their queues' cases."""

    __tablename__ = "queue_members"
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )

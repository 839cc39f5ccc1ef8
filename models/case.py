"""Cases and what happens on them: interactions (messages, calls, notes) and their attachments."""
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    and_,
    false,
    literal_column,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, IntEnumType, enum_type, utcnow
from models.caseworker import User
from models.contact import Constituent
from models.enums import (
    OPEN_STATUSES,
    CaseStatus,
    Channel,
    DeliveryStatus,
    Direction,
    InboundStatus,
    InteractionKind,
    Priority,
)
from models.organisation import Category, Queue


class Case(Base):
    __tablename__ = "cases"
    # The lists' indexes are in models/views.py, the reports' in models/reports.py, routing's below. Routing
    # changes a case's status and owner, so each of its writes adds an entry to every index of the table
    # (not a HOT update): an index earns its place by a query that uses it.
    __table_args__ = (
        Index("ix_cases_constituent_created", "constituent_id", "created_at"),   # the 360° view
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    subject: Mapped[str] = mapped_column(String(500), default="")
    channel: Mapped[Channel]
    status: Mapped[CaseStatus] = mapped_column(default=CaseStatus.NEW)
    priority: Mapped[Priority] = mapped_column(IntEnumType(Priority), default=Priority.NORMAL)
    language: Mapped[str | None] = mapped_column(String(16))
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"))
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id"))
    constituent_id: Mapped[int | None] = mapped_column(ForeignKey("constituents.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Routing state: the agent a pending offer waits on, and the channel slot the case holds (on its
    # assignee or on the agent it is offered to); None when it holds none. See routing/engine.py.
    offered_to_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    slot_channel: Mapped[Channel | None] = mapped_column(enum_type(Channel, "slot_channel"))
    # After its queue's overflow delay, with no overflow queue, a case drops the non-essential skills.
    is_skill_relaxed: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Where the request is about (Open311 location, and the equity view by district).
    address: Mapped[str | None] = mapped_column(String(500))
    postcode: Mapped[str | None] = mapped_column(String(16))
    district: Mapped[str | None] = mapped_column(String(64))
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    # A hash of the secret given to the constituent for the public status page; never the secret itself.
    status_secret_hash: Mapped[str | None] = mapped_column(String(128))
    legal_hold: Mapped[bool] = mapped_column(default=False)
    # Legal hold (issue 8): who placed it, when and why; while it is on, retention leaves the case alone.
    legal_hold_reason: Mapped[str | None] = mapped_column(String(500))
    legal_hold_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    legal_hold_at: Mapped[datetime | None]
    # When retention removed the case's personal data (channels/retention.py); the skeleton stays for reports.
    anonymised_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # When the case started waiting for a queue; kept when re-routed, so aging is fair.
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When it joined its current queue (the overflow clock); None means at queued_at.
    entered_queue_at: Mapped[datetime | None]
    # When an offer of it was last declined or timed out: routing reads its declines only when this is
    # since it joined its queue.
    declined_at: Mapped[datetime | None]
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow)
    first_response_due_at: Mapped[datetime | None]
    resolution_due_at: Mapped[datetime | None]
    first_responded_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    # SLA clocks (routing/sla.py): the warning point before each due time; while the case waits on the
    # constituent, when that wait began, and the business seconds of all finished waits; and the
    # "queue_id:priority" the due times were measured for (a change re-measures them).
    first_response_warn_at: Mapped[datetime | None]
    resolution_warn_at: Mapped[datetime | None]
    sla_paused_at: Mapped[datetime | None]
    sla_paused_seconds: Mapped[int] = mapped_column(default=0, server_default="0")
    sla_basis: Mapped[str | None] = mapped_column(String(32))

    category: Mapped["Category | None"] = relationship()
    queue: Mapped["Queue | None"] = relationship()
    constituent: Mapped["Constituent | None"] = relationship()
    assignee: Mapped["User | None"] = relationship(foreign_keys=[assignee_id])
    legal_hold_by: Mapped["User | None"] = relationship(foreign_keys=[legal_hold_by_id])
    interactions: Mapped[list["Interaction"]] = relationship(
        back_populates="case", order_by="Interaction.occurred_at"
    )

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def is_anonymised(self) -> bool:
        """Retention removed the case's personal data and nothing arrived on it since (channels/retention.py
        `anonymised_now` is the same rule in SQL)."""
        return self.anonymised_at is not None and self.anonymised_at >= self.last_activity_at

    def __repr__(self) -> str:
        return f"<Case {self.reference}>"


# A case waiting to be routed: new, neither assigned nor offered. Its status is written out, not bound, so that
# the planner can match a query that says this to the index below, prepared or not.
WAITING = and_(Case.status == literal_column(f"'{CaseStatus.NEW.value}'"), Case.assignee_id.is_(None),
               Case.offered_to_id.is_(None))
# Routing's walk of a queue's waiting cases, best first (priority, then the longest wait). It holds the waiting
# cases only, so the walk does not grow with the queue's history of resolved and closed cases.
Index("ix_cases_waiting", Case.queue_id, Case.priority.desc(), Case.queued_at, Case.id,
      postgresql_where=WAITING, sqlite_where=WAITING)


class Interaction(Base):
    """One message, call, chat transcript, internal note or recorded change on a case."""

    __tablename__ = "interactions"
    __table_args__ = (
        # One interaction per external message: a retried delivery of the same Message-ID is a no-op.
        UniqueConstraint("channel", "external_id"),
        Index("ix_interactions_case_occurred", "case_id", "occurred_at"),
        Index("ix_interactions_constituent_occurred", "constituent_id", "occurred_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    constituent_id: Mapped[int | None] = mapped_column(ForeignKey("constituents.id"))
    kind: Mapped[InteractionKind]
    channel: Mapped[Channel]
    direction: Mapped[Direction]
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    contact_point_id: Mapped[int | None] = mapped_column(ForeignKey("contact_points.id"))
    subject: Mapped[str] = mapped_column(String(500), default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str | None] = mapped_column(Text)      # sanitised before it is stored
    external_id: Mapped[str | None] = mapped_column(String(998), index=True)
    is_public: Mapped[bool] = mapped_column(default=False)   # shown on the public status page
    delivery_status: Mapped[DeliveryStatus | None]
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    inbound_raw_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_raw.id"))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    case: Mapped[Case] = relationship(back_populates="interactions")
    author: Mapped["User | None"] = relationship()
    constituent: Mapped["Constituent | None"] = relationship()
    contact_point: Mapped["ContactPoint | None"] = relationship()
    attachments: Mapped[list["Attachment"]] = relationship(
        back_populates="interaction", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        return f"<Interaction {self.id} {self.kind.value}>"


class Attachment(Base):
    """A file of an interaction, stored once on disk under its sha256 (content-addressed)."""

    __tablename__ = "attachments"
    id: Mapped[int] = mapped_column(primary_key=True)
    interaction_id: Mapped[int] = mapped_column(ForeignKey("interactions.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255), default="application/octet-stream")
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    is_inline: Mapped[bool] = mapped_column(default=False)
    content_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    purged_at: Mapped[datetime | None]       # retention deleted the file; size and sha256 stay as the record

    interaction: Mapped[Interaction] = relationship(back_populates="attachments")


class InboundRaw(Base):
    """A payload exactly as received, stored before it is parsed: the record that nothing is lost."""

    __tablename__ = "inbound_raw"
    __table_args__ = (Index("ix_inbound_raw_status_received", "status", "received_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[Channel]
    source: Mapped[str] = mapped_column(String(64))          # smtp, imap:<mailbox>, import, webhook:mailgun...
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    content_type: Mapped[str] = mapped_column(String(255), default="message/rfc822")
    status: Mapped[InboundStatus] = mapped_column(default=InboundStatus.RECEIVED)
    outcome: Mapped[str | None] = mapped_column(String(16))      # new_case, threaded, auto_reply, bounce...
    message_id: Mapped[str | None] = mapped_column(String(998), index=True)  # known at receipt for raw mail
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]
    purged_at: Mapped[datetime | None]       # retention emptied the payload


class ReferenceCounter(Base):
    """The last case number given out in a year: references read C-<year>-<number>."""

    __tablename__ = "reference_counters"
    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(default=0)


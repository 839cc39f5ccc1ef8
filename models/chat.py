"""Live chat sessions: one per chat case. The messages themselves are interactions on the case."""
import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, utcnow
from models.case import Case


class ChatState(enum.StrEnum):
    OPEN = "open"                  # waiting for an agent, or talking to one (the case's assignee)
    ENDED = "ended"
    MESSAGE_LEFT = "message_left"  # nobody answered: the constituent left a message, answered by email


class ChatSession(Base):
    """The live side of a chat case: who may speak in it (a hash of the constituent's secret) and
    how far each side has read. The constituent never signs in; their signed chat token names this row."""

    __tablename__ = "chat_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[ChatState] = mapped_column(default=ChatState.OPEN)
    language: Mapped[str] = mapped_column(String(16), default="en")
    # The last interaction id each side has seen: the other side shows its messages as "read" up to it.
    constituent_read_upto: Mapped[int | None]
    agent_read_upto: Mapped[int | None]
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]

    case: Mapped[Case] = relationship()

    @property
    def is_open(self) -> bool:
        return self.state is ChatState.OPEN

    def __repr__(self) -> str:
        return f"<ChatSession {self.id} {self.state.value}>"

"""Staff two-factor sign-in: a TOTP secret (RFC 6238), kept encrypted, and single-use recovery codes."""
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class StaffTotp(Base):
    """One staff member's authenticator: set up (`is_enabled` False) until confirmed with a current code."""

    __tablename__ = "staff_totp"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    secret_encrypted: Mapped[str] = mapped_column(String(255))     # Fernet token of the base32 secret
    is_enabled: Mapped[bool] = mapped_column(default=False)
    # The time step of the last code accepted: a code of that step or an earlier one is refused (no replay).
    last_counter: Mapped[int | None]
    failed_attempts: Mapped[int] = mapped_column(default=0)      # wrong codes in a row; they lock the account
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    enabled_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<StaffTotp user={self.user_id} enabled={self.is_enabled}>"


class StaffRecoveryCode(Base):
    """A single-use code for signing in without the authenticator, stored as an argon2 hash."""

    __tablename__ = "staff_recovery_codes"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<StaffRecoveryCode {self.id} user={self.user_id}>"

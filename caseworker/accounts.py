"""Staff accounts: password hashing (argon2), creation, and authentication with lockout after failures."""
import logging
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Channel, Role, User, UserCapacity, utcnow

log = logging.getLogger(__name__)

_hasher = PasswordHasher()
# Verified against when the email is unknown, so a wrong address costs the same time as a wrong password.
_DUMMY_HASH = _hasher.hash("not a password of anybody")

DEFAULT_CAPACITY = {Channel.EMAIL: 8, Channel.WEBFORM: 8, Channel.OPEN311: 8, Channel.CHAT: 3, Channel.PHONE: 1}


class AccountError(ValueError):
    """An account cannot be created as asked (e.g. the email is taken)."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def normalise_email(email: str) -> str:
    return email.strip().lower()


def find_user(session: Session, email: str) -> User | None:
    return session.execute(select(User).where(User.email == normalise_email(email))).scalar_one_or_none()


def create_user(session: Session, email: str, password: str, role: Role, display_name: str = "",
                languages: list[str] | None = None) -> User:
    """Add a staff account with default channel capacities. Flushes. Raises AccountError on a taken email."""
    email = normalise_email(email)
    if "@" not in email:
        raise AccountError("an email address is needed")
    if len(password) < 10:
        raise AccountError("the password must have at least 10 characters")
    if find_user(session, email) is not None:
        raise AccountError("an account with this email exists already")
    user = User(email=email, password_hash=hash_password(password), role=role,
                display_name=display_name or email.split("@")[0], languages=languages or ["en"])
    user.capacities = [UserCapacity(channel=ch, slots=n) for ch, n in DEFAULT_CAPACITY.items()]
    session.add(user)
    session.flush()
    return user


def lockout_remaining(user: User, now: datetime) -> timedelta | None:
    """How long `user` stays locked out after failed logins, or None when not locked."""
    if user.locked_until is None or user.locked_until <= now:
        return None
    return user.locked_until - now


def authenticate(session: Session, email: str, password: str, *, max_failures: int, lock_seconds: int,
                 now: datetime | None = None) -> User | None:
    """The active user with this email and password, or None.

    Counts failures; after `max_failures` in a row the account locks for lock_seconds, doubling with each
    further failure. A locked account is refused even with the right password. Flushes; caller commits.
    """
    now = now or utcnow()
    user = find_user(session, email)
    if user is None:
        _verify(_DUMMY_HASH, password)
        return None
    if lockout_remaining(user, now) is not None:
        return None
    if not user.is_active or not _verify(user.password_hash, password):
        _record_failure(user, now, max_failures, lock_seconds)
        session.flush()
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
    session.flush()
    return user


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _record_failure(user: User, now: datetime, max_failures: int, lock_seconds: int) -> None:
    user.failed_logins += 1
    lock_after_failures(user, user.failed_logins, now, max_failures=max_failures, lock_seconds=lock_seconds)


def lock_after_failures(user: User, failures: int, now: datetime, *, max_failures: int, lock_seconds: int) -> None:
    """Lock `user` once `failures` in a row reach `max_failures`: for lock_seconds, doubling with each further
    failure. Used for wrong passwords and for wrong second-factor codes. Changes the user; flushes nothing."""
    over = failures - max_failures
    if over >= 0:
        user.locked_until = now + timedelta(seconds=lock_seconds * 2 ** min(over, 10))
        log.warning("user %s locked after %s failed attempts", user.id, failures)


def count_by_role(session: Session) -> dict[Role, int]:
    rows = session.execute(select(User.role, func.count()).group_by(User.role))
    return {role: n for role, n in rows}

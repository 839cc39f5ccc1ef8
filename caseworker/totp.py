"""Staff two-factor sign-in: TOTP (RFC 6238) set-up and checks, with replay refusal and recovery codes.

The authenticator secret is stored encrypted (Fernet, a key of its own or one derived from SECRET_KEY) and
never logged; recovery codes are stored as argon2 hashes and shown once. A code is accepted for the current
30-second step or the one either side (clock drift), and only for a step later than the last code accepted, so
an overheard code cannot be used again. Wrong codes count toward the account's lockout like wrong passwords.
"""
import base64
import hashlib
import hmac
import logging
import secrets
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

import pyotp
import segno
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from caseworker import accounts
from models import Role, StaffRecoveryCode, StaffTotp, User, utcnow

log = logging.getLogger(__name__)

DIGITS = 6
PERIOD = 30
DRIFT_STEPS = 1                 # accept the step before and after the current one
RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"   # no 0/o, 1/l/i to misread
_RECOVERY_LENGTH = 10           # ~49 bits each: guessing is hopeless, so a lighter argon2 cost is enough
# OWASP's minimum argon2id settings: a sign-in with a recovery code checks up to ten hashes.
_code_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


class Method(StrEnum):
    """How a second step was passed."""

    TOTP = "totp"
    RECOVERY_CODE = "recovery_code"


class TwoFactorError(ValueError):
    """A two-factor change cannot be made as asked (wrong code, nothing set up, already on)."""


class SecretBox:
    """Encrypts authenticator secrets at rest."""

    def __init__(self, key: str | None, secret_key: str):
        if not key:
            # A key of its own, derived so that a leaked database without the app's secret reveals nothing.
            digest = hmac.new(secret_key.encode(), b"casework two-factor secrets", hashlib.sha256).digest()
            key = base64.urlsafe_b64encode(digest).decode()
        self._fernet = Fernet(key)

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, token: str) -> str:
        """The secret; raises TwoFactorError when the key cannot decrypt it (the key was changed)."""
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as error:
            raise TwoFactorError("the authenticator secret cannot be decrypted with the configured key") from error


def required_roles(setting: str | Iterable[str] | None) -> frozenset[Role]:
    """The roles named by REQUIRE_2FA_ROLES ("supervisor,admin" or a list). Raises ValueError on an unknown role."""
    names = setting.split(",") if isinstance(setting, str) else list(setting or ())
    return frozenset(Role(name.strip().lower()) for name in names if name.strip())


def record_of(session: Session, user_id: int, *, lock: bool = False) -> StaffTotp | None:
    """The user's authenticator record; `lock` takes its row lock, so two requests cannot use one code."""
    return session.get(StaffTotp, user_id, with_for_update=lock)


def is_enabled(session: Session, user_id: int) -> bool:
    """True when the user signs in with a second step."""
    record = record_of(session, user_id)
    return record is not None and record.is_enabled


def start_setup(session: Session, user: User, box: SecretBox) -> str:
    """A new secret for `user`'s authenticator, waiting for a confirming code; returns it (base32).

    Replaces a set-up in progress. Flushes. Raises TwoFactorError when two-factor is on already.
    """
    record = record_of(session, user.id)
    if record is not None and record.is_enabled:
        raise TwoFactorError("two-factor sign-in is on already")
    secret = pyotp.random_base32()
    if record is None:
        record = StaffTotp(user_id=user.id)
        session.add(record)
    record.secret_encrypted, record.last_counter, record.failed_attempts = box.seal(secret), None, 0
    session.flush()
    return secret


def pending_secret(session: Session, user_id: int, box: SecretBox) -> str | None:
    """The secret of a set-up waiting for its confirming code, or None."""
    record = record_of(session, user_id)
    return box.open(record.secret_encrypted) if record is not None and not record.is_enabled else None


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD).provisioning_uri(name=account, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The URI as a QR code, an inline SVG element (attributes only, so the page's CSP allows it)."""
    return segno.make(uri, error="m").svg_inline(scale=5, border=4, dark="#000", light="#fff", svgclass="qr-code",
                                                 lineclass=None, title="QR code for your authenticator app")


def confirm_setup(session: Session, user: User, code: str, box: SecretBox, now: datetime | None = None) -> list[str]:
    """Switch two-factor on with a current code from the new authenticator; returns fresh recovery codes.

    Flushes. Raises TwoFactorError when nothing is being set up or the code is wrong.
    """
    now = now or utcnow()
    record = record_of(session, user.id, lock=True)
    if record is None or record.is_enabled:
        raise TwoFactorError("start the set-up again")
    if not _accept_totp(record, box, code, now):
        raise TwoFactorError("that code is not right")
    record.is_enabled, record.enabled_at, record.failed_attempts = True, now, 0
    return new_recovery_codes(session, user)


def new_recovery_codes(session: Session, user: User) -> list[str]:
    """Replace `user`'s recovery codes with RECOVERY_CODE_COUNT new ones; returns them in clear, to show once.

    Flushes.
    """
    session.execute(delete(StaffRecoveryCode).where(StaffRecoveryCode.user_id == user.id))
    codes = ["".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
             for _ in range(RECOVERY_CODE_COUNT)]
    session.add_all(StaffRecoveryCode(user_id=user.id, code_hash=_code_hasher.hash(code)) for code in codes)
    session.flush()
    return [f"{code[:5]}-{code[5:]}" for code in codes]


def recovery_codes_left(session: Session, user_id: int) -> int:
    return session.execute(select(func.count()).where(StaffRecoveryCode.user_id == user_id,
                                                      StaffRecoveryCode.used_at.is_(None))).scalar_one()


def verify(session: Session, user: User, code: str, box: SecretBox, *, max_failures: int, lock_seconds: int,
           now: datetime | None = None) -> Method | None:
    """Check a second-step code: six digits are a TOTP code, anything else a recovery code (used up here).

    None when it is wrong, the account is locked, or two-factor is off. A wrong code counts toward the
    lockout (lock_seconds, doubling, after max_failures in a row); a right one resets the count. Flushes.
    """
    now = now or utcnow()
    record = record_of(session, user.id, lock=True)
    if record is None or not record.is_enabled or accounts.lockout_remaining(user, now) is not None:
        return None
    cleaned = "".join(code.split()).replace("-", "").lower()
    if cleaned.isdigit():
        method = Method.TOTP if _accept_totp(record, box, cleaned, now) else None
    else:
        method = Method.RECOVERY_CODE if _use_recovery_code(session, user.id, cleaned, now) else None
    if method is None:
        record.failed_attempts += 1
        accounts.lock_after_failures(user, record.failed_attempts, now, max_failures=max_failures,
                                     lock_seconds=lock_seconds)
        log.info("user %s gave a wrong second-step code (%s in a row)", user.id, record.failed_attempts)
    else:
        record.failed_attempts = user.failed_logins = 0
        user.locked_until, user.last_login_at = None, now
    session.flush()
    return method


def disable(session: Session, user_id: int) -> bool:
    """Switch two-factor off and drop its secret and recovery codes. Idempotent: False when it was off.

    Flushes.
    """
    record = record_of(session, user_id)
    session.execute(delete(StaffRecoveryCode).where(StaffRecoveryCode.user_id == user_id))
    if record is None:
        return False
    session.delete(record)
    session.flush()
    return record.is_enabled


def _accept_totp(record: StaffTotp, box: SecretBox, code: str, now: datetime) -> bool:
    """True for a code of the current step (± drift) later than the last accepted one; remembers its step."""
    if len(code) != DIGITS or not code.isdigit():
        return False
    otp = pyotp.TOTP(box.open(record.secret_encrypted), digits=DIGITS, interval=PERIOD)
    current = otp.timecode(now)
    for counter in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(otp.generate_otp(counter), code):
            if record.last_counter is not None and counter <= record.last_counter:
                log.warning("user %s: a used two-factor code was offered again", record.user_id)
                return False
            record.last_counter = counter
            return True
    return False


def _use_recovery_code(session: Session, user_id: int, code: str, now: datetime) -> bool:
    if len(code) != _RECOVERY_LENGTH:
        return False
    unused = session.execute(select(StaffRecoveryCode).where(StaffRecoveryCode.user_id == user_id,
                                                             StaffRecoveryCode.used_at.is_(None))).scalars()
    for row in unused:
        try:
            _code_hasher.verify(row.code_hash, code)
        except (VerificationError, InvalidHashError):
            continue
        row.used_at = now
        return True
    return False

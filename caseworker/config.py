"""Configuration: `DefaultConfig`, then the environment (DATABASE_URL, REDIS_URL, SECRET_KEY, CASEWORK_*)."""
import os
import secrets
import tempfile
from datetime import timedelta
from pathlib import Path

from flask import Flask

from caseworker import embedded_redis
from channels.csat import CsatSettings
from channels.retention import RetentionSettings, parse_days
from channels.settings import ChannelSettings, Mailbox, SmtpServer
from models import RetentionMode


class DefaultConfig:
    # The engines. None means the zero-setup default: a SQLite file and an embedded Redis in instance/.
    DATABASE_URL: str | None = None
    REDIS_URL: str | None = None
    SOCKETIO_MESSAGE_QUEUE: str | None = ""   # "" = same as REDIS_URL; None = no queue (one process)
    SECRET_KEY: str | None = None

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False             # set CASEWORK_SESSION_COOKIE_SECURE=true behind HTTPS
    SESSION_COOKIE_NAME = "casework_session"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    PERMANENT_SESSION_LIFETIME = timedelta(hours=10)
    WTF_CSRF_TIME_LIMIT = 10 * 3600           # a working shift

    # Login throttling: an account locks for LOGIN_LOCK_SECONDS * 2**n after LOGIN_MAX_FAILURES failures,
    # and each client address is rate-limited on the login form.
    LOGIN_MAX_FAILURES = 5
    LOGIN_LOCK_SECONDS = 60
    LOGIN_RATE_LIMIT = "20 per minute"
    RATELIMIT_ENABLED = True
    # Two-factor sign-in (issue 8): roles that must set it up before anything else ("supervisor,admin"), and
    # the Fernet key the authenticator secrets are encrypted with (unset: derived from SECRET_KEY).
    REQUIRE_2FA_ROLES: str | list = ""
    TWOFACTOR_ENCRYPTION_KEY: str | None = None

    ATTACHMENT_DIR: str | None = None         # default: instance/attachments
    OUTBOX_DIR: str | None = None             # default: instance/outbox

    # Email. Outbound goes to SMTP_HOST; the listener of `flask channels smtpd` binds SMTPD_HOST:SMTPD_PORT.
    MAIL_SERVICE_ADDRESS = "help@riverton.example"
    MAIL_SERVICE_NAME = "Riverton City Services"
    PUBLIC_BASE_URL = "http://127.0.0.1:5000"  # the public pages' address, for links in outbound mail
    MAIL_MAX_BYTES = 25 * 1024 * 1024
    MAIL_ACKNOWLEDGE = True
    MAIL_ACK_WINDOW_SECONDS = 3600
    SMTP_HOST = ""                            # none: outbound mail is written to instance/outbox/*.eml
    SMTP_PORT = 25
    SMTP_SECURITY = "none"                    # none | starttls | tls
    SMTP_USERNAME: str | None = None
    SMTP_PASSWORD: str | None = None
    SMTPD_HOST = "127.0.0.1"
    SMTPD_PORT = 2525
    IMAP_MAILBOXES: list = []                 # [{"name", "host", "port", "ssl", "username", "password", "folder",
                                              #   "starttls", "mark_seen"}]: see channels.settings.Mailbox
    IMAP_POLL_SECONDS = 60
    MAILGUN_SIGNING_KEY: str | None = None
    WEBHOOK_USERNAME: str | None = None       # HTTP Basic credentials that SendGrid and Postmark are given
    WEBHOOK_PASSWORD: str | None = None
    INBOX_PAGE_SIZE = 50
    INBOX_COUNT_CAP = 1000                    # lists count this far, then say "1,000+": a count never slows a page
    MAX_CONTENT_LENGTH = 64 * 1024 * 1024     # any request body; each channel sets its own tighter limits

    # The public contact page: attachments it takes, and how often one client may submit or look up.
    WEBFORM_MAX_FILES = 3
    WEBFORM_MAX_FILE_BYTES = 10 * 1024 * 1024
    WEBFORM_RATE_LIMIT = "10 per minute; 60 per hour"
    STATUS_RATE_LIMIT = "20 per minute; 200 per hour"
    # Open311 GeoReport v2 (issue 6): the one jurisdiction this endpoint serves, what discovery tells
    # developers, and rate limits per API key (POST) and per client address (GET).
    OPEN311_JURISDICTION_ID = "riverton.example"
    OPEN311_CONTACT = "Riverton City Services, help@riverton.example"
    OPEN311_KEY_SERVICE = "Ask help@riverton.example for an API key: an administrator issues it."
    OPEN311_POST_RATE_LIMIT = "30 per minute; 1000 per hour"
    OPEN311_READ_RATE_LIMIT = "120 per minute"
    WORKER_QUEUES = ("routing", "channels", "default")   # routing first: an assignment never waits behind bulk ingest

    # Routing (issue 4): how long a chat or phone offer waits for an answer; when an offline agent's
    # unanswered cases go back to the queue (None: never); how long after an agent's last console
    # closes they are marked offline; how old a process's copy of the agents' presence and loads may be
    # when routing picks from it (PostgreSQL; 0 reads them in every transaction).
    ROUTING_OFFER_TIMEOUT_SECONDS = 30
    ROUTING_RETURN_UNANSWERED_SECONDS: float | None = None
    ROUTING_LOADS_MAX_AGE_SECONDS = 5.0
    # SLA: the warning comes this % of the target before the due time, at most the cap (business minutes);
    # the safety-net sweep runs this often (None: only when a worker starts).
    SLA_WARNING_PERCENT = 20
    SLA_WARNING_MAX_MINUTES: int | None = 60
    SLA_SWEEP_SECONDS: float | None = 300
    PRESENCE_GRACE_SECONDS = 30
    # Broadcast "changed, re-fetch" pushes (queue.changed, wallboard.changed) go out at most once per room
    # and queue in this many milliseconds, the last change always announced (0: every change, at once).
    REALTIME_COALESCE_MS = 1000
    # Wallboard (issue 7): alert when a queue's oldest wait reaches this, or its cases at risk plus
    # breached reach this many (None turns an alert off).
    WALLBOARD_OLDEST_WAIT_ALERT_SECONDS: int | None = 600
    WALLBOARD_AT_RISK_ALERT: int | None = 3

    # Phone (issue 6): the incoming-call webhook's shared HMAC secret (unset: the webhook answers 404), the
    # region of numbers dialled without a country code, the queue (code) calls go to, and how old a signed
    # webhook request may be.
    PHONE_WEBHOOK_SECRET: str | None = None
    DEFAULT_PHONE_REGION = "US"
    PHONE_QUEUE = "general"                   # the demo's General Enquiries answers the 311 line
    PHONE_SIGNATURE_TOLERANCE_SECONDS = 300

    # Satisfaction survey (issue 7): sent when a case is resolved; its signed link works this many days;
    # how often one client may answer.
    CSAT_ENABLED = True
    CSAT_LINK_MAX_AGE_DAYS = 14
    CSAT_RATE_LIMIT = "10 per minute; 100 per hour"

    # Retention (issue 8): cases closed longer ago than their category's period (Category.retention_days),
    # else this default in days ("never" / None: kept for ever), are anonymised ("anonymise") or deleted
    # ("delete"), RETENTION_BATCH_SIZE per transaction, daily at RETENTION_RUN_HOUR UTC (None: no schedule).
    RETENTION_DEFAULT_DAYS: int | str | None = None
    RETENTION_MODE = "anonymise"
    RETENTION_BATCH_SIZE = 200
    RETENTION_RUN_HOUR: int | None = 3


_BOOLEAN_KEYS = {"SESSION_COOKIE_SECURE", "RATELIMIT_ENABLED", "TESTING", "MAIL_ACKNOWLEDGE"}
_BOOLEAN_KEYS |= {"CSAT_ENABLED"}


def load(app: Flask, overrides: dict | None) -> None:
    """Fill app.config: defaults, then the environment, then `overrides`; then derive the engine URLs."""
    app.config.from_object(DefaultConfig)
    for key in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY"):
        if os.environ.get(key):
            app.config[key] = os.environ[key]
    app.config.from_prefixed_env("CASEWORK")
    for key in _BOOLEAN_KEYS & app.config.keys():
        if isinstance(app.config[key], str):
            app.config[key] = app.config[key].lower() in ("1", "true", "yes", "on")
    app.config.update(overrides or {})
    _derive(app)


def _derive(app: Flask) -> None:
    instance = Path(app.instance_path)
    if not app.config["DATABASE_URL"]:
        app.config["DATABASE_URL"] = f"sqlite:///{instance / 'casework.db'}"
    app.config["REDIS_EMBEDDED"] = not app.config["REDIS_URL"]
    if app.config["REDIS_EMBEDDED"]:
        app.config["REDIS_URL"] = embedded_redis.url(app.instance_path)
    if app.config["SOCKETIO_MESSAGE_QUEUE"] == "":
        app.config["SOCKETIO_MESSAGE_QUEUE"] = app.config["REDIS_URL"]
    for key, folder in (("ATTACHMENT_DIR", "attachments"), ("OUTBOX_DIR", "outbox")):
        if not app.config[key]:
            app.config[key] = str(instance / folder)
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = _instance_secret(instance)
    redis_url = app.config["REDIS_URL"]
    app.config.setdefault(
        "RATELIMIT_STORAGE_URI",
        "redis+unix://" + redis_url.removeprefix("unix://") if redis_url.startswith("unix://") else redis_url,
    )


def _instance_secret(instance: Path) -> str:
    """A secret key kept in the instance folder, so that every local process signs sessions alike."""
    path = instance / "secret_key"
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        # Written aside, then linked into place: two processes starting at once agree on one key.
        fd, tmp = tempfile.mkstemp(dir=instance)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    return path.read_text().strip()


def channel_settings(app: Flask) -> ChannelSettings:
    """The part of the config that channels/ reads, as its own settings object."""
    c = app.config
    return ChannelSettings(
        service_address=c["MAIL_SERVICE_ADDRESS"], service_name=c["MAIL_SERVICE_NAME"], public_url=c["PUBLIC_BASE_URL"],
        attachment_dir=Path(c["ATTACHMENT_DIR"]), outbox_dir=Path(c["OUTBOX_DIR"]),
        max_message_bytes=int(c["MAIL_MAX_BYTES"]),
        acknowledge=c["MAIL_ACKNOWLEDGE"], acknowledgement_window_seconds=int(c["MAIL_ACK_WINDOW_SECONDS"]),
        smtp=SmtpServer(host=c["SMTP_HOST"], port=int(c["SMTP_PORT"]), security=c["SMTP_SECURITY"],
                        username=c["SMTP_USERNAME"], password=c["SMTP_PASSWORD"]),
        mailboxes=tuple(Mailbox(**box) for box in c["IMAP_MAILBOXES"]),
        imap_poll_seconds=int(c["IMAP_POLL_SECONDS"]),
        mailgun_signing_key=c["MAILGUN_SIGNING_KEY"],
        webhook_username=c["WEBHOOK_USERNAME"], webhook_password=c["WEBHOOK_PASSWORD"],
    )


def retention_settings(app: Flask) -> RetentionSettings:
    """The part of the config that retention (channels.retention) reads. Raises ValueError for a bad value."""
    c = app.config
    hour = c["RETENTION_RUN_HOUR"]
    return RetentionSettings(default_days=parse_days(c["RETENTION_DEFAULT_DAYS"]), mode=RetentionMode(c["RETENTION_MODE"]),
                             batch_size=int(c["RETENTION_BATCH_SIZE"]),
                             run_hour=None if hour in (None, "", "never") else int(hour))


def csat_settings(app: Flask) -> CsatSettings:
    """The part of the config that the satisfaction survey (channels.csat) reads."""
    c = app.config
    return CsatSettings(secret_key=c["SECRET_KEY"], max_age_days=float(c["CSAT_LINK_MAX_AGE_DAYS"]),
                        enabled=bool(c["CSAT_ENABLED"]))

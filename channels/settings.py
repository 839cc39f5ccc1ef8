"""Channel settings: set once by the composition root (create_app), read by jobs and listeners.

channels/ may not read Flask's config, so `caseworker` hands the values over with `configure`, the way
`models.init_engine` hands over the database URL.
"""
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class SmtpServer:
    """Where outbound mail goes. `security` is "none", "starttls" or "tls". No host: the outbox folder."""

    host: str = ""
    port: int = 25
    security: str = "none"
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0


@dataclass(frozen=True)
class Mailbox:
    """An IMAP mailbox polled for inbound mail.

    `ssl` is TLS from the start (port 993); without it, `starttls` upgrades a plain connection (port 143) and
    fails when the server cannot; with neither the connection stays plain (loopback only). `mark_seen` flags
    each taken message \\Seen; by default the mailbox is left untouched (read-only, BODY.PEEK).
    """

    name: str
    host: str
    port: int = 993
    ssl: bool = True
    username: str = ""
    password: str = field(default="", repr=False)
    folder: str = "INBOX"
    starttls: bool = False
    mark_seen: bool = False


@dataclass(frozen=True)
class ChannelSettings:
    service_address: str = "help@casework.invalid"      # From: of outbound mail, and the plus-address base
    service_name: str = "Casework"
    public_url: str = "http://127.0.0.1:5000"           # where the public pages are, for links in mail
    attachment_dir: Path = Path("instance/attachments")
    template_dir: Path = Path(__file__).resolve().parents[1] / "templates" / "email"
    outbox_dir: Path = Path("instance/outbox")          # outbound mail lands here when no SMTP host is set
    max_message_bytes: int = 25 * 1024 * 1024
    acknowledge: bool = True
    acknowledgement_window_seconds: int = 3600           # at most one acknowledgement per sender per window
    smtp: SmtpServer = field(default_factory=SmtpServer)
    mailboxes: tuple[Mailbox, ...] = ()
    imap_poll_seconds: int = 60                         # between two polls of the mailboxes
    mailgun_signing_key: str | None = None
    webhook_username: str | None = None                 # HTTP Basic credentials for SendGrid and Postmark
    webhook_password: str | None = None

    @property
    def message_id_domain(self) -> str:
        return self.service_address.rpartition("@")[2] or "casework.invalid"


_current = ChannelSettings()


def configure(settings: ChannelSettings) -> None:
    """Install the settings for this process."""
    global _current
    _current = settings


def current() -> ChannelSettings:
    return _current

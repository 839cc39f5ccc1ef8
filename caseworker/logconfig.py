"""Logging, configured once per process (create_app and `flask worker`). Records carry ids, never PII.

Call sites log ids, never values. Two safety nets stay under that rule: third-party loggers whose lines hold
content by design are pinned above the level where they do (CONTENT_LOGGERS, whatever CASEWORK_LOG_LEVEL
says), and the output format blanks anything that looks like an email address or a phone number.
"""
import logging
import logging.config
import os
import re

from rq import get_current_job

# Third-party loggers that write what people sent, pinned at WARNING: aiosmtpd ("mail.log") logs each SMTP
# command line (MAIL FROM:<address>) at INFO and message lines at DEBUG; werkzeug's access log has query
# strings; SQLAlchemy's engine logs statements with parameters at INFO and result rows at DEBUG.
CONTENT_LOGGERS = ("mail.log", "werkzeug", "sqlalchemy.engine")
EMAIL = re.compile(r"[\w.+'-]+(?:@|%40)[\w-]+(?:\.[\w-]+)+", re.IGNORECASE)
# A run of 9 to 15 digits with the separators people type, not inside a word, an id or a reference (C-2026-...),
# and not a date.
PHONE = re.compile(r"(?<![\w+.:/-])(?!\d{4}-\d\d-\d\d)(?:\+|%2B)?\(?\d[\d \t().-]{7,22}\d(?![\w-])")
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """`text` with email addresses and phone numbers (9 to 15 digits) replaced by [redacted]. Pure."""
    text = EMAIL.sub(REDACTED, text)
    return PHONE.sub(lambda m: REDACTED if 9 <= sum(c.isdigit() for c in m.group()) <= 15 else m.group(), text)


class RedactingFormatter(logging.Formatter):
    """Redacts the message and the exception text of each line; the time and the other fields stay as they are."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        message = record.message
        record.message = redact(message)
        try:
            return super().formatMessage(record)
        finally:
            record.message = message

    def formatException(self, ei) -> str:
        return redact(super().formatException(ei))


class JobIdFilter(logging.Filter):
    """Adds the RQ job id (or '-') to every record, so a job's lines can be followed."""

    def filter(self, record: logging.LogRecord) -> bool:
        job = get_current_job()
        record.job_id = job.id if job else "-"
        return True


def configure(level: str | None = None) -> None:
    """Send this project's logs to stderr in one format. Idempotent."""
    level = level or os.environ.get("CASEWORK_LOG_LEVEL", "INFO")
    logging.config.dictConfig({
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"job_id": {"()": JobIdFilter}},
        "formatters": {"plain": {"()": RedactingFormatter,
                                 "format": "%(asctime)s %(levelname)s %(name)s [%(job_id)s] %(message)s"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["job_id"]}},
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {**{name: {"level": "WARNING"} for name in CONTENT_LOGGERS}, "engineio": {"level": "WARNING"},
                    "alembic": {"level": "WARNING"}, "alembic.runtime.migration": {"level": "INFO"},
                    "socketio": {"level": "WARNING"},
                    # RQ logs four lines for every job; our jobs log what they did themselves.
                    "rq.worker": {"level": "WARNING"}, "rq.scheduler": {"level": "WARNING"}},
    })

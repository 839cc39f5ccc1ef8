"""Logging, configured once per process (create_app and `flask worker`). Records carry ids, never PII."""
import logging
import logging.config
import os

from rq import get_current_job


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
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(job_id)s] %(message)s"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["job_id"]}},
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {"werkzeug": {"level": "WARNING"}, "engineio": {"level": "WARNING"},
                    "alembic": {"level": "WARNING"}, "alembic.runtime.migration": {"level": "INFO"},
                    "socketio": {"level": "WARNING"},
                    # RQ logs four lines for every job; our jobs log what they did themselves.
                    "rq.worker": {"level": "WARNING"}, "rq.scheduler": {"level": "WARNING"}},
    })

"""Configuration: `DefaultConfig`, then the environment (DATABASE_URL, REDIS_URL, SECRET_KEY, CASEWORK_*)."""
import os
import secrets
import tempfile
from datetime import timedelta
from pathlib import Path

from flask import Flask

from caseworker import embedded_redis


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

    ATTACHMENT_DIR: str | None = None         # default: instance/attachments
    INBOX_PAGE_SIZE = 50
    WORKER_QUEUES = ("channels", "routing", "default")


_BOOLEAN_KEYS = {"SESSION_COOKIE_SECURE", "RATELIMIT_ENABLED", "TESTING"}


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
    if not app.config["ATTACHMENT_DIR"]:
        app.config["ATTACHMENT_DIR"] = str(instance / "attachments")
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

"""Extension objects, unbound; `create_app` binds each with `init_app`. Redis clients are made lazily."""
from collections.abc import Callable

from flask import current_app
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_socketio import SocketIO
from flask_wtf.csrf import CSRFProtect
from redis import Redis
from socketio import RedisManager

from caseworker import embedded_redis
from channels.jobs import Backlog

babel = Babel()
login_manager = LoginManager()
socketio = SocketIO()
csrf = CSRFProtect()
# Fails open to memory when Redis is away: logging in must not depend on the rate limiter's store.
limiter = Limiter(key_func=get_remote_address, in_memory_fallback_enabled=True, swallow_errors=True)

SOCKETIO_CHANNEL = "flask-socketio"


def socketio_queue_options(url: str | None, write_only: bool = False) -> dict:
    """SocketIO options for a Redis message queue at `url` (no queue when `url` is None).

    Flask-SocketIO picks its queue class by URL scheme and would take a unix:// URL for Kombu; the
    embedded Redis listens on a unix socket, so the Redis manager is made here for every scheme.
    """
    if not url:
        # Explicit Nones: the SocketIO object is a module singleton, and init_app keeps earlier options.
        return {"message_queue": None, "client_manager": None}
    return {"message_queue": url,
            "client_manager": RedisManager(url, channel=SOCKETIO_CHANNEL, write_only=write_only)}


_clients: dict[tuple[str, bool], Redis] = {}


def redis_client(decode: bool = True) -> Redis:
    """A shared Redis client for the app's REDIS_URL, starting the embedded server when that is the engine.

    `decode=False` gives the client RQ needs (RQ stores pickled bytes). Connects lazily.
    """
    app = current_app
    if app.config["REDIS_EMBEDDED"]:
        embedded_redis.ensure_running(app.instance_path)
    key = (app.config["REDIS_URL"], decode)
    if key not in _clients:
        _clients[key] = Redis.from_url(key[0], decode_responses=decode, health_check_interval=30)
    return _clients[key]


def rq_connection() -> Redis:
    """The Redis client for RQ queues and workers."""
    return redis_client(decode=False)


# Announcements of work already committed (a reply to send, a form to route, SLA timers to set) that found
# Redis away wait here, in order, and are retried until it answers: the work itself is never lost.
_backlog = Backlog()


def enqueue_after_commit(action: Callable[[Redis], object]) -> None:
    """Run `action` with the RQ Redis client now, or later from this process's backlog while Redis is away.
    Never raises RedisError."""
    redis = rq_connection()
    _backlog.run(lambda: redis, action)

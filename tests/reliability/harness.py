"""Real processes for the fault tests: `flask` commands, a Redis server that can be stopped and started again
on the same port, and small clients (SMTP, the web form)."""
import logging
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import redis as redis_lib
import requests

from tests.conftest import ROOT, csrf_token, free_port

T = TypeVar("T")
log = logging.getLogger("tests.reliability")
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
TOKEN_RE = re.compile(r'name="token" type="hidden" value="([^"]*)"|type="hidden" name="token" value="([^"]*)"')


def eventually(check: Callable[[], T], what: str, timeout: float = 30.0, every: float = 0.1) -> T:
    """Poll `check` until it returns something truthy; AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def figures(template: str, *args) -> None:
    """A test's measurements, for docs/reliability.md: shown with `-o log_cli=true --log-cli-level=INFO`."""
    log.info(template, *args)


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    def answers() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            return False

    eventually(answers, f"something listening on port {port}", timeout, 0.05)


class RedisServer:
    """A redis-server on a fixed loopback port with an append-only file, so a restart keeps queued jobs."""

    def __init__(self, folder: Path):
        self.folder, self.port = folder, free_port()
        folder.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
             "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port)

    def stop(self) -> None:
        """Stop the server as a crash would look to clients (SIGKILL); the AOF keeps every write it acknowledged."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def client(self) -> redis_lib.Redis:
        return redis_lib.Redis.from_url(self.url)


class Processes:
    """`flask` processes of the system under test, each with its own log file; all stopped at the end."""

    def __init__(self, env: dict, logs: Path):
        self.env, self.logs = env, logs
        logs.mkdir(parents=True, exist_ok=True)
        self.running: list[subprocess.Popen] = []

    def start(self, name: str, *args: str, env: dict | None = None) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")
        process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT,
                                   env=env or self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.running.append(process)
        return process

    def worker(self, name: str = "worker", *queues: str) -> subprocess.Popen:
        return self.start(name, "worker", *queues)

    def smtpd(self, port: int) -> subprocess.Popen:
        process = self.start("smtpd", "channels", "smtpd", "--port", str(port))
        wait_for_port(port)
        return process

    def web(self, port: int) -> str:
        """`flask serve` (web only) on `port`; returns its URL once /healthz answers."""
        from tests.conftest import _wait_until_healthy

        process = self.start("web", "serve", "--port", str(port), "--workers", "0", "--smtp-port", "0")
        url = f"http://127.0.0.1:{port}"
        _wait_until_healthy(url, process, timeout=60)
        return url

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop_all(self) -> None:
        for process in self.running:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.running:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def send_mail(port: int, payload: bytes, sender: str = "ana@mail.example", to: str = "help@riverton.example",
              timeout: float = 20) -> tuple[int, bytes]:
    """Hand one message to the SMTP listener; returns the reply to DATA (code, text) without raising."""
    with smtplib.SMTP("127.0.0.1", port, timeout=timeout) as client:
        client.ehlo()
        client.mail(sender)
        client.rcpt(to)
        return client.data(payload)


class WebForm:
    """A person at the contact page: loads it (CSRF token, one-time token), then sends it."""

    def __init__(self, base_url: str, language: str = "en"):
        self.base_url, self.session = base_url, requests.Session()
        self.session.headers["Accept-Language"] = language

    def load(self) -> dict[str, str]:
        page = self.session.get(f"{self.base_url}/contact", timeout=20)
        page.raise_for_status()
        return hidden_fields(page.text)

    def send(self, fields: dict[str, str], timeout: float = 20, **values: str) -> requests.Response:
        return self.session.post(f"{self.base_url}/contact", data=fields | values, timeout=timeout,
                                 allow_redirects=False)


def hidden_fields(html: str) -> dict[str, str]:
    match = TOKEN_RE.search(html)
    assert match, "no one-time token on the contact page"
    return {"csrf_token": csrf_token(html), "token": match.group(1) or match.group(2)}


def kill(process: subprocess.Popen) -> None:
    """SIGKILL: no cleanup, no finally blocks, as when the machine or the OOM killer takes a process."""
    os.kill(process.pid, signal.SIGKILL)
    process.wait(10)


USER_AGENT = "casework-reliability-tests"


def sign_in(base_url: str, email: str, password: str) -> requests.Session:
    """A browser-like HTTP session signed in through the login form."""
    http = requests.Session()
    http.headers["User-Agent"] = USER_AGENT
    page = http.get(f"{base_url}/login", timeout=20)
    answer = http.post(f"{base_url}/login", data={"email": email, "password": password,
                                                  "csrf_token": csrf_token(page.text)},
                       allow_redirects=False, timeout=20)
    assert answer.status_code == 302 and "/login" not in answer.headers.get("Location", ""), "sign-in refused"
    return http


class Console:
    """A signed-in staff member's live view: a Socket.IO client that reconnects by itself, as the page does."""

    def __init__(self, base_url: str, email: str, password: str):
        import socketio

        http = sign_in(base_url, email, password)
        self.events: list[tuple[str, dict]] = []
        self.sio = socketio.Client(reconnection=True, reconnection_delay=0.5, reconnection_delay_max=2)
        self.sio.on("*", lambda event, data=None: self.events.append((event, data or {})))
        self.sio.connect(base_url, transports=["websocket"], wait_timeout=20, headers={
            "Cookie": f"casework_session={http.cookies['casework_session']}", "User-Agent": USER_AGENT})

    def heard(self, event: str, **payload) -> bool:
        return any(name == event and all(data.get(k) == v for k, v in payload.items())
                   for name, data in list(self.events))

    def close(self) -> None:
        self.sio.disconnect()

"""Load: Socket.IO clients connected while contacts arrive on several channels; nothing lost, and how fast.

    .venv/bin/python -m bench.load [--clients 500] [--rate 50] [--seconds 60] [--web-processes 1|2]
                                   [--workers 2] [--client-processes 4] [--quick] [--json]

It starts a throwaway PostgreSQL and redis-server on loopback (as `make test` does), migrates, and seeds a
centre: `--clients` staff (nine in ten agents, one in ten supervisors) with a known password, every agent in
the phone queue ("general") and in one of ten service queues, available, with room for the run's cases.
Then it starts the system as real processes: `--web-processes` x `flask serve --workers 0` (threading
Socket.IO, one Redis message queue), `--workers` x `flask worker` and `flask channels smtpd`.

Every staff member signs in over HTTP (login form with its CSRF token) from `--client-processes` client
processes and opens one Socket.IO connection (python-socketio's asyncio client, websocket only), spread
over the web processes. Agents accept the calls offered to them (`offer.accept`), as the console does.
The driver then sends `--rate` contacts a second for `--seconds` seconds, each marked with a serial:
web form POSTs (CSRF), mail over SMTP to the listener, Open311 POSTs with an API key and signed phone
webhooks (chat is not driven: a chat needs a constituent's browser socket). HTTP contacts go round-robin to
the web processes. A warm-up of 40 contacts at 10/s goes first and is left out of the figures.

Figures: contacts sent and cases created per channel (nothing lost: equal); every case assigned to an agent
reached that agent's socket (`case.assigned`, after `offer.new` for calls); latency from the contact's send
to the first event naming its case at its agent (p50, p99, max). The broadcast "changed, re-fetch" events
(`queue.changed` per room and queue, `wallboard.changed` to supervisors) are coalesced by the server (at
most one per window, the last change always announced: CASEWORK_REALTIME_COALESCE_MS), so nobody can expect
one per case: for each contact and each listener (every supervisor; every agent of the case's queue) the
figure is the latency to the first such event for its queue (or the wallboard) at or after the contact was
sent, and "missed" counts the listeners to whom none came after it;
CPU (user+system seconds per wall second, 1.0 = one core) and peak memory (PSS) of each process group
over the send and drain window, the RQ jobs done and their mean time, the peak job backlog, and the load
average. Mail cases wait unrouted for triage (no service queue): they reach no agent and are timed only by
the supervisors' `queue.changed` for no queue. The machine's other load counts against the
figures: read them with the load average printed beside them.
"""
import argparse
import asyncio
import bisect
import json
import multiprocessing
import os
import re
import secrets
import smtplib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import psutil
import requests
import socketio
from redis import Redis
from rq import Queue as RqQueue
from rq import Worker
from sqlalchemy import select

from bench import production_engines
from caseworker.accounts import hash_password
from caseworker.config import DefaultConfig
from channels import open311_store
from channels import phone as phone_channel
from models import (Case, Category, Channel, Interaction, Presence, Queue, QueueMember, Role, User, UserCapacity,
                    init_engine, migrate, reading, transaction)
from tests.conftest import _wait_until_healthy
from tests.engines import free_port

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "load-bench-password-1"
USER_AGENT = "casework-load-bench/1"          # Flask-Login's strong session protection hashes it: keep it fixed
SERVICE_QUEUES = 10
SLOTS = {Channel.EMAIL: 20, Channel.WEBFORM: 20, Channel.OPEN311: 20, Channel.PHONE: 5, Channel.CHAT: 3}
CHANNEL_MIX = ("email",) * 7 + ("webform",) * 5 + ("open311",) * 4 + ("phone",) * 4
MARKER, MARKER_RE = "LOAD-", re.compile(r"LOAD-(\d{6})")
CALL_PREFIX = "LOAD"
PHONE_SECRET = "load-bench-phone-secret"
SERVICE_ADDRESS = "help@riverton.example"
WORKER_QUEUES = DefaultConfig.WORKER_QUEUES
SETTLE_SECONDS = 10
# Warm-up contacts (first imports, connection pools, statement caches) go before the figures and not in them.
WARM_UP_FIRST, WARM_UP_RATE, WARM_UP_SECONDS = 900_000, 10.0, 4.0
SENDERS = 64                                  # the driver's concurrent senders
MAIL_SENDERS = 8                              # of which at most this many on SMTP at once (threads)
LOGINS_PER_PROCESS = 4                        # concurrent sign-ins per client process (argon2 is the cost)
WINDOW_SECONDS = 10                           # latency is also shown by when the contact was sent
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')
QUICK = {"clients": 50, "rate": 10.0, "seconds": 10.0}
COALESCED = ("queue.changed", "wallboard.changed")      # broadcasts: at most one per room per window


# ---- the centre -----------------------------------------------------------------------------------


def seed(database_url: str, clients: int) -> dict:
    """Migrate and seed the centre: queues, public services, agents, supervisors and an Open311 key. Commits."""
    migrate.upgrade(database_url)
    init_engine(database_url)
    supervisors = max(1, clients // 10)
    password_hash = hash_password(PASSWORD)
    with transaction() as session:
        general = Queue(code="general", name="General enquiries")
        services = [Queue(code=f"service{n}", name=f"Service {n}") for n in range(1, SERVICE_QUEUES + 1)]
        session.add_all([general, *services])
        session.flush()
        session.add_all(Category(code=q.code, name=q.name, queue_id=q.id) for q in services)
        staff = [_staff(f"agent{n}@load.example", Role.AGENT, password_hash) for n in range(clients - supervisors)]
        staff += [_staff(f"supervisor{n}@load.example", Role.SUPERVISOR, password_hash) for n in range(supervisors)]
        session.add_all(staff)
        session.flush()
        agents = [u for u in staff if u.role is Role.AGENT]
        session.add_all(QueueMember(queue_id=general.id, user_id=u.id) for u in agents)
        session.add_all(QueueMember(queue_id=services[n % SERVICE_QUEUES].id, user_id=u.id)
                        for n, u in enumerate(agents))
        _key, api_key = open311_store.create_key(session, "load bench")
        logins = [(u.email, u.role.value, u.id) for u in staff]
        members = {general.id: [u.id for u in agents]} | {
            q.id: [u.id for n, u in enumerate(agents) if n % SERVICE_QUEUES == i] for i, q in enumerate(services)}
    return {"logins": logins, "services": [q.code for q in services], "api_key": api_key, "members": members}


def _staff(email: str, role: Role, password_hash: str) -> User:
    agent = role is Role.AGENT
    return User(email=email, display_name=email.split("@")[0], role=role, password_hash=password_hash,
                languages=["en"], presence=Presence.AVAILABLE if agent else Presence.OFFLINE,
                capacities=[UserCapacity(channel=c, slots=n) for c, n in SLOTS.items()] if agent else [])


# ---- the system as processes ---------------------------------------------------------------------------


def system_env(database_url: str, redis_url: str, folder: Path) -> dict:
    """The environment of every process of the system under load (rate limits out of the way: one address)."""
    return os.environ | {
        "DATABASE_URL": database_url, "REDIS_URL": redis_url, "SECRET_KEY": secrets.token_hex(32),
        "CASEWORK_LOG_LEVEL": "WARNING", "CASEWORK_PHONE_WEBHOOK_SECRET": PHONE_SECRET,
        "CASEWORK_PHONE_QUEUE": "general",
        "CASEWORK_ATTACHMENT_DIR": str(folder / "attachments"), "CASEWORK_OUTBOX_DIR": str(folder / "outbox"),
        "CASEWORK_LOGIN_RATE_LIMIT": "100000 per minute", "CASEWORK_WEBFORM_RATE_LIMIT": "100000 per minute",
        "CASEWORK_OPEN311_POST_RATE_LIMIT": "100000 per minute",
    }


@contextmanager
def running_system(env: dict, web_processes: int, workers: int, folder: Path) -> Iterator[dict]:
    """Start the web processes, workers and SMTP listener; yields their URLs, port and pids; stops them all."""
    processes: dict[str, list[subprocess.Popen]] = {"web": [], "workers": [], "smtpd": []}
    ports, smtp_port = [free_port() for _ in range(web_processes)], free_port()

    def spawn(group: str, args: list[str]) -> None:
        log = open(folder / f"{group}-{len(processes[group])}.log", "w")
        processes[group].append(subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT,
                                                 env=env, stdout=log, stderr=subprocess.STDOUT))

    try:
        for port in ports:
            spawn("web", ["serve", "--port", str(port), "--workers", "0", "--smtp-port", "0"])
        for _ in range(workers):
            spawn("workers", ["worker"])
        spawn("smtpd", ["channels", "smtpd", "--port", str(smtp_port)])
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        for url, process in zip(urls, processes["web"]):
            _wait_until_healthy(url, process, timeout=60)
        _wait_for_smtp(smtp_port, processes["smtpd"][0], folder)
        _wait_for_workers(Redis.from_url(env["REDIS_URL"]), workers)
        yield {"urls": urls, "smtp_port": smtp_port,
               "pids": {group: [p.pid for p in found] for group, found in processes.items()}}
    finally:
        everyone = [p for found in processes.values() for p in found]
        for process in everyone:
            if process.poll() is None:
                process.terminate()
        for process in everyone:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_for_workers(redis: Redis, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(Worker.all(connection=redis)) < count:
        if time.monotonic() > deadline:
            raise RuntimeError("the workers did not start")
        time.sleep(0.2)
    redis.close()


def _wait_for_smtp(port: int, process: subprocess.Popen, folder: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the SMTP listener exited with {process.returncode}: see the logs in {folder}")
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=2) as smtp:
                smtp.noop()
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the SMTP listener did not start")


# ---- the clients ---------------------------------------------------------------------------------------


def sign_in(url: str, email: str, password: str = PASSWORD) -> str:
    """Sign in through the login form as a browser does (with this bench's User-Agent, which a socket must
    send too); returns the session cookie's value. Raises RuntimeError on refusal."""
    http = requests.Session()
    http.headers["User-Agent"] = USER_AGENT
    match = CSRF_RE.search(http.get(f"{url}/login", timeout=120).text)
    response = http.post(f"{url}/login", data={"email": email, "password": password,
                                               "csrf_token": match.group(1) or match.group(2)},
                         allow_redirects=False, timeout=120)
    if response.status_code != 302 or "/login" in response.headers.get("Location", ""):
        raise RuntimeError(f"sign-in refused ({response.status_code})")
    return http.cookies["casework_session"]


class Recorder:
    """One staff member's Socket.IO connection: when each event naming a case first arrived, and counts.

    An asyncio client: the threading client starts a thread for every message it receives, which made the
    bench's own clients one of the biggest users of the CPU they share with the system under load."""

    def __init__(self, url: str, email: str, role: str, user_id: int):
        self.url, self.email, self.role, self.user_id = url, email, role, user_id
        self.first: dict[str, float] = {}               # "event:case_id" -> receipt time (epoch seconds)
        self.times: dict[str, list[float]] = {}         # coalesced: "queue.changed:<queue_id>" or "wallboard.changed"
        self.counts: Counter = Counter()
        self.disconnects = 0                            # before the bench hung up
        self.stopping = False
        self.sio = socketio.AsyncClient(reconnection=False)
        self.sio.on("*", self.on_event)
        self.sio.on("disconnect", self.on_disconnect)

    async def on_event(self, event: str, data=None) -> None:
        at = time.time()
        self.counts[event] += 1
        case_id = data.get("case_id") if isinstance(data, dict) else None
        if event in COALESCED:
            stream = f"{event}:{data.get('queue_id')}" if event == "queue.changed" else event
            self.times.setdefault(stream, []).append(at)
        elif case_id is not None:
            self.first.setdefault(f"{event}:{case_id}", at)
        if event == "offer.new" and self.role == Role.AGENT.value:
            await self.sio.emit("offer.accept", {"offer_id": data["offer_id"]})     # the agent takes the call

    def on_disconnect(self, reason=None) -> None:
        if not self.stopping:
            self.disconnects += 1

    async def connect(self) -> None:
        cookie = await asyncio.to_thread(sign_in, self.url, self.email)
        await self.sio.connect(self.url, headers={"Cookie": f"casework_session={cookie}", "User-Agent": USER_AGENT},
                               transports=["websocket"], wait_timeout=120)

    def result(self) -> dict:
        return {"email": self.email, "role": self.role, "user_id": self.user_id, "first": self.first,
                "times": self.times, "counts": dict(self.counts), "disconnects": self.disconnects}


def client_process(logins: list[tuple[str, str, str, int]], ready, stop, results_path: str) -> None:
    """A client process: sign in and connect its share of the staff, report ready, record until `stop`."""
    asyncio.run(_run_clients(logins, ready, stop, results_path))


async def _run_clients(logins: list[tuple[str, str, str, int]], ready, stop, results_path: str) -> None:
    recorders = [Recorder(url, email, role, user_id) for url, email, role, user_id in logins]
    errors = []
    signing_in = asyncio.Semaphore(LOGINS_PER_PROCESS)

    async def connect(recorder: Recorder) -> None:
        async with signing_in:
            try:
                await recorder.connect()
            except Exception as error:  # noqa: BLE001  (reported to the parent, which stops the run)
                errors.append(f"{recorder.email}: {type(error).__name__}: {error}")

    await asyncio.gather(*(connect(recorder) for recorder in recorders))
    ready.put(errors[:5])
    await asyncio.to_thread(stop.wait)
    for recorder in recorders:
        recorder.stopping = True
    written = Path(results_path).with_suffix(".tmp")
    written.write_text(json.dumps([r.result() for r in recorders]))   # events wait: this loop is busy writing
    written.rename(results_path)                       # whole or not at all: the parent reads it at once
    await asyncio.gather(*(r.sio.disconnect() for r in recorders if r.sio.connected), return_exceptions=True)


@contextmanager
def connected_clients(urls: list[str], logins: list[tuple[str, str, int]], processes: int,
                      folder: Path) -> Iterator[tuple[list[int], Callable[[], list[dict]]]]:
    """Every login signed in and connected (spread over the web processes and the client processes).
    Yields the client pids and a function that stops the clients and returns their recordings."""
    context = multiprocessing.get_context("spawn")
    ready, stop = context.Queue(), context.Event()
    shares = [[] for _ in range(processes)]
    for n, (email, role, user_id) in enumerate(logins):
        shares[n % processes].append((urls[n % len(urls)], email, role, user_id))
    paths = [str(folder / f"clients-{n}.json") for n in range(processes)]
    children = [context.Process(target=client_process, args=(share, ready, stop, path), daemon=True)
                for share, path in zip(shares, paths)]
    for child in children:
        child.start()
    try:
        errors = [error for _ in children for error in ready.get(timeout=900)]
        if errors:
            raise RuntimeError(f"clients could not connect: {errors[:5]}")

        def finish() -> list[dict]:
            stop.set()
            deadline = time.monotonic() + 120
            while not all(Path(path).exists() for path in paths) and time.monotonic() < deadline:
                time.sleep(0.2)
            return [client for path in paths for client in json.loads(Path(path).read_text())]

        yield [child.pid for child in children], finish
    finally:
        stop.set()
        for child in children:
            child.join(60)
            if child.is_alive():
                child.kill()


# ---- the driver ----------------------------------------------------------------------------------------


class Driver:
    """Sends one marked contact on a channel: HTTP with aiohttp (one connection pool and cookie jar per web
    process), mail over SMTP from a few threads, each keeping its own link. Asyncio, as the clients are: the
    driver shares the CPUs with the system it measures."""

    def __init__(self, urls: list[str], smtp_port: int, services: list[str], api_key: str):
        self.urls, self.smtp_port, self.services, self.api_key = urls, smtp_port, services, api_key
        self.http: dict[str, aiohttp.ClientSession] = {}
        self.csrf: dict[str, str] = {}                # per web process: its session cookie's CSRF token
        self.mail: ThreadPoolExecutor | None = None
        self.local = threading.local()

    async def __aenter__(self) -> "Driver":
        """Open the connection pools (on the running event loop: they belong to it) and the mail threads."""
        self.csrf, self.mail = {}, ThreadPoolExecutor(MAIL_SENDERS)
        for url in self.urls:                         # the cookie jar keeps a session cookie from an IP host too
            self.http[url] = aiohttp.ClientSession(
                headers={"User-Agent": USER_AGENT}, cookie_jar=aiohttp.CookieJar(unsafe=True),
                connector=aiohttp.TCPConnector(limit=SENDERS), timeout=aiohttp.ClientTimeout(total=60))
        return self

    async def __aexit__(self, *_exc) -> None:
        for http in self.http.values():
            await http.close()
        self.mail.shutdown()

    async def send(self, serial: int, channel: str, due: float | None = None) -> dict:
        """Send contact `serial` (scheduled for `due`); returns its record: channel, send time, how long the send
        took, how late it started (every sender busy), whether it was accepted."""
        url = self.urls[serial % len(self.urls)]
        sent_at = time.time()
        try:
            case_id = await getattr(self, f"_{channel}")(url, serial)
            ok, error = True, None
        except Exception as failure:  # noqa: BLE001  (a refused contact is a figure, not a crash)
            case_id, ok, error = None, False, f"{type(failure).__name__}: {failure}"[:200]
        return {"serial": serial, "channel": channel, "sent_at": sent_at, "ok": ok, "case_id": case_id,
                "error": error, "took": time.time() - sent_at, "late": sent_at - (due or sent_at)}

    def _text(self, serial: int) -> str:
        return f"{MARKER}{serial:06d} The streetlight outside number {serial % 300} has been out for a week."

    async def _csrf_token(self, url: str) -> str:
        if url not in self.csrf:
            async with self.http[url].get(f"{url}/contact") as response:
                match = CSRF_RE.search(await response.text())
            self.csrf[url] = match.group(1) or match.group(2)
        return self.csrf[url]

    async def _post(self, url: str, path: str, expected: int, **options) -> aiohttp.ClientResponse:
        async with self.http[url].post(f"{url}{path}", allow_redirects=False, **options) as response:
            await response.read()
        if response.status != expected:
            raise RuntimeError(f"{path} answered {response.status}")
        return response

    async def _webform(self, url: str, serial: int) -> None:
        await self._post(url, "/contact", 302, data={
            "csrf_token": await self._csrf_token(url), "category": self.services[serial % len(self.services)],
            "description": self._text(serial), "language": "en", "email": f"resident{serial}@residents.example",
            "token": secrets.token_urlsafe(16), "website": ""})

    async def _open311(self, url: str, serial: int) -> None:
        await self._post(url, "/open311/v2/requests.json", 200, data={
            "api_key": self.api_key, "service_code": self.services[serial % len(self.services)],
            "description": self._text(serial), "lat": "42.3601", "long": "-71.0589",
            "email": f"resident{serial}@residents.example"})

    async def _phone(self, url: str, serial: int) -> int:
        body = urlencode({"CallSid": f"{CALL_PREFIX}{serial:06d}", "From": f"+1415555{serial % 10_000:04d}",
                          "To": "+14155550100"}).encode()
        at = int(time.time())
        response = await self._post(url, "/inbound/phone/call", 200, data=body, headers={
            "Content-Type": "application/x-www-form-urlencoded", phone_channel.TIMESTAMP_HEADER: str(at),
            phone_channel.SIGNATURE_HEADER: phone_channel.sign(PHONE_SECRET, at, body)})
        return (await response.json())["case_id"]

    async def _email(self, _url: str, serial: int) -> None:
        await asyncio.get_running_loop().run_in_executor(self.mail, self._send_mail, serial)

    def _send_mail(self, serial: int) -> None:
        message = EmailMessage()
        message["From"] = f"resident{serial}@residents.example"
        message["To"] = SERVICE_ADDRESS
        message["Subject"] = f"{MARKER}{serial:06d} Missed bin collection"
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain="residents.example")
        message.set_content(self._text(serial))
        for attempt in (1, 2):
            smtp = self.local.__dict__.get("smtp")
            try:
                if smtp is None:
                    smtp = self.local.smtp = smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=60)
                smtp.send_message(message)
                return
            except smtplib.SMTPServerDisconnected:
                self.local.smtp = None
                if attempt == 2:
                    raise


async def drive(driver: Driver, rate: float, seconds: float, first: int = 0) -> list[dict]:
    """Send `rate` contacts a second for `seconds` seconds on a fixed schedule, serials from `first`, at most
    SENDERS waiting for an answer at once; returns every send's record."""
    total = int(rate * seconds)
    start = time.time() + 0.5
    senders = asyncio.Semaphore(SENDERS)

    async def send(n: int) -> dict:
        async with senders:
            return await driver.send(first + n, CHANNEL_MIX[n % len(CHANNEL_MIX)], start + n / rate)

    tasks = []
    for n in range(total):
        await asyncio.sleep(max(0.0, start + n / rate - time.time()))
        tasks.append(asyncio.create_task(send(n)))
    return list(await asyncio.gather(*tasks))


# ---- resources -----------------------------------------------------------------------------------------


class Sampler(threading.Thread):
    """Every second: CPU seconds (user+system) and memory of each process group, children included. Memory is
    PSS (resident pages, each shared page split between its sharers): PostgreSQL's backends share its buffers,
    so their RSS would count those once per backend."""

    def __init__(self, groups: dict[str, list[int]], redis: Redis, alone: frozenset[str] = frozenset()):
        super().__init__(daemon=True)
        self.redis, self.backlog_peak = redis, 0
        self.groups = {name: [psutil.Process(pid) for pid in pids] for name, pids in groups.items()}
        self.alone = alone                              # groups measured without their children
        self.baseline: dict[int, float] = {}
        self.cpu: dict[str, dict[int, float]] = {name: {} for name in groups}
        self.memory_peak: Counter = Counter()
        self.load_peak = 0.0
        self.stopped = threading.Event()
        for name in self.groups:
            for pid, (cpu, _pss) in self._sample(name).items():
                self.baseline[pid] = cpu

    def _sample(self, name: str) -> dict[int, tuple[float, int]]:
        found = {}
        for root in self.groups[name]:
            try:
                tree = [root] if name in self.alone else [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
            for process in tree:
                try:
                    times = process.cpu_times()
                    found[process.pid] = (times.user + times.system, process.memory_full_info().pss)
                except psutil.NoSuchProcess:
                    pass
        return found

    def tick(self) -> None:
        for name in self.groups:
            sample = self._sample(name)
            for pid, (cpu, _pss) in sample.items():
                self.cpu[name][pid] = cpu - self.baseline.get(pid, 0.0)
            self.memory_peak[name] = max(self.memory_peak[name], sum(pss for _cpu, pss in sample.values()))
        self.load_peak = max(self.load_peak, os.getloadavg()[0])
        self.backlog_peak = max(self.backlog_peak, sum(RqQueue(name, connection=self.redis).count
                                                       for name in WORKER_QUEUES))

    def run(self) -> None:
        self.started = time.monotonic()
        while not self.stopped.wait(1.0):
            self.tick()

    def finish(self) -> dict:
        self.stopped.set()
        self.join()
        self.tick()
        wall = time.monotonic() - self.started
        return {name: {"cpu_cores": round(sum(self.cpu[name].values()) / wall, 2),
                       "pss_peak_mb": round(self.memory_peak[name] / 2**20, 1)} for name in self.groups} | {
            "window_seconds": round(wall, 1), "load_average_peak": round(self.load_peak, 2),
            "job_backlog_peak": self.backlog_peak}


def job_figures(redis: Redis, since: dict | None = None) -> dict:
    """What the RQ workers did (RQ's own counters), since the figures `since`: jobs done and failed, their
    total working seconds and the mean time a job took."""
    workers = Worker.all(connection=redis)
    since = since or {"jobs_done": 0, "jobs_failed": 0, "job_seconds": 0.0}
    done = sum(w.successful_job_count for w in workers) - since["jobs_done"]
    seconds = sum(w.total_working_time for w in workers) - since["job_seconds"]
    return {"jobs_done": done, "jobs_failed": sum(w.failed_job_count for w in workers) - since["jobs_failed"],
            "job_seconds": round(seconds, 3), "job_mean_ms": round(1000 * seconds / max(done, 1), 1)}


def engine_pids(database_url: str, redis_url: str) -> dict[str, list[int]]:
    """The postmaster and the redis-server of the throwaway engines, found by their ports."""
    pg_port, redis_port = database_url.rsplit(":", 1)[1].split("/")[0], redis_url.rsplit(":", 1)[1].split("/")[0]
    found = {"postgres": [], "redis": []}
    for process in psutil.process_iter(["cmdline", "ppid"]):
        line = " ".join(process.info["cmdline"] or [])
        if "postgres" in line and f"-p {pg_port}" in line and "pg_ctl" not in line:
            found["postgres"].append(process.pid)
        elif "redis-server" in line and f":{redis_port}" in line:
            found["redis"].append(process.pid)
    return found


# ---- the figures ---------------------------------------------------------------------------------------


def cases_by_serial() -> dict[int, dict]:
    """The bench's cases, by the serial of the contact that opened them."""
    with reading() as session:
        rows = session.execute(select(Case.id, Case.subject, Case.channel, Case.queue_id, Case.assignee_id)).all()
        calls = dict(session.execute(select(Interaction.case_id, Interaction.external_id).where(
            Interaction.external_id.like(f"call:{CALL_PREFIX}%"))).all())
    found = {}
    for row in rows:
        match = MARKER_RE.search(row.subject or "") or MARKER_RE.search(
            (calls.get(row.id) or "").replace(f"call:{CALL_PREFIX}", MARKER))
        if match:
            found[int(match.group(1))] = {"case_id": row.id, "channel": row.channel.value, "queue_id": row.queue_id,
                                          "assignee_id": row.assignee_id}
    return found


def drain(sends: list[dict], timeout: float) -> tuple[dict[int, dict], float]:
    """Wait until every accepted contact has its case and every routed case its agent; returns the cases
    and how long that took after the last send."""
    expected = {s["serial"] for s in sends if s["ok"]}
    started = time.monotonic()
    while True:
        cases = cases_by_serial()
        settled = expected <= cases.keys() and all(c["assignee_id"] for c in cases.values() if c["queue_id"])
        if settled or time.monotonic() - started > timeout:
            return cases, time.monotonic() - started
        time.sleep(0.5)


def percentiles(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    ordered = sorted(values)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000, 1)

    return {"n": len(ordered), "p50_ms": pick(0.5), "p99_ms": pick(0.99), "max_ms": round(ordered[-1] * 1000, 1),
            "mean_ms": round(statistics.fmean(ordered) * 1000, 1)}


def coalesced_latency(listeners: list[dict], stream: str, sent: list[float]) -> dict:
    """For each send and listener, the time to the first event of a coalesced `stream` at or after the send
    (any such event makes the page re-fetch, and so show the case); "missed" when none came after it."""
    latency, missed = [], 0
    for listener in listeners:
        times = sorted(listener["times"].get(stream, ()))
        for at in sent:
            index = bisect.bisect_left(times, at)
            if index == len(times):
                missed += 1
            else:
                latency.append(times[index] - at)
    return {"latency": latency, "missed": missed}


def analyse(sends: list[dict], cases: dict[int, dict], clients: list[dict], members: dict[int, list[int]]) -> dict:
    """Nothing lost, everyone told, and the latencies, from the driver's sends, the database and the clients."""
    cases = {serial: case for serial, case in cases.items() if serial < WARM_UP_FIRST}
    by_user = {c["user_id"]: c for c in clients}
    supervisors = [c for c in clients if c["role"] == Role.SUPERVISOR.value]
    sent_at = {s["serial"]: s["sent_at"] for s in sends}
    channels = sorted({s["channel"] for s in sends})
    per_channel = {ch: {"sent": sum(1 for s in sends if s["channel"] == ch),
                        "refused": sum(1 for s in sends if s["channel"] == ch and not s["ok"]),
                        "cases": sum(1 for c in cases.values() if c["channel"] == ch)} for ch in channels}
    lost = sorted(s["serial"] for s in sends if s["ok"] and s["serial"] not in cases)
    agent_latency: dict[str, list[float]] = {ch: [] for ch in channels}
    not_told, unassigned = [], []
    start, by_window = min(sent_at.values()), {}
    for serial, case in cases.items():
        if case["queue_id"] is None:
            continue
        if case["assignee_id"] is None:
            unassigned.append(serial)
            continue
        first = by_user.get(case["assignee_id"], {"first": {}})["first"]
        assigned = first.get(f"case.assigned:{case['case_id']}")
        if assigned is None:
            not_told.append(serial)
            continue
        arrived = min(t for t in (first.get(f"offer.new:{case['case_id']}"), assigned) if t is not None)
        agent_latency[case["channel"]].append(arrived - sent_at[serial])
        by_window.setdefault(int((sent_at[serial] - start) // WINDOW_SECONDS), []).append(arrived - sent_at[serial])
    routed = [(serial, c["case_id"]) for serial, c in cases.items() if c["assignee_id"]]
    wallboard = coalesced_latency(supervisors, "wallboard.changed", [sent_at[serial] for serial, _ in routed])
    supervisor_queue = {"latency": [], "missed": 0}
    team = {"latency": [], "missed": 0}
    for queue_id in {c["queue_id"] for c in cases.values()}:
        sends_to = [sent_at[serial] for serial, c in cases.items() if c["queue_id"] == queue_id]
        for into, listeners in ((supervisor_queue, supervisors),
                                (team, [by_user[u] for u in members.get(queue_id, ()) if u in by_user])):
            found = coalesced_latency(listeners, f"queue.changed:{queue_id}", sends_to)
            into["latency"] += found["latency"]
            into["missed"] += found["missed"]
    all_agent = [v for values in agent_latency.values() for v in values]
    errors = Counter(s["error"] for s in sends if not s["ok"])
    return {
        "contacts_sent": len(sends), "contacts_refused": sum(1 for s in sends if not s["ok"]),
        "cases_created": len(cases), "lost": len(lost), "lost_serials": lost[:20], "channels": per_channel,
        "routed_cases": len(routed), "routed_but_unassigned": len(unassigned),
        "assigned_but_agent_not_told": len(not_told),
        "agents_assigned": len({cases[s]["assignee_id"] for s, _ in routed}),
        "supervisors": len(supervisors),
        "supervisor_wallboard_missed": wallboard["missed"], "supervisor_queue_changed_missed": supervisor_queue["missed"],
        "agent_queue_changed_missed": team["missed"],
        "client_disconnects": sum(c["disconnects"] for c in clients),
        "events_received": sum(sum(c["counts"].values()) for c in clients),
        "events_received_by_kind": dict(sum((Counter(c["counts"]) for c in clients), Counter()).most_common()),
        "latency_to_agent": percentiles(all_agent),
        "latency_to_agent_by_channel": {ch: percentiles(v) for ch, v in agent_latency.items() if v},
        "latency_to_supervisors": percentiles(wallboard["latency"]),
        "latency_to_supervisors_queue": percentiles(supervisor_queue["latency"]),
        "latency_to_team_queue": percentiles(team["latency"]),
        "latency_to_agent_by_send_window": {f"{w * WINDOW_SECONDS}s": percentiles(v)
                                            for w, v in sorted(by_window.items())},
        "refusals": dict(errors.most_common(5)),
        # Why the driver may not keep its rate: each send's own time (the server's answer), and how late the
        # sends started because all SENDERS were still waiting for answers.
        "send_time_by_channel": {ch: percentiles([s["took"] for s in sends if s["channel"] == ch]) for ch in channels},
        "send_start_late": percentiles([s["late"] for s in sends]),
    }


# ---- the run -------------------------------------------------------------------------------------------


def progress(message: str) -> None:
    """A line on stderr as the run goes (the figures go to stdout)."""
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def _drive(driver: Driver, rate: float, seconds: float, first: int = 0) -> list[dict]:
    """`drive` on an event loop of its own, with the driver's connections open for it."""
    async def session() -> list[dict]:
        async with driver:
            return await drive(driver, rate, seconds, first)
    return asyncio.run(session())


def run(args: argparse.Namespace) -> dict:
    with production_engines() as (database_url, redis_url), tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        began = time.monotonic()
        centre = seed(database_url, args.clients)
        env = system_env(database_url, redis_url, folder)
        progress(f"seeded {args.clients} staff; starting the system")
        with running_system(env, args.web_processes, args.workers, folder) as system:
            connect_started = time.monotonic()
            progress("system up; signing in and connecting the clients")
            with connected_clients(system["urls"], centre["logins"], args.client_processes, folder) as (pids, finish):
                connected_in = time.monotonic() - connect_started
                progress(f"{args.clients} clients connected in {connected_in:.0f} s; warm-up")
                groups = system["pids"] | engine_pids(database_url, redis_url) | {"clients": pids,
                                                                                   "driver": [os.getpid()]}
                driver = Driver(system["urls"], system["smtp_port"], centre["services"], centre["api_key"])
                drain(_drive(driver, WARM_UP_RATE, WARM_UP_SECONDS, WARM_UP_FIRST), 60.0)
                time.sleep(SETTLE_SECONDS)             # the sign-ins' and the warm-up's CPU out of the way
                rq_redis = Redis.from_url(redis_url)
                jobs_before = job_figures(rq_redis)
                load_before = os.getloadavg()
                sampler = Sampler(groups, rq_redis, alone=frozenset({"driver"}))   # its children are the system
                sampler.start()
                progress(f"sending {args.rate}/s for {args.seconds} s")
                send_started = time.time()
                sends = _drive(driver, args.rate, args.seconds)
                send_seconds = max(s["sent_at"] for s in sends) - send_started
                progress("sent; draining")
                cases, drained_in = drain(sends, max(60.0, 2 * args.seconds))
                time.sleep(2.0)                        # events still in flight after the last commit
                resources = sampler.finish() | job_figures(rq_redis, jobs_before)
                load_after = os.getloadavg()
                clients = finish()
        figures = analyse(sends, cases, clients, centre["members"])
    return {"clients": args.clients, "rate": args.rate, "seconds": args.seconds, "web_processes": args.web_processes,
            "workers": args.workers, "client_processes": args.client_processes, "cpus": os.cpu_count(),
            "connect_seconds": round(connected_in, 1), "achieved_rate": round(len(sends) / max(send_seconds, 1e-9), 1),
            "drain_seconds": round(drained_in, 1), "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in load_after],
            "total_seconds": round(time.monotonic() - began, 1),
            **figures, "resources": resources}


def _print(f: dict) -> None:
    print(f"\n{f['clients']} clients ({f['supervisors']} supervisors), {f['rate']}/s for {f['seconds']} s, "
          f"{f['web_processes']} web process(es), {f['workers']} workers, {f['cpus']} CPUs")
    print(f"connected in {f['connect_seconds']} s; sent at {f['achieved_rate']}/s; drained {f['drain_seconds']} s "
          f"after the last send; load average before {f['load_average_before']}, after {f['load_average_after']}, "
          f"peak {f['resources']['load_average_peak']}")
    print(f"contacts sent {f['contacts_sent']} (refused {f['contacts_refused']}), cases created {f['cases_created']}, "
          f"lost {f['lost']}")
    for channel, row in f["channels"].items():
        print(f"  {channel:<8} sent {row['sent']:>5}  refused {row['refused']:>4}  cases {row['cases']:>5}")
    print(f"routed {f['routed_cases']} to {f['agents_assigned']} agents; unassigned {f['routed_but_unassigned']}; "
          f"assigned but agent not told {f['assigned_but_agent_not_told']}")
    print(f"coalesced events missed (no event after the contact): supervisors' wallboard "
          f"{f['supervisor_wallboard_missed']}, supervisors' queue {f['supervisor_queue_changed_missed']}, agents' "
          f"queue {f['agent_queue_changed_missed']}; client disconnects {f['client_disconnects']}")
    for label, row in [("to agent", f["latency_to_agent"]),
                       *[(f"  {ch}", row) for ch, row in f["latency_to_agent_by_channel"].items()],
                       ("to supervisors", f["latency_to_supervisors"]),
                       ("sup. queue", f["latency_to_supervisors_queue"]), ("team queue", f["latency_to_team_queue"])]:
        if row["n"]:
            print(f"latency {label:<15} n={row['n']:>7}  p50 {row['p50_ms']:>8} ms  p99 {row['p99_ms']:>8} ms  "
                  f"max {row['max_ms']:>8} ms")
    print("latency to agent by send time: " + ", ".join(
        f"{w} p50 {row['p50_ms']:.0f} p99 {row['p99_ms']:.0f}"
        for w, row in f["latency_to_agent_by_send_window"].items()))
    r = f["resources"]
    print(f"events received by the clients {f['events_received']} "
          f"(warm-up included; {f['events_received'] / r['window_seconds']:.0f}/s over the window): "
          + ", ".join(f"{kind} {n}" for kind, n in f["events_received_by_kind"].items()))
    print(f"jobs done {r['jobs_done']} (failed {r['jobs_failed']}), mean {r['job_mean_ms']} ms a job; "
          f"job backlog peak {r['job_backlog_peak']}")
    print(f"resources over {f['resources']['window_seconds']} s (cores = CPU seconds per second):")
    for name, row in f["resources"].items():
        if isinstance(row, dict):
            print(f"  {name:<9} {row['cpu_cores']:>5} cores  peak memory (PSS) {row['pss_peak_mb']:>8} MB")
    print("time to send (the server's answer): " + ", ".join(
        f"{ch} p50 {row['p50_ms']:.0f} p99 {row['p99_ms']:.0f} ms" for ch, row in f["send_time_by_channel"].items())
          + f"; sends started late (all {SENDERS} senders busy) p50 {f['send_start_late']['p50_ms']:.0f} ms, "
          f"p99 {f['send_start_late']['p99_ms']:.0f} ms")
    if f["refusals"]:
        print(f"refusals: {f['refusals']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=500, help="staff connected (1 in 10 supervisors)")
    parser.add_argument("--rate", type=float, default=50.0, help="contacts per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long contacts arrive")
    parser.add_argument("--web-processes", type=int, choices=(1, 2), default=1)
    parser.add_argument("--workers", type=int, default=2, help="`flask worker` processes")
    parser.add_argument("--client-processes", type=int, default=4, help="processes the clients are spread over")
    parser.add_argument("--quick", action="store_true", help="smoke test: 50 clients, 10/s for 10 s")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON on the last line")
    args = parser.parse_args()
    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, value)
    if args.clients < 2:
        parser.error("--clients must be at least 2 (an agent and a supervisor)")
    figures = run(args)
    if args.json:
        print(json.dumps(figures))
    else:
        _print(figures)


if __name__ == "__main__":
    main()

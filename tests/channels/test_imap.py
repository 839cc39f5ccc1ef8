"""IMAP polling against a real Dovecot on loopback: each message is taken once, across polls, lost positions,
UIDVALIDITY changes, unreachable servers and the scheduled chain of poll jobs."""
import logging
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from imapclient import SEEN, IMAPClient
from rq import Queue
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from rq.scheduler import RQScheduler
from sqlalchemy import func, select

from channels import imap, jobs
from channels.settings import Mailbox
from models import Case, InboundRaw, InboundStatus, reading
from tests.channels import mailtools as mt
from tests.conftest import free_port

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
USER, PASSWORD = "intake", "intake-secret"
NAME = "intake"


@dataclass
class Dovecot:
    """A throwaway Dovecot serving one user over plain IMAP on 127.0.0.1."""

    port: int

    @contextmanager
    def client(self):
        with IMAPClient("127.0.0.1", self.port, ssl=False, timeout=10) as client:
            client.login(USER, PASSWORD)
            yield client

    def new_folder(self) -> str:
        folder = f"Intake-{uuid.uuid4().hex[:10]}"
        with self.client() as client:
            client.create_folder(folder)
        return folder

    def deliver(self, folder: str, *messages: bytes) -> None:
        """Put messages in the folder with APPEND, as a mail server's delivery would."""
        with self.client() as client:
            for message in messages:
                client.append(folder, message)

    def recreate(self, folder: str) -> None:
        with self.client() as client:
            client.delete_folder(folder)
            client.create_folder(folder)

    def uidvalidity(self, folder: str) -> int:
        with self.client() as client:
            return int(client.folder_status(folder, [b"UIDVALIDITY"])[b"UIDVALIDITY"])

    def flags(self, folder: str) -> dict[int, tuple]:
        with self.client() as client:
            client.select_folder(folder, readonly=True)
            return {uid: data[b"FLAGS"] for uid, data in client.fetch(client.search("ALL"), ["FLAGS"]).items()}

    def mailbox(self, folder: str, **extra) -> Mailbox:
        return Mailbox(name=NAME, host="127.0.0.1", port=self.port, ssl=False, username=USER, password=PASSWORD,
                       folder=folder, **extra)


def _config(folder: Path, port: int, internal_user: str, login_user: str, mail_uid: int) -> str:
    return f"""
protocols = imap
listen = 127.0.0.1
base_dir = {folder}/run
state_dir = {folder}/state
log_path = {folder}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {internal_user}
default_login_user = {login_user}
first_valid_uid = {mail_uid}
mail_location = maildir:{folder}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {folder}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {folder}/users
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""


@pytest.fixture(scope="session")
def dovecot():
    if not os.path.exists(DOVECOT):
        pytest.fail("Dovecot is not installed: the IMAP tests need Debian's dovecot-imapd "
                    "(tests/install-system-packages.sh installs it)")
    folder = Path(tempfile.mkdtemp(prefix="casework-dovecot-"))
    if os.geteuid() == 0:
        # Dovecot's login processes refuse root, and mail is never read as root: its own accounts do both.
        mail_user, internal_user, login_user = pwd.getpwnam("dovecot"), "dovecot", "dovenull"
    else:
        mail_user = pwd.getpwuid(os.getuid())
        internal_user = login_user = mail_user.pw_name
    port = free_port()
    for sub in ("run", "state", "mail", "home"):
        (folder / sub).mkdir()
    (folder / "users").write_text(
        f"{USER}:{{PLAIN}}{PASSWORD}:{mail_user.pw_uid}:{mail_user.pw_gid}::{folder}/home::\n")
    (folder / "dovecot.conf").write_text(_config(folder, port, internal_user, login_user, mail_user.pw_uid))
    if os.geteuid() == 0:
        for path in [folder, *folder.rglob("*")]:
            os.chown(path, mail_user.pw_uid, mail_user.pw_gid)
    with open(folder / "stderr.log", "wb") as stderr:
        process = subprocess.Popen([DOVECOT, "-F", "-c", str(folder / "dovecot.conf")],
                                   stdin=subprocess.DEVNULL, stdout=stderr, stderr=subprocess.STDOUT)
    try:
        _wait_for_imap(port, process, folder)
        yield Dovecot(port)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


def _wait_for_imap(port: int, process: subprocess.Popen, folder: Path, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    logs = "".join(p.read_text(errors="replace") for p in (folder / "stderr.log", folder / "dovecot.log")
                   if p.exists())
    pytest.fail(f"Dovecot did not start (exit {process.poll()}):\n{logs}")


@pytest.fixture
def rq(redis_url, redis):
    client = mt.rq_redis(redis_url)
    yield client
    client.close()


def make_app(scratch_database_url, redis_url, tmp_path, mailboxes=(), **extra):
    return mt.mail_app(scratch_database_url, redis_url, tmp_path, MAIL_ACKNOWLEDGE=False,
                       IMAP_MAILBOXES=[asdict(box) for box in mailboxes], **extra)


@pytest.fixture
def folder(dovecot):
    return dovecot.new_folder()


@pytest.fixture
def box(dovecot, folder, scratch_database_url, redis_url, tmp_path) -> Mailbox:
    """The test's mailbox, configured in an app on a scratch database."""
    mailbox = dovecot.mailbox(folder)
    make_app(scratch_database_url, redis_url, tmp_path, [mailbox])
    return mailbox


def count(model, *where) -> int:
    with reading() as session:
        return session.execute(select(func.count(model.id)).where(*where)).scalar_one()


def message(n: int) -> bytes:
    return mt.email(sender=f"person{n}@mail.example", subject=f"Request {n}", message_id=f"<imap-{n}@mail.example>")


def stored_keys() -> list[str]:
    with reading() as session:
        return list(session.execute(select(InboundRaw.idempotency_key).order_by(InboundRaw.id)).scalars())


# ---- polling --------------------------------------------------------------------------------------------


def test_poll_takes_each_message_once_and_leaves_the_mailbox_untouched(dovecot, folder, box, rq, redis_url):
    assert imap.poll(box, rq) == []                                      # an empty folder
    dovecot.deliver(folder, message(1), message(2))
    first = imap.poll(box, rq)
    assert len(first) == 2
    assert imap.poll(box, rq) == []                                      # polled twice: nothing new
    mt.work(redis_url)
    assert count(Case) == 2
    assert count(InboundRaw, InboundRaw.status == InboundStatus.INGESTED) == 2
    uidvalidity = dovecot.uidvalidity(folder)
    assert stored_keys() == [f"imap:{NAME}:{uidvalidity}:1", f"imap:{NAME}:{uidvalidity}:2"]
    with reading() as session:
        assert set(session.execute(select(InboundRaw.source)).scalars()) == {f"imap:{NAME}"}
    assert all(SEEN not in flags for flags in dovecot.flags(folder).values())  # read-only by default
    assert rq.get(imap.position_key(NAME)) == f"{uidvalidity}:2".encode()


def test_a_message_that_arrives_after_a_poll_is_taken_by_the_next(dovecot, folder, box, rq, redis_url):
    dovecot.deliver(folder, message(1))
    assert len(imap.poll(box, rq)) == 1
    dovecot.deliver(folder, message(2))
    second = imap.poll(box, rq)
    assert len(second) == 1
    mt.work(redis_url)
    assert count(Case) == 2
    with reading() as session:
        assert session.get(InboundRaw, second[0]).message_id == "imap-2@mail.example"


def test_batches_commit_in_order_and_a_lost_position_comes_back_from_the_stored_keys(dovecot, folder, box, rq,
                                                                                      redis_url):
    dovecot.deliver(folder, *(message(n) for n in range(5)))
    assert len(imap.poll(box, rq, batch_size=2)) == 5                  # three batches, three commits
    uidvalidity = dovecot.uidvalidity(folder)
    rq.delete(imap.position_key(NAME))                                  # Redis lost it
    assert imap.last_uid(rq, NAME, uidvalidity) == 5
    dovecot.deliver(folder, message(5))
    assert len(imap.poll(box, rq)) == 1                                 # only the new one
    mt.work(redis_url)
    assert count(InboundRaw) == 6 and count(Case) == 6


def test_a_new_uidvalidity_neither_loses_nor_duplicates(dovecot, folder, box, rq, redis_url):
    dovecot.deliver(folder, message(1), message(2))
    assert len(imap.poll(box, rq)) == 2
    mt.work(redis_url)
    before = dovecot.uidvalidity(folder)
    dovecot.recreate(folder)                         # the server renumbers: the same messages, new UIDs
    dovecot.deliver(folder, message(1), message(2), message(3))
    assert dovecot.uidvalidity(folder) != before
    again = imap.poll(box, rq)
    assert len(again) == 3                           # new keys under the new UIDVALIDITY: stored again...
    mt.work(redis_url)
    assert count(Case) == 3                          # ...but the known Message-IDs open no second case
    with reading() as session:
        outcomes = sorted(session.execute(select(InboundRaw.outcome).where(InboundRaw.id.in_(again))).scalars())
    assert outcomes == ["duplicate", "duplicate", "new_case"]
    assert imap.poll(box, rq) == []


def test_a_mailbox_being_polled_elsewhere_is_left_alone(dovecot, folder, box, rq):
    dovecot.deliver(folder, message(1))
    with rq.lock(imap.position_key(NAME) + ":lock", timeout=30):        # another worker, or the command
        assert imap.poll(box, rq) == []
    assert len(imap.poll(box, rq)) == 1


def test_mark_seen_flags_the_taken_messages(dovecot, folder, scratch_database_url, redis_url, tmp_path, rq):
    mailbox = dovecot.mailbox(folder, mark_seen=True)
    make_app(scratch_database_url, redis_url, tmp_path, [mailbox])
    dovecot.deliver(folder, message(1), message(2))
    assert len(imap.poll(mailbox, rq)) == 2
    assert all(SEEN in flags for flags in dovecot.flags(folder).values())


# ---- the scheduled job and the command ------------------------------------------------------------------


def _run_scheduled(rq) -> None:
    """What the worker's scheduler does when the time comes, brought forward to now."""
    registry = ScheduledJobRegistry("channels", connection=rq)
    for job_id in registry.get_job_ids():
        registry.schedule(Job.fetch(job_id, connection=rq), datetime.now(UTC))
    scheduler = RQScheduler([Queue("channels", connection=rq)], connection=rq)
    scheduler.acquire_locks()
    scheduler.enqueue_scheduled_jobs()
    scheduler.release_locks()


def test_the_poll_job_survives_an_unreachable_server_and_schedules_the_next_poll(
        dovecot, folder, scratch_database_url, redis_url, tmp_path, rq, caplog):
    broken = Mailbox(name="broken", host="127.0.0.1", port=free_port(), ssl=False, username="x", password="y")
    make_app(scratch_database_url, redis_url, tmp_path, [broken, dovecot.mailbox(folder)],
             IMAP_POLL_SECONDS=45)
    dovecot.deliver(folder, message(1))
    caplog.set_level(logging.INFO)
    assert jobs.schedule_polling(rq) is True
    assert jobs.schedule_polling(rq) is False                          # one chain only
    started = time.time()
    mt.work(redis_url)                                                  # the poll, then the ingestion
    assert count(Case) == 1                                             # the good mailbox was taken
    assert "mailbox broken: poll failed: ConnectionRefusedError" in caplog.text
    assert f"mailbox {NAME}: 1 new messages stored" in caplog.text
    assert "person1@mail.example" not in caplog.text                   # ids and names only, no addresses
    registry = ScheduledJobRegistry("channels", connection=rq)
    assert registry.get_job_ids() == [jobs.POLL_JOB_IDS[1]]            # the next link, under the other id
    assert 40 <= registry.get_scheduled_time(jobs.POLL_JOB_IDS[1]).timestamp() - started <= 50
    assert not Job.exists(jobs.POLL_JOB_IDS[0], connection=rq)
    assert jobs.schedule_polling(rq) is False                          # a worker starting now adds none

    dovecot.deliver(folder, message(2))
    _run_scheduled(rq)
    mt.work(redis_url)
    assert count(Case) == 2
    assert registry.get_job_ids() == [jobs.POLL_JOB_IDS[0]]            # and back: the chain goes on


def test_a_failed_link_left_behind_does_not_stop_the_chain(dovecot, folder, scratch_database_url, redis_url,
                                                           tmp_path, rq):
    make_app(scratch_database_url, redis_url, tmp_path, [dovecot.mailbox(folder)])
    queue = Queue("channels", connection=rq)
    leftover = queue.enqueue(jobs.poll_mailboxes, job_id=jobs.POLL_JOB_IDS[0])
    queue.remove(leftover)
    leftover.set_status("failed")
    assert jobs.schedule_polling(rq) is True
    assert queue.get_job_ids() == [jobs.POLL_JOB_IDS[0]]


def test_no_mailbox_no_polling(scratch_database_url, redis_url, tmp_path, rq):
    make_app(scratch_database_url, redis_url, tmp_path, [])
    assert jobs.schedule_polling(rq) is False
    assert Queue("channels", connection=rq).count == 0


def test_poll_imap_once_command(dovecot, folder, scratch_database_url, redis_url, tmp_path, rq):
    app = make_app(scratch_database_url, redis_url, tmp_path, [dovecot.mailbox(folder)])
    dovecot.deliver(folder, message(1))
    result = app.test_cli_runner().invoke(args=["channels", "poll-imap", "--once"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"{NAME}: 1 new messages"
    mt.work(redis_url)
    assert count(Case) == 1
    again = app.test_cli_runner().invoke(args=["channels", "poll-imap", "--once"])
    assert again.output.strip() == f"{NAME}: 0 new messages"

    broken = Mailbox(name="broken", host="127.0.0.1", port=free_port(), ssl=False)
    app = make_app(scratch_database_url, redis_url, tmp_path, [broken])
    failed = app.test_cli_runner().invoke(args=["channels", "poll-imap", "--once"])
    assert failed.exit_code == 1
    assert "broken: failed (ConnectionRefusedError" in failed.output

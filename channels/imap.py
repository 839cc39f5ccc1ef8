"""IMAP polling: each configured mailbox is read by UID, and every message is stored before the position moves.

A message is taken once. Its idempotency key is `imap:<mailbox>:<uidvalidity>:<uid>`, so a retry, an
overlapping poll or a position lost with Redis stores nothing twice. The position (UIDVALIDITY and the last
UID taken) lives in Redis at `casework:imap:<mailbox>` and moves only after the batch that reached it is
committed; without it, the highest stored key of the current UIDVALIDITY gives it back. When the server
changes UIDVALIDITY the UIDs start again from 1: a message that comes back under a new UID is stored again,
and ingestion recognises its Message-ID as a duplicate.

By default the mailbox is left untouched (EXAMINE and BODY.PEEK[]): `Mailbox.mark_seen` flags taken messages.
"""
import logging
import ssl
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from imapclient import SEEN, IMAPClient
from redis import Redis
from redis.exceptions import LockError
from sqlalchemy import func, select

from channels import inbound, jobs
from channels.settings import Mailbox
from channels.settings import current as settings
from models import Channel, InboundRaw, reading, transaction

log = logging.getLogger(__name__)

BATCH_SIZE = 50                       # messages fetched, stored and committed together
BATCH_BYTES = 50 * 1024 * 1024        # and at most this much mail in memory at once
TIMEOUT_SECONDS = 60.0                # of each network operation
LEASE_SECONDS = 600                   # one poller per mailbox; renewed after every batch
LIST_CHUNK = 1000                     # UIDs named in one command


@dataclass(frozen=True)
class PollResult:
    """What one poll of one mailbox did: the ids of the payloads it stored, or why it failed."""

    mailbox: str
    stored: tuple[int, ...] = ()
    error: str | None = None


def source(mailbox: Mailbox) -> str:
    return f"imap:{mailbox.name}"


def position_key(name: str) -> str:
    return f"casework:imap:{name}"


def poll(mailbox: Mailbox, redis: Redis, batch_size: int = BATCH_SIZE) -> list[int]:
    """Take the mailbox's new messages; returns the ids of the payloads this call stored.

    Commits each batch, then enqueues its ingestion and moves the position. Idempotent: a message is stored
    once whatever the retries. While another process polls the same mailbox it returns [] at once.
    Raises what the connection raises (OSError, imapclient's errors); batches committed before stay taken.
    """
    lock = redis.lock(position_key(mailbox.name) + ":lock", timeout=LEASE_SECONDS, blocking=False)
    if not lock.acquire():
        log.info("mailbox %s is being polled elsewhere", mailbox.name)
        return []
    try:
        with _connect(mailbox) as client:
            return _take(client, mailbox, redis, batch_size, lock.reacquire)
    finally:
        try:
            lock.release()
        except LockError:              # the lease ran out during a long first poll; nothing to release
            pass


def poll_all(mailboxes: Iterable[Mailbox], redis: Redis) -> list[PollResult]:
    """Poll each mailbox in turn; a mailbox that fails is logged (its name and the error's kind) and skipped."""
    results = []
    for mailbox in mailboxes:
        try:
            stored = poll(mailbox, redis)
        except Exception as exc:  # noqa: BLE001  (one broken mailbox must not stop the others)
            error = describe(exc)
            log.warning("mailbox %s: poll failed: %s", mailbox.name, error)
            results.append(PollResult(mailbox.name, error=error))
            continue
        log.info("mailbox %s: %s new messages stored", mailbox.name, len(stored))
        results.append(PollResult(mailbox.name, tuple(stored)))
    return results


def describe(exc: BaseException) -> str:
    """The error's kind, for logs and the console. Never its message: a database error's holds the payload."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}"
    return type(exc).__name__


def last_uid(redis: Redis, name: str, uidvalidity: int) -> int:
    """The highest UID of `uidvalidity` already taken from mailbox `name`: from Redis, else from the stored keys."""
    value = redis.get(position_key(name))
    if value is not None:
        known_validity, _, uid = (value.decode() if isinstance(value, bytes) else value).partition(":")
        if int(known_validity) == uidvalidity:
            return int(uid)
        log.info("mailbox %s: UIDVALIDITY changed; reading again from UID 1", name)
    prefix = f"imap:{name}:{uidvalidity}:"
    with reading() as session:
        # UIDs carry no leading zeros: the longest key, then the greatest, holds the highest UID.
        key = session.execute(
            select(InboundRaw.idempotency_key).where(InboundRaw.idempotency_key.startswith(prefix, autoescape=True))
            .order_by(func.length(InboundRaw.idempotency_key).desc(), InboundRaw.idempotency_key.desc()).limit(1)
        ).scalar_one_or_none()
    return int(key.removeprefix(prefix)) if key else 0


def _connect(mailbox: Mailbox) -> IMAPClient:
    context = ssl.create_default_context() if mailbox.ssl or mailbox.starttls else None
    client = IMAPClient(mailbox.host, mailbox.port, ssl=mailbox.ssl, ssl_context=context, timeout=TIMEOUT_SECONDS)
    try:
        if mailbox.starttls and not mailbox.ssl:
            client.starttls(context)
        client.login(mailbox.username, mailbox.password)
    except BaseException:
        client.shutdown()
        raise
    return client


def _take(client: IMAPClient, mailbox: Mailbox, redis: Redis, batch_size: int, renew_lease) -> list[int]:
    selected = client.select_folder(mailbox.folder, readonly=not mailbox.mark_seen)
    uidvalidity = int(selected[b"UIDVALIDITY"])
    after = last_uid(redis, mailbox.name, uidvalidity)
    # "N:*" always matches the newest message, even below N: hence the filter.
    uids = sorted(uid for uid in client.search(["UID", f"{after + 1}:*"]) if uid > after)
    sizes = {}
    for i in range(0, len(uids), LIST_CHUNK):          # keeps each command line short
        sizes |= {uid: int(data[b"RFC822.SIZE"])
                  for uid, data in client.fetch(uids[i:i + LIST_CHUNK], ["RFC822.SIZE"]).items()}
    stored: list[int] = []
    for batch in _batches(sorted(sizes), sizes, batch_size):
        new_ids = _store(client, mailbox, uidvalidity, batch, sizes)
        if new_ids:
            jobs.request_ingest(redis, new_ids)
        redis.set(position_key(mailbox.name), f"{uidvalidity}:{batch[-1]}")
        if mailbox.mark_seen:
            client.add_flags(batch, [SEEN], silent=True)
        stored += new_ids
        renew_lease()
    return stored


def _batches(uids: list[int], sizes: dict[int, int], batch_size: int) -> Iterator[list[int]]:
    batch: list[int] = []
    weight = 0
    for uid in uids:
        if batch and (len(batch) >= batch_size or weight + sizes[uid] > BATCH_BYTES):
            yield batch
            batch, weight = [], 0
        batch.append(uid)
        weight += sizes[uid]
    if batch:
        yield batch


def _store(client: IMAPClient, mailbox: Mailbox, uidvalidity: int, batch: list[int],
           sizes: dict[int, int]) -> list[int]:
    """Fetch and commit one batch; returns the ids of the payloads that are new."""
    limit = settings().max_message_bytes
    wanted = [uid for uid in batch if sizes[uid] <= limit]
    for uid in sorted(set(batch) - set(wanted)):
        # SMTP refuses such a message with 552; here it stays in the mailbox for a person to handle.
        log.warning("mailbox %s: UID %s is %s bytes, over the limit; left in the mailbox", mailbox.name, uid,
                    sizes[uid])
    fetched = client.fetch(wanted, ["BODY.PEEK[]"]) if wanted else {}
    new_ids = []
    with transaction() as session:
        for uid in wanted:
            if uid not in fetched:        # expunged since the listing
                continue
            raw, created = inbound.store_raw(session, channel=Channel.EMAIL, source=source(mailbox),
                                             payload=fetched[uid][b"BODY[]"],
                                             idempotency_key=f"imap:{mailbox.name}:{uidvalidity}:{uid}")
            if created:
                new_ids.append(raw.id)
    return new_ids

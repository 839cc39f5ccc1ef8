"""End-to-end email ingest: N realistic messages stored, queued and ingested by real `flask worker` processes.

    .venv/bin/python -m bench.ingest [--count N] [--workers W] [--database-url URL --redis-url URL] [--json]

Without URLs it uses a scratch SQLite file and an embedded Redis in a temporary directory. The messages: new
requests from many senders, ~30% replies (In-Reply-To/References to an earlier message of the thread), ~10%
with an attachment, mixed charsets (UTF-8, ISO-8859-1, Windows-1252, quoted-printable and base64), ~3%
auto-replies. It stores them the way `flask channels import-mail` does, enqueues them, and times until every
one is processed; then it checks that every reply sits on its thread's case and that nothing was lost.
"""
import argparse
import os
import random
import subprocess
import sys
import time
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

from sqlalchemy import func, select

from bench import add_engine_arguments, print_figures, with_engines
from models import (
    Base,
    Channel,
    InboundRaw,
    InboundStatus,
    Interaction,
    Session,
    init_engine,
    make_engine,
    reading,
)

ROOT = Path(__file__).resolve().parents[1]
TEXTS = {
    "en": ("Pothole on {n} Elm Street", "There is a deep pothole outside number {n}. Please repair it soon."),
    "es": ("Farola apagada en la calle {n}", "La farola frente al número {n} está apagada desde la semana pasada."),
    "it": ("Rifiuti non ritirati in via {n}", "I rifiuti al numero {n} non sono stati ritirati. Può verificare?"),
}
CHARSETS = ("utf-8", "iso-8859-1", "windows-1252")


def make_messages(count: int, seed: int = 7) -> tuple[list[bytes], dict[str, str]]:
    """The messages, and for each reply's Message-ID the Message-ID of its thread's first message."""
    rng = random.Random(seed)
    messages, roots, thread_of = [], [], {}
    for i in range(count):
        language = rng.choice(("en", "en", "es", "it"))
        subject, body = (t.format(n=i) for t in TEXTS[language])
        message = EmailMessage()
        message_id = f"bench.{i}@mail.example"
        message["Message-ID"] = f"<{message_id}>"
        message["To"] = "help@riverton.example"
        roll = rng.random()
        if roll < 0.03:
            message["From"] = "robot@autoresponder.example"
            message["Subject"] = "Automatic reply: out of office"
            message["Auto-Submitted"] = "auto-replied"
        elif roll < 0.33 and roots:
            root_id, sender = rng.choice(roots)
            message["From"] = sender
            message["Subject"] = f"Re: {subject}"
            message["In-Reply-To"] = f"<{root_id}>"
            message["References"] = f"<{root_id}>"
            thread_of[message_id] = root_id
        else:
            sender = f"Person {i} <person{i}@mail.example>"
            message["From"] = sender
            message["Subject"] = subject
            roots.append((message_id, sender))
        charset = rng.choice(CHARSETS)
        message.set_content(body, charset=charset, cte=rng.choice(("quoted-printable", "base64", "8bit")))
        if rng.random() < 0.10:
            message.add_attachment(rng.randbytes(rng.randint(2_000, 60_000)), maintype="image", subtype="jpeg",
                                   filename=f"photo-{i}.jpg")
        messages.append(message.as_bytes(policy=SMTP))
    return messages, thread_of


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _cpu_seconds(pid: int) -> float:
    # utime + stime of the process (fields 14 and 15 of /proc/<pid>/stat), in seconds.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _start_workers(n: int, env: dict) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "worker", "channels"], cwd=ROOT,
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(n)]


def _wait_for_workers(rq, count: int, timeout: float = 120) -> None:
    # A worker that starts after the store began would recover (enqueue) the first stored payloads and
    # write while the store writes: wait until every worker is registered, i.e. past its start-up.
    from rq import Worker

    deadline = time.monotonic() + timeout
    while Worker.count(connection=rq) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{count} workers did not start within {timeout} s")
        time.sleep(0.1)


def _pending() -> int:
    with reading() as session:
        return session.execute(select(func.count(InboundRaw.id)).where(
            InboundRaw.status == InboundStatus.RECEIVED)).scalar_one()


def _threading_accuracy(thread_of: dict[str, str]) -> tuple[int, int]:
    with reading() as session:
        case_of = dict(session.execute(select(Interaction.external_id, Interaction.case_id)
                                       .where(Interaction.channel == Channel.EMAIL)).all())
    right = sum(1 for reply, root in thread_of.items() if case_of.get(reply) is not None
                and case_of.get(reply) == case_of.get(root))
    return right, len(thread_of)


def run(count: int, workers: int, database_url: str, redis_url: str, scratch: Path) -> dict:
    import redis as redis_lib

    from channels import importer, jobs

    engine = make_engine(database_url)
    Base.metadata.create_all(engine)
    engine.dispose()
    init_engine(database_url)
    messages, thread_of = make_messages(count)
    store = scratch / "mail"
    store.mkdir()
    for i, message in enumerate(messages):
        (store / f"{i:07d}.eml").write_bytes(message)
    env = os.environ | {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "CASEWORK_MAIL_ACKNOWLEDGE": "false",
                        "CASEWORK_ATTACHMENT_DIR": str(scratch / "attachments"), "CASEWORK_LOG_LEVEL": "WARNING"}
    processes = _start_workers(workers, env)
    try:
        rq = redis_lib.Redis.from_url(redis_url)
        _wait_for_workers(rq, workers)        # before the clock starts, and before anything is stored
        cpu_before = sum(_cpu_seconds(p.pid) for p in processes)
        started = time.perf_counter()
        importer.store_all(Session, store, on_commit=lambda ids: jobs.request_ingest(rq, ids))
        stored_at = time.perf_counter()
        while _pending():
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        rss = max(_peak_rss_mb(p.pid) for p in processes)
        cpu = sum(_cpu_seconds(p.pid) for p in processes) - cpu_before
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(30)
    right, replies = _threading_accuracy(thread_of)
    with reading() as session:
        statuses = dict(session.execute(select(InboundRaw.status, func.count(InboundRaw.id))
                                        .group_by(InboundRaw.status)).all())
    return {"engine": make_engine(database_url).dialect.name, "redis": "embedded" if "unix" in redis_url else "server",
            "messages": count, "workers": workers, "seconds": round(elapsed, 2),
            "store_seconds": round(stored_at - started, 2), "messages_per_second": round(count / elapsed),
            # After the store ends (the workers ingest each stored chunk while the next one is stored).
            "after_store_seconds": round(elapsed - (stored_at - started), 2),
            "replies": replies, "threading_accuracy": round(right / replies, 4) if replies else 1.0,
            "ingested": statuses.get(InboundStatus.INGESTED, 0), "ignored": statuses.get(InboundStatus.IGNORED, 0),
            "failed": statuses.get(InboundStatus.FAILED, 0),
            "lost": count - sum(statuses.values()) + statuses.get(InboundStatus.RECEIVED, 0),
            # CPU the workers spent per message: unlike the rate, it hardly depends on what else the machine runs.
            "worker_cpu_ms_per_message": round(1000 * cpu / count, 2), "load_average": os.getloadavg()[0],
            "worker_peak_rss_mb": round(rss, 1), "bench_peak_rss_mb": round(_peak_rss_mb(os.getpid()), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2)
    add_engine_arguments(parser)
    args = parser.parse_args()
    figures = with_engines(args, lambda scratch, redis_url: run(
        args.count, args.workers, args.database_url or f"sqlite:///{scratch / 'bench.db'}", redis_url, scratch))
    print_figures(figures, args.json)


if __name__ == "__main__":
    main()

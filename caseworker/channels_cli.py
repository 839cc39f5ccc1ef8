"""`flask channels ...`: the SMTP listener, IMAP polling, bulk mail import and the retry of stuck inbound payloads."""
import csv
import json
import logging
import threading
import time
from datetime import timedelta
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from rq import SimpleWorker
from sqlalchemy import func, select

from caseworker import logconfig
from caseworker.extensions import rq_connection
from channels import imap, importer, inbound, jobs, smtpd
from channels.settings import current as channel_settings
from models import Case, InboundRaw, InboundStatus, Session, reading

log = logging.getLogger(__name__)

channels_cli = AppGroup("channels", help="Inbound and outbound channels.")
SUMMARY_KEYS = {"new_case": "new_cases", "threaded": "threaded", "auto_reply": "auto_replies",
                "bounce": "bounces", "duplicate": "duplicates", "failed": "failed"}


def start_smtpd(host: str, port: int):
    """Start the SMTP listener in a background thread of this process; returns its controller."""
    app = current_app._get_current_object()

    def redis_in_app():
        with app.app_context():
            return rq_connection()

    listener = smtpd.controller(redis_in_app, host, port, app.config["MAIL_MAX_BYTES"])
    listener.start()
    return listener


@channels_cli.command("smtpd")
@click.option("--host", default=None, help="Default: SMTPD_HOST (127.0.0.1).")
@click.option("--port", default=None, type=int, help="Default: SMTPD_PORT (2525).")
def smtpd_command(host: str | None, port: int | None) -> None:
    """Receive mail over SMTP; every message is stored before it is acknowledged."""
    logconfig.configure()
    host, port = host or current_app.config["SMTPD_HOST"], port or current_app.config["SMTPD_PORT"]
    listener = start_smtpd(host, port)
    click.echo(f"SMTP listener on {host}:{port} (Ctrl-C stops it)")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        listener.stop()


@channels_cli.command("import-mail")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--wait", is_flag=True, help="Return when every message is ingested and print a JSON summary.")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path), help="CSV: one row per message.")
def import_mail(path: Path, wait: bool, report: Path | None) -> None:
    """Import a directory of .eml files, an mbox file or a Maildir. Imported mail is never acknowledged."""
    started = time.monotonic()
    rq = rq_connection()
    stored = importer.store_all(Session, path, on_commit=lambda ids: jobs.request_ingest(rq, ids))
    new_ids = [raw_id for raw_id, created in stored if created]
    click.echo(f"{len(stored)} messages read, {len(new_ids)} new; workers are ingesting them", err=wait)
    if not (wait or report):
        return
    _drain(new_ids)
    outcomes = {row[0]: row for row in _outcomes(new_ids)}
    # A message stored by an earlier import is a duplicate of itself.
    rows = [outcomes.get(raw_id) or (raw_id, "duplicate", None, None, None) for raw_id, _created in stored]
    if report:
        _write_report(report, rows)
    if wait:
        summary = {"received": len(rows)} | {name: 0 for name in SUMMARY_KEYS.values()}
        for _raw_id, outcome, _mid, _ref, _err in rows:
            summary[SUMMARY_KEYS.get(outcome, "failed")] += 1
        summary["seconds"] = round(time.monotonic() - started, 2)
        click.echo(json.dumps(summary))


def _pending(ids: list[int]) -> int:
    with reading() as session:
        return sum(session.execute(select(func.count(InboundRaw.id)).where(
            InboundRaw.id.in_(ids[i:i + 500]), InboundRaw.status == InboundStatus.RECEIVED)).scalar_one()
            for i in range(0, len(ids), 500))


def _drain(ids: list[int]) -> None:
    """Help the workers until none of `ids` is waiting: works the channels queue in this process too."""
    worker = SimpleWorker([jobs.CHANNELS_QUEUE], connection=rq_connection())
    while _pending(ids):
        worker.work(burst=True, logging_level="WARNING")
        time.sleep(0.1)


def _outcomes(ids: list[int]) -> list[tuple]:
    rows = []
    with reading() as session:
        for i in range(0, len(ids), 500):
            rows += session.execute(
                select(InboundRaw.id, InboundRaw.outcome, InboundRaw.message_id, Case.reference, InboundRaw.error)
                .outerjoin(Case, Case.id == InboundRaw.case_id).where(InboundRaw.id.in_(ids[i:i + 500]))
            ).all()
    return rows


def _write_report(path: Path, rows: list[tuple]) -> None:
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["message_id", "outcome", "case_reference", "error"])
        for _raw_id, outcome, message_id, reference, error in rows:
            out.writerow([message_id or "", outcome or "failed", reference or "", error or ""])


@channels_cli.command("retry")
@click.option("--failed", "include_failed", is_flag=True, help="Also retry payloads that failed.")
@click.option("--older-than", default=600, show_default=True, help="Seconds a RECEIVED payload has waited.")
def retry(include_failed: bool, older_than: int) -> None:
    """Enqueue again the inbound payloads that a dead worker left, and optionally the failed ones."""
    with reading() as session:
        ids = inbound.stale(session, timedelta(seconds=older_than))
        if include_failed:
            ids += [raw.id for raw in inbound.failed(session, limit=100_000)]
    jobs.request_ingest(rq_connection(), ids)
    click.echo(f"{len(ids)} payloads enqueued again")


@channels_cli.command("poll-imap")
@click.option("--once", is_flag=True, help="Poll each mailbox once and exit (non-zero when one failed).")
def poll_imap(once: bool) -> None:
    """Poll the mailboxes of IMAP_MAILBOXES now, then every IMAP_POLL_SECONDS; workers ingest what is taken."""
    settings = channel_settings()
    if not settings.mailboxes:
        raise click.ClickException("IMAP_MAILBOXES names no mailbox")
    if not once:
        logconfig.configure()
    try:
        while True:
            results = imap.poll_all(settings.mailboxes, rq_connection())
            for result in results:
                click.echo(f"{result.mailbox}: " + (f"failed ({result.error})" if result.error
                                                    else f"{len(result.stored)} new messages"))
            if once:
                break
            time.sleep(settings.imap_poll_seconds)
    except KeyboardInterrupt:
        return
    if any(result.error for result in results):
        raise click.exceptions.Exit(1)

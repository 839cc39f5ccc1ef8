"""Fault: the database cannot take writes.

On PostgreSQL the test runs the system on a throwaway cluster of its own and stops it; on SQLite another
process holds the write lock past the busy timeout (30 s), which is how a stuck writer or a full disk
looks to the application. The SMTP listener answers 451 (the sending MTA keeps the message and retries),
the contact page answers 503 with the person's words still in the form, in their language, and nothing is
half-written. When the database is back, the same message and the same form are taken in, once.
"""
import os
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time
from email.utils import make_msgid
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from models import Case, ContactPoint, InboundRaw, Interaction, init_engine, migrate, reading
from tests.channels.mailtools import email
from tests.conftest import engine_name, free_port
from tests.engines import _as_postgres, _pg_bin
from tests.reliability.harness import WebForm, figures, send_mail

pytestmark = pytest.mark.integration

DESCRIPTION = "La farola de la calle Olmo 12 está apagada desde el lunes."


class PostgresCluster:
    """A cluster of this test only, so stopping it disturbs no other test."""

    def __init__(self):
        self.folder = Path(tempfile.mkdtemp(prefix="casework-outage-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
        self.data, self.port = self.folder / "data", free_port()
        subprocess.run(_as_postgres([_pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "casework",
                                     "-E", "UTF8", "--no-sync"]), check=True, stdout=subprocess.DEVNULL)
        self.start()
        subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "casework", "-d", "postgres", "-q",
                        "-c", "CREATE DATABASE casework"], check=True)
        self.url = f"postgresql+psycopg://casework@127.0.0.1:{self.port}/casework"

    def _ctl(self, *args: str) -> None:
        subprocess.run(_as_postgres([_pg_bin("pg_ctl"), "-D", str(self.data), *args]), check=True,
                       stdout=subprocess.DEVNULL)

    def start(self) -> None:
        self._ctl("-o", f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off",
                  "-l", str(self.folder / "postgres.log"), "-w", "start")

    def stop(self) -> None:
        self._ctl("-m", "fast", "-w", "stop")

    def remove(self) -> None:
        subprocess.run(_as_postgres([_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"]),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(self.folder, ignore_errors=True)


class SqliteWriteLock:
    """Another process holding SQLite's write lock: every writer waits out its busy timeout, then fails."""

    def __init__(self, url: str):
        self.path = make_url(url).database
        self.connection: sqlite3.Connection | None = None

    def stop(self) -> None:
        self.connection = sqlite3.connect(self.path, isolation_level=None, timeout=5)
        self.connection.execute("BEGIN IMMEDIATE")

    def start(self) -> None:
        self.connection.rollback()
        self.connection.close()

    def remove(self) -> None:
        if self.connection is not None:
            self.connection.close()


@pytest.fixture
def outage(live_env):
    """(what stops and starts the database, its URL)."""
    if engine_name() == "postgresql":
        cluster = PostgresCluster()
        migrate.upgrade(cluster.url)
        yield cluster, cluster.url
        init_engine("sqlite://")
        cluster.remove()
    else:
        lock = SqliteWriteLock(live_env["DATABASE_URL"])
        yield lock, live_env["DATABASE_URL"]
        lock.remove()


@pytest.fixture
def env(env, outage):
    return env | {"DATABASE_URL": outage[1]}


def _rows() -> dict[str, int]:
    with reading() as session:
        return {model.__name__: session.execute(select(func.count()).select_from(model)).scalar_one()
                for model in (InboundRaw, Case, Interaction, ContactPoint)}


def test_while_the_database_is_away_smtp_defers_and_the_form_keeps_what_was_typed(procs, centre, env, outage):
    database, _url = outage
    smtp_port = free_port()
    procs.smtpd(smtp_port)
    url = procs.web(free_port())
    form = WebForm(url, language="es")
    fields = form.load()                          # the page is on the person's screen before the outage
    values = {"category": centre.category, "description": DESCRIPTION, "name": "Lucía Romero",
              "email": "lucia.romero@correo.example", "language": "es"}
    message_id = make_msgid(domain="mail.example")
    mail = email(message_id=message_id, sender="ana@mail.example", subject="Streetlight out on Elm Street")
    before = _rows()

    database.stop()
    stopped_at = time.monotonic()
    answers: dict = {}
    sending = threading.Thread(target=lambda: answers.update(smtp=send_mail(smtp_port, mail, timeout=50)))
    sending.start()
    answers["form"] = form.send(fields, timeout=50, **values)
    sending.join(55)
    waited = time.monotonic() - stopped_at
    database.start()

    code, text = answers["smtp"]
    assert code == 451, (code, text)                             # transient: the sender's MTA retries
    page = answers["form"]
    assert page.status_code == 503
    html = page.text
    assert "No pudimos guardar su solicitud" in html and 'lang="es"' in html
    assert DESCRIPTION in html and 'value="lucia.romero@correo.example"' in html and 'value="Lucía Romero"' in html
    assert f'value="{fields["token"]}"' in html                 # the same submission when sent again
    init_engine(env["DATABASE_URL"])
    assert _rows() == before, "a failed write left rows behind"

    # Back: the sender's retry and the person's second click are taken in, each exactly once.
    code, _text = send_mail(smtp_port, mail)
    assert code == 250
    again = form.send(fields | {"csrf_token": _csrf(html)}, **values)
    assert again.status_code == 302, again.status_code
    again_twice = form.send(fields | {"csrf_token": _csrf(html)}, **values)     # a double click
    assert again_twice.status_code == 302
    with reading() as session:
        assert session.execute(select(func.count()).where(
            InboundRaw.message_id == message_id.strip("<>"))).scalar_one() == 1
        assert session.execute(select(func.count()).where(
            Interaction.external_id == f"webform-{fields['token']}")).scalar_one() == 1
    figures("SMTP 451 and form 503 after %.1f s without the database; rows after the failure: %s; "
            "taken in once when it was back", waited, before)


def _csrf(html: str) -> str:
    from tests.conftest import csrf_token

    return csrf_token(html)

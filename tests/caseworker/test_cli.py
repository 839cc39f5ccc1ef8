"""The `flask` commands: users create, worker, and the demo data."""
import gc

import pytest
import redis as redis_lib
from rq import Queue
from sqlalchemy import func, select

from caseworker import accounts
from caseworker.cli import FULL_COLLECTION_EVERY, PacedWorker, hold_full_collections
from models import Role, User
from tests.factories import make_user


def test_users_create_makes_an_account_that_can_sign_in(app, db_session):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "create", "New.Supervisor@Staff.Example", "--role", "supervisor",
                                 "--name", "Nia Supervisor"], input="a-good-long-password\na-good-long-password\n")
    assert result.exit_code == 0, result.output
    db_session.rollback()
    user = db_session.execute(select(User).where(User.email == "new.supervisor@staff.example")).scalar_one()
    assert (user.role, user.display_name) == (Role.SUPERVISOR, "Nia Supervisor")
    assert user.password_hash.startswith("$argon2id$")
    assert accounts.authenticate(db_session, "new.supervisor@staff.example", "a-good-long-password",
                                 max_failures=5, lock_seconds=60) is not None


def test_users_create_refuses_a_taken_email_and_a_short_password(app, db_session):
    make_user(db_session, email="taken@staff.example")
    db_session.commit()
    runner = app.test_cli_runner()
    taken = runner.invoke(args=["users", "create", "taken@staff.example"], input="long-enough-pw\nlong-enough-pw\n")
    assert taken.exit_code == 1 and "exists already" in taken.output
    short = runner.invoke(args=["users", "create", "short@staff.example"], input="short\nshort\n")
    assert short.exit_code == 1 and "at least 10 characters" in short.output
    db_session.rollback()
    assert db_session.execute(select(func.count(User.id))).scalar_one() == 1


def test_users_create_refuses_an_unknown_role(app):
    result = app.test_cli_runner().invoke(args=["users", "create", "x@staff.example", "--role", "mayor"],
                                          input="long-enough-pw\nlong-enough-pw\n")
    assert result.exit_code == 2 and "mayor" in result.output


@pytest.fixture
def full_collections():
    """The full garbage collections made while the test runs (a list, one item each); the collector's
    thresholds are put back after."""
    made, thresholds = [], gc.get_threshold()

    def seen(phase, info):
        if phase == "stop" and info["generation"] == 2:
            made.append(phase)
    gc.callbacks.append(seen)
    yield made
    gc.callbacks.remove(seen)
    gc.set_threshold(*thresholds)


def _make_survivors() -> list:
    """As many new container objects as the collector tracks now, kept alive: enough, under Python's own
    thresholds, to make it run full collections."""
    return [[] for _ in range(len(gc.get_objects()))]


def test_a_worker_makes_full_garbage_collections_between_jobs_not_during_them(redis_url, full_collections):
    hold_full_collections()
    survivors = _make_survivors()              # Python alone would have made a full collection by now
    assert full_collections == []
    assert gc.get_count()[2] >= FULL_COLLECTION_EVERY
    connection = redis_lib.Redis.from_url(redis_url)
    Queue("gc-test", connection=connection).enqueue("os.getpid")
    PacedWorker(["gc-test"], connection=connection).work(burst=True, logging_level="WARNING")
    assert len(full_collections) == 1                                     # after the job
    assert gc.get_count()[2] < FULL_COLLECTION_EVERY
    del survivors                              # alive until here

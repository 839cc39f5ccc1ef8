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


# What happened during the GC test, in order: "full" for each full collection, "job done" when its job ends.
_events: list[str] = []


@pytest.fixture
def full_collections():
    """The events of `_events`, from the test's start; the collector's thresholds are put back after."""
    _events.clear()
    thresholds = gc.get_threshold()

    def seen(phase, info):
        if phase == "stop" and info["generation"] == 2:
            _events.append("full")
    gc.callbacks.append(seen)
    yield _events
    gc.callbacks.remove(seen)
    gc.set_threshold(*thresholds)


def allocate_like_a_long_job() -> int:
    """The job: half as many new container objects as the collector tracks now, kept alive to its end: it is
    enough to make Python run full collections under its own thresholds."""
    survivors = [[] for _ in range(len(gc.get_objects()) // 2)]
    _events.append("job done")
    return len(survivors)


def test_a_worker_makes_full_garbage_collections_between_jobs_not_during_them(redis_url, full_collections):
    hold_full_collections()
    connection = redis_lib.Redis.from_url(redis_url)
    Queue("gc-test", connection=connection).enqueue(allocate_like_a_long_job)
    PacedWorker(["gc-test"], connection=connection).work(burst=True, logging_level="WARNING")
    assert full_collections == ["job done", "full"]
    assert gc.get_count()[2] < FULL_COLLECTION_EVERY

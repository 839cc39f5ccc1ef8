"""Batch ingest: one job takes in many stored payloads in one transaction, one savepoint each.

A payload that cannot be taken in is marked FAILED and the rest of its batch goes on; a worker that dies in
the middle of a batch leaves every payload of it RECEIVED and retriable; replies thread onto cases opened
earlier in the same batch; and the batch's new cases are routed by one job, each as `route_case` would.
"""
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from channels import inbound, jobs
from models import Case, Channel, Direction, InboundRaw, InboundStatus, Interaction, reading, transaction
from tests.channels import mailtools as mt

BROKEN_WEBHOOK = b"message-headers=this+is+not+json&body-plain=hello"


@pytest.fixture
def mail(scratch_database_url, redis_url, redis, tmp_path, sink):
    return mt.mail_app(scratch_database_url, redis_url, tmp_path, sink)


def store(*payloads: bytes | tuple[str, str, bytes]) -> list[int]:
    """Store payloads as the listeners do; a tuple is (source, content type, payload)."""
    with transaction() as session:
        ids = []
        for payload in payloads:
            source, content_type, data = payload if isinstance(payload, tuple) else ("smtp", "message/rfc822", payload)
            ids.append(inbound.store_raw(session, channel=Channel.EMAIL, source=source, payload=data,
                                         content_type=content_type)[0].id)
    return ids


def states(ids: list[int]) -> list[tuple[InboundStatus, str | None]]:
    with reading() as session:
        rows = {r.id: (r.status, r.outcome) for r in session.execute(
            select(InboundRaw.id, InboundRaw.status, InboundRaw.outcome).where(InboundRaw.id.in_(ids))).all()}
    return [rows[i] for i in ids]


def count(model) -> int:
    with reading() as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def inbound_messages() -> int:
    """Interactions taken in (acknowledgements are interactions too: outbound)."""
    with reading() as session:
        return session.execute(select(func.count()).where(Interaction.direction == Direction.INBOUND)).scalar_one()


def case_of(message_id: str) -> int | None:
    with reading() as session:
        return session.execute(select(Interaction.case_id).where(Interaction.external_id == message_id)).scalar()


def test_one_malformed_payload_fails_alone_and_the_rest_of_its_batch_is_taken_in(mail, redis_url):
    ids = store(mt.email(message_id="<a@mail.example>", sender="a@mail.example"),
                ("webhook:mailgun", "application/x-www-form-urlencoded", BROKEN_WEBHOOK),
                mt.email(message_id="<b@mail.example>", sender="b@mail.example"),
                mt.email(message_id="<c@mail.example>", sender="c@mail.example", in_reply_to="<a@mail.example>"))
    jobs.request_ingest(mt.rq_redis(redis_url), ids)            # one job: a batch of four
    mt.work(redis_url)
    assert states(ids) == [(InboundStatus.INGESTED, "new_case"), (InboundStatus.FAILED, "failed"),
                           (InboundStatus.INGESTED, "new_case"), (InboundStatus.INGESTED, "threaded")]
    with reading() as session:
        broken = session.get(InboundRaw, ids[1])
        assert "InvalidWebhook" in broken.error and broken.attempts == 1 and broken.payload == BROKEN_WEBHOOK
    assert count(Case) == 2 and inbound_messages() == 3
    assert case_of("c@mail.example") == case_of("a@mail.example")      # threaded within its own batch


def test_a_reply_stored_before_the_message_it_answers_waits_and_then_threads(mail, redis_url):
    reply, parent = store(mt.email(message_id="<re@mail.example>", in_reply_to="<root@mail.example>"),
                          mt.email(message_id="<root@mail.example>"))
    jobs.request_ingest(mt.rq_redis(redis_url), [reply, parent])
    mt.work(redis_url)
    assert states([reply, parent]) == [(InboundStatus.INGESTED, "threaded"), (InboundStatus.INGESTED, "new_case")]
    assert count(Case) == 1 and case_of("re@mail.example") == case_of("root@mail.example")


def test_a_worker_that_dies_mid_batch_leaves_every_payload_of_it_retriable_and_nothing_twice(mail, redis_url):
    ids = store(*(mt.email(message_id=f"<m{n}@mail.example>", sender=f"p{n}@mail.example") for n in range(5)))
    prepared = {}
    taken = []

    def die_on_the_third(session, raw):
        if len(taken) == 2:
            raise SystemExit("worker killed")       # not an Exception: nothing catches it, as with a crash
        taken.append(raw.id)
        return jobs._processor(prepared)(session, raw)

    with pytest.raises(SystemExit):
        with transaction() as session:
            inbound.process_batch(session, ids, die_on_the_third)
    assert taken == ids[:2]
    assert states(ids) == [(InboundStatus.RECEIVED, None)] * 5        # the two taken in were rolled back too
    assert count(Case) == 0 and inbound_messages() == 0
    with reading() as session:
        assert inbound.stale(session, timedelta(0)) == ids
    for _ in range(2):                              # recovery, then a doubled recovery: one of each
        jobs.request_recovery(mt.rq_redis(redis_url))
        mt.work(redis_url)
    assert states(ids) == [(InboundStatus.INGESTED, "new_case")] * 5
    assert count(Case) == 5 and inbound_messages() == 5


def test_a_batch_retried_after_it_committed_changes_nothing(mail, redis_url):
    ids = store(*(mt.email(message_id=f"<r{n}@mail.example>") for n in range(3)))
    for _ in range(2):
        jobs.request_ingest(mt.rq_redis(redis_url), ids)
        mt.work(redis_url)
    with reading() as session:
        attempts = session.execute(select(InboundRaw.attempts).where(InboundRaw.id.in_(ids))).scalars().all()
    assert attempts == [1, 1, 1] and inbound_messages() == 3 and count(Case) == 3

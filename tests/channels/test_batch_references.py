"""A batch reserves its case references before its write transaction, so concurrent batches do not wait on
the year's counter; the references stay unique and increasing, and a reply reserves nothing."""
import pytest
from sqlalchemy import select

from channels import jobs, mail as mail_channel
from models import Case, reading, transaction, utcnow
from models.reference import current_value
from tests.channels import mailtools as mt
from tests.channels.test_batch_ingest import store


@pytest.fixture
def mail(scratch_database_url, redis_url, redis, tmp_path):
    return mt.mail_app(scratch_database_url, redis_url, tmp_path, MAIL_ACKNOWLEDGE=False)


def test_a_batch_numbers_its_new_cases_from_one_reserved_block(mail, redis_url):
    year = utcnow().year
    ids = store(*(mt.email(message_id=f"<n{n}@mail.example>", sender=f"p{n}@mail.example") for n in range(4)),
                mt.email(message_id="<re@mail.example>", in_reply_to="<n0@mail.example>"),
                mt.email(message_id="<auto@mail.example>", headers={"Auto-Submitted": "auto-replied"}))
    with mail.app_context():
        prepared = jobs._prepare(ids)
        assert mail_channel.likely_new_cases(prepared.values()) == 4       # not the reply, not the auto-reply
    jobs.request_ingest(mt.rq_redis(redis_url), ids)
    mt.work(redis_url, queues=("channels",))
    with reading() as session:
        references = session.execute(select(Case.reference).order_by(Case.id)).scalars().all()
        counter = current_value(session, year)
    numbers = [int(reference.rsplit("-", 1)[1]) for reference in references]
    assert len(numbers) == 4 and numbers == sorted(set(numbers))
    assert counter == numbers[-1]                      # the block was just big enough: no gap


def test_a_lone_message_takes_its_number_from_the_counter(mail, redis_url):
    with transaction() as session:
        before = current_value(session, utcnow().year)
    jobs.request_ingest(mt.rq_redis(redis_url), store(mt.email(message_id="<one@mail.example>")))
    mt.work(redis_url, queues=("channels",))
    with reading() as session:
        assert current_value(session, utcnow().year) == before + 1
        assert session.execute(select(Case.reference)).scalar_one().endswith(f"{before + 1:06d}")

"""channels.csat: the signed link, writing a survey once, answering once, and the summary."""
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from channels import chatting, csat
from channels.chat import PreChat
from models import (
    Case,
    CaseMerge,
    CaseStatus,
    Channel,
    DeliveryStatus,
    Direction,
    Interaction,
    Role,
    SurveyResponse,
    utcnow,
)
from tests.factories import make_case, make_category, make_queue, make_user

DAY = 86400


@pytest.fixture
def settings():
    """Survey settings under the test's control, put back afterwards."""
    before = csat.settings()
    csat.configure(csat.CsatSettings(secret_key="a-test-secret", max_age_days=14))
    yield csat.settings()
    csat.configure(before)


# ---- the signed link ------------------------------------------------------------------------------------


def test_a_link_opens_its_survey_until_it_expires(settings):
    signed_at = 1_800_000_000.0
    token = csat.sign_link(42, now=signed_at)
    assert csat.read_link(token, now=signed_at) == 42
    assert csat.read_link(token, now=signed_at + 14 * DAY - 1) == 42
    with pytest.raises(csat.LinkExpired) as expired:
        csat.read_link(token, now=signed_at + 14 * DAY + 1)
    assert expired.value.survey_id == 42                # still names its survey: the page speaks its language
    assert csat.read_link(csat.sign_link(7)) == 7       # the real clock


def test_a_changed_or_foreign_link_is_refused(settings):
    token = csat.sign_link(42)
    payload, stamp, signature = token.split(".")
    forged = csat.URLSafeTimedSerializer("a-test-secret").dumps({"s": 43})     # right key, no salt
    for bad in (f"{payload[:-1]}x.{stamp}.{signature}", f"{payload}.{stamp}.{signature[:-2]}", "", "not-a-token",
                forged, f"{csat.sign_link(43).split('.')[0]}.{stamp}.{signature}"):
        with pytest.raises(csat.LinkInvalid):
            csat.read_link(bad)
    csat.configure(csat.CsatSettings(secret_key="another-secret"))
    with pytest.raises(csat.LinkInvalid):
        csat.read_link(token)


def test_the_expiry_is_configurable(settings):
    csat.configure(csat.CsatSettings(secret_key="a-test-secret", max_age_days=1))
    token = csat.sign_link(5, now=time.time() - 2 * DAY)
    with pytest.raises(csat.LinkExpired):
        csat.read_link(token)


# ---- sending --------------------------------------------------------------------------------------------


@pytest.fixture
def resolved(db_session):
    """A Spanish email case, owned by an agent, resolved."""
    queue = make_queue(db_session, "benefits")
    agent = make_user(db_session, Role.AGENT, queues=[queue])
    case = make_case(db_session, category=make_category(db_session, queue), language="es")
    case.assignee_id, case.status, case.resolved_at = agent.id, CaseStatus.RESOLVED, utcnow()
    db_session.flush()
    return case


def carriers(session, case_id: int) -> list[Interaction]:
    return list(session.execute(select(Interaction).where(Interaction.case_id == case_id,
                                                          Interaction.direction == Direction.OUTBOUND)).scalars())


def test_a_resolved_case_gets_one_survey_mail_threaded_in_its_language(db_session, resolved):
    sent = csat.send_survey(db_session, resolved.id)
    survey = db_session.get(SurveyResponse, sent.survey_id)
    assert sent.is_new and sent.channel is Channel.EMAIL
    assert (survey.case_id, survey.agent_id, survey.queue_id, survey.language, survey.score) == (
        resolved.id, resolved.assignee_id, resolved.queue_id, "es", None)
    (mail,) = carriers(db_session, resolved.id)
    assert mail.id == sent.interaction_id and mail.delivery_status is DeliveryStatus.QUEUED
    assert mail.subject == f"¿Qué tal lo hicimos? [{resolved.reference}]" and mail.author_id is None
    assert mail.meta["auto_submitted"] == "auto-generated" and mail.meta["in_reply_to"]
    assert mail.meta["csat_survey_id"] == survey.id
    token = mail.body_text.split("/survey/")[1].split()[0]
    assert csat.read_link(token) == survey.id
    again = csat.send_survey(db_session, resolved.id)                     # a retry, or a second resolve
    assert (again.survey_id, again.interaction_id, again.is_new) == (survey.id, mail.id, False)
    assert len(carriers(db_session, resolved.id)) == 1
    assert db_session.execute(select(func.count(SurveyResponse.id))).scalar_one() == 1


def test_no_survey_for_an_open_merged_or_unreachable_case_or_when_surveys_are_off(db_session, resolved):
    other = make_case(db_session)
    assert csat.send_survey(db_session, other.id) is None                          # still open
    assert csat.send_survey(db_session, 999_999) is None                           # gone
    before = csat.settings()
    csat.configure(csat.CsatSettings(secret_key="x", enabled=False))
    try:
        assert csat.send_survey(db_session, resolved.id) is None
    finally:
        csat.configure(before)
    other.status = CaseStatus.RESOLVED
    db_session.add(CaseMerge(case_id=other.id, into_case_id=resolved.id, merged_at=utcnow()))
    db_session.flush()
    assert csat.send_survey(db_session, other.id) is None                          # a merged duplicate
    for point in resolved.constituent.contact_points:
        point.is_failing = True
    db_session.flush()
    assert csat.send_survey(db_session, resolved.id) is None                       # its only address bounced
    assert db_session.execute(select(func.count(SurveyResponse.id))).scalar_one() == 0


def test_a_live_chat_is_asked_in_the_chat_by_its_agent(db_session, resolved):
    started = chatting.start(db_session, PreChat(name="Lia", language="it", category_code=resolved.category.code,
                                                 token="t-9", question="Buongiorno"), "Chat")
    case = db_session.get(Case, started.case_id)
    case.assignee_id, case.status = resolved.assignee_id, CaseStatus.RESOLVED
    db_session.flush()
    sent = csat.send_survey(db_session, case.id)
    message = db_session.get(Interaction, sent.interaction_id)
    assert sent.channel is Channel.CHAT and db_session.get(SurveyResponse, sent.survey_id).language == "it"
    assert message.channel is Channel.CHAT and message.author_id == resolved.assignee_id
    assert case.reference in message.body_text and "/survey/" in message.body_text
    assert csat.send_survey(db_session, case.id).interaction_id == message.id


# ---- answering ------------------------------------------------------------------------------------------


def test_a_survey_takes_one_answer_in_range_with_a_clean_comment(db_session, resolved):
    survey_id = csat.send_survey(db_session, resolved.id).survey_id
    for score in (0, 6, "5", None):
        with pytest.raises(csat.InvalidAnswer):
            csat.answer(db_session, survey_id, score)
    with pytest.raises(csat.InvalidAnswer):
        csat.answer(db_session, survey_id, 3, "x" * (csat.MAX_COMMENT + 1))
    survey = csat.answer(db_session, survey_id, 5, "  Grazie\x00 mille\u200b!\r\nOttimo  ")
    assert (survey.score, survey.comment) == (5, "Grazie mille!\nOttimo") and survey.answered_at is not None
    with pytest.raises(csat.AlreadyAnswered):
        csat.answer(db_session, survey_id, 1)
    assert db_session.get(SurveyResponse, survey_id).score == 5
    with pytest.raises(LookupError):
        csat.answer(db_session, 999_999, 3)
    assert csat.clean_comment("   ") is None


def test_the_summary_counts_sent_answered_and_averages(db_session, resolved):
    agent_id, now = resolved.assignee_id, utcnow()
    rows = [(agent_id, 5, now), (agent_id, 4, now), (agent_id, None, now), (None, 1, now - timedelta(days=40))]
    for agent, score, at in rows:
        case = make_case(db_session)
        db_session.add(SurveyResponse(case_id=case.id, agent_id=agent, channel=Channel.EMAIL, language="en",
                                      sent_at=at, score=score, answered_at=at if score else None))
    db_session.flush()
    everyone = csat.csat_summary(db_session)
    assert (everyone.sent, everyone.answered, everyone.average, everyone.satisfied) == (4, 3, 3.33, 2)
    mine = csat.csat_summary(db_session, agent_id=agent_id)
    assert (mine.sent, mine.answered, mine.average, mine.response_rate, mine.csat_percent) == (3, 2, 4.5, 2 / 3, 100)
    recent = csat.csat_summary(db_session, since=now - timedelta(days=30))
    assert (recent.sent, recent.answered) == (3, 2)
    nobody = csat.csat_summary(db_session, agent_id=-1)
    assert (nobody.average, nobody.response_rate, nobody.csat_percent) == (None, None, None)

"""The satisfaction survey end to end: a resolve on the case page asks the constituent once, through the case's
channel (real SMTP sink, real RQ worker in-process, real database commits), and the public page takes one
answer behind a signed, expiring link, in the person's language."""
import re
import time

import pytest
from sqlalchemy import select, update

from caseworker import realtime  # noqa: F401  (before any app: Flask-SocketIO then keeps the handlers for every app)
from channels import chatting, csat
from channels.chat import PreChat
from models import (
    AuditEvent,
    Case,
    CaseStatus,
    Channel,
    ChatState,
    ContactPoint,
    DeliveryStatus,
    Direction,
    Interaction,
    Presence,
    Role,
    SurveyResponse,
    reading,
    transaction,
)
from routing import engine
from tests.channels import mailtools as mt
from tests.conftest import Auth, csrf_token
from tests.factories import PASSWORD, make_case, make_category, make_queue, make_user

LINK = re.compile(r"http://[^\s]+/survey/([A-Za-z0-9_.\-]+)")


@pytest.fixture
def site(scratch_database_url, redis_url, redis, tmp_path, sink):
    """María (Spanish, benefits) owns a case from Ana, who wrote in Spanish; mail goes to the sink."""
    app = mt.mail_app(scratch_database_url, redis_url, tmp_path, sink, MAIL_ACKNOWLEDGE=False,
                      PUBLIC_BASE_URL="http://survey.test", CSAT_RATE_LIMIT="4 per minute")
    with transaction() as session:
        benefits = make_queue(session, "benefits", name="Benefits")
        category = make_category(session, benefits, "housing")
        make_user(session, Role.CASEWORKER, email="maria.garcia@staff.example", display_name="María García",
                  languages=["es", "en"], presence=Presence.AVAILABLE, queues=[benefits])
        make_user(session, Role.AGENT, email="sam.street@staff.example", display_name="Sam Street")
        case = make_case(session, category=category, email="ana.lopez@mail.example", subject="Ayuda con la vivienda",
                         body="Necesito ayuda con mi subsidio de vivienda.", language="es")
        case.constituent.display_name, case.constituent.preferred_language = "Ana López", "es"
        engine.route_case(session, case.id)
    app.case_id = case.id
    return app


def signed_in(app, email: str = "maria.garcia@staff.example"):
    client = app.test_client()
    assert Auth(client).login(email, PASSWORD).status_code == 302
    return client


def set_status(client, case_id: int, status: str) -> None:
    token = csrf_token(client.get(f"/cases/{case_id}").get_data(as_text=True))
    assert client.post(f"/cases/{case_id}/status", data={"csrf_token": token, "status": status}).status_code == 302


def surveys() -> list[SurveyResponse]:
    with reading() as session:
        return list(session.execute(select(SurveyResponse).order_by(SurveyResponse.id)).scalars())


def resolved_with_survey(site, redis_url) -> str:
    """Resolve the case on its page, run the worker, and return the link's token from the mail."""
    set_status(signed_in(site), site.case_id, "resolved")
    mt.work(redis_url, queues=("channels",))
    with reading() as session:
        carrier = session.execute(select(Interaction).where(Interaction.case_id == site.case_id,
                                                            Interaction.direction == Direction.OUTBOUND)).scalar_one()
    return LINK.search(carrier.body_text).group(1)


# ---- asking --------------------------------------------------------------------------------------------


def test_resolving_sends_one_survey_by_email_in_the_constituents_language_and_never_twice(site, sink, redis_url):
    maria = signed_in(site)
    set_status(maria, site.case_id, "resolved")
    mt.work(redis_url, queues=("channels",))
    (mail,) = sink.wait_for(1)
    assert mail["To"] == "ana.lopez@mail.example" and mail["Auto-Submitted"] == "auto-generated"
    reference = case_reference(site.case_id)
    assert mail["Subject"] == f"¿Qué tal lo hicimos? [{reference}]"
    body = mail.get_content()
    assert "Hola Ana López" in body and "de 1 (muy insatisfecho) a 5 (muy satisfecho)" in body
    token = LINK.search(body).group(1)
    (survey,) = surveys()
    assert csat.read_link(token) == survey.id
    assert (survey.channel, survey.language, survey.score) == (Channel.EMAIL, "es", None)
    with reading() as session:
        inbound = session.execute(select(Interaction).where(Interaction.case_id == site.case_id,
                                                            Interaction.direction == Direction.INBOUND)).scalar_one()
        carrier = session.execute(select(Interaction).where(Interaction.case_id == site.case_id,
                                                            Interaction.direction == Direction.OUTBOUND)).scalar_one()
        maria_id = session.execute(select(Case.assignee_id).where(Case.id == site.case_id)).scalar_one()
    assert mail["In-Reply-To"] == f"<{inbound.external_id}>"           # threads on the constituent's message
    assert carrier.delivery_status is DeliveryStatus.SENT and carrier.author_id is None
    assert survey.agent_id == maria_id
    # Reopened and resolved again: no second survey, no second mail.
    set_status(maria, site.case_id, "new")
    set_status(signed_in(site), site.case_id, "resolved")
    mt.work(redis_url, queues=("channels",))
    time.sleep(0.3)
    assert len(sink.received) == 1 and len(surveys()) == 1
    assert case_of(site.case_id).status is CaseStatus.RESOLVED


def test_closing_asks_nobody_and_a_case_without_an_address_gets_no_survey(site, sink, redis_url):
    maria = signed_in(site)
    set_status(maria, site.case_id, "closed")
    with transaction() as session:
        owner = session.get(Case, site.case_id)
        phone_case = make_case(session, category=owner.category, channel=Channel.PHONE, email="nobody@mail.example")
        phone_case.assignee_id, phone_case.status = owner.assignee_id, CaseStatus.ASSIGNED
        session.execute(update(ContactPoint).where(ContactPoint.constituent_id == phone_case.constituent_id)
                        .values(is_failing=True))                  # its only address bounced: no way to ask
    set_status(maria, phone_case.id, "resolved")
    mt.work(redis_url, queues=("channels",))
    assert case_of(phone_case.id).status is CaseStatus.RESOLVED
    assert surveys() == [] and sink.received == []


def test_a_live_chat_gets_the_survey_in_the_chat(site, redis_url):
    with transaction() as session:
        started = chatting.start(session, PreChat(name="Ana López", language="it", category_code="housing",
                                                  token="t-1", question="Ho una domanda"), "Chat")
        session.get(Case, started.case_id).assignee_id = session.execute(
            select(Case.assignee_id).where(Case.id == site.case_id)).scalar()
    heard = []

    def listen(case_id, **ids):
        heard.append((case_id, ids))

    chatting.chat_message.connect(listen)
    try:
        set_status(signed_in(site), started.case_id, "resolved")
        mt.work(redis_url, queues=("channels",))
    finally:
        chatting.chat_message.disconnect(listen)
    (survey,) = surveys()
    assert (survey.case_id, survey.channel, survey.language) == (started.case_id, Channel.CHAT, "it")
    with reading() as session:
        (message,) = chatting.messages_after(session, started.case_id, 0)[1:]
        chat = chatting.for_case(session, started.case_id)
    assert message.direction is Direction.OUTBOUND and "Quanto è soddisfatto" in message.body_text
    assert csat.read_link(LINK.search(message.body_text).group(1)) == survey.id
    assert chat.state is ChatState.OPEN
    assert heard == [(started.case_id, {"interaction_id": message.id, "side": chatting.AGENT})]


# ---- answering -----------------------------------------------------------------------------------------


def test_the_page_asks_in_the_language_it_was_sent_in_and_shows_only_the_reference(site, redis_url):
    token = resolved_with_survey(site, redis_url)
    client = site.test_client()
    html = client.get(f"/survey/{token}").get_data(as_text=True)
    assert '<html lang="es">' in html and "¿Qué tal lo hicimos?" in html
    assert case_reference(site.case_id) in html
    assert "Ana" not in html and "vivienda" not in html and "ana.lopez" not in html    # nothing else of the case
    assert "<fieldset" in html and "<legend>¿Qué tan satisfecho está" in html
    assert 'type="radio"' in html and "1 – muy insatisfecho" in html and "5 – muy satisfecho" in html
    assert 'maxlength="2000"' in html
    italian = client.get(f"/survey/{token}?lang=it").get_data(as_text=True)
    assert '<html lang="it">' in italian and "5 – molto soddisfatto" in italian
    assert f'action="/survey/{token}?lang=it"' in italian


def test_one_answer_is_saved_and_a_second_is_told_it_was_already_answered(site, redis_url):
    token = resolved_with_survey(site, redis_url)
    client = site.test_client()
    form = csrf_token(client.get(f"/survey/{token}").get_data(as_text=True))
    sent = client.post(f"/survey/{token}", data={"csrf_token": form, "score": "4",
                                                 "comment": "Muy amable <b>gracias</b>\x00"})
    assert sent.status_code == 302 and sent.headers["Location"].endswith(f"/survey/{token}/thanks")
    thanks = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert "Gracias por su respuesta" in thanks
    (survey,) = surveys()
    assert (survey.score, survey.comment) == (4, "Muy amable <b>gracias</b>") and survey.answered_at is not None
    again = client.post(f"/survey/{token}", data={"csrf_token": form, "score": "1"})
    assert again.status_code == 409 and "Ya respondió, gracias" in again.get_data(as_text=True)
    assert client.get(f"/survey/{token}").status_code == 200 and surveys()[0].score == 4
    with reading() as session:
        (event,) = session.execute(select(AuditEvent).where(AuditEvent.object_type == "survey")).scalars()
    assert event.detail["score"] == 4 and "comment" not in event.detail


def test_a_score_out_of_range_or_missing_is_explained_and_nothing_is_saved(site, redis_url):
    token = resolved_with_survey(site, redis_url)
    client = site.test_client()
    form = csrf_token(client.get(f"/survey/{token}").get_data(as_text=True))
    for score, message in (("9", "Elija una de las cinco respuestas"), ("", "Elija qué tan satisfecho está, de 1 a 5.")):
        response = client.post(f"/survey/{token}", data={"csrf_token": form, "score": score, "comment": "Sigo aquí"})
        page = response.get_data(as_text=True)
        assert response.status_code == 400 and message in page and "Hay un problema" in page
        assert 'href="#score-0"' in page and "Sigo aquí" in page                # what they wrote is kept
    too_long = client.post(f"/survey/{token}", data={"csrf_token": form, "score": "3", "comment": "x" * 2001})
    assert too_long.status_code == 400 and "Escriba como máximo 2000 caracteres." in too_long.get_data(as_text=True)
    assert surveys()[0].answered_at is None
    with pytest.raises(csat.InvalidAnswer), reading() as session:
        csat.answer(session, surveys()[0].id, 6)


def test_the_form_needs_its_csrf_token(site, redis_url):
    token = resolved_with_survey(site, redis_url)
    client = site.test_client()
    client.get(f"/survey/{token}")
    response = client.post(f"/survey/{token}", data={"score": "5", "comment": "Bien"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "La página caducó. Envíe el formulario de nuevo." in page
    assert "Bien</textarea>" in page and '<input checked id="score-4"' in page           # nothing typed is lost
    assert surveys()[0].answered_at is None


def test_an_expired_link_and_a_changed_one_are_explained(site, redis_url):
    resolved_with_survey(site, redis_url)
    (survey,) = surveys()
    old = csat.sign_link(survey.id, now=time.time() - 15 * 86400)
    client = site.test_client()
    expired = client.get(f"/survey/{old}")
    assert expired.status_code == 410 and "Esta encuesta está cerrada" in expired.get_data(as_text=True)
    fresh = csat.sign_link(survey.id)
    changed = fresh[:-3] + ("AAA" if not fresh.endswith("AAA") else "BBB")
    tampered = client.get(f"/survey/{changed}", headers={"Accept-Language": "it"})
    assert tampered.status_code == 400 and "Questo link non funziona" in tampered.get_data(as_text=True)
    assert client.post(f"/survey/{changed}", data={"score": "5"}).status_code == 400
    assert surveys()[0].answered_at is None


def test_answers_are_rate_limited_per_client(site, redis_url):
    token = resolved_with_survey(site, redis_url)            # the site allows 4 answers a minute from one client
    client = site.test_client()
    form = csrf_token(client.get(f"/survey/{token}").get_data(as_text=True))
    statuses = [client.post(f"/survey/{token}", data={"csrf_token": form, "score": "9"}).status_code for _ in range(5)]
    assert statuses == [400, 400, 400, 400, 429]


# ---- results on the case page --------------------------------------------------------------------------


def test_the_case_page_shows_not_sent_sent_and_the_answer_escaped(site, redis_url):
    maria = signed_in(site)
    assert "Not sent yet: the constituent is asked when the case is resolved." in maria.get(
        f"/cases/{site.case_id}").get_data(as_text=True)
    token = resolved_with_survey(site, redis_url)
    sent = maria.get(f"/cases/{site.case_id}").get_data(as_text=True)
    assert 'id="case-survey"' in sent and "by email, in Spanish" in sent and "Not answered yet" in sent
    with transaction() as session:
        csat.answer(session, csat.read_link(token), 2, "Tardaron <script>alert(1)</script> mucho")
    answered = maria.get(f"/cases/{site.case_id}").get_data(as_text=True)
    assert "<strong>2 of 5</strong> (dissatisfied)" in answered
    assert "Tardaron &lt;script&gt;alert(1)&lt;/script&gt; mucho" in answered and "<script>alert" not in answered


# ---- demo data -----------------------------------------------------------------------------------------


def test_the_demo_has_survey_results_to_report(db_session):
    from datetime import datetime, timezone

    from caseworker import demo
    from caseworker.demo_content import CSAT_COMMENTS

    counts = demo.seed(db_session, constituents=80, cases=600, seed=7, now=datetime(2026, 11, 20, 12, tzinfo=timezone.utc))
    rows = list(db_session.execute(select(SurveyResponse, Case).join(Case, Case.id == SurveyResponse.case_id)))
    answered = [r for r, _case in rows if r.score is not None]
    assert counts["surveys sent"] == len(rows) > 100 and counts["surveys answered"] == len(answered)
    assert 0.3 < len(answered) / len(rows) < 0.5
    assert all(case.status in (CaseStatus.RESOLVED, CaseStatus.CLOSED) and r.agent_id == case.assignee_id
               and r.sent_at >= case.resolved_at for r, case in rows)
    assert {r.score for r in answered} == {1, 2, 3, 4, 5} and sum(r.score >= 4 for r in answered) > len(answered) / 2
    commented = [r for r in answered if r.comment]
    assert {r.language for r in commented} == {"en", "es", "it"}
    assert all(any(r.comment in texts for texts in CSAT_COMMENTS[r.language].values()) for r in commented)
    assert {r.channel for r, _case in rows} == {Channel.EMAIL, Channel.CHAT}


# ---- helpers -------------------------------------------------------------------------------------------


def case_of(case_id: int) -> Case:
    with reading() as session:
        return session.get(Case, case_id)


def case_reference(case_id: int) -> str:
    return case_of(case_id).reference

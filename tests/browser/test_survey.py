"""In Chromium: a Spanish-speaking resident answers the satisfaction survey from the link in our mail, by keyboard
only; a mistake is explained; a second visit is told it was answered; every page passes axe-core."""
import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session as PlainSession

from channels import csat
from models import CaseStatus, Channel, Role, SurveyResponse, make_engine, utcnow
from tests.factories import make_case, make_category, make_queue, make_user

pytestmark = pytest.mark.browser

SECRET = "browser-test-secret"


@pytest.fixture
def live_env(live_env):
    """The server signs and checks links with a key this test knows."""
    return live_env | {"SECRET_KEY": SECRET}


@pytest.fixture
def survey_link(live_server):
    """A resolved Spanish case with its survey sent; the link's path, signed as the server would sign it."""
    engine = make_engine(live_server.env["DATABASE_URL"])
    with PlainSession(engine) as session:
        queue = make_queue(session, "benefits")
        agent = make_user(session, Role.AGENT, queues=[queue])
        case = make_case(session, category=make_category(session, queue), language="es")
        case.assignee_id, case.status, case.resolved_at = agent.id, CaseStatus.RESOLVED, utcnow()
        survey = SurveyResponse(case_id=case.id, agent_id=agent.id, queue_id=queue.id, channel=Channel.EMAIL,
                                language="es")
        session.add(survey)
        session.commit()
        survey_id, reference = survey.id, case.reference
    before = csat.settings()
    csat.configure(csat.CsatSettings(secret_key=SECRET))
    try:
        token = csat.sign_link(survey_id)
    finally:
        csat.configure(before)
    yield f"{live_server.url}/survey/{token}", reference, survey_id
    engine.dispose()


@pytest.fixture
def browser_context_args(browser_context_args):
    return {**browser_context_args, "locale": "es-ES"}


def test_a_resident_answers_the_survey_in_spanish_by_keyboard(live_server, survey_link, page: Page, axe, screenshot):
    url, reference, survey_id = survey_link
    page.goto(url)
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.get_by_role("heading", level=1, name="¿Qué tal lo hicimos?")).to_be_visible()
    expect(page.locator("main")).to_contain_text(reference)
    group = page.get_by_role("group", name="¿Qué tan satisfecho está con la forma en que atendimos su solicitud?")
    expect(group.get_by_role("radio")).to_have_count(5)
    assert axe() == []

    page.get_by_role("button", name="Enviar mi respuesta").press("Enter")          # no score: explained
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("Elija qué tan satisfecho está, de 1 a 5.")
    assert axe() == []
    summary.get_by_role("link").first.press("Enter")                              # the summary leads to the question
    expect(page.get_by_role("radio", name="1 – muy insatisfecho")).to_be_focused()
    page.keyboard.press("Space")
    for _ in range(3):
        page.keyboard.press("ArrowDown")                                          # arrows move along the group
    expect(page.get_by_role("radio", name="4 – satisfecho")).to_be_checked()
    page.keyboard.press("Tab")
    expect(page.get_by_label("¿Hay algo que quiera decirnos? (opcional)")).to_be_focused()
    page.keyboard.type("Me atendieron rápido y con amabilidad.")
    screenshot(page, "survey-es.png")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Enviar mi respuesta")).to_be_focused()
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", level=1, name="Gracias por su respuesta")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text(reference)
    assert axe() == []

    engine = make_engine(live_server.env["DATABASE_URL"])
    with PlainSession(engine) as session:
        survey = session.execute(select(SurveyResponse).where(SurveyResponse.id == survey_id)).scalar_one()
    engine.dispose()
    assert (survey.score, survey.comment) == (4, "Me atendieron rápido y con amabilidad.")

    page.goto(url)                                                                # the link again: answered
    expect(page.get_by_role("heading", level=1, name="Ya respondió, gracias")).to_be_visible()
    page.get_by_role("navigation", name="Idioma").get_by_role("link", name=re.compile("Italiano")).press("Enter")
    expect(page.get_by_role("heading", level=1, name="Ha già risposto, grazie")).to_be_visible()
    assert axe() == []

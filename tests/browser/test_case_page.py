"""In Chromium: a caseworker opens a case from the inbox by keyboard, reads the timeline and why the case came
to them, writes a reply; a colleague who opens the same case shows up on the first page live. axe-clean."""
import re

import pytest
from playwright.sync_api import Browser, Page, expect

from models import Case, Macro, MacroVariant, Presence, Role, init_engine, transaction
from routing import engine
from tests.factories import PASSWORD, make_case, make_category, make_queue, make_user

pytestmark = pytest.mark.browser


@pytest.fixture
def case_server(live_server):
    """María (Spanish) owns a case from Ana; Li Wei works in the same queue."""
    init_engine(live_server.env["DATABASE_URL"])
    with transaction() as session:
        benefits = make_queue(session, "benefits", name="Benefits")
        category = make_category(session, benefits, "housing")
        maria = make_user(session, Role.CASEWORKER, email="maria.garcia@staff.example", display_name="María García",
                          languages=["es", "en"], presence=Presence.AVAILABLE, queues=[benefits])
        make_user(session, Role.CASEWORKER, email="li.wei@staff.example", display_name="Li Wei", queues=[benefits])
        case = make_case(session, category=category, email="ana.lopez@mail.example", subject="Ayuda con la vivienda",
                         body="Necesito ayuda con mi subsidio de vivienda.", language="es")
        case.constituent.display_name, case.constituent.preferred_language = "Ana López", "es"
        session.add(Macro(name="Signature", variants=[MacroVariant(language="en", body="Kind regards, {{ agent.name }}"),
                                                      MacroVariant(language="es", body="Saludos, {{ agent.name }}")]))
        engine.route_case(session, case.id)
        session.expire_all()
        assert session.get(Case, case.id).assignee_id == maria.id
        live_server.case = (case.id, case.reference)
    return live_server


def sign_in(page: Page, url: str, email: str) -> None:
    page.goto(url + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1, name="My cases")).to_be_visible()


def test_a_caseworker_opens_a_case_by_keyboard_reads_why_and_replies(case_server, page: Page, axe, browser: Browser,
                                                                    tmp_path):
    case_id, reference = case_server.case
    sign_in(page, case_server.url, "maria.garcia@staff.example")
    link = page.get_by_role("link", name=reference)
    link.focus()
    page.keyboard.press("Enter")

    expect(page).to_have_url(f"{case_server.url}/cases/{case_id}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(reference)
    timeline = page.locator("#timeline")
    expect(timeline).to_contain_text("Necesito ayuda con mi subsidio de vivienda.")
    expect(timeline).to_contain_text(re.compile(r"Assigned to María García: speaks Spanish, \d of 8 email slots used"))
    expect(page.locator("#case-presence")).to_have_text("Nobody else is viewing this case.")
    expect(page.locator("#connection-status")).to_have_attribute("data-state", "online")
    assert axe() == []

    # A colleague opens the same case: the first page says so without a reload.
    other = browser.new_context()
    colleague = other.new_page()
    sign_in(colleague, case_server.url, "li.wei@staff.example")
    colleague.goto(f"{case_server.url}/cases/{case_id}")
    expect(colleague.locator("#case-presence")).to_contain_text("María García is viewing this case")
    expect(page.locator("#case-presence")).to_contain_text("Li Wei is viewing this case")
    colleague.get_by_label("Reply to the constituent").press_sequentially("Hola")
    expect(page.locator("#case-presence")).to_contain_text("Li Wei is typing a reply")
    other.close()

    reply = page.get_by_label("Reply to the constituent")
    reply.focus()
    page.keyboard.type("Hola Ana, revisamos su subsidio esta semana.\n")
    page.get_by_label("Start from a macro").select_option(label="Signature")
    page.get_by_role("button", name="Insert macro").click()                # in place, keeping what was typed
    expect(reply).to_have_value("Hola Ana, revisamos su subsidio esta semana.\nSaludos, María García")
    page.get_by_role("button", name="Send reply").click()
    expect(page.get_by_role("status").filter(has_text="Your reply is queued for sending.")).to_be_visible()
    expect(timeline).to_contain_text("Saludos, María García")
    expect(timeline.locator(".delivery-queued")).to_have_count(1)
    assert axe() == []
    page.screenshot(path=str(tmp_path / "case.png"), full_page=True)

"""In Chromium, two people at once: a constituent chats in Spanish from the public chat page, the routing
engine offers the chat to Rosa, she accepts and answers from her chat panel, and each sees the other's
messages live. The constituent pages pass axe-core in English, Spanish and Italian. Screenshots of both
sides are saved to docs/screenshots/."""
import re

import pytest
import redis as redis_lib
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

import routing
from caseworker import realtime
from caseworker.extensions import socketio
from models import Case, Category, DecisionOutcome, Presence, RoutingDecision, Session, init_engine, transaction
from routing import engine
from tests.conftest import AXE_JS
from tests.factories import PASSWORD
from tests.routing.builders import make_agent, make_routed_queue

pytestmark = pytest.mark.browser



@pytest.fixture
def chat_site(live_server):
    """The live server with a chat queue ("Recogida de basura" in Spanish) and Rosa, available."""
    init_engine(live_server.env["DATABASE_URL"])
    with transaction() as session:
        queue = make_routed_queue(session, "waste", name="Waste & Recycling")
        category = session.execute(select(Category).where(Category.code == "waste")).scalar_one()
        category.is_public = True
        category.names = {"en": "Waste collection", "es": "Recogida de basura", "it": "Raccolta rifiuti"}
        rosa = make_agent(session, "Rosa Delgado", [queue], languages=("es", "en"),
                          presence=Presence.AVAILABLE)
        rosa_id, rosa_email = rosa.id, rosa.email
    Session.remove()
    realtime.use_write_only_emitter(live_server.env["REDIS_URL"])    # this process's pushes reach the server
    yield live_server, rosa_id, rosa_email
    realtime._emitter = socketio


def _axe(page: Page) -> list:
    result = page.evaluate("""() => axe.run(document, {resultTypes: ['violations'], runOnly: {type: 'tag',
        values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})""")
    return [{"id": v["id"], "nodes": [n["target"] for n in v["nodes"]][:5]} for v in result["violations"]]


def _context(browser: Browser, locale: str):
    context = browser.new_context(locale=locale, viewport={"width": 1100, "height": 900})
    context.add_init_script(path=str(AXE_JS))
    return context


@pytest.mark.parametrize("lang, heading", [("en", "Chat with us"), ("es", "Chatee con nosotros"),
                                           ("it", "Chatta con noi")])
def test_the_prechat_page_speaks_each_language_and_passes_axe(chat_site, browser: Browser, lang, heading):
    server, _rosa_id, _email = chat_site
    page = _context(browser, lang).new_page()
    page.goto(f"{server.url}/chat?lang={lang}")
    expect(page.get_by_role("heading", level=1, name=heading)).to_be_visible()
    assert page.locator("html").get_attribute("lang") == lang
    assert _axe(page) == []
    page.goto(f"{server.url}/chat?embed=1&lang={lang}")
    expect(page.get_by_role("heading", level=1, name=heading)).to_be_visible()
    assert _axe(page) == []


def _accept_the_offer(server, rosa_id: int) -> int:
    """The routing engine offers the chat (a real `flask worker` run), and Rosa's acceptance goes through
    the engine as the console's offer dialog would send it; returns the case id."""
    server.flask("worker", "--burst", "routing")
    with transaction() as session:
        offer = session.execute(select(RoutingDecision).where(
            RoutingDecision.user_id == rosa_id, RoutingDecision.outcome == DecisionOutcome.OFFERED)).scalar_one()
        offer_id, case_id = offer.id, offer.case_id
    Session.remove()
    rq_redis = redis_lib.Redis.from_url(server.env["REDIS_URL"])
    effects = routing.perform(rq_redis, lambda session: engine.accept_offer(session, offer_id, rosa_id))
    assert effects.assigned
    return case_id


def test_a_spanish_speaking_constituent_and_an_agent_chat_live(chat_site, browser: Browser, screenshot):
    server, rosa_id, rosa_email = chat_site
    ana = _context(browser, "es-ES").new_page()
    ana.goto(f"{server.url}/chat")
    expect(ana.get_by_role("heading", level=1, name="Chatee con nosotros")).to_be_visible()
    ana.get_by_label("Su nombre").fill("Ana López")
    ana.get_by_label("¿De qué se trata?").select_option(label="Recogida de basura")
    ana.get_by_label("Su pregunta (opcional)").fill("¿Cuándo pasa el camión de la basura por la calle Olmo?")
    ana.get_by_role("button", name="Iniciar el chat").click()
    expect(ana).to_have_url(re.compile(r"/chat/live$"))
    status = ana.locator("#chat-status")
    expect(status).to_contain_text("Usted es el número 1 en la fila")
    expect(ana.locator("#chat-connection")).to_have_text("Conectado")
    expect(ana.locator("#chat-log li.from-me")).to_have_count(1)
    assert _axe(ana) == []

    case_id = _accept_the_offer(server, rosa_id)
    expect(status).to_have_text("Rosa Delgado se ha unido al chat.")

    rosa = _context(browser, "en-US").new_page()
    rosa.goto(f"{server.url}/login")
    rosa.get_by_label("Email").fill(rosa_email)
    rosa.get_by_label("Password").fill(PASSWORD)
    rosa.get_by_role("button", name="Sign in").click()
    rosa.goto(f"{server.url}/console/chat/{case_id}")
    expect(rosa.locator("#chat-transcript")).to_contain_text("calle Olmo")
    expect(rosa.locator("#connection-status")).to_have_text("Live")
    reply = rosa.get_by_label("Message to the constituent")
    reply.fill("Hola Ana, soy Rosa. El camión pasa los martes y los viernes.")
    reply.press("Enter")
    expect(ana.locator("#chat-log li.from-agent")).to_contain_text("los martes y los viernes")
    expect(rosa.locator("#chat-transcript li.from-agent")).to_have_count(1)

    ana.get_by_label("Su mensaje").first.press_sequentially("Mu")
    expect(rosa.locator("#chat-panel-typing")).to_have_text("The constituent is typing…")
    ana.get_by_label("Su mensaje").first.fill("¡Muchas gracias, Rosa!")
    ana.get_by_label("Su mensaje").first.press("Enter")
    expect(ana.locator("#chat-log li.from-me").last).to_contain_text(re.compile("Entregado|Leído"))
    expect(rosa.locator("#chat-transcript")).to_contain_text("¡Muchas gracias, Rosa!")
    expect(ana.locator("#chat-log li.from-me").last).to_contain_text("Leído")   # Rosa's panel saw it
    assert _axe(ana) == []
    assert _axe(rosa) == []

    screenshot(ana, "chat-constituent-es.png")
    screenshot(rosa, "chat-agent-panel.png")

    # The line drops: a message written meanwhile waits, goes once the link is back, and arrives once.
    ana.context.set_offline(True)
    expect(ana.locator("#chat-connection")).to_have_text("Reconectando…", timeout=30000)
    ana.get_by_label("Su mensaje").first.fill("¿Sigue ahí?")
    ana.get_by_label("Su mensaje").first.press("Enter")
    expect(ana.locator("#chat-log li.from-me").last).to_contain_text(re.compile("Enviando…|Aún no enviado"))
    ana.context.set_offline(False)
    expect(ana.locator("#chat-connection")).to_have_text("Conectado", timeout=20000)
    expect(ana.locator("#chat-log li.from-me").last).to_contain_text(re.compile("Entregado|Leído"), timeout=20000)
    expect(rosa.locator("#chat-transcript li.from-constituent", has_text="¿Sigue ahí?")).to_have_count(1)

    with transaction() as session:
        texts = [i.body_text for i in session.get(Case, case_id).interactions]
    Session.remove()
    assert texts[-3:] == ["Hola Ana, soy Rosa. El camión pasa los martes y los viernes.", "¡Muchas gracias, Rosa!",
                          "¿Sigue ahí?"]


HOST_PAGE = """<!doctype html><html lang="it"><head><meta charset="utf-8"><title>Comune di Riverton</title></head>
<body><main><h1>Comune di Riverton</h1></main><script src="/chat/widget.js" defer></script></body></html>"""


def test_the_widget_opens_the_chat_in_a_frame_on_the_citys_site(chat_site, browser: Browser, screenshot):
    """The loader on a page of the same site (as www.city.gov embedding chat.city.gov would be)."""
    server, _rosa_id, _email = chat_site
    page = _context(browser, "it-IT").new_page()
    page.route(f"{server.url}/city-site", lambda route: route.fulfill(body=HOST_PAGE, content_type="text/html"))
    page.goto(f"{server.url}/city-site")
    button = page.get_by_role("button", name="Chatta con noi")
    button.click()
    expect(button).to_have_attribute("aria-expanded", "true")
    frame = page.frame_locator("iframe[title='Chatta con noi']")
    expect(frame.get_by_role("heading", level=1, name="Chatta con noi")).to_be_visible()
    frame.get_by_label("Il suo nome").fill("Giulia Rossi")
    frame.get_by_label("Di che cosa si tratta?").select_option(label="Raccolta rifiuti")
    frame.get_by_role("button", name="Avvia la chat").click()
    expect(frame.locator("#chat-status")).to_contain_text("Lei è il numero 1 in coda")
    screenshot(page, "chat-widget-it.png", full_page=False)

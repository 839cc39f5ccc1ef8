"""In Chromium: a Spanish-speaking resident uses the contact form by keyboard, gets a reference and checks
its status; mistakes are explained; every page passes axe-core. Screenshots go to docs/screenshots/."""
import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import ROOT

pytestmark = pytest.mark.browser



@pytest.fixture
def city(live_server):
    live_server.flask("seed-demo", "--constituents", "30", "--cases", "60")
    return live_server


@pytest.fixture
def spanish_page(browser: Browser, axe) -> Page:
    context = browser.new_context(locale="es-ES")
    context.add_init_script(path=str(ROOT / "node_modules" / "axe-core" / "axe.min.js"))
    page = context.new_page()
    yield page
    context.close()


def _axe(page: Page) -> list:
    result = page.evaluate("""() => axe.run(document, {resultTypes: ['violations'], runOnly: {type: 'tag',
        values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})""")
    return [(v["id"], [n["target"] for n in v["nodes"]][:3]) for v in result["violations"]]


def test_a_resident_writes_in_spanish_by_keyboard_and_checks_the_status(city, spanish_page: Page, screenshot):
    page = spanish_page
    page.goto(city.url + "/contact")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.get_by_role("heading", level=1, name="Contáctenos")).to_be_visible()
    assert _axe(page) == []

    page.get_by_role("button", name="Enviar mi solicitud").focus()
    page.keyboard.press("Enter")                                       # nothing filled in: explained
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("Hay un problema")
    expect(page.locator("[aria-invalid=true]").first).to_be_visible()
    assert _axe(page) == []
    summary.get_by_role("link").first.press("Enter")                  # the summary leads to the field
    expect(page.get_by_role("radio").first).to_be_focused()

    page.keyboard.press("Space")                                       # choose the first service
    page.get_by_label("Describa su solicitud").fill("La farola de mi calle está apagada desde el lunes.")
    page.get_by_label(re.compile("^Correo electrónico")).fill("residente@correo.example")
    screenshot(page, "webform-es.png")
    page.get_by_role("button", name="Enviar mi solicitud").press("Enter")

    expect(page.get_by_role("status").filter(has_text="Su referencia es")).to_be_visible()
    reference = page.locator(".reference strong").inner_text()
    assert re.fullmatch(r"C-\d{4}-\d{6}", reference)
    code = page.locator("strong.code").inner_text()
    assert len(code) >= 8
    assert _axe(page) == []
    screenshot(page, "webform-received-es.png")

    page.get_by_role("link", name="Consultar el estado de una solicitud").press("Enter")
    page.get_by_label("Referencia del caso").fill(reference)
    page.get_by_label("Código del acuse de recibo, o el correo desde el que escribió").fill(code)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=2)).to_contain_text(reference)
    expect(page.locator("dl")).to_contain_text("Recibida")        # no worker runs here: it waits in its queue
    assert _axe(page) == []


def test_the_language_can_be_switched_from_the_page(city, page: Page, axe):
    page.goto(city.url + "/contact")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_role("navigation", name="Language").get_by_role("link", name=re.compile("Italiano")).click()
    expect(page.locator("html")).to_have_attribute("lang", "it")
    expect(page.get_by_role("button", name=re.compile("Invia"))).to_be_visible()
    assert axe() == []

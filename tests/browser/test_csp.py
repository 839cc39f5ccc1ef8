"""In Chromium: the Content-Security-Policy allows no inline script, and no page of the console or of the
public side breaks it. Each page is opened with a listener for `securitypolicyviolation` events (added by the
browser before any page script, so the policy cannot hide it) and for console messages, and left only after
its scripts have run (the console's Socket.IO link is up)."""
import re

import pytest
from playwright.sync_api import Page, expect

from caseworker.demo import DEMO_LOGINS, DEMO_PASSWORD, STAFF, staff_email
from models import Role

pytestmark = pytest.mark.browser

ADMIN = staff_email(next(m for m in STAFF if m.first == DEMO_LOGINS[Role.ADMIN]))
LISTENER = """document.addEventListener('securitypolicyviolation', (e) => window.cspViolation({
    directive: e.violatedDirective, blocked: e.blockedURI, source: e.sourceFile, line: e.lineNumber,
    sample: e.sample, page: location.pathname}), true);"""


@pytest.fixture
def demo_server(live_server):
    live_server.flask("seed-demo", "--constituents", "40", "--cases", "120")
    return live_server


@pytest.fixture
def violations(page: Page) -> list:
    """Every CSP violation the browser reports on `page`: events, and console errors that name the policy."""
    found: list = []
    page.expose_function("cspViolation", lambda report: found.append(report))
    page.context.add_init_script(script=LISTENER)
    page.on("console", lambda msg: found.append({"console": msg.text, "page": page.url})
            if "Content Security Policy" in msg.text or "Refused to" in msg.text else None)
    return found


def _policy(response) -> dict[str, list[str]]:
    header = response.headers["content-security-policy"]
    return {name: values for name, *values in (part.split() for part in header.split(";") if part.strip())}


def _visit(page: Page, url: str, *, live: bool = False) -> dict[str, list[str]]:
    response = page.goto(url)
    assert response.status == 200, url
    if live:
        expect(page.locator("#connection-status")).to_have_text("Live")     # console.js ran and connected
    page.wait_for_load_state("networkidle")
    return _policy(response)


def _first_link(page: Page, pattern: str) -> str:
    hrefs = page.eval_on_selector_all("a[href]", "links => links.map(a => a.getAttribute('href'))")
    return next(href for href in hrefs if re.fullmatch(pattern, href))


def _assert_strict(policy: dict[str, list[str]]) -> None:
    scripts = policy.get("script-src", policy["default-src"])
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts
    assert not any(source.startswith(("'nonce-", "'sha")) or source in ("*", "data:", "http:", "https:")
                   for source in scripts)
    assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"]


def test_no_page_breaks_the_content_security_policy(demo_server, page: Page, violations):
    url = demo_server.url
    # The public side, as a constituent sees it.
    for path in ("/contact", "/status", "/chat", "/login"):
        _assert_strict(_visit(page, url + path))
    page.get_by_label("Email").fill(ADMIN)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/inbox/"))

    _assert_strict(_visit(page, url + "/inbox/", live=True))
    page.goto(url + "/queues/")
    case_path = _first_link(page, r"/cases/\d+")
    _assert_strict(_visit(page, url + case_path, live=True))
    constituent_path = _first_link(page, r"/constituents/\d+")                # from the case page
    _assert_strict(_visit(page, url + constituent_path, live=True))
    _assert_strict(_visit(page, url + "/wallboard/", live=True))
    _assert_strict(_visit(page, url + "/account/two-factor/", live=True))
    page.get_by_role("button", name="Set up two-factor sign-in").click()
    expect(page.locator("svg.qr-code")).to_be_visible()                   # the inline SVG QR code
    page.wait_for_load_state("networkidle")
    assert violations == []


def test_the_live_chat_page_keeps_the_policy(demo_server, page: Page, violations):
    page.goto(demo_server.url + "/chat")
    page.get_by_label("Your name").fill("Ana López")
    page.get_by_role("button", name="Start the chat").click()
    expect(page).to_have_url(re.compile(r"/chat/live"))
    page.wait_for_load_state("networkidle")
    page.goto(demo_server.url + "/chat?embed=1")
    page.wait_for_load_state("networkidle")
    assert violations == []


def test_the_listener_hears_a_violation(live_server, page: Page, violations):
    """The control: an inline script added to a page is refused, and the test hears of it."""
    page.goto(live_server.url + "/login")
    page.evaluate("""() => { const s = document.createElement('script'); s.textContent = 'window.ran = 1';
                             document.head.appendChild(s); }""")
    page.wait_for_timeout(200)
    assert page.evaluate("() => window.ran") is None
    assert any(v.get("directive", "").startswith("script-src") for v in violations)

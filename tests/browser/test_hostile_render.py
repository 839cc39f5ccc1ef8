"""In Chromium: cases full of hostile content (taken in through every channel) open without any of it
running. Every payload tries to set window.__pwned or to open a dialog; neither may happen, and the pages
still pass axe-core."""
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from models import Case, reading
from tests.factories import PASSWORD
from tests.security import drive
from tests.security.test_hostile_input import MARK, send_hostile_everywhere

pytestmark = pytest.mark.browser


@pytest.fixture
def hostile_server(live_server, redis_url, tmp_path):
    """The live server's database, filled through the real entry points by an app in this process."""
    app = drive.site_app(live_server.env["DATABASE_URL"], redis_url, tmp_path)
    send_hostile_everywhere(app, redis_url)
    return live_server


def test_hostile_content_never_runs_in_the_console(hostile_server, page: Page, axe):
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(hostile_server.url + "/login")
    page.get_by_label("Email").fill(drive.ADMIN)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    with reading() as session:
        cases = session.execute(select(Case.id, Case.constituent_id).order_by(Case.id)).all()
    assert len(cases) == 5
    urls = ["/inbox/", "/cases/"] + [f"/cases/{case_id}" for case_id, _ in cases]
    urls += [f"/constituents/{constituent_id}" for _, constituent_id in cases if constituent_id]
    for url in urls:
        page.goto(hostile_server.url + url)
        expect(page.get_by_role("main")).to_be_visible()
        page.wait_for_load_state("networkidle")
        assert page.evaluate(f"() => typeof window.{MARK}") == "undefined", url
        assert dialogs == [], url
        if url.startswith("/cases/") and url != "/cases/":
            expect(page.get_by_role("main")).to_contain_text(f"window.{MARK}")      # shown as text
        assert axe() == [], url

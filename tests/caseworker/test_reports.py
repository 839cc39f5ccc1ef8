"""The report pages: who may see them, the date range form and its errors, every page and table, and the CSV
exports with their audit records, on the known set of tests/routing/test_reports.py."""
import csv
import io
import json
import re

import pytest
from sqlalchemy import select

from caseworker.reports import PAGES
from models import AuditAction, AuditEvent, Case, Role
from tests.factories import PASSWORD, make_user
from tests.routing.test_reports import known_set

RANGE = "start=2026-03-02&end=2026-03-03"


@pytest.fixture
def known(db_session):
    return known_set(db_session)


def _sign_in(auth, db_session, role: Role) -> None:
    user = make_user(db_session, role)
    db_session.commit()
    assert auth.login(user.email, PASSWORD).status_code == 302


def _rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def test_supervisors_and_admins_only(client, auth, db_session):
    assert client.get("/reports/volume").status_code == 302                  # to sign in
    _sign_in(auth, db_session, Role.AGENT)
    assert client.get("/reports/", follow_redirects=True).status_code == 403
    assert client.get(f"/reports/volume/by-day.csv?{RANGE}").status_code == 403
    auth.logout()
    _sign_in(auth, db_session, Role.ADMIN)
    page = client.get("/reports/", follow_redirects=True)
    assert page.status_code == 200
    assert 'href="/reports/volume" aria-current="page">Reports</a>' in page.get_data(as_text=True)


def test_without_a_range_the_last_30_days_are_shown(client, auth, db_session):
    _sign_in(auth, db_session, Role.SUPERVISOR)
    html = client.get("/reports/", follow_redirects=True).get_data(as_text=True)
    start, end = re.search(r"Showing (\S+) to (\S+)\.", html).groups()
    from datetime import date
    assert (date.fromisoformat(end) - date.fromisoformat(start)).days == 29
    assert html.count('<tr>') >= 30                           # a line for every day, even with no cases


def test_the_volume_page_has_each_table_with_its_chart_data_and_csv_link(client, auth, db_session, known):
    _sign_in(auth, db_session, Role.SUPERVISOR)
    html = client.get(f"/reports/volume?{RANGE}").get_data(as_text=True)
    for name in PAGES["volume"].tables:
        assert f'id="table-{name}"' in html
        assert f'href="/reports/volume/{name}.csv?start=2026-03-02&amp;end=2026-03-03"' in html
    data = re.search(r'<script type="application/json" id="chart-data-by-channel">(.*?)</script>', html, re.S)
    chart = json.loads(data.group(1))
    assert chart["labels"] == ["Email", "Chat", "Phone call", "Web form"]
    assert chart["series"] == [{"label": "Cases", "data": [3, 1, 1, 1]}]
    assert 'role="img" aria-label="Bar chart of cases by channel. The highest is Email with 3.' in html
    assert "<script>" not in html                            # no inline script: the CSP forbids it


@pytest.mark.parametrize("slug", list(PAGES))
def test_every_page_and_every_csv_of_it(client, auth, db_session, known, slug):
    _sign_in(auth, db_session, Role.SUPERVISOR)
    assert client.get(f"/reports/{slug}?{RANGE}").status_code == 200
    for name in PAGES[slug].tables:
        response = client.get(f"/reports/{slug}/{name}.csv?{RANGE}")
        assert response.status_code == 200 and response.mimetype == "text/csv"
        assert len(_rows(response)) >= 2, (slug, name)


def test_times_csv_gives_minutes_and_the_export_is_audited(client, auth, db_session, known):
    _sign_in(auth, db_session, Role.SUPERVISOR)
    response = client.get(f"/reports/times/by-language.csv?{RANGE}&queue={known.benefits}")
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="casework-times-by-language-2026-03-02-to-2026-03-03.csv"')
    header, *rows = _rows(response)
    assert header == ["Language", "Cases", "Answered", "First response, median (minutes)",
                      "First response, 90th percentile (minutes)", "Resolved", "Resolution, median (minutes)",
                      "Resolution, 90th percentile (minutes)"]
    assert rows == [["English (en)", "2", "2", "90.0", "114.0", "2", "420.0", "564.0"], ["Español (es)", "1", "1", "180.0", "180.0",
                                                                                "0", "", ""]]
    [event] = db_session.execute(select(AuditEvent).where(AuditEvent.action == AuditAction.EXPORT)).scalars()
    assert (event.object_type, event.object_id) == ("report", "times/by-language")
    assert event.detail == {"rows": 2, "start": "2026-03-02", "end": "2026-03-03", "queue": str(known.benefits)}


def test_viewing_a_page_writes_no_export_event(client, auth, db_session, known):
    _sign_in(auth, db_session, Role.SUPERVISOR)
    client.get(f"/reports/equity?{RANGE}")
    assert db_session.execute(select(AuditEvent).where(AuditEvent.action == AuditAction.EXPORT)).first() is None


def test_the_equity_view_compares_each_group_with_all_cases(client, auth, db_session, known):
    _sign_in(auth, db_session, Role.SUPERVISOR)
    html = client.get(f"/reports/equity?{RANGE}").get_data(as_text=True)
    assert "Response and resolution times by district (area)" in html
    # North answers in a median of 1.5 h against 2.5 h for all cases: 0.60×; all groups are small samples.
    header, *rows = _rows(client.get(f"/reports/equity/by-district.csv?{RANGE}"))
    assert header[-3:] == ["First response against all cases", "Resolution against all cases", "Sample"]
    assert {row[0]: row[-3:] for row in rows}["North"] == ["0.6", "0.7", "small sample"]
    assert "0.60×" in html


def test_a_formula_in_a_district_name_is_defused_in_csv(client, auth, db_session, known):
    db_session.execute(select(Case).where(Case.reference == "R-1")).scalar_one().district = "=HYPERLINK(\"x\")"
    _sign_in(auth, db_session, Role.SUPERVISOR)
    rows = _rows(client.get(f"/reports/equity/by-district.csv?{RANGE}"))
    assert ["'=HYPERLINK(\"x\")"] == [row[0] for row in rows if "HYPERLINK" in row[0]]


@pytest.mark.parametrize("query, message", [
    ("start=2026-03-05&end=2026-03-01", "The end date is before the start date."),
    ("start=2026-13-01&end=2026-03-01", "Not a valid date value."),
    ("start=2020-01-01&end=2026-03-01", "A report covers at most 731 days"),
    ("start=2026-03-01&end=2026-03-02&channel=fax", "Not a valid choice."),
    ("start=2026-03-01&end=2026-03-02&queue=999999", "Not a valid choice."),
])
def test_a_bad_range_is_a_clear_error_and_keeps_what_was_typed(client, auth, db_session, query, message):
    _sign_in(auth, db_session, Role.SUPERVISOR)
    response = client.get(f"/reports/times?{query}")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert message in html and 'role="alert"' in html and 'aria-invalid="true"' in html
    assert 'id="table-' not in html
    assert 'value="2026-03-01"' in html or 'value="2026-03-05"' in html      # what was typed stays
    csv_response = client.get(f"/reports/times/overall.csv?{query}")
    assert csv_response.status_code == 400 and message in csv_response.get_data(as_text=True)


def test_unknown_pages_and_tables_are_not_found(client, auth, db_session):
    _sign_in(auth, db_session, Role.SUPERVISOR)
    assert client.get("/reports/nothing").status_code == 404
    assert client.get(f"/reports/volume/nothing.csv?{RANGE}").status_code == 404

"""Legal hold on the case page (roles, reason, CSRF, audit, header) and the retention admin page (periods,
runs, "run now"); an anonymised case's page."""
import re
from datetime import timedelta

import pytest
import redis as redis_lib
from rq import Queue
from sqlalchemy import select

from caseworker import create_app
from channels import retention, storage
from channels.settings import current as channel_settings
from models import (
    Attachment,
    AuditAction,
    AuditEvent,
    Case,
    CaseStatus,
    Category,
    RetentionMode,
    RetentionRun,
    Role,
    utcnow,
)
from tests.conftest import app_config, csrf_token, see_commits
from tests.factories import PASSWORD, make_case, make_category, make_queue, make_user


@pytest.fixture
def app(database_url, redis_url, redis, tmp_path):
    return create_app(app_config(database_url, redis_url, ATTACHMENT_DIR=str(tmp_path / "files")))


@pytest.fixture
def centre(db_session):
    queue = make_queue(db_session, name="Streets")
    category = make_category(db_session, queue, "pothole")
    case = make_case(db_session, category=category, email="ana.lopez@mail.example")
    people = {role: make_user(db_session, role, queues=[queue]) for role in Role}
    db_session.commit()
    return case, people


def _sign_in(auth, user) -> None:
    assert auth.login(user.email, PASSWORD).status_code == 302


def _hold(client, case_id: int, reason: str, hold: str = "on", token: str | None = None):
    page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    data = {"hold-hold": hold, "hold-reason": reason,
            "hold-csrf_token": token if token is not None else csrf_token(page)}
    return client.post(f"/cases/{case_id}/legal-hold", data=data)


def _hold_events(session, case_id: int) -> list[AuditEvent]:
    return [e for e in session.execute(select(AuditEvent).where(
        AuditEvent.object_type == "case", AuditEvent.object_id == str(case_id), AuditEvent.action == AuditAction.UPDATE)
        .order_by(AuditEvent.id)).scalars() if e.detail.get("change") == "legal_hold"]


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.ADMIN], ids=str)
def test_a_supervisor_places_and_releases_a_hold_with_a_reason(client, auth, db_session, centre, role):
    case, people = centre
    _sign_in(auth, people[role])
    page = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert 'id="case-legal-hold"' in page and "Place on legal hold" in page

    placed = _hold(client, case.id, "  Claim 2026/114 (city attorney)  ")
    assert placed.status_code == 302 and placed.headers["Location"].endswith("#case-legal-hold")
    see_commits(db_session)
    held = db_session.get(Case, case.id)
    assert held.legal_hold and held.legal_hold_reason == "Claim 2026/114 (city attorney)"
    assert held.legal_hold_by_id == people[role].id and held.legal_hold_at is not None
    header = client.get(f"/cases/{case.id}/header").get_data(as_text=True)
    assert "Legal hold" in header and "Claim 2026/114 (city attorney)" in header
    assert "Release the hold" in client.get(f"/cases/{case.id}").get_data(as_text=True)

    assert _hold(client, case.id, "Claim settled", hold="off").status_code == 302
    see_commits(db_session)
    released = db_session.get(Case, case.id)
    assert not released.legal_hold and released.legal_hold_reason is None and released.legal_hold_by_id is None
    events = _hold_events(db_session, case.id)
    assert [(e.actor_id, e.detail["legal_hold"], e.detail["reason"]) for e in events] == [
        (people[role].id, True, "Claim 2026/114 (city attorney)"), (people[role].id, False, "Claim settled")]
    assert all(e.constituent_id == case.constituent_id for e in events)


def test_a_hold_needs_a_reason_and_a_stale_click_is_refused_with_nothing_lost(client, auth, db_session, centre):
    case, people = centre
    _sign_in(auth, people[Role.SUPERVISOR])
    empty = _hold(client, case.id, "   ")
    assert empty.status_code == 422
    assert "Give the reason" in empty.get_data(as_text=True)
    assert _hold(client, case.id, "Order 7").status_code == 302
    stale = _hold(client, case.id, "Order 8, placed again from an old page")       # asks "on" once more
    assert stale.status_code == 422
    body = stale.get_data(as_text=True)
    assert "on legal hold already" in body and "Order 8, placed again from an old page" in body   # typed text kept
    bad = _hold(client, case.id, "whatever", hold="maybe")
    assert bad.status_code == 422
    see_commits(db_session)
    assert db_session.get(Case, case.id).legal_hold_reason == "Order 7"
    assert len(_hold_events(db_session, case.id)) == 1


@pytest.mark.parametrize("role", [Role.AGENT, Role.CASEWORKER], ids=str)
def test_agents_and_caseworkers_neither_see_nor_use_the_hold(client, auth, db_session, centre, role):
    case, people = centre
    _sign_in(auth, people[role])
    page = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert page and 'id="case-legal-hold"' not in page
    assert client.post(f"/cases/{case.id}/legal-hold", data={"hold-hold": "on", "hold-reason": "x", "hold-csrf_token": csrf_token(page)}
                       ).status_code == 403
    see_commits(db_session)
    assert not db_session.get(Case, case.id).legal_hold


def test_the_hold_form_needs_its_csrf_token_and_an_existing_case(client, auth, db_session, centre):
    case, people = centre
    _sign_in(auth, people[Role.SUPERVISOR])
    assert _hold(client, case.id, "Claim 1", token="").status_code == 400
    assert _hold(client, case.id, "Claim 1", token="forged-token").status_code == 400
    page = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert client.post("/cases/999999/legal-hold", data={"hold-hold": "on", "hold-reason": "x", "hold-csrf_token": csrf_token(page)}
                       ).status_code == 404
    see_commits(db_session)
    assert not db_session.get(Case, case.id).legal_hold and _hold_events(db_session, case.id) == []


def test_an_anonymised_case_says_so_and_its_files_are_gone(client, auth, db_session, centre):
    case, people = centre
    digest = storage.store(channel_settings().attachment_dir, b"%PDF-1.4 ana's tenancy agreement")
    attachment = Attachment(interaction_id=case.interactions[0].id, filename="tenancy.pdf", size=32, sha256=digest)
    db_session.add(attachment)
    ended = utcnow() - timedelta(days=10)
    case.status, case.closed_at, case.last_activity_at = CaseStatus.CLOSED, ended, ended
    case.category.retention_days = 1
    db_session.commit()
    _sign_in(auth, people[Role.SUPERVISOR])
    assert "tenancy.pdf" in client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert retention.run(trigger="test")["cases_anonymised"] == 1
    page = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "Personal data removed under the retention policy" in page and "tenancy.pdf" not in page
    assert "a hold can no longer keep it" in page and "Place on legal hold" not in page
    assert client.get(f"/cases/{case.id}/attachments/{attachment.id}").status_code == 404


# ---- the retention admin page -----------------------------------------------------------------------------


def test_an_admin_sets_a_categorys_period_and_sees_the_runs(client, auth, db_session, centre, worker_commits):
    case, people = centre
    category = db_session.execute(select(Category)).scalar_one()
    db_session.add(RetentionRun(mode=RetentionMode.ANONYMISE, trigger="schedule", finished_at=utcnow(),
                                cases_anonymised=12, files_deleted=3, attachments_deleted=4, bytes_freed=3 * 1048576,
                                error_count=1, errors=[{"case_id": 77, "error": "OperationalError"}]))
    db_session.commit()
    _sign_in(auth, people[Role.ADMIN])
    page = client.get("/admin/retention").get_data(as_text=True)
    assert "Days after closing for Pothole" in page and "never expire" in page
    assert re.search(r"<td>12</td>", page) and "3 of 4" in page and "case 77 (OperationalError)" in page
    field = f"category-{category.id}-days"
    with worker_commits(people[Role.ADMIN].id):
        saved = client.post(f"/admin/retention/categories/{category.id}",
                            data={field: "365", f"category-{category.id}-csrf_token": csrf_token(page)})
    assert saved.status_code == 302
    see_commits(db_session)
    assert db_session.get(Category, category.id).retention_days == 365
    event = db_session.execute(select(AuditEvent).where(AuditEvent.object_type == "category")).scalar_one()
    assert (event.actor_id, event.detail["before"], event.detail["after"]) == (people[Role.ADMIN].id, None, 365)

    page = client.get("/admin/retention").get_data(as_text=True)
    bad = client.post(f"/admin/retention/categories/{category.id}",
                      data={field: "-3", f"category-{category.id}-csrf_token": csrf_token(page)})
    assert bad.status_code == 422 and "Enter a whole number of days" in bad.get_data(as_text=True)
    cleared = client.post(f"/admin/retention/categories/{category.id}",
                          data={field: "", f"category-{category.id}-csrf_token": csrf_token(page)})
    assert cleared.status_code == 302
    see_commits(db_session)
    assert db_session.get(Category, category.id).retention_days is None


def test_an_admin_can_start_a_run_now(client, auth, db_session, centre, redis_url, worker_commits):
    _case, people = centre
    _sign_in(auth, people[Role.ADMIN])
    page = client.get("/admin/retention").get_data(as_text=True)
    assert client.post("/admin/retention/run", data={}).status_code == 400
    with worker_commits(people[Role.ADMIN].id):
        assert client.post("/admin/retention/run", data={"csrf_token": csrf_token(page)}).status_code == 302
    connection = redis_lib.Redis.from_url(redis_url)
    try:
        jobs = Queue(retention.RETENTION_QUEUE, connection=connection).get_jobs()
        assert [(j.func_name, j.args) for j in jobs] == [("channels.retention.run_once", ("admin",))]
    finally:
        connection.close()


def test_supervisors_cannot_reach_the_retention_admin_page(client, auth, db_session, centre):
    _case, people = centre
    _sign_in(auth, people[Role.SUPERVISOR])
    assert client.get("/admin/retention").status_code == 403

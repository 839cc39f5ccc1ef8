"""Signing in and out: CSRF, lockout, rate limit, session fixation, redirects, roles, audit."""
import threading
import time
from datetime import timedelta

import pytest
from flask import Blueprint
from sqlalchemy import select, text

from caseworker import create_app
from caseworker.auth import require_role, role_required
from models import AuditAction, AuditEvent, Role, User, get_engine, utcnow
from models.db import WRITE_INTENT
from tests.conftest import Auth, app_config, csrf_token
from tests.factories import PASSWORD, make_user


@pytest.fixture
def agent(db_session):
    user = make_user(db_session, Role.AGENT, email="agent@staff.example", display_name="Sam Agent")
    db_session.commit()       # requests end by removing the shared session: what is not committed is gone
    return user


def test_sign_in_succeeds_while_a_worker_is_writing(client, auth, agent):
    """A worker holds the write lock when the sign-in starts and commits while the password is checked: the
    sign-in waits its turn (on SQLite a unit of work that read first could not write after that commit)."""
    started = threading.Event()

    def worker_writes():
        with get_engine().connect().execution_options(**{WRITE_INTENT: True}) as connection:
            with connection.begin():
                connection.execute(text("UPDATE users SET presence = presence WHERE id = :id"),
                                   {"id": agent.id})
                started.set()
                time.sleep(0.5)

    writer = threading.Thread(target=worker_writes)
    writer.start()
    started.wait(5)
    try:
        response = auth.login("agent@staff.example", PASSWORD)
    finally:
        writer.join()
    assert response.status_code == 302 and response.headers["Location"] == "/inbox/"


def test_the_login_page_is_accessible_markup(client):
    page = client.get("/login")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert '<html lang="en">' in html
    assert 'class="skip-link" href="#main"' in html
    assert '<main id="main"' in html
    assert '<label for="email">Email</label>' in html
    assert 'autocomplete="current-password"' in html


def test_sign_in_leads_to_the_inbox(client, auth, agent):
    response = auth.login("agent@staff.example", PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/inbox/"
    inbox = client.get("/inbox/")
    assert inbox.status_code == 200
    assert "Sam Agent" in inbox.get_data(as_text=True)


def test_the_email_is_matched_case_insensitively(client, auth, agent):
    assert auth.login("  AGENT@Staff.Example ", PASSWORD).status_code == 302


def test_a_wrong_password_is_refused_with_a_message(client, auth, agent):
    response = auth.login("agent@staff.example", "not the password")
    assert response.status_code == 401
    assert "The email or password is not right" in response.get_data(as_text=True)
    assert client.get("/inbox/").status_code == 302


def test_an_unknown_email_gets_the_same_answer(client, auth):
    response = auth.login("nobody@staff.example", PASSWORD)
    assert response.status_code == 401
    assert "The email or password is not right" in response.get_data(as_text=True)


def test_a_login_without_csrf_token_is_refused(client, agent):
    response = client.post("/login", data={"email": "agent@staff.example", "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/inbox/").status_code == 302


def _user(db_session, user_id: int) -> User:
    db_session.rollback()      # end the test's read snapshot: the app has committed since
    return db_session.get(User, user_id)


def _unlock(db_session, user_id: int) -> None:
    _user(db_session, user_id).locked_until = utcnow() - timedelta(seconds=1)
    db_session.commit()


def test_the_account_locks_after_repeated_failures(client, auth, agent, db_session, app):
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        auth.login("agent@staff.example", "wrong password")
    locked_until = _user(db_session, agent.id).locked_until
    assert locked_until is not None and locked_until > utcnow()
    assert auth.login("agent@staff.example", PASSWORD).status_code == 401      # even the right one
    _unlock(db_session, agent.id)
    assert auth.login("agent@staff.example", PASSWORD).status_code == 302
    assert _user(db_session, agent.id).failed_logins == 0


def test_the_lock_doubles_with_each_further_failure(client, auth, agent, db_session, app):
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        auth.login("agent@staff.example", "wrong password")
    first = _user(db_session, agent.id).locked_until - utcnow()
    _unlock(db_session, agent.id)
    auth.login("agent@staff.example", "wrong again")
    second = _user(db_session, agent.id).locked_until - utcnow()
    assert second > first * 1.8


def test_the_login_form_is_rate_limited_per_client(database_url, redis_url, redis, db_session):
    app = create_app(app_config(database_url, redis_url, LOGIN_RATE_LIMIT="3 per minute"))
    auth = Auth(app.test_client())
    statuses = [auth.login("nobody@staff.example", "x").status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    assert any(key.startswith("LIMITS") for key in redis.keys())     # counted in Redis, shared by processes


def test_sign_in_starts_a_new_session(client, auth, agent):
    client.get("/login")
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    auth.login("agent@staff.example", PASSWORD)
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["_user_id"] == str(agent.id)


def test_the_session_cookie_is_http_only_and_same_site(client, auth, agent):
    response = auth.login("agent@staff.example", PASSWORD)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example"])
def test_next_never_leaves_the_site(client, agent, target):
    page = client.get("/login")
    response = client.post(f"/login?next={target}", data={
        "email": "agent@staff.example", "password": PASSWORD,
        "csrf_token": csrf_token(page.get_data(as_text=True))})
    assert response.headers["Location"] == "/inbox/"


def test_next_returns_to_the_page_asked_for(client, agent):
    first = client.get("/inbox/?offset=0")
    assert first.status_code == 302 and "/login?next=" in first.headers["Location"]
    page = client.get(first.headers["Location"])
    response = client.post(first.headers["Location"], data={
        "email": "agent@staff.example", "password": PASSWORD,
        "csrf_token": csrf_token(page.get_data(as_text=True))})
    assert response.headers["Location"] == "/inbox/?offset=0"


def test_sign_out_needs_a_post_with_csrf(client, auth, agent):
    auth.login("agent@staff.example", PASSWORD)
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400
    assert client.get("/inbox/").status_code == 200
    assert auth.logout().status_code == 302
    assert client.get("/inbox/").status_code == 302


def test_an_inactive_account_cannot_sign_in_or_stay_signed_in(client, auth, agent, db_session):
    auth.login("agent@staff.example", PASSWORD)
    _user(db_session, agent.id).is_active = False
    db_session.commit()
    assert client.get("/inbox/").status_code == 302
    assert auth.login("agent@staff.example", PASSWORD).status_code == 401


def test_sign_in_and_failures_are_audited(client, auth, agent, db_session, worker_commits):
    auth.login("agent@staff.example", "wrong password")
    auth.login("agent@staff.example", PASSWORD)
    token = csrf_token(client.get("/inbox/").get_data(as_text=True))
    with worker_commits(agent.id):
        assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    events = db_session.execute(select(AuditEvent).where(AuditEvent.object_type == "user")
                                .order_by(AuditEvent.id)).scalars().all()
    assert [(e.action, e.actor_id) for e in events] == [
        (AuditAction.LOGIN_FAILED, agent.id), (AuditAction.LOGIN, agent.id), (AuditAction.LOGOUT, agent.id)]
    assert events[1].remote_addr == "127.0.0.1"


def test_security_headers_forbid_inline_script_and_framing(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


def test_roles_are_checked(database_url, redis_url, redis, db_session):
    app = create_app(app_config(database_url, redis_url))
    reports = Blueprint("reports_probe", __name__, url_prefix="/probe")
    reports.before_request(require_role(Role.CASEWORKER))

    @reports.get("/caseworker")
    def caseworker_page():
        return "caseworker page"

    @reports.get("/admin")
    @role_required(Role.ADMIN)
    def admin_page():
        return "admin page"

    app.register_blueprint(reports)
    for role, expected in [(Role.AGENT, (403, 403)), (Role.CASEWORKER, (200, 403)),
                           (Role.SUPERVISOR, (200, 403)), (Role.ADMIN, (200, 200))]:
        user = make_user(db_session, role)
        db_session.commit()
        client = app.test_client()
        assert (client.get("/probe/caseworker").status_code, client.get("/probe/admin").status_code) == (302, 302)
        Auth(client).login(user.email, PASSWORD)
        got = (client.get("/probe/caseworker").status_code, client.get("/probe/admin").status_code)
        assert got == expected, role

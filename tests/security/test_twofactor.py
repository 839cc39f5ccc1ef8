"""Two-factor sign-in for staff (TOTP, RFC 6238): set-up, the second step, replay, recovery codes, required
roles, lockout and the admins' reset, through the real views, database and Redis."""
import logging
import re
from datetime import timedelta

import pyotp
from sqlalchemy import select

from caseworker import totp
from caseworker.extensions import socketio
from models import AuditAction, AuditEvent, Role, StaffRecoveryCode, StaffTotp, User, utcnow
from tests.conftest import csrf_token, see_commits
from tests.factories import PASSWORD, make_user

ACCOUNT = "/account/two-factor/"


def _box(app) -> totp.SecretBox:
    return totp.SecretBox(app.config["TWOFACTOR_ENCRYPTION_KEY"], app.config["SECRET_KEY"])


def _enrol(app, session, user: User) -> tuple[str, list[str]]:
    """Set two-factor up for `user` as of a minute and a half ago, so that the current code is still unused."""
    box = _box(app)
    secret = totp.start_setup(session, user, box)
    earlier = utcnow() - timedelta(seconds=90)
    codes = totp.confirm_setup(session, user, pyotp.TOTP(secret).at(earlier), box, now=earlier)
    session.commit()
    return secret, codes


def _post_code(client, code: str):
    page = client.get("/login")
    return client.post("/login/code", data={"code": code, "csrf_token": csrf_token(page.get_data(as_text=True))})


def _audit(session, user_id: int, **detail) -> list[AuditEvent]:
    see_commits(session)
    events = session.execute(select(AuditEvent).where(AuditEvent.object_type == "user",
                                                      AuditEvent.object_id == str(user_id))).scalars()
    return [e for e in events if all(e.detail.get(k) == v for k, v in detail.items())]


def test_a_staff_member_sets_it_up_from_the_account_page(app, client, auth, db_session, caplog, worker_commits):
    caplog.set_level(logging.DEBUG)
    user = make_user(db_session, Role.CASEWORKER)
    db_session.commit()
    auth.login(user.email, PASSWORD)
    page = client.get(ACCOUNT)
    assert page.status_code == 200 and "Off." in page.get_data(as_text=True)
    token = csrf_token(page.get_data(as_text=True))
    with worker_commits(user.id):
        assert client.post(ACCOUNT + "setup", data={"csrf_token": token}).status_code == 302

    setup = client.get(ACCOUNT + "setup").get_data(as_text=True)
    assert "<svg" in setup and "QR code for your authenticator app" in setup
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', setup).group(1).replace(" ", "")
    see_commits(db_session)
    record = db_session.get(StaffTotp, user.id)
    assert not record.is_enabled and secret not in record.secret_encrypted     # encrypted at rest

    wrong = client.post(ACCOUNT + "setup/confirm", data={"csrf_token": token, "code": "000000"})
    assert wrong.status_code == 400 and "not right" in wrong.get_data(as_text=True)
    with worker_commits(user.id):
        done = client.post(ACCOUNT + "setup/confirm", data={"csrf_token": token, "code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200
    shown = re.findall(r'<code class="code">([a-z0-9]{5}-[a-z0-9]{5})</code>', done.get_data(as_text=True))
    assert len(set(shown)) == 10
    see_commits(db_session)
    assert db_session.get(StaffTotp, user.id).is_enabled
    hashes = db_session.execute(select(StaffRecoveryCode.code_hash).where(StaffRecoveryCode.user_id == user.id)).scalars().all()
    assert len(hashes) == 10 and all(h.startswith("$argon2id$") for h in hashes)
    assert not any(code in h for h in hashes for code in shown)
    assert len(_audit(db_session, user.id, two_factor="enabled")) == 1
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert secret not in logged and not any(code in logged for code in shown)


def test_sign_in_asks_for_the_code_and_the_half_signed_in_state_reaches_nothing(app, client, auth, db_session):
    user = make_user(db_session, Role.AGENT)
    secret, _codes = _enrol(app, db_session, user)

    first = client.post("/login?next=/cases/", data={
        "email": user.email, "password": PASSWORD, "csrf_token": csrf_token(client.get("/login").get_data(as_text=True))})
    assert first.status_code == 302 and first.headers["Location"].endswith("/login/code")
    for path in ("/inbox/", ACCOUNT, "/queues/", "/constituents/"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path
    assert not socketio.test_client(app, flask_test_client=client).is_connected()

    wrong = _post_code(client, "123456" if pyotp.TOTP(secret).now() != "123456" else "654321")
    assert wrong.status_code == 401
    assert client.get("/inbox/").status_code == 302
    right = _post_code(client, pyotp.TOTP(secret).now())
    assert right.status_code == 302 and right.headers["Location"] == "/cases/"
    assert client.get("/inbox/").status_code == 200
    assert socketio.test_client(app, flask_test_client=client).is_connected()
    see_commits(db_session)
    login = db_session.execute(select(AuditEvent).where(AuditEvent.action == AuditAction.LOGIN,
                                                        AuditEvent.actor_id == user.id)).scalar_one()
    assert login.detail == {"second_factor": "totp"}
    failed = db_session.execute(select(AuditEvent).where(AuditEvent.action == AuditAction.LOGIN_FAILED,
                                                         AuditEvent.actor_id == user.id)).scalar_one()
    assert failed.detail == {"second_factor": True}


def test_a_code_cannot_be_used_twice(app, client, auth, db_session):
    user = make_user(db_session)
    secret, _codes = _enrol(app, db_session, user)
    code = pyotp.TOTP(secret).now()
    auth.login(user.email, PASSWORD)
    assert _post_code(client, code).status_code == 302
    auth.logout()
    auth.login(user.email, PASSWORD)
    assert _post_code(client, code).status_code == 401          # the same code, inside its own window
    assert client.get("/inbox/").status_code == 302


def test_a_recovery_code_signs_in_once(app, client, auth, db_session):
    user = make_user(db_session)
    _secret, codes = _enrol(app, db_session, user)
    auth.login(user.email, PASSWORD)
    assert _post_code(client, codes[3].upper().replace("-", " ")).status_code == 302    # typed loosely
    assert client.get("/inbox/").status_code == 200
    assert len(_audit(db_session, user.id, two_factor="recovery_code_used", codes_left=9)) == 1
    auth.logout()
    auth.login(user.email, PASSWORD)
    assert _post_code(client, codes[3]).status_code == 401
    assert _post_code(client, codes[4]).status_code == 302
    see_commits(db_session)
    assert totp.recovery_codes_left(db_session, user.id) == 8


def test_wrong_codes_lock_the_account_and_a_password_does_not_unlock_it(app, client, auth, db_session):
    user = make_user(db_session)
    secret, _codes = _enrol(app, db_session, user)
    auth.login(user.email, PASSWORD)
    maximum = app.config["LOGIN_MAX_FAILURES"]
    for _ in range(maximum - 1):
        assert _post_code(client, "00000000").status_code == 401
    auth.login(user.email, PASSWORD)                  # a right password again does not reset the count
    last = _post_code(client, "00000000")
    assert last.status_code == 302 and last.headers["Location"].endswith("/login")
    see_commits(db_session)
    assert db_session.get(User, user.id).locked_until > utcnow()
    assert _post_code(client, pyotp.TOTP(secret).now()).headers["Location"].endswith("/login")   # state dropped
    assert auth.login(user.email, PASSWORD).status_code == 401      # locked: even the password is refused


def test_the_second_step_needs_a_pending_password_step_that_has_not_expired(app, client, auth, db_session):
    assert client.get("/login/code").headers["Location"].endswith("/login")
    user = make_user(db_session)
    secret, _codes = _enrol(app, db_session, user)
    auth.login(user.email, PASSWORD)
    with client.session_transaction() as session:
        session["second_step"] = session["second_step"] | {"until": 0}
    assert _post_code(client, pyotp.TOTP(secret).now()).headers["Location"].endswith("/login")
    assert client.get("/inbox/").status_code == 302
    auth.login(user.email, PASSWORD)
    totp.disable(db_session, user.id)                  # an admin resets it while the code is being asked for
    db_session.commit()
    assert _post_code(client, pyotp.TOTP(secret).now()).headers["Location"].endswith("/login")
    with client.session_transaction() as session:
        assert "second_step" not in session


def test_required_roles_are_sent_to_set_it_up_before_anything_else(app, client, auth, db_session):
    app.config["REQUIRE_2FA_ROLES"] = "supervisor,admin"
    supervisor = make_user(db_session, Role.SUPERVISOR)
    agent = make_user(db_session, Role.AGENT)
    db_session.commit()
    auth.login(supervisor.email, PASSWORD)
    for path in ("/inbox/", "/wallboard/", "/queues/"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"] == ACCOUNT, path
    assert not socketio.test_client(app, flask_test_client=client).is_connected()
    page = client.get(ACCOUNT).get_data(as_text=True)
    assert "Your role must sign in with two-factor" in page
    token = csrf_token(page)
    client.post(ACCOUNT + "setup", data={"csrf_token": token})
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', client.get(ACCOUNT + "setup").get_data(as_text=True)).group(1)
    client.post(ACCOUNT + "setup/confirm", data={"csrf_token": token, "code": pyotp.TOTP(secret.replace(" ", "")).now()})
    assert client.get("/inbox/").status_code == 200
    refused = client.post(ACCOUNT + "disable", data={"csrf_token": token, "disable-csrf_token": token,
                                                       "disable-code": "000000"}, follow_redirects=True)
    assert "cannot be turned off" in refused.get_data(as_text=True)
    see_commits(db_session)
    assert totp.is_enabled(db_session, supervisor.id)
    auth.logout()
    auth.login(agent.email, PASSWORD)
    assert client.get("/inbox/").status_code == 200                 # other roles may choose


def test_a_required_setting_with_an_unknown_role_fails_at_start(database_url, redis_url):
    import pytest

    from caseworker import create_app
    from tests.conftest import app_config
    with pytest.raises(ValueError):
        create_app(app_config(database_url, redis_url, REQUIRE_2FA_ROLES="supervisors"))


def test_a_staff_member_turns_it_off_with_a_current_code(app, client, auth, db_session):
    user = make_user(db_session)
    secret, _codes = _enrol(app, db_session, user)
    auth.login(user.email, PASSWORD)
    _post_code(client, pyotp.TOTP(secret).at(utcnow() - timedelta(seconds=30)))
    token = csrf_token(client.get(ACCOUNT).get_data(as_text=True))
    client.post(ACCOUNT + "disable", data={"disable-csrf_token": token, "disable-code": pyotp.TOTP(secret).now()})
    see_commits(db_session)
    assert db_session.get(StaffTotp, user.id) is None
    assert totp.recovery_codes_left(db_session, user.id) == 0
    assert len(_audit(db_session, user.id, two_factor="disabled")) == 1


def test_an_admin_resets_someones_two_factor(app, client, auth, db_session):
    admin = make_user(db_session, Role.ADMIN)
    user = make_user(db_session, Role.CASEWORKER, display_name="Lost Phone")
    _enrol(app, db_session, user)
    auth.login(admin.email, PASSWORD)
    listing = client.get(ACCOUNT + "staff").get_data(as_text=True)
    assert "Reset two-factor sign-in of Lost Phone" in listing
    response = client.post(f"{ACCOUNT}staff/{user.id}/reset", data={"csrf_token": csrf_token(listing)})
    assert response.status_code == 302
    see_commits(db_session)
    assert db_session.get(StaffTotp, user.id) is None
    [event] = _audit(db_session, user.id, two_factor="reset")
    assert event.actor_id == admin.id and event.detail["was_enabled"] is True
    auth.logout()
    assert auth.login(user.email, PASSWORD).headers["Location"] == "/inbox/"     # password only again

"""Session security: cookie flags, fixation, throttling and password hashing, through the real login form."""
from models import Role

from tests.factories import PASSWORD, make_user


def test_password_is_stored_as_argon2id(db_session):
    user = make_user(db_session, Role.CASEWORKER)
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


def test_session_cookie_is_httponly_and_samesite_lax(client, auth, db_session):
    user = make_user(db_session, Role.CASEWORKER)
    db_session.commit()
    response = auth.login(user.email, PASSWORD)
    assert response.status_code == 302
    cookie = next(value for value in response.headers.getlist("Set-Cookie")
                  if value.startswith("casework_session="))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_a_pre_login_session_value_does_not_survive_login(client, auth, db_session):
    user = make_user(db_session, Role.CASEWORKER)
    db_session.commit()
    with client.session_transaction() as session:
        session["planted"] = "by-an-attacker"
    assert auth.login(user.email, PASSWORD).status_code == 302
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session.get("_user_id") == str(user.id)


def test_repeated_wrong_passwords_lock_the_account(client, auth, app, db_session):
    user = make_user(db_session, Role.CASEWORKER)
    db_session.commit()
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert auth.login(user.email, "wrong-password").status_code == 401
    assert auth.login(user.email, PASSWORD).status_code == 401   # locked even with the right password

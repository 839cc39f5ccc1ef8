"""Security headers: a strict Content-Security-Policy (no inline script or style) on every response."""
import pytest

from models import Role

from tests.factories import PASSWORD, make_user


def _policy(response) -> dict[str, str]:
    header = response.headers["Content-Security-Policy"]
    return {part.split()[0]: " ".join(part.split()[1:]) for part in header.split(";") if part.strip()}


@pytest.mark.parametrize("path", ["/login", "/contact", "/no-such-page"])
def test_public_responses_carry_a_strict_policy(client, path):
    response = client.get(path)
    policy = _policy(response)
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["object-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_signed_in_pages_carry_the_policy_and_are_not_cached(client, auth, db_session):
    user = make_user(db_session, Role.CASEWORKER)
    db_session.commit()
    auth.login(user.email, PASSWORD)
    response = client.get("/inbox/")
    assert response.status_code == 200
    assert _policy(response)["script-src"] == "'self'"
    assert response.headers["Cache-Control"] == "no-store"


def test_only_the_chat_embed_may_be_framed_by_the_configured_site(app, client):
    app.config["CHAT_EMBED_ANCESTORS"] = "https://www.city.example"
    embedded = client.get("/chat?embed=1")
    assert _policy(embedded)["frame-ancestors"] == "https://www.city.example"
    assert _policy(embedded)["script-src"] == "'self'"
    assert _policy(client.get("/chat"))["frame-ancestors"] == "'none'"

"""The authorisation matrix: every route of the app, for anonymous users and each staff role.

Every blueprint must have a decision in EXPECTED, so a new blueprint without one fails `test_every_route_has_a_
decision`. Staff blueprints are guarded by a blueprint-wide `require_role` hook, so each of their rules (every
method) is probed: anonymous is sent to sign in, a role below the minimum gets 403, the minimum role passes the
guard. Public blueprints name their own protection instead.
"""
import re

import pytest

from models import Role

from tests.conftest import csrf_token
from tests.factories import PASSWORD, make_user

ROLES = [Role.AGENT, Role.CASEWORKER, Role.SUPERVISOR, Role.ADMIN]

# blueprint -> the minimum role, or the protection a public blueprint relies on.
EXPECTED: dict[str, Role | str] = {
    "cases": Role.AGENT, "chat_console": Role.AGENT, "constituents": Role.AGENT, "console": Role.AGENT,
    "inbox": Role.AGENT, "phone": Role.AGENT, "queues": Role.AGENT,
    "wallboard": Role.SUPERVISOR, "legal_hold": Role.SUPERVISOR,
    "reports": Role.SUPERVISOR,
    "admin": Role.ADMIN, "apikeys": Role.ADMIN, "macros": Role.ADMIN,
    "twofactor": Role.AGENT,
    "twofactor_login": "public: the second sign-in step; only with a pending state from a right password, "
                       "rate limited, wrong codes lock the account",
    "auth": "public: login is rate limited and accounts lock after failures; logout needs CSRF",
    "home": "public: redirects to the inbox or to sign in",
    "healthz": "public: liveness, no data",
    "static": "public: static files",
    "public": "public: contact form and status page (CSRF, rate limit, status by reference + email)",
    "chat": "public: citizen chat (CSRF, rate limit, token-bound conversation)",
    "open311": "public: Open311 GeoReport v2 (API key for writes)",
    "intake": "public: inbound webhooks, HMAC-signed",
    "phone_webhook": "public: telephony webhooks, HMAC-signed",
    "survey": "public: CSAT survey behind a signed, expiring token; one answer per case; CSRF",
}
# views that raise the bar above their blueprint's with @role_required.
ENDPOINT_MINIMUM: dict[str, Role] = {
    "cases.assign": Role.SUPERVISOR, "cases.return_to_queue": Role.SUPERVISOR,
    "constituents.merge": Role.CASEWORKER, "constituents.undo_merge": Role.CASEWORKER,
    "constituents.audit_log": Role.SUPERVISOR,
    "twofactor.staff": Role.ADMIN, "twofactor.reset": Role.ADMIN,
}
PROBE_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


def _blueprint(endpoint: str) -> str:
    return endpoint.rsplit(".", 1)[0] if "." in endpoint else endpoint


def _staff_probes(app) -> list[tuple[str, str, Role]]:
    probes = []
    for rule in app.url_map.iter_rules():
        minimum = ENDPOINT_MINIMUM.get(rule.endpoint, EXPECTED.get(_blueprint(rule.endpoint)))
        if not isinstance(minimum, Role):
            continue
        path = re.sub(r"<(?:int:)?[^>]+>", "999999", rule.rule)
        for method in sorted(rule.methods & PROBE_METHODS):
            probes.append((method, path, minimum))
    return probes


def _token(client, page: str) -> str:
    """A CSRF token for this client's session, so a POST reaches the role guard rather than the CSRF check."""
    return csrf_token(client.get(page).get_data(as_text=True))


def _send(client, method: str, path: str, token: str):
    return client.open(path, method=method, headers={"X-CSRFToken": token})


def test_every_route_has_a_decision(app):
    undecided = sorted({rule.rule for rule in app.url_map.iter_rules()
                        if _blueprint(rule.endpoint) not in EXPECTED})
    assert not undecided, f"routes without an authorisation decision: {undecided}"


def test_anonymous_users_are_sent_to_sign_in_on_every_staff_route(app, client):
    token = _token(client, "/login")
    for method, path, _ in _staff_probes(app):
        response = _send(client, method, path, token)
        assert response.status_code in (302, 401), (method, path, response.status_code)
        if response.status_code == 302:
            assert "/login" in response.headers["Location"], (method, path)


@pytest.mark.parametrize("role", ROLES, ids=str)
def test_each_role_reaches_exactly_the_routes_of_its_rank(app, client, auth, db_session, role):
    user = make_user(db_session, role)
    db_session.commit()
    assert auth.login(user.email, PASSWORD).status_code == 302
    rank = ROLES.index(role)
    token = _token(client, "/inbox/")
    for method, path, minimum in _staff_probes(app):
        response = _send(client, method, path, token)
        if rank < ROLES.index(minimum):
            assert response.status_code == 403, (role, method, path, response.status_code)
        else:
            assert response.status_code not in (401, 403), (role, method, path, response.status_code)


def test_an_agent_sees_no_case_or_constituent_outside_their_queues(app, client, auth, db_session):
    from tests.factories import make_case, make_category, make_queue
    mine, theirs = make_queue(db_session), make_queue(db_session)
    foreign = make_case(db_session, category=make_category(db_session, theirs))
    agent = make_user(db_session, Role.AGENT, queues=[mine])
    db_session.commit()
    assert auth.login(agent.email, PASSWORD).status_code == 302
    token = _token(client, "/inbox/")
    ids = {"case_id": foreign.id, "constituent_id": foreign.constituent_id}
    probed = 0
    for rule in app.url_map.iter_rules():
        scoped = [arg for arg in rule.arguments if arg in ids]
        if not scoped or set(rule.arguments) - set(ids):
            continue
        path = rule.rule
        for arg in scoped:
            path = re.sub(rf"<(?:int:)?{arg}>", str(ids[arg]), path)
        for method in sorted(rule.methods & PROBE_METHODS):
            response = _send(client, method, path, token)
            assert response.status_code in (403, 404), (method, path, response.status_code)
            probed += 1
    assert probed > 10
    from models import QueueMember
    db_session.add(QueueMember(queue_id=theirs.id, user_id=agent.id))   # control: a member of the queue sees it
    db_session.commit()
    assert client.get(f"/cases/{foreign.id}").status_code == 200

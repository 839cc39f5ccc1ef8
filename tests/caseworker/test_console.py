"""The console shell: the header presence switch (a POST form without JavaScript), the offer dialog's
partial (only for the agent offered), the list of open offers and the assignment notice."""
import re

from models import Channel, DecisionOutcome, Presence, Role, RoutingDecision, User
from routing import engine
from tests.conftest import csrf_token
from tests.factories import PASSWORD, make_user
from tests.routing.builders import make_agent, make_routed_queue, open_case
from tests.routing.test_realtime_routing import _read   # committed state, the read ended at once


def _offer(session, agent_presence=Presence.AVAILABLE):
    """A chat case offered, through the real engine, to Rosa, the only available agent of its queue;
    Sam is a colleague in the same queue who is away."""
    queue = make_routed_queue(session, "chat", name="Benefits chat")
    rosa = make_agent(session, "Rosa Delgado", [queue], presence=agent_presence)
    sam = make_agent(session, "Sam Okafor", [queue], presence=Presence.AWAY)
    case = open_case(session, "chat", channel=Channel.CHAT, subject="Where is my housing benefit payment?")
    effects = engine.route_case(session, case.id)
    session.commit()
    (offer,) = effects.offered
    return offer, case, rosa, sam


def _page(client, path="/inbox/") -> str:
    response = client.get(path)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_the_header_shows_the_users_presence_and_the_form_changes_it(client, auth, db_session):
    user = make_user(db_session, Role.AGENT, presence=Presence.OFFLINE)
    db_session.commit()
    auth.login(user.email, PASSWORD)
    page = _page(client)
    assert re.search(r'<select[^>]*id="header-presence"', page)
    assert re.search(r'<option selected value="offline">Offline</option>', page)
    assert 'data-presence="offline"' in page

    response = client.post("/console/presence", data={"presence": "available", "next": "/inbox/?offset=0",
                                                      "csrf_token": csrf_token(page)})
    assert response.status_code == 303 and response.location == "/inbox/?offset=0"
    assert _read(db_session, User, user.id, "presence") == (Presence.AVAILABLE,)
    page = _page(client)
    assert "You are now Available." in page
    assert re.search(r'<option selected value="available">Available</option>', page)


def test_the_presence_form_refuses_a_missing_token_an_unknown_presence_and_an_outside_next(client, auth, db_session):
    user = make_user(db_session, Role.AGENT, presence=Presence.AWAY)
    db_session.commit()
    auth.login(user.email, PASSWORD)
    page = _page(client)
    assert client.post("/console/presence", data={"presence": "available"}).status_code == 400
    response = client.post("/console/presence", data={"presence": "dancing", "next": "//evil.example/",
                                                      "csrf_token": csrf_token(page)})
    assert response.status_code == 303 and response.location == "/inbox/"
    assert "Choose Available, Away or Offline." in _page(client)
    assert _read(db_session, User, user.id, "presence") == (Presence.AWAY,)


def test_going_away_by_form_withdraws_the_open_offer_and_re_routes_it(client, auth, db_session):
    offer, case, rosa, _sam = _offer(db_session)
    auth.login(rosa.email, PASSWORD)
    client.post("/console/presence", data={"presence": "away", "csrf_token": csrf_token(_page(client))})
    assert _read(db_session, RoutingDecision, offer.decision_id, "outcome") == (DecisionOutcome.CANCELLED,)
    assert _read(db_session, User, rosa.id, "presence") == (Presence.AWAY,)


def test_the_offer_partial_shows_what_the_offer_is_about_to_the_agent_offered(client, auth, db_session):
    offer, case, rosa, _sam = _offer(db_session)
    auth.login(rosa.email, PASSWORD)
    assert client.get("/console/offers").get_json() == {"offers": [offer.decision_id]}
    response = client.get(f"/console/offers/{offer.decision_id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Where is my housing benefit payment?" in html
    assert "Benefits chat" in html and "Chat" in html and case.reference in html
    assert f'data-offer-id="{offer.decision_id}"' in html
    seconds = int(re.search(r'data-seconds-left="(\d+)"', html).group(1))
    assert 20 <= seconds <= 30
    assert re.search(r'data-case-url="/[^"]*"', html)


def test_the_offer_partial_is_refused_to_everyone_else(client, auth, db_session):
    offer, _case, _rosa, sam = _offer(db_session)
    supervisor = make_user(db_session, Role.SUPERVISOR)
    db_session.commit()
    anonymous = client.get(f"/console/offers/{offer.decision_id}")
    assert anonymous.status_code == 302 and "/login" in anonymous.location
    assert client.get("/console/offers").status_code == 302
    for user in (sam, supervisor):
        auth.login(user.email, PASSWORD)
        assert client.get(f"/console/offers/{offer.decision_id}").status_code == 404
        assert client.get("/console/offers").get_json() == {"offers": []}
        auth.logout()
    auth.login(sam.email, PASSWORD)
    assert client.get("/console/offers/999999").status_code == 404


def test_an_answered_offer_is_gone(client, auth, db_session, redis_url):
    offer, _case, rosa, _sam = _offer(db_session)
    engine.decline_offer(db_session, offer.decision_id, rosa.id)
    db_session.commit()
    auth.login(rosa.email, PASSWORD)
    response = client.get(f"/console/offers/{offer.decision_id}")
    assert response.status_code == 410 and "no longer open" in response.get_data(as_text=True)
    assert client.get("/console/offers").get_json() == {"offers": []}


def test_the_assignment_notice_is_for_the_assignee_only(client, auth, db_session):
    offer, case, rosa, sam = _offer(db_session)
    engine.accept_offer(db_session, offer.decision_id, rosa.id)
    db_session.commit()
    auth.login(rosa.email, PASSWORD)
    html = client.get(f"/console/cases/{case.id}/notice").get_data(as_text=True)
    assert f'data-announce="New case {case.reference} assigned to you: Where is my housing benefit payment?"' in html
    auth.logout()
    auth.login(sam.email, PASSWORD)          # sees the case through the queue, but it is not his
    assert client.get(f"/console/cases/{case.id}/notice").status_code == 404


def test_anonymous_users_cannot_set_a_presence(client, db_session):
    response = client.post("/console/presence", data={"presence": "available"})
    assert response.status_code in (302, 400)
    assert client.get("/console/cases/1/notice").status_code == 302

"""The supervisor wallboard's views: who may see it, the figures partial, and the audited actions (reassign,
return to queue, an agent's presence), with real commits through the routing engine, and the push that
tells supervisors' pages to re-fetch."""
import re
import time

import pytest
from sqlalchemy import select

from caseworker import realtime  # noqa: F401  (before any app: Flask-SocketIO then keeps the handlers for every app)
from caseworker.extensions import socketio
from models import AuditAction, AuditEvent, Case, CaseStatus, Presence, Role, User, reading, transaction
from routing import engine
from tests.channels import mailtools as mt
from tests.conftest import Auth, csrf_token
from tests.factories import PASSWORD, make_user
from tests.routing.builders import make_agent, make_routed_queue, open_case


@pytest.fixture
def site(scratch_database_url, redis_url, redis, tmp_path):
    """Benefits with Rosa (available, owns one case) and Li (away); one case waits; a supervisor, Bea."""
    app = mt.mail_app(scratch_database_url, redis_url, tmp_path, MAIL_ACKNOWLEDGE=False,
                      WALLBOARD_OLDEST_WAIT_ALERT_SECONDS=None, WALLBOARD_AT_RISK_ALERT=None)
    with transaction() as session:
        benefits = make_routed_queue(session, "benefits", name="Benefits")
        rosa = make_agent(session, "Rosa Delgado", [benefits], capacity={"email": 5})
        li = make_agent(session, "Li Wei", [benefits], presence=Presence.AWAY, capacity={"email": 5})
        make_user(session, Role.SUPERVISOR, email="bea@staff.example", display_name="Bea Boss")
        make_user(session, Role.AGENT, email="sam@staff.example", display_name="Sam Street", queues=[benefits])
        owned = open_case(session, "benefits", subject="Housing benefit")
        engine.route_case(session, owned.id, now=owned.queued_at)   # taken as it arrived: waited exactly 0 s
        rosa.presence = Presence.AWAY                        # the next case waits
        waiting = open_case(session, "benefits", subject="Council tax")
        engine.route_case(session, waiting.id)
    app.ids = {"rosa": rosa.id, "li": li.id, "owned": owned.id, "waiting": waiting.id,
               "owned_ref": owned.reference}
    return app


def signed_in(app, email: str):
    client = app.test_client()
    assert Auth(client).login(email, PASSWORD).status_code == 302
    return client


def case_of(case_id: int) -> Case:
    with reading() as session:
        return session.get(Case, case_id)


def audit_rows(object_type: str, object_id: int) -> list[AuditEvent]:
    with reading() as session:
        return list(session.execute(select(AuditEvent).where(
            AuditEvent.object_type == object_type, AuditEvent.object_id == str(object_id))).scalars())


def figures_row(html: str, queue: str, channel: str) -> dict[str, str]:
    row = re.search(rf'<th scope="row">{queue}</th>\s*<td>{channel}</td>(.*?)</tr>', html, re.S).group(1)
    return dict(re.findall(r'data-figure="([\w-]+)"[^>]*>([^<]*)<', row))


def test_only_supervisors_and_admins_open_the_wallboard(site):
    anonymous = site.test_client()
    assert anonymous.get("/wallboard/").status_code == 302
    sam = signed_in(site, "sam@staff.example")
    token = csrf_token(sam.get("/inbox/").get_data(as_text=True))
    assert "Wallboard" not in sam.get("/inbox/").get_data(as_text=True)
    assert sam.get("/wallboard/").status_code == 403
    assert sam.get("/wallboard/figures").status_code == 403
    assert sam.post("/wallboard/presence", data={"csrf_token": token, "presence-user": site.ids["li"],
                                                  "presence-presence": "available"}).status_code == 403
    with reading() as session:
        assert session.get(User, site.ids["li"]).presence is Presence.AWAY


def test_the_page_and_its_partial_show_the_figures(site):
    bea = signed_in(site, "bea@staff.example")
    html = bea.get("/wallboard/").get_data(as_text=True)
    assert '<a href="/wallboard/" aria-current="page">Wallboard</a>' in html
    assert 'data-partial-url="/wallboard/figures"' in html and 'role="alert"' in html
    partial = bea.get("/wallboard/figures").get_data(as_text=True)
    assert "<html" not in partial and "<caption>Queues by channel" in partial
    assert "<caption>Channels across all queues</caption>" in partial
    assert figures_row(partial, "Benefits", "Email") == {
        "waiting": "1", "oldest-wait": figures_row(partial, "Benefits", "Email")["oldest-wait"], "handled": "1",
        "average-wait": "0 s", "at-risk": "0", "breached": "0", "offers": "0"}
    assert re.search(r'<th scope="row">Rosa Delgado</th>\s*<td data-presence="away">Away</td>', partial)
    assert "Email 1 of 5" in partial
    assert "No queue is over a threshold." in partial


def test_alerts_list_the_lines_past_a_threshold(site):
    site.config["WALLBOARD_OLDEST_WAIT_ALERT_SECONDS"] = 0
    bea = signed_in(site, "bea@staff.example")
    partial = bea.get("/wallboard/figures").get_data(as_text=True)
    assert re.search(r'data-alert-key="wait-\d+-email"><strong>Alert:</strong> Benefits, email: oldest wait', partial)


def test_a_supervisor_reassigns_a_case_by_reference_and_it_is_audited(site):
    bea = signed_in(site, "bea@staff.example")
    token = csrf_token(bea.get("/wallboard/").get_data(as_text=True))
    response = bea.post("/wallboard/reassign", data={
        "csrf_token": token, "reassign-reference": site.ids["owned_ref"].lower(), "reassign-user": site.ids["li"]},
        follow_redirects=True)
    assert f"{site.ids['owned_ref']} assigned to Li Wei." in response.get_data(as_text=True)
    assert case_of(site.ids["owned"]).assignee_id == site.ids["li"]
    [event] = [e for e in audit_rows("case", site.ids["owned"]) if e.detail.get("change") == "assign"]
    assert event.action is AuditAction.UPDATE and event.detail["source"] == "wallboard"
    assert event.detail["user_id"] == site.ids["li"]


def test_a_supervisor_returns_a_case_to_its_queue_and_it_is_audited(site):
    bea = signed_in(site, "bea@staff.example")
    token = csrf_token(bea.get("/wallboard/").get_data(as_text=True))
    response = bea.post("/wallboard/return", data={"csrf_token": token, "return-reference": site.ids["owned_ref"]},
                        follow_redirects=True)
    assert "returned to its queue" in response.get_data(as_text=True)
    case = case_of(site.ids["owned"])
    assert case.status is CaseStatus.NEW and case.assignee_id is None         # nobody is available: it waits
    assert [e.detail["change"] for e in audit_rows("case", site.ids["owned"])] == ["return"]


def test_bad_actions_say_what_is_wrong_and_change_nothing(site):
    bea = signed_in(site, "bea@staff.example")
    token = csrf_token(bea.get("/wallboard/").get_data(as_text=True))
    response = bea.post("/wallboard/return", data={"csrf_token": token, "return-reference": "C-1999-000000"},
                        follow_redirects=True)
    assert "No case C-1999-000000." in response.get_data(as_text=True)
    response = bea.post("/wallboard/reassign", data={"csrf_token": token, "reassign-reference": "",
                                                     "reassign-user": site.ids["li"]}, follow_redirects=True)
    assert "Enter the case&#39;s reference" in response.get_data(as_text=True)
    assert bea.post("/wallboard/return", data={"return-reference": site.ids["owned_ref"]}).status_code == 400
    assert case_of(site.ids["owned"]).assignee_id == site.ids["rosa"]


def test_a_supervisor_changes_an_agents_presence_and_it_is_audited(site):
    bea = signed_in(site, "bea@staff.example")
    token = csrf_token(bea.get("/wallboard/").get_data(as_text=True))
    response = bea.post("/wallboard/presence", data={"csrf_token": token, "presence-user": site.ids["li"],
                                                     "presence-presence": "available"}, follow_redirects=True)
    assert "Li Wei is now Available." in response.get_data(as_text=True)
    with reading() as session:
        assert session.get(User, site.ids["li"]).presence is Presence.AVAILABLE
    [event] = audit_rows("user", site.ids["li"])
    assert event.action is AuditAction.UPDATE and event.detail == {"change": "presence", "presence": "available",
                                                                    "source": "wallboard"}
    with reading() as session:
        assert event.actor_id == session.execute(select(User.id).where(User.email == "bea@staff.example")).scalar()


def test_routing_tells_supervisors_pages_to_refetch(site):
    bea = signed_in(site, "bea@staff.example")
    sam = signed_in(site, "sam@staff.example")
    boss_socket = socketio.test_client(site, flask_test_client=bea)
    agent_socket = socketio.test_client(site, flask_test_client=sam)
    try:
        boss_socket.get_received(), agent_socket.get_received()
        token = csrf_token(bea.get("/wallboard/").get_data(as_text=True))
        bea.post("/wallboard/reassign", data={"csrf_token": token, "reassign-reference": site.ids["owned_ref"],
                                              "reassign-user": site.ids["li"]})
        deadline, seen = time.monotonic() + 3, []
        while time.monotonic() < deadline and not seen:
            seen = [e["args"][0] for e in boss_socket.get_received() if e["name"] == "wallboard.changed"]
            time.sleep(0.05)
        assert seen == [{"case_id": site.ids["owned"]}]
        assert not [e for e in agent_socket.get_received() if e["name"] == "wallboard.changed"]
    finally:
        boss_socket.disconnect()
        agent_socket.disconnect()

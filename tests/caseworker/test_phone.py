"""The phone channel end to end: a signed webhook -> stored raw -> caller found -> case offered -> the
agent's console pops the caller's 360° view; then call notes, and calls logged by hand."""
import time
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from caseworker import create_app
from caseworker import realtime  # noqa: F401  (imported before any app exists, its socket handlers reach every app)
from caseworker.extensions import socketio
from caseworker.phone import duration_seconds
from channels import phone
from channels.base import ContactAddress, NormalizedContact
from channels.intake import ingest
from models import (
    AuditAction,
    AuditEvent,
    Case,
    CaseStatus,
    Channel,
    ContactKind,
    ContactPoint,
    Direction,
    InboundRaw,
    InboundStatus,
    Interaction,
    InteractionKind,
    Presence,
    Role,
    UserCapacity,
)
from tests.conftest import Auth, app_config, csrf_token, see_commits
from tests.factories import PASSWORD, make_category, make_queue, make_user

SECRET = "phone-test-secret"
SID = "CA0123456789abcdef0123456789abcdef"



@pytest.fixture
def app(database_url, redis_url, redis):
    return create_app(app_config(database_url, redis_url, PHONE_WEBHOOK_SECRET=SECRET, DEFAULT_PHONE_REGION="US",
                                 PHONE_QUEUE="phone"))


def received(sock, *names: str, timeout: float = 5.0) -> dict[str, list[dict]]:
    """The socket's events by name, waiting until each of `names` came (get_received() drains the socket)."""
    found: dict[str, list[dict]] = {}
    deadline = time.monotonic() + timeout
    while True:
        for event in sock.get_received():
            found.setdefault(event["name"], []).append(event["args"][0])
        if all(name in found for name in names) or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def call_body(**fields) -> bytes:
    return urlencode({"CallSid": SID, "From": "+14155550134", "To": "+14155550100"} | fields).encode()


def post_call(client, body: bytes, *, secret: str = SECRET, signed_at: int | None = None):
    signed_at = int(time.time()) if signed_at is None else signed_at
    return client.post("/inbound/phone/call", data=body, content_type=phone.CONTENT_TYPE,
                       headers={phone.TIMESTAMP_HEADER: str(signed_at),
                                phone.SIGNATURE_HEADER: phone.sign(secret, signed_at, body)})


@pytest.fixture
def desk(db_session):
    """The phone queue with one available agent, and a resident known from a web form in another queue."""
    phone_queue = make_queue(db_session, "phone")
    streets = make_queue(db_session, "streets")
    agent = make_user(db_session, Role.AGENT, email="agent@staff.example", presence=Presence.AVAILABLE,
                      queues=[phone_queue])
    result = ingest(db_session, NormalizedContact(
        channel=Channel.WEBFORM, sender=ContactAddress(ContactKind.PHONE, "+14155550134", "Ada Lovelace"),
        subject="Streetlight out", body_text="The light on Elm St is out.", external_id="webform-1",
        category_code=make_category(db_session, streets, "streetlight").code))
    earlier = db_session.get(Case, result.case_id)
    db_session.commit()
    return agent, phone_queue, earlier


def _socket(app, client, user):
    Auth(client).login(user.email, PASSWORD)
    sock = socketio.test_client(app, flask_test_client=client)
    assert sock.is_connected()
    return sock


def test_a_call_pops_the_callers_record_on_the_agent_it_is_offered_to(app, client, db_session, desk):
    agent, phone_queue, earlier = desk
    sock = _socket(app, client, agent)
    response = post_call(app.test_client(), call_body(From="(415) 555-0134"))     # another format, same number
    assert response.status_code == 200, response.get_json()
    case_id, call_id = response.get_json()["case_id"], response.get_json()["call_id"]

    see_commits(db_session)
    case = db_session.get(Case, case_id)
    assert (case.channel, case.queue_id, case.offered_to_id) == (Channel.PHONE, phone_queue.id, agent.id)
    assert case.constituent_id == earlier.constituent_id                 # found by the number, not a new record
    call = db_session.get(Interaction, call_id)
    assert (call.kind, call.direction, call.external_id) == (InteractionKind.CALL, Direction.INBOUND, f"call:{SID}")
    raw = db_session.get(InboundRaw, call.inbound_raw_id)
    assert (raw.status, raw.case_id, raw.payload) == (InboundStatus.INGESTED, case_id, call_body(From="(415) 555-0134"))

    events = received(sock, "call.incoming", "offer.new")
    assert events["call.incoming"] == [{"case_id": case_id, "call_id": call_id, "constituent_id": earlier.constituent_id}]
    offer = events["offer.new"][0]
    assert sock.emit("offer.accept", {"offer_id": offer["offer_id"]}, callback=True) == {"ok": True}
    see_commits(db_session)
    assert db_session.get(Case, case_id).assignee_id == agent.id

    notice = client.get(f"/phone/calls/{call_id}/pop")
    assert notice.status_code == 200 and "Ada Lovelace" in notice.get_data(as_text=True)
    view = client.get(f"/constituents/{earlier.constituent_id}?call={call_id}")
    html = view.get_data(as_text=True)
    assert view.status_code == 200
    assert case.reference in html and "Call in progress" in html
    assert earlier.reference not in html and "1 other case in queues you do not work" in html
    assert f"/phone/calls/{call_id}" in html


def test_the_same_callsid_twice_is_one_call_one_case_and_one_pop(app, client, db_session, desk):
    agent, _queue, _earlier = desk
    sock = _socket(app, client, agent)
    first = post_call(app.test_client(), call_body()).get_json()
    again = post_call(app.test_client(), call_body()).get_json()
    assert (again["case_id"], again["call_id"], again["duplicate"]) == (first["case_id"], first["call_id"], True)
    see_commits(db_session)
    assert db_session.scalar(select(func.count(Interaction.id)).where(Interaction.channel == Channel.PHONE)) == 1
    assert db_session.scalar(select(func.count(Case.id)).where(Case.channel == Channel.PHONE)) == 1
    events = received(sock, "call.incoming")
    assert len(events["call.incoming"]) == 1


def test_a_new_caller_gets_a_record_with_the_number_in_e164(app, db_session, desk):
    response = post_call(app.test_client(), call_body(From="415.555.0199", CallerName="GRACE HOPPER"))
    assert response.status_code == 200
    see_commits(db_session)
    point = db_session.execute(select(ContactPoint).where(ContactPoint.value == "+14155550199")).scalar_one()
    assert point.kind is ContactKind.PHONE and point.constituent.display_name == "GRACE HOPPER"


@pytest.mark.parametrize("how", ["wrong secret", "stale", "unsigned"])
def test_a_badly_signed_or_stale_webhook_is_refused_and_stores_nothing(app, db_session, desk, how):
    client = app.test_client()
    if how == "wrong secret":
        response = post_call(client, call_body(), secret="guess")
    elif how == "stale":
        response = post_call(client, call_body(), signed_at=int(time.time()) - 3600)
    else:
        response = client.post("/inbound/phone/call", data=call_body(), content_type=phone.CONTENT_TYPE)
    assert response.status_code == 403
    see_commits(db_session)
    assert db_session.scalar(select(func.count(InboundRaw.id)).where(InboundRaw.channel == Channel.PHONE)) == 0


def test_without_a_secret_the_webhook_does_not_exist(database_url, redis_url, redis, db_session):
    app = create_app(app_config(database_url, redis_url))
    assert post_call(app.test_client(), call_body()).status_code == 404


def test_a_signed_body_that_is_not_a_call_is_kept_and_explained(app, db_session, desk):
    response = post_call(app.test_client(), call_body(CallSid=""))
    assert response.status_code == 400 and "CallSid" in response.get_json()["error"]
    see_commits(db_session)
    raw = db_session.execute(select(InboundRaw).where(InboundRaw.channel == Channel.PHONE)).scalar_one()
    assert raw.status is InboundStatus.FAILED and "CallSid" in raw.error


def test_with_nobody_to_offer_it_to_the_phone_queue_gets_the_pop(app, client, db_session, desk):
    agent, _queue, _earlier = desk
    agent.presence = Presence.AWAY
    db_session.commit()
    sock = _socket(app, client, agent)
    body = post_call(app.test_client(), call_body(From="anonymous")).get_json()
    events = received(sock, "call.incoming")
    assert events["call.incoming"] == [{"case_id": body["case_id"], "call_id": body["call_id"], "constituent_id": None}]
    assert "offer.new" not in events


def _accepted_call(app, client, db_session, desk, **fields):
    agent, _queue, _earlier = desk
    sock = _socket(app, client, agent)
    body = post_call(app.test_client(), call_body(**fields)).get_json()
    offer = received(sock, "offer.new")["offer.new"][0]
    assert sock.emit("offer.accept", {"offer_id": offer["offer_id"]}, callback=True) == {"ok": True}
    return agent, body


def test_call_notes_are_saved_as_a_phone_interaction_and_free_the_line(app, client, db_session, desk):
    agent, body = _accepted_call(app, client, db_session, desk)
    page = client.get(f"/phone/calls/{body['call_id']}")
    assert page.status_code == 200
    response = client.post(f"/phone/calls/{body['call_id']}", data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "case": "call", "notes": "Asked about the light.",
        "outcome": "follow_up", "duration": "4:30"})
    assert response.status_code == 302
    see_commits(db_session)
    call = db_session.get(Interaction, body["call_id"])
    assert (call.body_text, call.author_id, call.channel) == ("Asked about the light.", agent.id, Channel.PHONE)
    assert (call.meta["outcome"], call.meta["duration_seconds"], call.meta["state"]) == ("follow_up", 270, "ended")
    assert db_session.get(UserCapacity, (agent.id, Channel.PHONE)).used == 0
    assert db_session.get(Case, body["case_id"]).status is CaseStatus.ASSIGNED
    assert db_session.execute(select(AuditEvent).where(AuditEvent.action == AuditAction.UPDATE,
                                                       AuditEvent.object_id == str(call.id))).scalar_one()


def test_a_call_filed_on_the_callers_open_case_resolves_its_own(app, client, db_session, desk):
    agent, _queue, earlier = desk
    earlier.assignee_id, earlier.status = None, CaseStatus.NEW
    db_session.commit()
    # The agent may file it on the caller's other case only if they can see that case: make them a member.
    from models import QueueMember
    db_session.add(QueueMember(queue_id=earlier.queue_id, user_id=agent.id))
    db_session.commit()
    agent, body = _accepted_call(app, client, db_session, desk)
    page = client.get(f"/phone/calls/{body['call_id']}").get_data(as_text=True)
    assert earlier.reference in page
    client.post(f"/phone/calls/{body['call_id']}", data={
        "csrf_token": csrf_token(page), "case": str(earlier.id), "notes": "Same streetlight again.",
        "outcome": "answered", "duration": "75"})
    see_commits(db_session)
    assert db_session.get(Interaction, body["call_id"]).case_id == earlier.id
    assert db_session.get(Case, body["case_id"]).status is CaseStatus.RESOLVED


def test_a_bad_call_length_is_explained(app, client, db_session, desk):
    _agent, body = _accepted_call(app, client, db_session, desk)
    page = client.get(f"/phone/calls/{body['call_id']}").get_data(as_text=True)
    response = client.post(f"/phone/calls/{body['call_id']}", data={
        "csrf_token": csrf_token(page), "case": "call", "notes": "x", "outcome": "answered", "duration": "4:75"})
    assert response.status_code == 200 and "minutes:seconds" in response.get_data(as_text=True)


def test_an_agent_logs_a_call_without_the_webhook(app, client, db_session, desk, worker_commits):
    agent, _queue, earlier = desk
    Auth(client).login(agent.email, PASSWORD)
    page = client.get("/phone/calls/new?lookup_phone=415-555-0134")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "known caller" in html        # their record is not open to this agent yet
    with worker_commits(agent.id):
        response = client.post("/phone/calls/new", data={
            "csrf_token": csrf_token(html), "caller_phone": "415-555-0134", "direction": "outbound", "case": "new",
            "notes": "Called back about the light.", "outcome": "answered", "duration": "2:00"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/constituents/{earlier.constituent_id}")
    see_commits(db_session)
    call = db_session.execute(select(Interaction).where(Interaction.kind == InteractionKind.CALL)).scalar_one()
    case = db_session.get(Case, call.case_id)
    assert (call.direction, call.constituent_id, call.meta["duration_seconds"]) == (
        Direction.OUTBOUND, earlier.constituent_id, 120)
    assert (case.assignee_id, case.status, case.channel) == (agent.id, CaseStatus.ASSIGNED, Channel.PHONE)
    assert client.get(response.headers["Location"]).status_code == 200


def test_an_agent_of_another_queue_cannot_open_a_call(app, client, db_session, desk):
    post = post_call(app.test_client(), call_body()).get_json()
    other = make_user(db_session, Role.AGENT, queues=[make_queue(db_session, "licensing")])
    db_session.commit()
    Auth(client).login(other.email, PASSWORD)
    assert client.get(f"/phone/calls/{post['call_id']}").status_code == 404
    assert client.get(f"/phone/calls/{post['call_id']}/pop").status_code == 404


def test_the_pop_reaches_only_the_agent_offered_the_call(app, client, db_session, desk):
    agent, phone_queue, _earlier = desk
    colleague = make_user(db_session, Role.AGENT, email="colleague@staff.example", presence=Presence.AWAY,
                          queues=[phone_queue])
    db_session.commit()
    mine, theirs = _socket(app, client, agent), _socket(app, app.test_client(), colleague)
    body = post_call(app.test_client(), call_body()).get_json()
    assert received(mine, "call.incoming")["call.incoming"][0]["call_id"] == body["call_id"]
    assert "call.incoming" not in received(theirs, "call.incoming", timeout=0.5)


def test_a_declined_call_pops_on_the_next_agent_it_is_offered_to(app, client, db_session, desk):
    agent, phone_queue, earlier = desk
    colleague = make_user(db_session, Role.AGENT, email="colleague@staff.example", presence=Presence.AVAILABLE,
                          queues=[phone_queue])
    db_session.commit()
    sockets = {agent.id: _socket(app, client, agent), colleague.id: _socket(app, app.test_client(), colleague)}
    body = post_call(app.test_client(), call_body()).get_json()
    see_commits(db_session)
    first = db_session.get(Case, body["case_id"]).offered_to_id
    second = colleague.id if first == agent.id else agent.id
    offer = received(sockets[first], "offer.new")["offer.new"][0]
    assert sockets[first].emit("offer.decline", {"offer_id": offer["offer_id"]}, callback=True) == {"ok": True}
    assert received(sockets[second], "call.incoming")["call.incoming"] == [
        {"case_id": body["case_id"], "call_id": body["call_id"], "constituent_id": earlier.constituent_id}]


@pytest.mark.parametrize("text, seconds", [("4:30", 270), ("75", 75), (" 0:05 ", 5), ("", None), (None, None)])
def test_call_lengths_read_as_minutes_and_seconds(text, seconds):
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["4:75", "four", "-3", "1:2:3"])
def test_a_call_length_that_is_not_one_is_refused(text):
    with pytest.raises(ValueError):
        duration_seconds(text)

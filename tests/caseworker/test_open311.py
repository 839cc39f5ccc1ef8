"""The Open311 GeoReport v2 API end to end: the spec's own requests replayed, a POST routed to a caseworker,
the GET filters, errors in the spec's format, the admin pages for API keys, and the `georeport` client
from PyPI against a live server."""
import json
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlencode

import pytest
import requests
from georeport import GeoReport
from sqlalchemy import func, select
from sqlalchemy.orm import Session as OrmSession

from channels import open311_store, signals
from channels.open311 import RequestQuery
from models import (
    ApiKey,
    AttributeDatatype,
    AuditEvent,
    Case,
    CaseStatus,
    Category,
    Channel,
    ContactPoint,
    DecisionOutcome,
    Direction,
    InboundRaw,
    InboundStatus,
    Interaction,
    InteractionKind,
    Presence,
    Queue,
    Role,
    RoutingDecision,
    ServiceAttribute,
    make_engine,
    reading,
    transaction,
)
from tests.channels import mailtools as mt
from tests.channels.test_open311 import example, tree
from tests.conftest import Auth, csrf_token
from tests.factories import PASSWORD, make_case, make_user

JURISDICTION = "city.gov"                      # the spec's examples name this one
FORM = "application/x-www-form-urlencoded; charset=utf-8"


def seed(session: OrmSession) -> tuple[Queue, dict[str, Category]]:
    """The spec's three services and its DMV66 definition, in one queue; and one private category."""
    queue = Queue(code="streets", name="Streets & Sanitation")
    session.add(queue)
    session.flush()
    categories = {
        "001": Category(code="001", name="Cans left out 24x7", queue=queue, description="Cans left out.",
                        names={"en": "Cans left out 24x7", "es": "Botes fuera"}),
        "002": Category(code="002", name="Construction plate shifted", queue=queue),
        "DMV66": Category(code="DMV66", name="Tickets", queue=queue),
        "internal": Category(code="internal", name="Staff only", queue=queue, is_public=False),
    }
    session.add_all(categories.values())
    session.flush()
    session.add(ServiceAttribute(category_id=categories["DMV66"].id, code="WHISHETN",
                                 datatype=AttributeDatatype.SINGLEVALUELIST, is_required=True, position=1,
                                 description="What is the ticket/tag/DL number?",
                                 values=[{"key": "123", "name": "Ford"}, {"key": "124", "name": "Chrysler"}]))
    session.flush()
    return queue, categories


@pytest.fixture
def site(scratch_database_url, redis_url, redis, tmp_path):
    app = mt.mail_app(scratch_database_url, redis_url, tmp_path, OPEN311_JURISDICTION_ID=JURISDICTION,
                      OPEN311_POST_RATE_LIMIT="5 per minute")
    with transaction() as session:
        seed(session)
    return app


@pytest.fixture
def api_key(site) -> str:
    with transaction() as session:
        _row, key = open311_store.create_key(session, "Spec example app")
    return key


def spec_post_body(api_key: str, /, **changes: str | None) -> str:
    """The spec's POST example, byte for byte, with a real key (and any field changed)."""
    body = example("post_request.http").strip().split("\n\n", 1)[1].replace("api_key=xyz", f"api_key={api_key}")
    if changes:
        fields = dict(parse_qsl(body, keep_blank_values=True)) | changes
        body = urlencode({k: v for k, v in fields.items() if v is not None})
    return body


def post(client, body: str, fmt: str = "xml"):
    return client.post(f"/open311/v2/requests.{fmt}", data=body, content_type=FORM)


def error_of(response) -> tuple[int, str]:
    if response.content_type.startswith("application/json"):
        (error,) = response.get_json()
        return error["code"], error["description"]
    (error,) = ET.fromstring(response.data)
    return int(error.findtext("code")), error.findtext("description")


def count(model) -> int:
    with reading() as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


# ---- discovery and services ---------------------------------------------------------------------------


def test_discovery_names_this_endpoint_and_both_formats(site):
    client = site.test_client()
    xml = client.get("/open311/discovery.xml")
    assert xml.content_type == "text/xml; charset=utf-8"
    assert [c[0] for c in tree(xml.data)[2]] == [c[0] for c in tree(example("discovery.xml"))[2]]
    document = client.get("/open311/discovery.json").get_json()
    (endpoint,) = document["endpoints"]
    assert endpoint["url"] == "http://localhost/open311/v2" and endpoint["type"] == "production"
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert client.get("/open311/v2/").data == xml.data


def test_the_service_list_has_the_specs_fields_and_only_public_services(site):
    client = site.test_client()
    response = client.get("/open311/v2/services.xml?jurisdiction_id=city.gov")
    services = tree(response.data)[2]
    spec_fields = sorted(tag for tag, _text, _ in tree(example("get_services.xml"))[2][0][2])
    assert [sorted(tag for tag, _t, _ in s[2]) for s in services] == [spec_fields] * 3
    listed = client.get("/open311/v2/services.json").get_json()
    assert [s["service_code"] for s in listed] == ["001", "002", "DMV66"]
    assert listed[0] == {"service_code": "001", "service_name": "Cans left out 24x7", "description": "Cans left out.",
                         "metadata": False, "type": "realtime", "keywords": "Botes fuera",
                         "group": "Streets & Sanitation"}
    assert listed[2]["metadata"] is True
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_a_service_definition_is_the_specs_example(site):
    client = site.test_client()
    response = client.get("/open311/v2/services/DMV66.xml?jurisdiction_id=city.gov")
    assert tree(response.data) == tree(example("get_service_definition.xml"))
    assert client.get("/open311/v2/services/001.json").get_json() == {"service_code": "001", "attributes": []}
    for code in ("033", "internal"):
        missing = client.get(f"/open311/v2/services/{code}.json")
        assert missing.status_code == 404 and error_of(missing) == (404, f"service_code {code} was not found")


def test_another_jurisdiction_is_not_found_and_none_is_this_one(site):
    client = site.test_client()
    other = client.get("/open311/v2/services.xml?jurisdiction_id=sfgov.org")
    assert other.status_code == 404 and error_of(other) == (404, "jurisdiction_id sfgov.org was not found")
    assert client.get("/open311/v2/services.xml").status_code == 200


# ---- POST requests -----------------------------------------------------------------------------------


def test_the_specs_post_is_stored_raw_then_routed_to_a_caseworker(site, api_key, redis_url):
    """The must-show path: POST -> InboundRaw -> channels.intake -> routing.request_assignment -> assigned."""
    with transaction() as session:
        queue = session.execute(select(Queue)).scalar_one()
        caseworker = make_user(session, Role.CASEWORKER, presence=Presence.AVAILABLE, queues=[queue])
        caseworker_id = caseworker.id
    client = site.test_client()
    opened = []
    with signals.case_opened.connected_to(lambda case_id, **kw: opened.append((case_id, kw["queue_id"]))):
        response = post(client, spec_post_body(api_key))
    assert response.status_code == 200 and response.content_type == "text/xml; charset=utf-8"
    (created,) = tree(response.data)[2]
    assert [tag for tag, _t, _c in created[2]] == ["service_request_id", "service_notice", "account_id"]
    service_request_id = created[2][0][1]
    with reading() as session:
        raw = session.execute(select(InboundRaw)).scalar_one()
        case = session.execute(select(Case)).scalar_one()
        (message,) = case.interactions
        point = session.execute(select(ContactPoint)).scalar_one()
        key = session.execute(select(ApiKey)).scalar_one()
        category_code, constituent_name = case.category.code, case.constituent.display_name
    assert service_request_id == case.reference
    assert (raw.channel, raw.status, raw.case_id, raw.content_type) == (Channel.OPEN311, InboundStatus.INGESTED,
                                                                        case.id, "application/json")
    assert api_key.encode() not in raw.payload and json.loads(raw.payload)["service_code"] == "001"
    assert (case.channel, category_code, case.queue_id) == (Channel.OPEN311, "001", queue.id)
    assert (case.address, case.latitude, case.longitude) == ("1234 5th street", 37.76524078, -122.4212043)
    assert (message.inbound_raw_id, message.direction) == (raw.id, Direction.INBOUND)
    assert message.meta["attributes"] == {"WHISPAWN": ["123456"], "WHISDORN": ["COISL001"]}
    assert "A large sinkhole is destroying the street" in message.body_text and "WHISPAWN: 123456" in message.body_text
    assert (point.value, constituent_name) == ("smit333@sfgov.edu", "john smith")
    assert key.last_used_at is not None
    assert opened == [(case.id, queue.id)]                   # the console hears of it after commit
    assert case.status is CaseStatus.NEW                     # routing happens after commit, in a worker
    mt.work(redis_url, queues=("routing",))
    with reading() as session:
        routed = session.get(Case, case.id)
        decision = session.execute(select(RoutingDecision).where(RoutingDecision.case_id == case.id)).scalar_one()
    assert (routed.status, routed.assignee_id) == (CaseStatus.ASSIGNED, caseworker_id)
    assert (decision.outcome, decision.user_id) == (DecisionOutcome.ASSIGNED, caseworker_id)


def test_a_post_answers_in_json_and_the_same_post_again_is_the_same_request(site, api_key):
    client = site.test_client()
    first = post(client, spec_post_body(api_key), "json")
    again = post(client, spec_post_body(api_key), "json")
    assert first.content_type == "application/json; charset=utf-8"
    assert first.get_json() == again.get_json()
    (created,) = first.get_json()
    assert isinstance(created["service_request_id"], str) and created["account_id"] is None
    assert count(Case) == count(InboundRaw) == 1


def test_an_anonymous_request_with_an_address_id_only_is_taken(site, api_key):
    body = urlencode({"api_key": api_key, "service_code": "002", "address_id": "545483"})
    assert post(site.test_client(), body).status_code == 200
    with reading() as session:
        case = session.execute(select(Case)).scalar_one()
    assert case.constituent_id is None and case.subject == "Construction plate shifted: address id 545483"


def _last_used_at(when: datetime | None = None) -> datetime | None:
    """The key's last use, after setting it to `when` if given."""
    with transaction() as session:
        key = session.execute(select(ApiKey)).scalar_one()
        if when is not None:
            key.last_used_at = when
        return key.last_used_at


def test_a_keys_use_is_recorded_at_most_once_a_minute(site, api_key):
    """Every request of a busy client would otherwise write, and queue on, the key's one row."""
    client = site.test_client()
    assert post(client, spec_post_body(api_key, service_code="001")).status_code == 200
    first = _last_used_at()
    assert first is not None and datetime.now(timezone.utc) - first < timedelta(seconds=30)
    recent = _last_used_at(first - timedelta(seconds=50))
    assert post(client, spec_post_body(api_key, service_code="002", address_id="1")).status_code == 200
    assert _last_used_at() == recent
    _last_used_at(first - timedelta(minutes=2))
    assert post(client, spec_post_body(api_key, service_code="002", address_id="2")).status_code == 200
    assert _last_used_at() > recent


@pytest.mark.parametrize("key", [None, "", "xyz", "o311_not-a-real-key"])
def test_without_a_valid_key_nothing_is_stored(site, key):
    body = spec_post_body("xyz", api_key=key)
    response = post(site.test_client(), body)
    assert response.status_code == 403
    assert error_of(response) == (403, "Invalid api_key received -- can't proceed with create_request.")
    assert count(InboundRaw) == count(Case) == 0


def test_a_revoked_key_stops_working(site, api_key):
    with transaction() as session:
        open311_store.revoke_key(session, session.execute(select(ApiKey.id)).scalar_one())
    assert post(site.test_client(), spec_post_body(api_key)).status_code == 403


@pytest.mark.parametrize(("changes", "status", "description"), [
    ({"service_code": "999"}, 404, "service_code 999 was not found"),
    ({"service_code": "internal"}, 404, "service_code internal was not found"),
    ({"service_code": None}, 400, "service_code was not provided"),
    ({"lat": None, "long": None, "address_string": None}, 400,
     "a location is required: lat and long, address_string or address_id"),
    ({"jurisdiction_id": "sfgov.org"}, 404, "jurisdiction_id sfgov.org was not found"),
    ({"service_code": "DMV66"}, 400, "attribute[WHISHETN] is required"),
    ({"service_code": "DMV66", "attribute[WHISHETN]": "999"}, 400, "attribute[WHISHETN] must be one of: 123, 124"),
])
def test_a_request_that_cannot_be_taken_gets_the_specs_error_and_stores_nothing(site, api_key, changes, status,
                                                                                 description):
    for fmt in ("xml", "json"):
        response = post(site.test_client(), spec_post_body(api_key, **changes), fmt)
        assert (response.status_code, error_of(response)) == (status, (status, description))
    assert count(InboundRaw) == count(Case) == 0


def test_an_oversized_post_is_refused_before_it_is_read(site, api_key):
    response = post(site.test_client(), spec_post_body(api_key, description="x" * 300_000))
    assert response.status_code == 413 and error_of(response)[0] == 413
    assert count(InboundRaw) == 0


def test_a_definitions_answers_are_checked_and_shown_in_words(site, api_key):
    body = spec_post_body(api_key, service_code="DMV66", **{"attribute[WHISHETN]": "124"})
    assert post(site.test_client(), body).status_code == 200
    with reading() as session:
        message = session.execute(select(Interaction)).scalar_one()
    assert "What is the ticket/tag/DL number?: Chrysler" in message.body_text


def test_posting_is_rate_limited_per_key_in_the_specs_format(site, api_key):
    client = site.test_client()
    statuses = [post(client, spec_post_body(api_key, description=f"Report {i}")).status_code for i in range(6)]
    assert statuses == [200] * 5 + [429]
    limited = post(client, spec_post_body(api_key, description="one more"), "json")
    assert limited.status_code == 429 and error_of(limited)[0] == 429


def test_when_the_database_fails_the_client_is_told_to_send_again(site, api_key, monkeypatch):
    from sqlalchemy.exc import OperationalError

    def fail(*_args, **_kwargs):
        raise OperationalError("INSERT", {}, Exception("database is away"))

    monkeypatch.setattr(open311_store.intake, "ingest", fail)
    response = post(site.test_client(), spec_post_body(api_key))
    assert response.status_code == 400 and response.headers["Retry-After"] == "30"
    assert "send the request again" in error_of(response)[1]
    assert count(InboundRaw) == count(Case) == 0


# ---- GET requests ------------------------------------------------------------------------------------


def _post_ids(client, api_key: str, n: int, **changes) -> list[str]:
    return [tree(post(client, spec_post_body(api_key, description=f"Report {i}", **changes)).data)[2][0][2][0][1]
            for i in range(n)]


def test_requests_are_listed_with_status_notes_from_public_notes_only(site, api_key):
    client = site.test_client()
    first, second = _post_ids(client, api_key, 2)
    with transaction() as session:
        staff = make_user(session)
        case = session.execute(select(Case).where(Case.reference == first)).scalar_one()
        for minutes, (body, public) in enumerate((("A crew is scheduled.", True), ("Internal: caller upset.", False),
                                                  ("Duplicate request.", True), ("Internal: closing.", False))):
            session.add(Interaction(case=case, kind=InteractionKind.NOTE, channel=Channel.OPEN311, author_id=staff.id,
                                    direction=Direction.OUTBOUND if public else Direction.INTERNAL,
                                    is_public=public, body_text=body,
                                    occurred_at=datetime.now(timezone.utc) + timedelta(minutes=minutes)))
        case.status, case.closed_at = CaseStatus.CLOSED, datetime(2026, 1, 2, tzinfo=timezone.utc)
    listed = client.get("/open311/v2/requests.json").get_json()
    assert [r["service_request_id"] for r in listed] == [second, first]          # newest first
    closed = listed[1]
    assert (closed["status"], closed["status_notes"], closed["updated_datetime"]) == (
        "closed", "Duplicate request.", "2026-01-02T00:00:00Z")
    assert (listed[0]["status"], listed[0]["status_notes"]) == ("open", None)
    assert closed["agency_responsible"] == "Streets & Sanitation" and closed["description"] == "Report 0"
    spec_fields = [tag for tag, _t, _c in tree(example("get_requests.xml"))[2][0][2]]
    xml = tree(client.get("/open311/v2/requests.xml").data)
    assert [[tag for tag, _t, _c in r[2]] for r in xml[2]] == [spec_fields, spec_fields]


def test_requests_are_filtered_by_status_code_id_and_dates(site, api_key):
    client = site.test_client()
    (cans,) = _post_ids(client, api_key, 1)
    (plate,) = _post_ids(client, api_key, 1, service_code="002")
    with transaction() as session:
        session.execute(select(Case).where(Case.reference == plate)).scalar_one().status = CaseStatus.RESOLVED

    def ids(**args) -> list[str]:
        response = client.get("/open311/v2/requests.json", query_string=args)
        assert response.status_code == 200, response.get_json()
        return [r["service_request_id"] for r in response.get_json()]

    assert ids(status="open") == [cans] and ids(status="closed") == [plate]
    assert ids(status="open,closed") == [plate, cans]
    assert ids(service_code="002") == [plate] and ids(service_code="001,002") == [plate, cans]
    assert ids(service_request_id=f"{cans.lower()},C-1999-000001", status="closed") == [cans]
    assert ids(start_date="2010-05-24T00:00:00Z", end_date="2010-06-24T00:00:00Z") == []
    now = datetime.now(timezone.utc)
    assert ids(start_date=(now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")) == [plate, cans]
    too_long = client.get("/open311/v2/requests.xml?start_date=2010-01-01T00:00:00Z&end_date=2010-12-01T00:00:00Z")
    assert error_of(too_long) == (400, "start_date and end_date may not span more than 90 days")


def test_the_specs_sample_query_is_answered(site, api_key):
    _post_ids(site.test_client(), api_key, 1)
    response = site.test_client().get("/open311/v2/requests.xml?start_date=2010-05-24T00:00:00Z&"
                                      "end_date=2010-06-24T00:00:00Z&status=open&jurisdiction_id=city.gov")
    assert response.status_code == 200 and tree(response.data) == ("service_requests", "", [])


def test_at_most_the_limit_is_returned(site, api_key):
    _post_ids(site.test_client(), api_key, 3)
    now = datetime.now(timezone.utc)
    with reading() as session:
        found = open311_store.find_requests(session, RequestQuery(start=now - timedelta(days=1), end=now, limit=2))
    assert len(found) == 2


def test_cases_from_other_channels_show_their_status_but_nothing_of_what_was_said(site):
    with transaction() as session:
        category = session.execute(select(Category).where(Category.code == "001")).scalar_one()
        case = make_case(session, category=category, body="My neighbour at 5 Elm St leaves cans out.",
                         address="5 Elm St", latitude=1.0, longitude=2.0)
        reference = case.reference
        private = session.execute(select(Category).where(Category.code == "internal")).scalar_one()
        hidden = make_case(session, category=private).reference
    client = site.test_client()
    (shown,) = client.get("/open311/v2/requests.json").get_json()
    assert shown["service_request_id"] == reference and shown["status"] == "open"
    assert [shown[k] for k in ("description", "address", "lat", "long", "media_url")] == [None] * 5
    assert client.get(f"/open311/v2/requests/{hidden}.json").status_code == 404


def test_one_request_by_its_id(site, api_key):
    client = site.test_client()
    (reference,) = _post_ids(client, api_key, 1)
    xml = client.get(f"/open311/v2/requests/{reference}.xml?jurisdiction_id=city.gov")
    spec = tree(example("get_request_by_id.xml"))
    ours = tree(xml.data)
    assert [tag for tag, _t, _c in ours[2][0][2]] == [tag for tag, _t, _c in spec[2][0][2]]
    (one,) = client.get(f"/open311/v2/requests/{reference}.json").get_json()
    assert (one["service_request_id"], one["lat"], one["media_url"]) == (
        reference, 37.76524078, "http://farm3.static.flickr.com/2002/2212426634_5ed477a060.jpg")
    missing = client.get("/open311/v2/requests/123456.json")
    assert missing.status_code == 404 and error_of(missing) == (404, "service_request_id 123456 was not found")


def test_wrong_paths_methods_and_tokens_answer_in_the_specs_format(site):
    client = site.test_client()
    unknown = client.get("/open311/v2/reports.json")
    assert unknown.status_code == 404 and unknown.content_type.startswith("application/json")
    wrong_method = client.delete("/open311/v2/requests.xml")
    assert wrong_method.status_code == 405 and error_of(wrong_method)[0] == 405
    assert set(wrong_method.headers["Allow"].split(", ")) >= {"GET", "POST"}
    assert client.post("/open311/v2/services.xml").status_code == 405
    token = client.get("/open311/v2/tokens/123456.xml")
    assert token.status_code == 404 and "realtime" in error_of(token)[1]
    bad_format = client.get("/open311/v2/services.csv")
    assert bad_format.status_code == 404 and bad_format.content_type.startswith("text/xml")


# ---- admin pages -------------------------------------------------------------------------------------


def test_an_admin_issues_a_key_that_works_once_shown_and_revokes_it(site, worker_commits):
    with transaction() as session:
        admin_id = make_user(session, Role.ADMIN, email="admin@staff.example").id
    client = site.test_client()
    Auth(client).login("admin@staff.example", PASSWORD)
    page = client.get("/admin/api-keys/")
    assert page.status_code == 200 and "No key has been issued yet." in page.get_data(as_text=True)
    token = csrf_token(page.get_data(as_text=True))
    refused = client.post("/admin/api-keys/", data={"name": "  ", "csrf_token": token})
    assert refused.status_code == 400 and 'aria-invalid="true"' in refused.get_data(as_text=True)
    with worker_commits(admin_id):
        issued = client.post("/admin/api-keys/", data={"name": "Riverton 311 app", "csrf_token": token})
    html = issued.get_data(as_text=True)
    assert issued.status_code == 201 and "Copy the new key now" in html
    key = html.split('id="new-key">', 1)[1].split("<", 1)[0]
    assert key.startswith("o311_") and key not in client.get("/admin/api-keys/").get_data(as_text=True)
    assert post(client, spec_post_body(key)).status_code == 200
    with reading() as session:
        row = session.execute(select(ApiKey)).scalar_one()
        events = session.execute(select(AuditEvent.action).where(AuditEvent.object_type == "api_key")).scalars().all()
    assert row.key_hash != key and row.name == "Riverton 311 app" and row.created_by_id is not None
    listing = client.get("/admin/api-keys/").get_data(as_text=True)
    assert "Riverton 311 app" in listing and row.key_prefix in listing
    with worker_commits(admin_id):
        revoked = client.post(f"/admin/api-keys/{row.id}/revoke", data={"csrf_token": csrf_token(listing)})
    revoked = client.get(revoked.headers["Location"])
    assert "no longer works" in revoked.get_data(as_text=True)
    assert post(client, spec_post_body(key, description="again")).status_code == 403
    assert [e.value for e in events] == ["create"]
    with reading() as session:
        assert session.execute(select(func.count(AuditEvent.id)).where(AuditEvent.object_type == "api_key")
                               ).scalar_one() == 2


def test_only_admins_see_the_key_pages_and_revoking_needs_csrf(site):
    with transaction() as session:
        make_user(session, Role.SUPERVISOR, email="sup@staff.example")
        row, _key = open311_store.create_key(session, "x")
        key_id = row.id
    client = site.test_client()
    assert client.get("/admin/api-keys/").status_code == 302             # to the sign-in page
    Auth(client).login("sup@staff.example", PASSWORD)
    assert client.get("/admin/api-keys/").status_code == 403
    assert client.post(f"/admin/api-keys/{key_id}/revoke").status_code in (400, 403)
    with reading() as session:
        assert session.get(ApiKey, key_id).is_active


# ---- `flask open311` ----------------------------------------------------------------------------------


def test_a_definition_is_set_from_the_json_another_server_gives(site, tmp_path):
    path = tmp_path / "definition.json"
    path.write_text(example("get_service_definition.json"), encoding="utf-8")
    runner = site.test_cli_runner()
    result = runner.invoke(args=["open311", "define", "001", str(path)])
    assert result.exit_code == 0 and result.output == "001: 1 attributes\n"
    answer = site.test_client().get("/open311/v2/services/001.json").get_json()
    assert answer["attributes"] == json.loads(example("get_service_definition.json").replace(
        '"key":123', '"key":"123"').replace('"key":124', '"key":"124"'))["attributes"]
    assert site.test_client().get("/open311/v2/services.json").get_json()[0]["metadata"] is True
    again = runner.invoke(args=["open311", "define", "001", "-"], input='{"attributes": []}')
    assert again.output == "001: 0 attributes\n"
    assert runner.invoke(args=["open311", "define", "999", str(path)]).output.endswith("no category 999\n")
    bad = runner.invoke(args=["open311", "define", "001", "-"], input='{"attributes": [{"code": ""}]}')
    assert bad.exit_code == 1 and "attribute 1 needs a code" in bad.output


# ---- the georeport client from PyPI against a live server ----------------------------------------------


@pytest.mark.integration
def test_the_georeport_client_reads_what_was_posted(live_server):
    engine = make_engine(live_server.env["DATABASE_URL"])
    with OrmSession(engine) as session:
        seed(session)
        session.commit()
    engine.dispose()
    key = live_server.flask("open311", "create-key", "georeport test").stdout.strip()
    root = f"{live_server.url}/open311/v2"
    body = spec_post_body(key, jurisdiction_id="riverton.example")
    posted = requests.post(f"{root}/requests.json", data=body, headers={"Content-Type": FORM}, timeout=10)
    assert posted.status_code == 200, posted.text
    reference = posted.json()[0]["service_request_id"]
    for fmt in ("xml", "json"):
        client = GeoReport(root, jurisdiction="riverton.example", output_format=fmt)
        services = client.get_service_list()
        assert [s["service_code"] for s in services] == ["001", "002", "DMV66"]
        definition = client.get_service_definition("DMV66")
        attributes = definition["attributes"]["attribute"] if fmt == "xml" else definition["attributes"]
        attribute = attributes if fmt == "xml" else attributes[0]
        assert attribute["code"] == "WHISHETN" and attribute["required"] in ("true", True)
        listed = client.get_service_requests(status="open", service_code="001")
        one = listed if fmt == "xml" else listed[0]                   # xmltodict gives a lone element as a dict
        assert one["service_request_id"] == reference and one["status"] == "open"
        single = client.get_service_request(reference)
        assert single["address"] == "1234 5th street" and single["description"] == (
            "A large sinkhole is destroying the street")
    revoked = live_server.flask("open311", "revoke-key", "1")
    assert "revoked" in revoked.stdout
    again = requests.post(f"{root}/requests.xml", data=body, headers={"Content-Type": FORM}, timeout=10)
    assert again.status_code == 403 and again.headers["Content-Type"] == "text/xml; charset=utf-8"

"""The Open311 GeoReport v2 wire format, pure: parsing POSTs and GET filters, rendering the spec's documents.

The spec's own examples (../shared/corpora/open311/spec-examples) are the reference; where they are wrong
(leading-zero numbers in JSON, a trailing space in XML media_url) the corpus README's findings are followed.
"""
import json
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs

import jsonschema
import pytest
from referencing import Registry, Resource

from channels import open311
from channels.base import InvalidContact
from channels.open311 import AttributeSpec, InvalidQuery, RequestView, ServiceRequest, ServiceSpec
from models import CaseStatus, Channel, ContactKind
from tests.conftest import SHARED

CORPUS = SHARED / "corpora" / "open311"
EXAMPLES = CORPUS / "spec-examples"
SCHEMAS = CORPUS / "schema-validation" / "schema" / "georeport-v2"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


# ---- helpers -----------------------------------------------------------------------------------------


def tree(xml: bytes | str) -> tuple:
    """An XML document as (tag, stripped text, children): whitespace between elements does not count."""
    def walk(element):
        return element.tag, (element.text or "").strip(), [walk(child) for child in element]
    return walk(ET.fromstring(xml.encode() if isinstance(xml, str) else xml))


def example(name: str) -> str:
    return (EXAMPLES / name).read_text(encoding="utf-8")


def example_json(name: str):
    """A JSON example with the spec's leading-zero numbers quoted, and every id, code and key a string."""
    text = re.sub(r'":(0\d+)([,\s])', r'":"\1"\2', example(name))
    data = json.loads(text)
    strings = {"service_request_id", "service_code", "address_id", "zipcode", "key", "token"}

    def fix(value):
        if isinstance(value, list):
            return [fix(v) for v in value]
        if isinstance(value, dict):
            return {k: (str(v) if k in strings and isinstance(v, int) else fix(v)) for k, v in value.items()}
        return value
    return fix(data)


def validate(document, schema_file: str) -> None:
    registry = Registry().with_resources(
        (path.name, Resource.opaque(json.loads(path.read_text()))) for path in SCHEMAS.glob("*.json"))
    jsonschema.Draft4Validator({"$ref": schema_file}, registry=registry).validate(document)


def post_example() -> dict[str, list[str]]:
    body = example("post_request.http").strip().split("\n\n", 1)[1]
    return parse_qs(body, keep_blank_values=True)


SPEC_SERVICES = (
    ServiceSpec("001", "Cans left out 24x7", "Garbage or recycling cans that have been left out for more than 24 "
                "hours after collection. Violators will be cited.", "sanitation", ("lorem", "ipsum", "dolor"),
                (AttributeSpec("X"),)),
    ServiceSpec("002", "Construction plate shifted", "Metal construction plate covering the street or sidewalk "
                "has been moved.", "street", ("lorem", "ipsum", "dolor"), (AttributeSpec("X"),)),
    ServiceSpec("003", "Curb or curb ramp defect", "Sidewalk curb or ramp has problems such as cracking, missing "
                "pieces, holes, and/or chipped curb.", "street", ("lorem", "ipsum", "dolor"), (AttributeSpec("X"),)),
)
DMV66 = ServiceSpec("DMV66", "Tickets", attributes=(
    AttributeSpec("WHISHETN", "singlevaluelist", "What is the ticket/tag/DL number?", required=True, order=1,
                  values=(("123", "Ford"), ("124", "Chrysler"))),))
SPEC_REQUEST = RequestView(
    service_request_id="638344", status="closed", status_notes="Duplicate request.",
    service_name="Sidewalk and Curb Issues", service_code="006",
    requested_datetime=datetime(2010, 4, 14, 14, 37, 38, tzinfo=timezone.utc),
    updated_datetime=datetime(2010, 4, 14, 14, 37, 38, tzinfo=timezone.utc),
    expected_datetime=datetime(2010, 4, 15, 14, 37, 38, tzinfo=timezone.utc),
    address="8TH AVE and JUDAH ST", address_id="545483", zipcode="94122", lat=37.762221815, long=-122.4651145,
    media_url="http://city.gov.s3.amazonaws.com/requests/media/638344.jpg")


# ---- the corpus itself: its findings hold --------------------------------------------------------------


@pytest.mark.parametrize("name", ["get_services.json", "get_requests.json", "get_request_by_id.json"])
def test_the_specs_own_json_is_not_json(name):
    with pytest.raises(json.JSONDecodeError):
        json.loads(example(name))


def test_the_specs_examples_break_the_community_schemas_until_ids_are_strings():
    raw = json.loads(re.sub(r'":(0\d+)([,\s])', r'":"\1"\2', example("get_requests.json")))
    with pytest.raises(jsonschema.ValidationError):
        validate(raw, "requests.json")
    validate(example_json("get_requests.json"), "requests.json")


# ---- rendering against the spec's examples -------------------------------------------------------------


def test_services_render_as_the_specs_xml():
    ours = tree(open311.render("services", [open311.service_document(s) for s in SPEC_SERVICES], "xml"))
    spec = tree(example("get_services.xml"))
    assert ours[0] == spec[0] == "services"
    # The spec lists the fields of services 2 and 3 in another order; the set of fields is what counts there.
    assert ours[2][0] == spec[2][0]
    assert [sorted(s[2]) for s in ours[2]] == [sorted(s[2]) for s in spec[2]]


def test_services_render_as_the_specs_json_with_string_codes():
    ours = json.loads(open311.render("services", [open311.service_document(s) for s in SPEC_SERVICES], "json"))
    assert ours == example_json("get_services.json")
    validate(ours, "services.json")


def test_a_service_definition_renders_as_the_specs_example():
    document = open311.definition_document(DMV66)
    assert tree(open311.render("service_definition", document, "xml")) == tree(example("get_service_definition.xml"))
    ours = json.loads(open311.render("service_definition", document, "json"))
    assert ours == example_json("get_service_definition.json")
    validate(ours, "service-definition.json")


def test_a_request_renders_as_the_specs_example():
    document = [open311.request_document(SPEC_REQUEST)]
    spec = tree(example("get_request_by_id.xml"))
    ours = tree(open311.render("service_requests", document, "xml"))
    # Datetimes are given in UTC (the spec's are at -08:00: the same instants); media_url without its stray space.
    spec_fields = {tag: text for tag, text, _ in spec[2][0][2]}
    ours_fields = {tag: text for tag, text, _ in ours[2][0][2]}
    assert list(ours_fields) == list(spec_fields)
    for name in ("requested_datetime", "updated_datetime", "expected_datetime"):
        assert open311.parse_w3c(ours_fields.pop(name)) == open311.parse_w3c(spec_fields.pop(name))
    assert ours_fields == spec_fields
    as_json = json.loads(open311.render("service_requests", document, "json"))
    assert as_json[0]["service_request_id"] == "638344" and as_json[0]["zipcode"] == "94122"
    validate(as_json, "requests.json")


def test_the_post_answer_and_the_error_render_as_the_specs_examples():
    created = open311.created_document("293944", "The City will inspect and require the responsible party to "
                                       "correct within 24 hours and/or issue a Correction Notice or Notice of "
                                       "Violation of the Public Works Code")
    assert tree(open311.render("service_requests", created, "xml")) == tree(example("post_request_response.xml"))
    assert json.loads(open311.render("service_requests", created, "json")) == example_json("post_request_response.json")
    error = open311.error_document([(403, "Invalid api_key received -- can't proceed with create_request.")])
    assert tree(open311.render("errors", error, "xml")) == tree(example("error_403.xml"))
    assert json.loads(open311.render("errors", error, "json")) == json.loads(example("error_403.json"))


def test_discovery_has_the_specs_shape():
    document = open311.discovery_document(changeset=NOW, contact="help@city.example", key_service="Ask us",
                                          endpoint_url="https://city.example/open311/v2")
    ours, spec = tree(open311.render("discovery", document, "xml")), tree(example("discovery.xml"))
    assert [c[0] for c in ours[2]] == [c[0] for c in spec[2]]
    assert [c[0] for c in ours[2][3][2][0][2]] == [c[0] for c in spec[2][3][2][0][2]]
    assert json.loads(open311.render("discovery", document, "json"))["endpoints"][0]["formats"] == [
        "text/xml", "application/json"]


def test_xml_is_declared_utf8_and_escapes_what_it_carries():
    body = open311.render("errors", open311.error_document([(400, "<b>&'\"é")]), "xml")
    assert body.startswith(b'<?xml version="1.0" encoding="utf-8"?>\n<errors>')
    assert tree(body)[2][0][2][1][1] == "<b>&'\"é"


def test_the_specs_definition_example_can_be_read_back_in():
    (attribute,) = open311.parse_definition(json.loads(example("get_service_definition.json")))
    assert attribute == DMV66.attributes[0]


def test_a_definition_from_xml_turned_into_json_is_read_too():
    converted = {"service_code": "X", "attributes": {"attribute": {
        "variable": "true", "code": "C", "datatype": "singlevaluelist", "required": "false", "order": "2",
        "description": "Which?", "values": {"value": [{"key": "1", "name": "One"}, {"key": 2, "name": "Two"}]}}}}
    (attribute,) = open311.parse_definition(converted)
    assert (attribute.required, attribute.order, attribute.values) == (False, 2, (("1", "One"), ("2", "Two")))


@pytest.mark.parametrize(("document", "message"), [
    ([], "an object with a list of attributes"),
    ({"attributes": [{"code": ""}]}, "attribute 1 needs a code"),
    ({"attributes": [{"code": "a[b]"}]}, "without brackets"),
    ({"attributes": [{"code": "A", "datatype": "colour"}]}, "datatype must be one of"),
    ({"attributes": [{"code": "A", "datatype": "singlevaluelist", "values": []}]}, "needs values"),
    ({"attributes": [{"code": "A", "datatype": "multivaluelist", "values": [{"key": 1}, {"key": "1"}]}]},
     "distinct, non-empty keys"),
    ({"attributes": [{"code": "A", "order": 0}]}, "order must be a positive integer"),
    ({"attributes": [{"code": "A", "required": "maybe"}]}, "required must be true or false"),
    ({"attributes": [{"code": "A"}, {"code": "A", "order": 2}]}, "the same code"),
    ({"attributes": [{"code": "A", "order": 1}, {"code": "B", "order": 1}]}, "the same order"),
])
def test_a_definition_that_cannot_be_stored_is_refused(document, message):
    with pytest.raises(open311.InvalidDefinition, match=re.escape(message)):
        open311.parse_definition(document)


# ---- POST requests -----------------------------------------------------------------------------------


def test_the_specs_post_example_parses():
    request = open311.parse_request(post_example(), client_id=7)
    assert (request.service_code, request.lat, request.long) == ("001", 37.76524078, -122.4212043)
    assert (request.address_string, request.email, request.device_id) == ("1234 5th street", "smit333@sfgov.edu",
                                                                          "tt222111")
    assert (request.account_id, request.display_name, request.phone) == ("123456", "john smith", "111111111")
    assert request.media_url == "http://farm3.static.flickr.com/2002/2212426634_5ed477a060.jpg"
    assert request.attributes == {"WHISPAWN": ["123456"], "WHISDORN": ["COISL001"]}
    assert ServiceRequest.from_payload(request.to_payload()) == request
    assert b"xyz" not in request.to_payload()           # the API key is never part of what is stored


def test_multivaluelist_answers_come_as_repeated_fields():
    form = {"service_code": ["x"], "address_id": ["12"], "attribute[COLOURS][]": ["red", "blue", ""],
            "attribute[SIZE]": ["3"]}
    assert open311.parse_request(form, 1).attributes == {"COLOURS": ["red", "blue"], "SIZE": ["3"]}


@pytest.mark.parametrize(("changes", "message"), [
    ({"service_code": [""]}, "service_code was not provided"),
    ({"lat": [""], "long": [""], "address_string": [""]}, "a location is required"),
    ({"long": [""]}, "lat and long must be sent together"),
    ({"lat": ["91"]}, "lat must lie between -90 and 90"),
    ({"long": ["east"]}, "long is not a number"),
    ({"lat": ["nan"]}, "lat must lie between"),
    ({"description": ["x" * 4001]}, "description is longer than 4000 characters"),
    ({"email": ["not an address"]}, "email is not an email address"),
    ({"media_url": ["javascript:alert(1)"]}, "media_url must be an http or https URL"),
    ({"attribute[]": ["x"]}, "attribute[] is not of the form attribute[code]"),
    ({f"attribute[A{i}]": ["x"] for i in range(101)}, "at most 100 attributes in one request"),
])
def test_a_request_that_cannot_be_taken_is_refused_with_the_field_named(changes, message):
    with pytest.raises(InvalidContact, match=re.escape(message)):
        open311.parse_request(post_example() | changes, 1)


def test_either_location_form_is_enough():
    base = {"service_code": ["001"]}
    assert open311.parse_request(base | {"address_id": ["545483"]}, 1).address_id == "545483"
    assert open311.parse_request(base | {"lat": ["0"], "long": ["0"]}, 1).lat == 0.0


def test_attributes_are_checked_against_the_definition():
    service = ServiceSpec("x", "X", attributes=(
        AttributeSpec("MAKE", "singlevaluelist", required=True, values=(("123", "Ford"),)),
        AttributeSpec("COLOURS", "multivaluelist", values=(("r", "Red"), ("b", "Blue"))),
        AttributeSpec("COUNT", "number"), AttributeSpec("WHEN", "datetime"), AttributeSpec("PLATE", "string"),
        AttributeSpec("NOTICE", "text", variable=False, required=True)))

    def check(**answers):
        open311.check_attributes(ServiceRequest("x", 1, address_id="1", attributes=answers), service)

    check(MAKE=["123"], COLOURS=["r", "b"], COUNT=["2.5"], WHEN=["2026-11-23T10:00:00Z"], EXTRA=["kept"])
    with pytest.raises(InvalidContact) as refused:
        check(COLOURS=["g"], COUNT=["many"], WHEN=["yesterday"], PLATE=["a\nb"])
    assert str(refused.value) == (
        "attribute[MAKE] is required; attribute[COLOURS] has values not in its list: g; attribute[COUNT] must be "
        "a number; attribute[WHEN] must be a W3C datetime with a timezone; attribute[PLATE] takes one line; use a "
        "text attribute for more")
    with pytest.raises(InvalidContact, match=r"attribute\[MAKE\] must be one of: 123"):
        check(MAKE=["999"])
    with pytest.raises(InvalidContact, match="takes one value"):
        check(MAKE=["123", "123"])


def test_the_sender_is_the_email_then_the_phone_then_the_clients_own_account():
    base = ServiceRequest("x", 7, address_id="1", first_name="Ana", last_name="López")
    assert open311.sender(base) is None
    by_device = open311.sender(base.__class__(**base.__dict__ | {"device_id": "d1"}))
    assert (by_device.kind, by_device.value) == (ContactKind.API, "open311:7:device:d1")
    by_account = open311.sender(base.__class__(**base.__dict__ | {"device_id": "d1", "account_id": "a9"}))
    assert by_account.value == "open311:7:account:a9"
    by_phone = open311.sender(base.__class__(**base.__dict__ | {"account_id": "a9", "phone": "(415) 555-0100"}))
    assert (by_phone.kind, by_phone.value, by_phone.display_name) == (ContactKind.PHONE, "+14155550100", "Ana López")
    undiallable = open311.sender(base.__class__(**base.__dict__ | {"account_id": "a9", "phone": "111111111"}))
    assert undiallable.kind is ContactKind.API
    by_email = open311.sender(base.__class__(**base.__dict__ | {"phone": "4155550100", "email": "ana@mail.example"}))
    assert (by_email.kind, by_email.value) == (ContactKind.EMAIL, "ana@mail.example")


def test_the_contact_carries_the_answers_in_words_and_the_location():
    request = ServiceRequest("DMV66", 3, lat=37.5, long=-122.25, description="Towed car\nsecond line",
                             attributes={"WHISHETN": ["124"], "OTHER": ["x"]}, media_url="https://img.example/1.jpg")
    contact = open311.to_contact(request, DMV66, external_id="open311:3:abc")
    assert (contact.channel, contact.category_code, contact.external_id) == (Channel.OPEN311, "DMV66", "open311:3:abc")
    assert contact.subject == "Tickets: Towed car"
    assert contact.body_text == ("Towed car\nsecond line\n\nWhat is the ticket/tag/DL number?: Chrysler\nOTHER: x"
                                 "\n\nLocation: 37.500000, -122.250000")
    assert (contact.meta["lat"], contact.meta["long"], contact.meta["media_url"]) == (37.5, -122.25,
                                                                                      "https://img.example/1.jpg")
    assert contact.meta["attributes"] == {"WHISHETN": ["124"], "OTHER": ["x"]}


# ---- GET requests ------------------------------------------------------------------------------------


def test_the_default_window_is_the_last_90_days():
    query = open311.parse_query({}, NOW)
    assert (query.start, query.end, query.limit) == (NOW - timedelta(days=90), NOW, 1000)


def test_one_date_gives_90_days_from_or_to_it():
    start = open311.parse_query({"start_date": "2010-05-24T00:00:00Z"}, NOW)
    assert start.end - start.start == timedelta(days=90)
    end = open311.parse_query({"end_date": "2010-06-24T00:00:00-08:00"}, NOW)
    assert end.end == datetime(2010, 6, 24, 8, tzinfo=timezone.utc) and end.end - end.start == timedelta(days=90)


def test_the_specs_sample_query_parses():
    query = open311.parse_query({"start_date": "2010-05-24T00:00:00Z", "end_date": "2010-06-24T00:00:00Z",
                                 "status": "open", "jurisdiction_id": "city.gov"}, NOW)
    assert (query.statuses, query.start.day, query.end.month) == (("open",), 24, 6)


def test_an_unencoded_plus_offset_is_read_as_the_plus_it_was():
    assert open311.parse_w3c("2010-04-14T06:37:38 08:00") == datetime(2010, 4, 13, 22, 37, 38, tzinfo=timezone.utc)


@pytest.mark.parametrize(("args", "message"), [
    ({"start_date": "2010-01-01T00:00:00Z", "end_date": "2010-06-01T00:00:00Z"}, "may not span more than 90 days"),
    ({"start_date": "2010-02-01T00:00:00Z", "end_date": "2010-01-01T00:00:00Z"}, "end_date is before start_date"),
    ({"start_date": "2010-01-01T00:00:00"}, "has no timezone"),
    ({"end_date": "last tuesday"}, "is not a W3C datetime"),
    ({"status": "open,pending"}, "status must be open or closed, not pending"),
])
def test_a_query_that_cannot_be_read_is_refused(args, message):
    with pytest.raises(InvalidQuery, match=message):
        open311.parse_query(args, NOW)


def test_service_request_ids_override_every_other_filter():
    query = open311.parse_query({"service_request_id": "C-2026-000001, C-2026-000002", "status": "bogus",
                                 "start_date": "never"}, NOW)
    assert query.ids == ("C-2026-000001", "C-2026-000002") and query.start is None


def test_service_codes_and_statuses_are_comma_separated():
    query = open311.parse_query({"service_code": "001,002", "status": "open,closed"}, NOW)
    assert (query.service_codes, query.statuses) == (("001", "002"), ("open", "closed"))


def test_case_statuses_map_onto_open_and_closed():
    assert {s: open311.public_status(s) for s in CaseStatus} == {
        CaseStatus.NEW: "open", CaseStatus.ASSIGNED: "open", CaseStatus.PENDING_CONSTITUENT: "open",
        CaseStatus.RESOLVED: "closed", CaseStatus.CLOSED: "closed"}
    assert set(open311.case_statuses(["closed"])) == {CaseStatus.RESOLVED, CaseStatus.CLOSED}
    assert set(open311.case_statuses([])) == set(CaseStatus)


def test_the_corpus_is_where_the_tests_expect_it():
    assert Path(EXAMPLES / "post_request.http").exists()

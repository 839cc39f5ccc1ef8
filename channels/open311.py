"""The Open311 GeoReport v2 wire format, pure: a POSTed form in, a ServiceRequest and a NormalizedContact out;
services, definitions, requests, discovery and errors out as the spec's XML or JSON.

The spec (wiki.open311.org/GeoReport_v2) fixes the element names and their order; JSON is the "Spark
convention" mapping of the XML, so one renderer walks the same documents for both formats. IDs, codes,
zipcodes and value keys are always strings (the spec's own JSON examples break on leading zeros otherwise).
"""
import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

from channels.base import ContactAddress, InvalidContact, NormalizedContact
from channels.webform import e164
from models import OPEN_STATUSES, CaseStatus, Channel, ContactKind

SOURCE = "open311"
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CONTENT_TYPES = {"xml": "text/xml; charset=utf-8", "json": "application/json; charset=utf-8"}
MAX_DESCRIPTION = 4000                       # the spec's limit on description
MAX_RESULTS = 1000                           # GET requests: at most this many...
DEFAULT_WINDOW = timedelta(days=90)          # ...within at most this span
MAX_ATTRIBUTES = 100                         # attribute codes in one request
STATUSES = ("open", "closed")
DATATYPES = ("string", "number", "datetime", "text", "singlevaluelist", "multivaluelist")

# A list's element name in XML, by the name of the element that holds it (the Spark convention).
ITEM_NAMES = {"services": "service", "service_requests": "request", "attributes": "attribute", "values": "value",
              "endpoints": "endpoint", "formats": "format", "errors": "error"}

_ATTRIBUTE_FIELD = re.compile(r"^attribute\[([^\[\]]{1,64})\](\[\])?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_W3C_OFFSET_IN_QUERY = re.compile(r"(T\d\d:\d\d(?::\d\d(?:\.\d+)?)?) (\d\d:?\d\d)$")


class InvalidQuery(ValueError):
    """A GET requests filter that cannot be read (a bad date, an unknown status, a span over 90 days)."""


class InvalidDefinition(ValueError):
    """A service definition document that cannot be stored (no codes, an unknown datatype, a list without values)."""


# ---- services and their definitions -------------------------------------------------------------------


@dataclass(frozen=True)
class AttributeSpec:
    """One attribute of a service definition, as the spec describes it."""

    code: str
    datatype: str = "string"
    description: str = ""
    datatype_description: str = ""
    variable: bool = True
    required: bool = False
    order: int = 1
    values: tuple[tuple[str, str], ...] = ()           # (key, name)

    def value_name(self, key: str) -> str:
        return dict(self.values).get(key, key)


@dataclass(frozen=True)
class ServiceSpec:
    """A service (a public category) with what clients need to ask for it."""

    code: str
    name: str
    description: str = ""
    group: str = ""
    keywords: tuple[str, ...] = ()
    attributes: tuple[AttributeSpec, ...] = ()


def service_document(service: ServiceSpec) -> dict[str, Any]:
    """One <service> of GET services, its fields in the spec's order."""
    return {"service_code": service.code, "service_name": service.name, "description": service.description or None,
            "metadata": bool(service.attributes), "type": "realtime",
            "keywords": ", ".join(service.keywords) or None, "group": service.group or None}


def definition_document(service: ServiceSpec) -> dict[str, Any]:
    """The <service_definition> of GET services/{code}: its attributes in their order."""
    return {"service_code": service.code, "attributes": [
        {"variable": a.variable, "code": a.code, "datatype": a.datatype, "required": a.required,
         "datatype_description": a.datatype_description or None, "order": a.order,
         "description": a.description, "values": [{"key": key, "name": name} for key, name in a.values]}
        for a in sorted(service.attributes, key=lambda a: (a.order, a.code))]}


def _flag(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    raise InvalidDefinition(f"{name} must be true or false")


def _definition_attribute(item: Any, index: int) -> AttributeSpec:
    if not isinstance(item, Mapping):
        raise InvalidDefinition(f"attribute {index} is not an object")
    code = str(item.get("code") or "").strip()
    if not code or len(code) > 64 or "[" in code or "]" in code:
        raise InvalidDefinition(f"attribute {index} needs a code of 1 to 64 characters without brackets")
    datatype = str(item.get("datatype") or "string")
    if datatype not in DATATYPES:
        raise InvalidDefinition(f"attribute {code}: datatype must be one of {', '.join(DATATYPES)}")
    values = item.get("values") or []
    if isinstance(values, Mapping):                    # XML turned into JSON: {"value": [...]}
        values = values.get("value") or []
    if isinstance(values, Mapping):
        values = [values]
    pairs = tuple((str(v.get("key", "")).strip(), str(v.get("name") or v.get("key", "")).strip())
                  for v in values if isinstance(v, Mapping))
    keys = [key for key, _name in pairs]
    if datatype.endswith("valuelist") and (not keys or "" in keys or len(set(keys)) != len(keys)):
        raise InvalidDefinition(f"attribute {code}: a {datatype} needs values with distinct, non-empty keys")
    try:
        order = int(index if item.get("order") in (None, "") else item["order"])
    except (TypeError, ValueError):
        raise InvalidDefinition(f"attribute {code}: order must be a positive integer") from None
    if order < 1:
        raise InvalidDefinition(f"attribute {code}: order must be a positive integer")
    return AttributeSpec(code=code, datatype=datatype, description=str(item.get("description") or ""),
                         datatype_description=str(item.get("datatype_description") or ""),
                         variable=_flag(item.get("variable", True), f"attribute {code}: variable"),
                         required=_flag(item.get("required", False), f"attribute {code}: required"),
                         order=order, values=pairs)


def parse_definition(document: Any) -> tuple[AttributeSpec, ...]:
    """The attributes of a service definition document, as GET services/{code}.json gives it. Pure.

    Numbers are accepted where the spec's examples use them (keys, orders). Raises InvalidDefinition.
    """
    attributes = document.get("attributes") if isinstance(document, Mapping) else None
    if isinstance(attributes, Mapping):                # XML turned into JSON: {"attribute": [...]}
        attributes = attributes.get("attribute") or []
    if isinstance(attributes, Mapping):
        attributes = [attributes]
    if not isinstance(attributes, list):
        raise InvalidDefinition("a service definition is an object with a list of attributes")
    specs = tuple(_definition_attribute(item, i) for i, item in enumerate(attributes, start=1))
    for what, seen in (("code", [a.code for a in specs]), ("order", [a.order for a in specs])):
        if len(set(seen)) != len(seen):
            raise InvalidDefinition(f"two attributes have the same {what}")
    return specs


# ---- POST requests -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceRequest:
    """A POSTed service request after parsing: every field the spec defines, none of the API key."""

    service_code: str
    client_id: int                               # the API key it came with: accounts are per client
    lat: float | None = None
    long: float | None = None
    address_string: str = ""
    address_id: str = ""
    email: str = ""
    device_id: str = ""
    account_id: str = ""
    first_name: str = ""
    last_name: str = ""
    phone: str = ""
    description: str = ""
    media_url: str = ""
    attributes: dict[str, list[str]] = field(default_factory=dict)

    def to_payload(self) -> bytes:
        """The request as canonical JSON, for the InboundRaw record (the same request gives the same bytes)."""
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True).encode()

    @classmethod
    def from_payload(cls, payload: bytes) -> "ServiceRequest":
        """Raises InvalidContact when `payload` is not a stored request."""
        try:
            return cls(**json.loads(payload))
        except (ValueError, TypeError) as exc:
            raise InvalidContact(f"not an Open311 request: {exc}") from exc

    @property
    def display_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)


def _first(form: Mapping[str, Sequence[str]], name: str, limit: int = 255) -> str:
    """A field's value, stripped; absent and empty are the same (the spec's "optional")."""
    values = form.get(name) or [""]
    value = (values[0] or "").strip()
    if len(value) > limit:
        raise InvalidContact(f"{name} is longer than {limit} characters")
    return value


def _coordinate(form: Mapping[str, Sequence[str]], name: str, bound: float) -> float | None:
    text = _first(form, name, 64)
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise InvalidContact(f"{name} is not a number: WGS84 decimal degrees are expected") from None
    if not math.isfinite(value) or abs(value) > bound:
        raise InvalidContact(f"{name} must lie between -{bound:g} and {bound:g}")
    return value


def _attributes(form: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    answers: dict[str, list[str]] = {}
    for name, values in form.items():
        match = _ATTRIBUTE_FIELD.match(name)
        if match is None:
            if name.startswith("attribute"):
                raise InvalidContact(f"{name} is not of the form attribute[code] or attribute[code][]")
            continue
        kept = [v.strip() for v in values if v and v.strip()]
        if any(len(v) > MAX_DESCRIPTION for v in kept):
            raise InvalidContact(f"{name} is longer than {MAX_DESCRIPTION} characters")
        if kept:
            answers.setdefault(match.group(1), []).extend(kept)
    if len(answers) > MAX_ATTRIBUTES:
        raise InvalidContact(f"at most {MAX_ATTRIBUTES} attributes in one request")
    return answers


def _media_url(form: Mapping[str, Sequence[str]]) -> str:
    url = _first(form, "media_url", 2000)
    if url:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidContact("media_url must be an http or https URL")
    return url


def parse_request(form: Mapping[str, Sequence[str]], client_id: int) -> ServiceRequest:
    """A POST requests form (each field with its list of values) as a ServiceRequest. Pure.

    Raises InvalidContact naming the field at fault: no service_code, no location (lat and long, or
    address_string, or address_id), a half coordinate, a description over 4,000 characters, a bad email
    or media_url. A phone number that cannot be dialled is kept as sent, not refused.
    """
    service_code = _first(form, "service_code", 64)
    if not service_code:
        raise InvalidContact("service_code was not provided")
    lat, long = _coordinate(form, "lat", 90), _coordinate(form, "long", 180)
    if (lat is None) != (long is None):
        raise InvalidContact("lat and long must be sent together")
    address_string, address_id = _first(form, "address_string", 500), _first(form, "address_id", 64)
    if lat is None and not address_string and not address_id:
        raise InvalidContact("a location is required: lat and long, address_string or address_id")
    email = _first(form, "email", 254).lower()
    if email and not _EMAIL.match(email):
        raise InvalidContact("email is not an email address")
    phone = _first(form, "phone", 64)
    description = _first(form, "description", MAX_DESCRIPTION)
    return ServiceRequest(
        service_code=service_code, client_id=client_id, lat=lat, long=long, address_string=address_string,
        address_id=address_id, email=email, device_id=_first(form, "device_id", 128),
        account_id=_first(form, "account_id", 128), first_name=_first(form, "first_name", 120),
        last_name=_first(form, "last_name", 120), phone=phone, description=description,
        media_url=_media_url(form), attributes=_attributes(form))


def _check_answer(attribute: AttributeSpec, answers: list[str]) -> str | None:
    """What is wrong with the answers to one attribute, or None."""
    keys = {key for key, _name in attribute.values}
    if attribute.datatype == "multivaluelist":
        wrong = [a for a in answers if a not in keys]
        return f"attribute[{attribute.code}] has values not in its list: {', '.join(wrong)}" if wrong else None
    if len(answers) > 1:
        return f"attribute[{attribute.code}] takes one value"
    answer = answers[0]
    if attribute.datatype == "singlevaluelist" and answer not in keys:
        return f"attribute[{attribute.code}] must be one of: {', '.join(sorted(keys))}"
    if attribute.datatype == "number":
        try:
            if not math.isfinite(float(answer)):
                raise ValueError(answer)
        except ValueError:
            return f"attribute[{attribute.code}] must be a number"
    if attribute.datatype == "datetime":
        try:
            parse_w3c(answer)
        except InvalidQuery:
            return f"attribute[{attribute.code}] must be a W3C datetime with a timezone"
    if attribute.datatype == "string" and "\n" in answer:
        return f"attribute[{attribute.code}] takes one line; use a text attribute for more"
    return None


def check_attributes(request: ServiceRequest, service: ServiceSpec) -> None:
    """Check the answers against the service definition. Pure.

    Raises InvalidContact listing every missing required answer and every answer of the wrong datatype.
    Answers to codes the definition does not know are kept as given (nothing a client sends is dropped).
    """
    problems = []
    for attribute in service.attributes:
        answers = request.attributes.get(attribute.code, [])
        if not attribute.variable:
            continue
        if not answers:
            if attribute.required:
                problems.append(f"attribute[{attribute.code}] is required")
            continue
        problem = _check_answer(attribute, answers)
        if problem:
            problems.append(problem)
    if problems:
        raise InvalidContact("; ".join(problems))


def _phone(text: str) -> str | None:
    """`text` in E.164, or None: a number that cannot be dialled is kept as sent but reaches no one."""
    try:
        return e164(text) if text else None
    except InvalidContact:
        return None


def sender(request: ServiceRequest) -> ContactAddress | None:
    """Who sent it: email first, then phone, then the client's own account or device id; None when anonymous."""
    name = request.display_name
    if request.email:
        return ContactAddress(ContactKind.EMAIL, request.email, name)
    phone = _phone(request.phone)
    if phone:
        return ContactAddress(ContactKind.PHONE, phone, name)
    if request.account_id:           # an account of one app says nothing about another app's accounts
        return ContactAddress(ContactKind.API, f"open311:{request.client_id}:account:{request.account_id}", name)
    if request.device_id:
        return ContactAddress(ContactKind.API, f"open311:{request.client_id}:device:{request.device_id}", name)
    return None


def _answers_text(request: ServiceRequest, service: ServiceSpec) -> str:
    known = {a.code: a for a in service.attributes}
    lines = []
    for code, answers in request.attributes.items():
        attribute = known.get(code)
        question = (attribute.description if attribute else "") or code
        shown = [attribute.value_name(a) for a in answers] if attribute else answers
        lines.append(f"{question}: {', '.join(shown)}")
    return "\n".join(lines)


def location_text(request: ServiceRequest) -> str:
    """The location as a person reads it: the address, else the coordinates, else the address id."""
    if request.address_string:
        return request.address_string
    if request.lat is not None:
        return f"{request.lat:.6f}, {request.long:.6f}"
    return f"address id {request.address_id}"


def to_contact(request: ServiceRequest, service: ServiceSpec, external_id: str) -> NormalizedContact:
    """The request as a contact for intake: the description with the attribute answers, the location in meta."""
    answers = _answers_text(request, service)
    body = "\n\n".join(part for part in (request.description, answers, f"Location: {location_text(request)}")
                       if part)
    summary = request.description.splitlines()[0][:80] if request.description else location_text(request)[:80]
    return NormalizedContact(
        channel=Channel.OPEN311, sender=sender(request), subject=f"{service.name}: {summary}"[:500],
        body_text=body, external_id=external_id, category_code=service.code,
        meta={"description": request.description, "address": request.address_string,
              "address_id": request.address_id, "lat": request.lat, "long": request.long,
              "media_url": request.media_url, "attributes": request.attributes, "device_id": request.device_id,
              "account_id": request.account_id, "phone": request.phone, "api_key_id": request.client_id})


# ---- GET requests ------------------------------------------------------------------------------------


def parse_w3c(text: str) -> datetime:
    """A W3C-DTF datetime with its timezone (Z or ±HH:MM), in UTC. Raises InvalidQuery.

    A `+` offset sent unencoded in a query string arrives as a space; it is read as the `+` it was.
    """
    text = _W3C_OFFSET_IN_QUERY.sub(r"\1+\2", text.strip())
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidQuery(f"{text!r} is not a W3C datetime, e.g. 2010-01-01T00:00:00Z") from None
    if value.tzinfo is None:
        raise InvalidQuery(f"{text!r} has no timezone: add Z or an offset such as -08:00")
    return value.astimezone(timezone.utc)


def w3c(value: datetime | None) -> str | None:
    """`value` in the W3C format the spec asks for, in UTC."""
    return None if value is None else value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _listed(args: Mapping[str, str], name: str) -> list[str]:
    return [part.strip() for part in (args.get(name) or "").split(",") if part.strip()]


@dataclass(frozen=True)
class RequestQuery:
    """The filters of GET requests: ids override everything else; else a window, codes and statuses."""

    ids: tuple[str, ...] = ()
    service_codes: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    limit: int = MAX_RESULTS


def parse_query(args: Mapping[str, str], now: datetime) -> RequestQuery:
    """The filters of GET requests from its query arguments. Pure. Raises InvalidQuery.

    Without dates the window is the 90 days up to `now`; with one date it is the 90 days from or to it;
    two dates may not span more than 90 days. `service_request_id` (comma separated) overrides the rest.
    """
    ids = _listed(args, "service_request_id")
    if ids:
        if len(ids) > MAX_RESULTS:
            raise InvalidQuery(f"at most {MAX_RESULTS} service_request_id at once")
        return RequestQuery(ids=tuple(ids))
    statuses = _listed(args, "status")
    unknown = [s for s in statuses if s not in STATUSES]
    if unknown:
        raise InvalidQuery(f"status must be open or closed, not {', '.join(unknown)}")
    start = parse_w3c(args["start_date"]) if (args.get("start_date") or "").strip() else None
    end = parse_w3c(args["end_date"]) if (args.get("end_date") or "").strip() else None
    if start is None and end is None:
        start, end = now - DEFAULT_WINDOW, now
    elif start is None:
        start = end - DEFAULT_WINDOW
    elif end is None:
        end = start + DEFAULT_WINDOW
    if end < start:
        raise InvalidQuery("end_date is before start_date")
    if end - start > DEFAULT_WINDOW:
        raise InvalidQuery("start_date and end_date may not span more than 90 days")
    return RequestQuery(service_codes=tuple(_listed(args, "service_code")), statuses=tuple(statuses),
                        start=start, end=end)


def public_status(status: CaseStatus) -> str:
    """A case status as Open311 says it: new, assigned and pending are open; resolved and closed are closed."""
    return "open" if status in OPEN_STATUSES else "closed"


def case_statuses(statuses: Sequence[str]) -> list[CaseStatus]:
    """The case statuses behind Open311 statuses (all of them for an empty list)."""
    wanted = set(statuses or STATUSES)
    return [s for s in CaseStatus if public_status(s) in wanted]


@dataclass(frozen=True)
class RequestView:
    """One service request as GET requests shows it; None is an empty element in XML and null in JSON."""

    service_request_id: str
    status: str
    service_name: str
    service_code: str
    requested_datetime: datetime
    updated_datetime: datetime
    status_notes: str | None = None
    description: str | None = None
    agency_responsible: str | None = None
    service_notice: str | None = None
    expected_datetime: datetime | None = None
    address: str | None = None
    address_id: str | None = None
    zipcode: str | None = None
    lat: float | None = None
    long: float | None = None
    media_url: str | None = None


def request_document(view: RequestView) -> dict[str, Any]:
    """One <request> of GET requests, its fields in the spec's order."""
    return {"service_request_id": view.service_request_id, "status": view.status,
            "status_notes": view.status_notes, "service_name": view.service_name,
            "service_code": view.service_code, "description": view.description,
            "agency_responsible": view.agency_responsible, "service_notice": view.service_notice,
            "requested_datetime": w3c(view.requested_datetime), "updated_datetime": w3c(view.updated_datetime),
            "expected_datetime": w3c(view.expected_datetime), "address": view.address,
            "address_id": view.address_id, "zipcode": view.zipcode, "lat": view.lat, "long": view.long,
            "media_url": view.media_url}


def created_document(service_request_id: str, service_notice: str | None = None,
                     account_id: str | None = None) -> list[dict[str, Any]]:
    """The answer to POST requests: the new request's id (this endpoint is realtime: no tokens)."""
    return [{"service_request_id": service_request_id, "service_notice": service_notice,
             "account_id": account_id or None}]


def error_document(errors: Sequence[tuple[int, str]]) -> list[dict[str, Any]]:
    """The spec's <errors>: one (code, description) per problem."""
    return [{"code": code, "description": description} for code, description in errors]


def discovery_document(*, changeset: datetime, contact: str, key_service: str, endpoint_url: str) -> dict[str, Any]:
    """The Service Discovery document naming this GeoReport v2 endpoint and its formats."""
    return {"changeset": w3c(changeset), "contact": contact, "key_service": key_service, "endpoints": [
        {"specification": SPECIFICATION, "url": endpoint_url, "changeset": w3c(changeset), "type": "production",
         "formats": ["text/xml", "application/json"]}]}


# ---- rendering ---------------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _element(name: str, value: Any) -> ET.Element:
    element = ET.Element(name)
    if isinstance(value, Mapping):
        element.extend(_element(key, item) for key, item in value.items())
    elif isinstance(value, list):
        element.extend(_element(ITEM_NAMES[name], item) for item in value)
    else:
        element.text = _text(value)
    return element


def render(root: str, document: Any, fmt: str) -> bytes:
    """`document` as the spec's XML under `root`, or as its JSON (the same structure, arrays at the top level).

    Raises KeyError for an unknown format.
    """
    if fmt == "json":
        return json.dumps(document, ensure_ascii=False, indent=2).encode()
    if fmt != "xml":
        raise KeyError(fmt)
    tree = _element(root, document)
    ET.indent(tree)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(tree, encoding="unicode").encode() + b"\n"

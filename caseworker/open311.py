"""The Open311 GeoReport v2 API at /open311/v2/ (XML and JSON), its service discovery, and `flask open311`.

Reading is public; POSTing a request needs an API key an administrator issued (caseworker/apikeys.py).
The API is for programs, not browsers: it is exempt from CSRF, and every error, including a wrong URL,
a wrong method and a rate limit, answers in the spec's <errors> format.
"""
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

import click
from flask import Blueprint, Response, abort, current_app, request, url_for
from flask_limiter.util import get_remote_address
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from caseworker.extensions import csrf, limiter, rq_connection
from caseworker.writers import writes_after_checks
from channels import open311, open311_store
from channels.base import InvalidContact
from models import Session, begin_writing, transaction, utcnow

log = logging.getLogger(__name__)

bp = Blueprint("open311", __name__, url_prefix="/open311")
csrf.exempt(bp)

FORMAT = "<any(xml, json):fmt>"
CHANGESET = datetime(2026, 11, 23, tzinfo=timezone.utc)       # when this endpoint's interface last changed
ERROR_STATUSES = (400, 403, 404, 405, 413, 429, 500)
MAX_POST_BYTES = 256 * 1024        # every field has its own limit; this bounds what is read at all


def _read_limit() -> str:
    return current_app.config["OPEN311_READ_RATE_LIMIT"]


def _client_key() -> str:
    """Rate-limit a POST by its API key (hashed: the key itself never reaches Redis), else by address."""
    key = request.form.get("api_key", "")
    return f"open311-key:{open311_store.hash_key(key)[:16]}" if key else get_remote_address()


def _format() -> str:
    return "json" if request.path.endswith(".json") else "xml"


def _respond(root: str, document, fmt: str, status: int = 200) -> Response:
    return Response(open311.render(root, document, fmt), status=status, content_type=open311.CONTENT_TYPES[fmt])


def _error_response(status: int, description: str) -> Response:
    return _respond("errors", open311.error_document([(status, description)]), _format(), status)


def _on_error(error: HTTPException) -> Response:
    response = _error_response(error.code or 500, error.description or error.name)
    if error.code == 405 and error.get_response().headers.get("Allow"):
        response.headers["Allow"] = error.get_response().headers["Allow"]
    return response


@contextmanager
def _bad_request(*problems: type[Exception]) -> Iterator[None]:
    """Answer 400 with the message of any of `problems` raised inside."""
    try:
        yield
    except problems as problem:
        abort(400, description=str(problem))


for _status in ERROR_STATUSES:
    bp.register_error_handler(_status, _on_error)


@bp.before_request
def check_jurisdiction() -> None:
    """This endpoint serves one jurisdiction: the parameter may be left out, but a different one is unknown."""
    request.max_content_length = MAX_POST_BYTES
    given = (request.values.get("jurisdiction_id") or "").strip()
    if given and given.lower() != current_app.config["OPEN311_JURISDICTION_ID"].lower():
        abort(404, description=f"jurisdiction_id {given} was not found")


@bp.after_request
def allow_reading_from_any_site(response: Response) -> Response:
    """Public data may be read by web apps on other sites; creating requests stays same-origin."""
    if request.method == "GET":
        response.headers["Access-Control-Allow-Origin"] = "*"
    return response


# ---- discovery and services ---------------------------------------------------------------------------


def _discovery(fmt: str) -> Response:
    config = current_app.config
    document = open311.discovery_document(
        changeset=CHANGESET, contact=config["OPEN311_CONTACT"], key_service=config["OPEN311_KEY_SERVICE"],
        endpoint_url=url_for("open311.endpoint", _external=True).rstrip("/"))
    return _respond("discovery", document, fmt)


@bp.get(f"/discovery.{FORMAT}")
@limiter.limit(_read_limit)
def discovery(fmt: str):
    return _discovery(fmt)


@bp.get("/v2/")
@limiter.limit(_read_limit)
def endpoint():
    return _discovery("xml")


@bp.get(f"/v2/services.{FORMAT}")
@limiter.limit(_read_limit)
def services(fmt: str):
    found = open311_store.services(Session())
    return _respond("services", [open311.service_document(s) for s in found], fmt)


@bp.get(f"/v2/services/<service_code>.{FORMAT}")
@limiter.limit(_read_limit)
def service_definition(service_code: str, fmt: str):
    found = open311_store.service(Session(), service_code) or abort(
        404, description=f"service_code {service_code} was not found")
    return _respond("service_definition", open311.definition_document(found), fmt)


# ---- requests ----------------------------------------------------------------------------------------


@bp.post(f"/v2/requests.{FORMAT}")
@writes_after_checks
@limiter.limit(lambda: current_app.config["OPEN311_POST_RATE_LIMIT"], key_func=_client_key)
def create_request(fmt: str):
    client = open311_store.authenticate(Session(), request.form.get("api_key", ""))
    if client is None:
        abort(403, description="Invalid api_key received -- can't proceed with create_request.")
    with _bad_request(InvalidContact):
        sent = open311.parse_request(request.form.to_dict(flat=False), client.id)
    spec = open311_store.service(Session(), sent.service_code) or abort(
        404, description=f"service_code {sent.service_code} was not found")
    with _bad_request(InvalidContact):
        open311.check_attributes(sent, spec)
    try:
        begin_writing()           # on SQLite, a transaction that has read cannot take the write lock later
        receipt = open311_store.take(Session(), sent, spec)
        Session.commit()
    except SQLAlchemyError:
        Session.rollback()
        log.exception("an Open311 request from key %s could not be stored", client.id)
        # The spec's code for "the CRM is down"; nothing was stored, so the client should send it again.
        response = _error_response(400, "The service is unavailable for a moment and stored nothing: "
                                        "please send the request again.")
        response.headers["Retry-After"] = "30"
        return response
    _record_use(client.id)
    open311_store.announce(rq_connection(), receipt)
    return _respond("service_requests", open311.created_document(receipt.service_request_id), fmt)


def _record_use(key_id: int) -> None:
    """Note that the key was used, in a unit of work of its own after the request's (open311_store.record_use).
    A failure here loses nothing the client sent: it is logged and the answer stands."""
    try:
        with transaction() as session:
            open311_store.record_use(session, key_id)
    except SQLAlchemyError:
        log.warning("could not record the use of api key %s", key_id, exc_info=True)


@bp.get(f"/v2/requests.{FORMAT}")
@limiter.limit(_read_limit)
def list_requests(fmt: str):
    with _bad_request(open311.InvalidQuery):
        query = open311.parse_query(request.args, utcnow())
    found = open311_store.find_requests(Session(), query)
    return _respond("service_requests", [open311.request_document(v) for v in found], fmt)


@bp.get(f"/v2/requests/<service_request_id>.{FORMAT}")
@limiter.limit(_read_limit)
def show_request(service_request_id: str, fmt: str):
    found = open311_store.find_request(Session(), service_request_id) or abort(
        404, description=f"service_request_id {service_request_id} was not found")
    return _respond("service_requests", [open311.request_document(found)], fmt)


@bp.get(f"/v2/tokens/<token>.{FORMAT}")
def token(token: str, fmt: str):
    abort(404, description="This endpoint is realtime: POST requests answers with the service_request_id "
                           "and gives out no tokens.")


def _endpoint(adapter, method: str) -> str | None:
    try:
        return adapter.match(request.path, method=method)[0]
    except HTTPException:
        return None


@bp.route("/v2/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def unknown(rest: str):
    adapter = current_app.url_map.bind_to_environ(request.environ)
    allowed = [m for m in ("GET", "POST") if _endpoint(adapter, m) not in (None, "open311.unknown")]
    if allowed:
        abort(405, description=f"{request.method} is not allowed here; use {' or '.join(allowed)}.",
              valid_methods=allowed)
    abort(404, description="No such GeoReport v2 resource: see services.xml, requests.xml and "
                           "requests/{service_request_id}.xml (or .json).")


# ---- `flask open311` ---------------------------------------------------------------------------------


@bp.cli.command("create-key")
@click.argument("name")
def create_key_command(name: str) -> None:
    """Issue an API key for the app NAME and print it (it is shown this once)."""
    with transaction() as session:
        _row, key = open311_store.create_key(session, name)
    click.echo(key)


@bp.cli.command("revoke-key")
@click.argument("key_id", type=int)
def revoke_key_command(key_id: int) -> None:
    """Stop accepting the API key KEY_ID."""
    with transaction() as session:
        if open311_store.revoke_key(session, key_id) is None:
            raise click.ClickException(f"no API key {key_id}")
    click.echo(f"API key {key_id} revoked")


@bp.cli.command("define")
@click.argument("service_code")
@click.argument("definition", type=click.File("r", encoding="utf-8"))
def define_command(service_code: str, definition) -> None:
    """Set the attributes of SERVICE_CODE from DEFINITION, a service definition in the spec's JSON ("-": stdin).

    The file is what GET services/{code}.json answers, so one server's definition can be copied to another.
    """
    try:
        attributes = open311.parse_definition(json.load(definition))
    except ValueError as problem:              # bad JSON, or a definition that cannot be stored
        raise click.ClickException(f"{definition.name}: {problem}") from problem
    try:
        with transaction() as session:
            count = open311_store.define_service(session, service_code, attributes)
    except LookupError:
        raise click.ClickException(f"no category {service_code}") from None
    click.echo(f"{service_code}: {count} attributes")

"""The Open311 channel's database side: API keys, the services offered, taking requests in, finding them.

A POSTed request is stored raw (an InboundRaw row, without the API key) and taken in during the request,
in one transaction, because the client needs its service_request_id in the answer: the same path as the
web form (channels.submission). The view commits, then `announce` routes the new case.
"""
import hashlib
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from redis import Redis
from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session, selectinload

import routing
from channels import inbound, intake, signals
from channels.open311 import (
    SOURCE,
    AttributeSpec,
    RequestQuery,
    RequestView,
    ServiceRequest,
    ServiceSpec,
    case_statuses,
    public_status,
    to_contact,
)
from models import (
    ApiKey,
    AttributeDatatype,
    Case,
    Category,
    Channel,
    InboundStatus,
    Interaction,
    ServiceAttribute,
    utcnow,
)

log = logging.getLogger(__name__)

KEY_PREFIX = "o311_"
USE_RECORDED_EVERY = timedelta(minutes=1)      # how exact an API key's "last used" is


# ---- API keys ----------------------------------------------------------------------------------------


def hash_key(key: str) -> str:
    """The stored form of an API key. Keys are 192 random bits, so a plain SHA-256 is enough."""
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(session: Session, name: str, created_by_id: int | None = None) -> tuple[ApiKey, str]:
    """A new active API key named `name`; returns the row and the key, which is never stored. Flushes."""
    key = KEY_PREFIX + secrets.token_urlsafe(24)
    row = ApiKey(name=name.strip()[:120], key_prefix=key[:12], key_hash=hash_key(key), created_by_id=created_by_id)
    session.add(row)
    session.flush()
    log.info("api key %s created", row.id)
    return row, key


def revoke_key(session: Session, key_id: int) -> ApiKey | None:
    """Stop the key `key_id` from being accepted; None when there is no such key. Idempotent. Flushes."""
    row = session.get(ApiKey, key_id)
    if row is not None and row.is_active:
        row.is_active, row.revoked_at = False, utcnow()
        session.flush()
        log.info("api key %s revoked", row.id)
    return row


def authenticate(session: Session, key: str) -> ApiKey | None:
    """The active key `key` is; None for an unknown or revoked key. Only reads: see `record_use`."""
    if not key:
        return None
    row = session.execute(select(ApiKey).where(ApiKey.key_hash == hash_key(key.strip()))).scalar_one_or_none()
    if row is None or not row.is_active:
        return None
    return row


def record_use(session: Session, key_id: int) -> None:
    """Mark key `key_id` as used now, unless that was done less than `USE_RECORDED_EVERY` ago. Flushes.

    In a transaction of its own, after the request's: writing the key's one row inside every request's
    transaction made all requests of a busy client wait for each other on that row's lock.
    """
    now = utcnow()
    session.execute(update(ApiKey).where(
        ApiKey.id == key_id,
        or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < now - USE_RECORDED_EVERY),
    ).values(last_used_at=now))


def keys(session: Session) -> list[ApiKey]:
    """Every API key, active ones first, newest first."""
    return list(session.execute(
        select(ApiKey).options(selectinload(ApiKey.created_by))
        .order_by(ApiKey.is_active.desc(), ApiKey.created_at.desc(), ApiKey.id.desc())).scalars())


# ---- services ----------------------------------------------------------------------------------------


def _attribute_spec(row: ServiceAttribute) -> AttributeSpec:
    return AttributeSpec(code=row.code, datatype=row.datatype.value, description=row.description,
                         datatype_description=row.datatype_description, variable=row.is_variable,
                         required=row.is_required, order=row.position,
                         values=tuple((str(v["key"]), str(v["name"])) for v in row.values or []))


def _service_spec(category: Category, attributes: list[ServiceAttribute]) -> ServiceSpec:
    names = category.names or {}
    synonyms = tuple(dict.fromkeys(n for n in names.values() if n and n != category.name))
    return ServiceSpec(code=category.code, name=category.name, description=category.description,
                       group=category.queue.name if category.queue else "", keywords=synonyms,
                       attributes=tuple(_attribute_spec(a) for a in attributes))


def services(session: Session, code: str | None = None) -> list[ServiceSpec]:
    """The public categories as Open311 services, by code (only `code` when given), with their attributes."""
    query = select(Category).where(Category.is_public.is_(True)).options(selectinload(Category.queue))
    if code is not None:
        query = query.where(Category.code == code)
    categories = list(session.execute(query.order_by(Category.code)).scalars())
    rows = session.execute(select(ServiceAttribute).where(
        ServiceAttribute.category_id.in_([c.id for c in categories]))).scalars() if categories else []
    by_category: dict[int, list[ServiceAttribute]] = {}
    for row in rows:
        by_category.setdefault(row.category_id, []).append(row)
    return [_service_spec(c, by_category.get(c.id, [])) for c in categories]


def service(session: Session, code: str) -> ServiceSpec | None:
    """The public service `code`, or None."""
    found = services(session, code)
    return found[0] if found else None


def define_service(session: Session, code: str, attributes: Sequence[AttributeSpec]) -> int:
    """Replace the definition of the service `code` with `attributes`; returns how many. Flushes.

    Raises LookupError when there is no category `code`.
    """
    category = session.execute(select(Category).where(Category.code == code)).scalar_one_or_none()
    if category is None:
        raise LookupError(code)
    session.execute(delete(ServiceAttribute).where(ServiceAttribute.category_id == category.id))
    session.add_all(ServiceAttribute(
        category_id=category.id, code=a.code, datatype=AttributeDatatype(a.datatype), description=a.description,
        datatype_description=a.datatype_description, is_variable=a.variable, is_required=a.required,
        position=a.order, values=[{"key": key, "name": name} for key, name in a.values]) for a in attributes)
    session.flush()
    log.info("service %s defined with %s attributes", category.id, len(attributes))
    return len(attributes)


# ---- POST requests -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Receipt:
    case_id: int
    service_request_id: str
    is_new: bool                 # False: the same request sent again, answered with the case it opened
    queue_id: int | None = None


def take(session: Session, request: ServiceRequest, spec: ServiceSpec) -> Receipt:
    """Store `request` raw, then take it in as a case with its location. Flushes; the view commits.

    Idempotent: the same request from the same API key again is answered with the case it opened.
    """
    payload = request.to_payload()
    key = f"{SOURCE}:{request.client_id}:{hashlib.sha256(payload).hexdigest()}"
    raw, created = inbound.store_raw(session, channel=Channel.OPEN311, source=SOURCE, payload=payload,
                                     content_type="application/json", idempotency_key=key)
    if not created and raw.case_id is not None:
        case = session.get(Case, raw.case_id)
        return Receipt(case.id, case.reference, is_new=False, queue_id=case.queue_id)
    result = intake.ingest(session, to_contact(request, spec, external_id=key), inbound_raw_id=raw.id)
    case = session.get(Case, result.case_id)
    if result.is_new_case:
        case.address = request.address_string[:500] or None
        case.latitude, case.longitude = request.lat, request.long
    raw.status, raw.case_id = InboundStatus.INGESTED, case.id
    raw.outcome = "new_case" if result.is_new_case else "threaded"
    raw.attempts, raw.processed_at = raw.attempts + 1, utcnow()
    session.flush()
    log.info("open311 request from key %s is case %s", request.client_id, case.id)
    return Receipt(case.id, case.reference, is_new=result.is_new_case, queue_id=case.queue_id)


def announce(redis: Redis, receipt: Receipt) -> None:
    """After commit: tell the console about the new case and ask routing to assign it."""
    if not receipt.is_new:
        return
    signals.case_opened.send(receipt.case_id, queue_id=receipt.queue_id)
    routing.request_assignment(redis, receipt.case_id)


# ---- GET requests ------------------------------------------------------------------------------------


def _sent_by_clients(session: Session, case_ids: list[int]) -> dict[int, dict]:
    """What the Open311 request that opened each case sent (description, location, media), by case id."""
    rows = session.execute(
        select(Interaction.case_id, Interaction.meta)
        .where(Interaction.case_id.in_(case_ids), Interaction.channel == Channel.OPEN311,
               Interaction.inbound_raw_id.is_not(None))
        .order_by(Interaction.occurred_at.desc(), Interaction.id.desc())).all()
    return {case_id: meta or {} for case_id, meta in rows}     # oldest wins: it comes last


def _latest_notes(session: Session, case_ids: list[int]) -> dict[int, str]:
    """The latest note staff made public on each case (the status page's notes: never internal ones)."""
    rows = session.execute(
        select(Interaction.case_id, Interaction.body_text)
        .where(Interaction.case_id.in_(case_ids), Interaction.is_public.is_(True), Interaction.author_id.is_not(None))
        .order_by(Interaction.occurred_at, Interaction.id)).all()
    return {case_id: text for case_id, text in rows}     # newest wins: it comes last


def _view(case: Case, sent: dict | None, note: str | None) -> RequestView:
    closed = not case.is_open
    updated = (case.closed_at or case.resolved_at or case.updated_at) if closed else case.updated_at
    # What a client sent to this public API is public; what reached us by email, phone or chat is not.
    return RequestView(
        service_request_id=case.reference, status=public_status(case.status), status_notes=note,
        service_name=case.category.name, service_code=case.category.code,
        requested_datetime=case.created_at, updated_datetime=updated,
        description=(sent.get("description") or None) if sent else None,
        agency_responsible=case.queue.name if case.queue else None,
        expected_datetime=case.resolution_due_at if not closed else None,
        address=case.address if sent else None, address_id=(sent.get("address_id") or None) if sent else None,
        zipcode=case.postcode if sent else None, lat=case.latitude if sent else None,
        long=case.longitude if sent else None, media_url=(sent.get("media_url") or None) if sent else None)


def find_requests(session: Session, query: RequestQuery) -> list[RequestView]:
    """The service requests `query` selects, newest first: cases of public services only, at most its limit."""
    select_cases = (select(Case).join(Category, Case.category_id == Category.id)
                    .where(Category.is_public.is_(True))
                    .options(selectinload(Case.category), selectinload(Case.queue)))
    if query.ids:
        select_cases = select_cases.where(Case.reference.in_([i.strip().upper() for i in query.ids]))
    else:
        select_cases = select_cases.where(Case.created_at >= query.start, Case.created_at <= query.end,
                                          Case.status.in_(case_statuses(query.statuses)))
        if query.service_codes:
            select_cases = select_cases.where(Category.code.in_(query.service_codes))
    cases = list(session.execute(
        select_cases.order_by(Case.created_at.desc(), Case.id.desc()).limit(query.limit)).scalars())
    ids = [c.id for c in cases]
    sent, notes = (_sent_by_clients(session, ids), _latest_notes(session, ids)) if ids else ({}, {})
    return [_view(c, sent.get(c.id), notes.get(c.id)) for c in cases]


def find_request(session: Session, service_request_id: str) -> RequestView | None:
    """The one service request `service_request_id` (a case reference), or None."""
    found = find_requests(session, RequestQuery(ids=(service_request_id,)))
    return found[0] if found else None


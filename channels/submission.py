"""Web form submissions become cases: stored raw first, taken in at once, with a status secret for the public.

The contact page needs the case reference in its answer, so a submission is taken in during the request,
after its raw JSON is stored in the same transaction (a failure leaves nothing half-written).
"""
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from redis import Redis

import routing
from channels import inbound, intake, jobs, outbound, signals, storage
from channels.webform import SOURCE, Submission, to_contact
from models import Attachment, Case, Channel, ContactPoint, InboundStatus, Interaction, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Receipt:
    case_id: int
    reference: str
    status_secret: str | None          # None when this submission was a resubmit of one already taken
    acknowledgement_id: int | None     # the outbound email to send after commit


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def take(session: Session, submission: Submission, subject: str) -> Receipt:
    """Store and ingest one submission. Idempotent on the form's token. Flushes; the view commits."""
    raw, created = inbound.store_raw(session, channel=Channel.WEBFORM, source=SOURCE,
                                     payload=submission.to_payload(), content_type="application/json",
                                     idempotency_key=f"{SOURCE}:{submission.token}" if submission.token else None)
    if not created and raw.case_id is not None:
        case = session.get(Case, raw.case_id)
        return Receipt(case.id, case.reference, None, None)
    result = intake.ingest(session, to_contact(submission, subject), inbound_raw_id=raw.id)
    session.add_all(Attachment(interaction_id=result.interaction_id, filename=storage.safe_filename(a["filename"]),
                               content_type=a["content_type"], size=a["size"], sha256=a["sha256"])
                    for a in submission.attachments)
    case = session.get(Case, result.case_id)
    secret = None
    if result.is_new_case:
        secret = secrets.token_urlsafe(9)
        case.status_secret_hash = hash_secret(secret)
        case.address = submission.address[:500] or None
    raw.status, raw.case_id, raw.outcome = InboundStatus.INGESTED, case.id, "new_case" if result.is_new_case else "threaded"
    raw.attempts, raw.processed_at = raw.attempts + 1, utcnow()
    acknowledgement = None
    if result.is_new_case and submission.email:
        acknowledgement = outbound.queue_acknowledgement(session, case, status_secret=secret).id
    session.flush()
    return Receipt(case.id, case.reference, secret, acknowledgement)


def announce(redis: Redis, receipt: Receipt) -> None:
    """After commit: tell the console, route the new case, send the acknowledgement."""
    if receipt.status_secret is None:
        return                                   # a resubmit: announced the first time
    signals.case_opened.send(receipt.case_id)
    routing.request_assignment(redis, receipt.case_id)
    if receipt.acknowledgement_id is not None:
        jobs.request_send(redis, receipt.acknowledgement_id)


def find_for_status(session: Session, reference: str, secret_or_email: str) -> Case | None:
    """The case a member of the public may see: its reference with its status secret or its sender's email."""
    case = session.execute(select(Case).where(Case.reference == reference.strip().upper())).scalar_one_or_none()
    if case is None:
        return None
    given = secret_or_email.strip()
    if case.status_secret_hash and hmac.compare_digest(case.status_secret_hash, hash_secret(given)):
        return case
    if "@" in given and case.constituent_id is not None:
        match = session.execute(select(ContactPoint.id).where(
            ContactPoint.constituent_id == case.constituent_id, ContactPoint.value == given.lower())).first()
        if match is not None:
            return case
    return None


def public_notes(session: Session, case_id: int) -> list[Interaction]:
    """What staff chose to make public on a case, oldest first: never internal notes or other people's words."""
    return list(session.execute(
        select(Interaction).where(Interaction.case_id == case_id, Interaction.is_public.is_(True),
                                  Interaction.author_id.is_not(None))
        .order_by(Interaction.occurred_at)).scalars())

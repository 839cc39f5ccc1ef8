"""Inbound HTTP endpoints of the channels: the email providers' inbound-parse webhooks.

The request body is verified, stored untouched and committed before the provider hears 200; a worker turns
it into a message. A provider that gets 503 retries later, so a database outage loses nothing.
"""
import logging
import time

from flask import Blueprint, abort, current_app, jsonify, request
from sqlalchemy.exc import SQLAlchemyError

from caseworker.extensions import csrf, rq_connection
from caseworker.writers import writes_after_checks
from channels import inbound, jobs, webhooks
from models import Channel, Session, begin_writing

log = logging.getLogger(__name__)

bp = Blueprint("intake", __name__, url_prefix="/inbound")


def _verify(provider: str, body: bytes) -> None:
    config = current_app.config
    if provider == "mailgun":
        if not config["MAILGUN_SIGNING_KEY"]:
            abort(404)
        try:
            fields, _files = webhooks.form_fields(request.content_type or "", body)
            webhooks.verify_mailgun(fields, config["MAILGUN_SIGNING_KEY"], time.time())
        except webhooks.InvalidWebhook as exc:
            log.warning("mailgun webhook refused: %s", exc)
            abort(403)
        return
    if not (config["WEBHOOK_USERNAME"] and config["WEBHOOK_PASSWORD"]):
        abort(404)
    given = request.authorization
    if given is None or not webhooks.check_basic_auth(given.username, given.password, config["WEBHOOK_USERNAME"],
                                                      config["WEBHOOK_PASSWORD"]):
        response = jsonify(error="authentication required")
        response.status_code, response.headers["WWW-Authenticate"] = 401, 'Basic realm="inbound"'
        abort(response)


@bp.post("/email/<provider>")
@writes_after_checks
@csrf.exempt
def email_webhook(provider: str):
    """Mailgun (HMAC-signed), SendGrid and Postmark (HTTP Basic) inbound mail."""
    if provider not in webhooks.PROVIDERS:
        abort(404)
    if (request.content_length or 0) > 2 * current_app.config["MAIL_MAX_BYTES"]:
        abort(413)
    body = request.get_data(cache=False)
    _verify(provider, body)
    try:
        # A writer from the start (models.db._begin): a provider's retry that arrives while the first delivery
        # is being stored waits for it and finds it, instead of failing on SQLite's lock upgrade.
        begin_writing()
        raw, _created = inbound.store_raw(Session(), channel=Channel.EMAIL, source=webhooks.source_for(provider),
                                          payload=body, content_type=request.content_type or "")
        Session.commit()
    except SQLAlchemyError:
        Session.rollback()
        log.exception("could not store a %s webhook; the provider will retry", provider)
        return jsonify(error="temporarily unavailable"), 503
    try:
        jobs.request_ingest(rq_connection(), [raw.id])
    except Exception:  # noqa: BLE001  (stored already: `flask channels retry` or the stale sweep ingests it)
        log.exception("inbound %s stored but not enqueued", raw.id)
    return jsonify(stored=raw.id), 200

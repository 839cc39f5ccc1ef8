"""The phone channel in the console: the incoming-call webhook, the screen pop, call notes, logging a call.

Path of a call: the provider POSTs /inbound/phone/call (signed, see channels/phone.py) -> the raw body is
stored and the call taken in (channels/calls.py) -> commit -> the case is routed at once (phone cases are
offered) -> the offered agent's console gets "call.incoming" (caller and case ids) and opens the caller's
360° view when the agent accepts; with nobody to offer it to, the phone queue's agents get the pop.
"""
import logging
import re
import time

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    has_app_context,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from wtforms import RadioField, SelectField, StringField, SubmitField, TelField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional, ValidationError

import routing
from caseworker import access, audit
from caseworker.auth import require_role
from caseworker.constituents import case_url
from caseworker.extensions import csrf, redis_client, rq_connection
from caseworker.writers import writes_after_checks
from channels import calls, phone
from channels import signals as channel_signals
from channels.base import InvalidContact
from models import OPEN_STATUSES, AuditAction, Case, Channel, Direction, Role, Session, begin_writing
from routing import engine as routing_engine
from routing import signals as routing_signals

log = logging.getLogger(__name__)

bp = Blueprint("phone", __name__, url_prefix="/phone")
bp.before_request(require_role(Role.AGENT))
webhook_bp = Blueprint("phone_webhook", __name__, url_prefix="/inbound/phone")

_DURATION = re.compile(r"^\s*(?:(\d{1,3}):)?(\d{1,5})\s*$")
THIS_CASE, NEW_CASE = "call", "new"


@bp.context_processor
def _helpers() -> dict:
    return {"case_url": case_url}


# ---- forms ----------------------------------------------------------------------------------------------


def duration_seconds(text: str | None) -> int | None:
    """"m:ss" or seconds -> seconds; None for nothing. Raises ValueError for anything else."""
    if not text or not text.strip():
        return None
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(text)
    minutes, seconds = int(match.group(1) or 0), int(match.group(2))
    if match.group(1) is not None and seconds >= 60:
        raise ValueError(text)
    return minutes * 60 + seconds


def _valid_duration(_form, field) -> None:
    try:
        duration_seconds(field.data)
    except ValueError:
        raise ValidationError("Give the call length as minutes:seconds, e.g. 4:30, or as seconds.") from None


class CallNotesForm(FlaskForm):
    caller_name = StringField("Caller's name", validators=[Optional(), Length(max=200)],
                              render_kw={"autocomplete": "off"})
    case = SelectField("File the call on", validators=[InputRequired("Choose the case for this call.")])
    notes = TextAreaField("Call notes", validators=[InputRequired("Write what the call was about."),
                                                    Length(max=20000)], render_kw={"rows": 8})
    outcome = SelectField("Outcome", choices=[SelectChoice(o.value, o.value.replace("_", " ").capitalize())
                                              for o in calls.CallOutcome])
    duration = StringField("Call length (minutes:seconds, e.g. 4:30)", validators=[Optional(), _valid_duration],
                           render_kw={"inputmode": "numeric", "autocomplete": "off"})
    submit = SubmitField("Save call notes")


class UnknownCallerForm(CallNotesForm):
    caller_phone = TelField("Caller's phone number (if they gave it)", validators=[Optional(), Length(max=40)],
                            render_kw={"autocomplete": "off"})


class LogCallForm(CallNotesForm):
    caller_phone = TelField("Caller's phone number", validators=[Optional(), Length(max=40)],
                            render_kw={"autocomplete": "off"})
    direction = RadioField("Call", choices=[SelectChoice(Direction.INBOUND.value, "They called us"),
                                            SelectChoice(Direction.OUTBOUND.value, "We called them")],
                           default=Direction.INBOUND.value)
    submit = SubmitField("Log the call")


def _valid_phone(form, region: str) -> str | None:
    """The E.164 form of the phone field, or None (with the field's error set when it is not a number)."""
    raw = form.caller_phone.data
    if not raw:
        return None
    try:
        return calls.caller_address(raw, region).value
    except InvalidContact:
        form.caller_phone.errors = [*form.caller_phone.errors, "This is not a phone number."]
        return None


def _case_choices(constituent_id: int | None, own: Case | None) -> list[SelectChoice]:
    """The open cases of the caller the agent may open, after the call's own case (or a new one)."""
    first = [SelectChoice(THIS_CASE, f"{own.reference}: this call's case") if own is not None
             else SelectChoice(NEW_CASE, "A new case")]
    if constituent_id is None:
        return first
    others = Session.execute(select(Case).where(Case.constituent_id == constituent_id, Case.id != (own.id if own else -1),
                                                Case.status.in_(OPEN_STATUSES),
                                                access.case_filter(current_user))
                             .order_by(Case.last_activity_at.desc()).limit(50)).scalars()
    return first + [SelectChoice(str(c.id), f"{c.reference}: {c.subject or '(no subject)'}") for c in others]


def _chosen_case(value: str) -> int | None:
    return None if value in (THIS_CASE, NEW_CASE) else int(value)


# ---- the webhook --------------------------------------------------------------------------------------


@webhook_bp.post("/call")
@writes_after_checks
@csrf.exempt
def incoming_call():
    """A telephony provider's incoming-call event: verify, store, take in, route, pop. Answers JSON."""
    config = current_app.config
    secret = config["PHONE_WEBHOOK_SECRET"]
    if not secret:
        abort(404)
    if (request.content_length or 0) > phone.MAX_BODY_BYTES:
        abort(413)
    body = request.get_data(cache=False)
    try:
        phone.verify(secret, request.headers.get(phone.TIMESTAMP_HEADER), request.headers.get(phone.SIGNATURE_HEADER),
                     body, time.time(), int(config["PHONE_SIGNATURE_TOLERANCE_SECONDS"]))
    except phone.InvalidSignature as exc:
        log.warning("phone webhook refused: %s", exc)
        return jsonify(error="invalid signature"), 403
    try:
        # A writer from the start (models.db._begin): a provider's retry of the same event waits for the first
        # and finds its call, instead of failing on SQLite's lock upgrade.
        begin_writing()
        receipt = calls.receive(Session(), body, region=config["DEFAULT_PHONE_REGION"], queue_code=config["PHONE_QUEUE"])
        Session.commit()
    except SQLAlchemyError:
        Session.rollback()
        log.exception("could not store a phone webhook; the provider may retry")
        return jsonify(error="temporarily unavailable"), 503
    if receipt.error:
        return jsonify(error=receipt.error, stored=receipt.raw_id), 400
    if receipt.is_new:
        _announce_call(receipt)
    return jsonify(stored=receipt.raw_id, case_id=receipt.case_id, call_id=receipt.call_id,
                   duplicate=not receipt.is_new), 200


def _announce_call(receipt: calls.CallReceipt) -> None:
    """After commit: tell the queue, and offer the call now (the caller is waiting on the line)."""
    channel_signals.case_opened.send(receipt.case_id, queue_id=receipt.queue_id)
    Session.remove()                 # the routing step is a unit of work of its own
    try:
        effects = routing.perform(rq_connection(), routing_engine.route_case, receipt.case_id)
    except SQLAlchemyError:
        log.exception("call %s not routed at once; queued for the routing worker", receipt.call_id)
        routing.request_assignment(rq_connection(), receipt.case_id)
        return
    if not effects.offered and receipt.queue_id is not None:
        channel_signals.call_arrived.send(receipt.case_id, call_id=receipt.call_id,
                                          constituent_id=receipt.constituent_id, queue_id=receipt.queue_id)


@routing_signals.case_offered.connect
def pop_call(case_id: int, *, offer_id: int, caseworker_id: int, expires_at: str) -> None:
    """A ringing call offered to an agent: open the caller's record to them and pop it on their screen."""
    # A session of its own: the receiver runs inside whatever announced the offer, whose session it must not end.
    session = Session.session_factory()
    try:
        case = session.get(Case, case_id)
        call = calls.latest_call(session, case_id) if case is not None and case.channel is Channel.PHONE else None
        if call is None or call.meta.get("state") != "ringing":
            return
        call_id, constituent_id = call.id, call.constituent_id
    finally:
        session.close()
    # A worker without an app (tests' in-process workers) cannot reach the app's Redis; `flask worker` has one.
    if constituent_id is not None and has_app_context():
        access.grant_constituent(redis_client(), caseworker_id, constituent_id)
    channel_signals.call_arrived.send(case_id, call_id=call_id, constituent_id=constituent_id,
                                      caseworker_id=caseworker_id)
    log.info("call %s popped for agent %s (offer %s)", call_id, caseworker_id, offer_id)


# ---- the console --------------------------------------------------------------------------------------


def _call_or_404(call_id: int):
    try:
        call = calls.call_or_error(Session(), call_id)
    except calls.CallError:
        abort(404)
    access.case_or_404(call.case_id)
    return call


@bp.get("/calls/<int:call_id>/pop")
def pop(call_id: int):
    """The screen-pop notice (a partial the console fetches on "call.incoming")."""
    call = _call_or_404(call_id)
    audit.view("call", call_id, constituent_id=call.constituent_id, page="pop")
    return render_template("phone/_pop.html", call=call)


@bp.route("/calls/<int:call_id>", methods=["GET", "POST"])
def call(call_id: int):
    """The call-notes form: who called (found or new), which case, notes, outcome, length."""
    call = _call_or_404(call_id)
    form = (UnknownCallerForm if call.constituent_id is None else CallNotesForm)()
    form.case.choices = _case_choices(call.constituent_id, call.case)
    if request.method == "GET":
        form.outcome.data = call.meta.get("outcome") or calls.CallOutcome.ANSWERED.value
        form.notes.data = call.body_text
        form.case.data = THIS_CASE
    region = current_app.config["DEFAULT_PHONE_REGION"]
    if form.validate_on_submit():
        number = _valid_phone(form, region) if isinstance(form, UnknownCallerForm) else None
        if not form.errors:
            return _save(call, form, number)
    audit.view("case", call.case_id, constituent_id=call.constituent_id, page="call", call_id=call_id)
    return render_template("phone/call.html", call=call, form=form, caller=call.constituent)


def _save(call, form: CallNotesForm, number: str | None):
    session = Session()
    try:
        if number is not None:
            calls.identify_caller(session, call.id, calls.caller_address(number, current_app.config["DEFAULT_PHONE_REGION"],
                                                                         form.caller_name.data or ""))
        filed = calls.save_notes(session, call.id, author_id=current_user.id, notes=form.notes.data,
                                 outcome=calls.CallOutcome(form.outcome.data),
                                 duration_seconds=duration_seconds(form.duration.data),
                                 case_id=_chosen_case(form.case.data), caller_name=form.caller_name.data or "")
    except calls.CallError as error:
        Session.rollback()
        flash(str(error), "error")
        return redirect(url_for(".call", call_id=call.id))
    # The call is over: its case frees the phone slot, or is resolved when the call went to another case.
    if filed.emptied_case_id is not None:
        effects = routing_engine.resolve(session, filed.emptied_case_id)
    else:
        effects = routing_engine.end_chat(session, filed.case_id)
    constituent_id = call.constituent_id
    audit.record(session, AuditAction.UPDATE, "call", call.id, constituent_id=constituent_id,
                 case_id=filed.case_id, outcome=form.outcome.data)
    Session.commit()
    routing.announce(rq_connection(), effects)
    channel_signals.interaction_added.send(filed.case_id, interaction_id=call.id)
    flash("Call notes saved.", "success")
    if constituent_id is not None:
        return redirect(url_for("constituents.detail", constituent_id=constituent_id))
    return redirect(case_url(filed.case_id) or url_for("inbox.index"))


@bp.route("/calls/new", methods=["GET", "POST"])
def log_call():
    """Log a call taken or made without the webhook: find the caller by number, then notes as for any call."""
    region = current_app.config["DEFAULT_PHONE_REGION"]
    lookup = request.values.get("lookup_phone", "").strip()[:40]
    caller, lookup_error = None, None
    form = LogCallForm()
    if request.method == "GET" and lookup:
        form.caller_phone.data = lookup
    number_text = form.caller_phone.data or lookup
    if number_text:
        try:
            caller = calls.find_caller(Session(), calls.caller_address(number_text, region))
        except InvalidContact:
            lookup_error = "This is not a phone number."
    visible = caller is not None and access.can_see_constituent(current_user, caller.id, redis_client())
    form.case.choices = _case_choices(caller.id if visible else None, None)
    if request.method == "GET":
        form.outcome.data = calls.CallOutcome.ANSWERED.value
        form.case.data = NEW_CASE
    if form.validate_on_submit():
        number = _valid_phone(form, region)
        if not form.errors:
            return _log(form, number, region)
    if visible:
        audit.view("constituent", caller.id, constituent_id=caller.id, page="log_call")
    return render_template("phone/log.html", form=form, lookup=number_text, caller=caller, visible=visible,
                           lookup_error=lookup_error)


def _log(form: LogCallForm, number: str | None, region: str):
    session = Session()
    address = calls.caller_address(number, region, form.caller_name.data or "") if number else None
    try:
        receipt = calls.log_call(session, caller=address, author_id=current_user.id,
                                 direction=Direction(form.direction.data), queue_code=current_app.config["PHONE_QUEUE"],
                                 case_id=_chosen_case(form.case.data))
        calls.save_notes(session, receipt.call_id, author_id=current_user.id, notes=form.notes.data,
                         outcome=calls.CallOutcome(form.outcome.data),
                         duration_seconds=duration_seconds(form.duration.data), caller_name=form.caller_name.data or "")
    except calls.CallError as error:
        Session.rollback()
        flash(str(error), "error")
        return redirect(url_for(".log_call"))
    audit.record(session, AuditAction.CREATE, "call", receipt.call_id, constituent_id=receipt.constituent_id,
                 case_id=receipt.case_id)
    Session.commit()
    if receipt.is_new:
        channel_signals.case_opened.send(receipt.case_id, queue_id=receipt.queue_id)
    channel_signals.interaction_added.send(receipt.case_id, interaction_id=receipt.call_id)
    flash("The call is logged.", "success")
    if receipt.constituent_id is not None:
        return redirect(url_for("constituents.detail", constituent_id=receipt.constituent_id))
    return redirect(case_url(receipt.case_id) or url_for("inbox.index"))

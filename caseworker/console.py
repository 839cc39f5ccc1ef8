"""The console shell's live parts: the header presence switch and the partials behind offers and notices.

Socket pushes carry ids only (`offer.new`, `case.assigned`); the page fetches these partials to show what
they are about, so who may see what is decided here, in views. The presence switch is a plain POST form
(it works without JavaScript); with JavaScript the same switch goes over the socket (`presence.set`).
"""
import logging
from datetime import datetime

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from werkzeug.routing import BuildError
from wtforms import HiddenField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired

import routing
from caseworker import access, audit
from caseworker.auth import _safe_next, require_role
from caseworker.extensions import rq_connection
from models import Case, DecisionKind, DecisionOutcome, Presence, Role, RoutingDecision, Session, utcnow
from routing import engine as routing_engine

log = logging.getLogger(__name__)

bp = Blueprint("console", __name__, url_prefix="/console")
bp.before_request(require_role(Role.AGENT))

PRESENCE_LABELS = {Presence.AVAILABLE: "Available", Presence.AWAY: "Away", Presence.OFFLINE: "Offline"}
CHANNEL_LABELS = {"chat": "Chat", "phone": "Phone call", "email": "Email", "webform": "Web form",
                  "open311": "Open311 request"}
SNIPPET_CHARS = 140


class PresenceForm(FlaskForm):
    """The header's presence switch. Its CSRF token is written by hand in the template (one per page)."""

    presence = SelectField("Presence", id="header-presence", validators=[InputRequired()],
                           choices=[SelectChoice(p.value, label) for p, label in PRESENCE_LABELS.items()])
    next = HiddenField(id="header-presence-next")


@bp.app_context_processor
def _shell_context() -> dict:
    return {"presence_form": _presence_form}


def _presence_form() -> PresenceForm:
    # formdata=None: the header renders on pages answering other forms' POSTs and must not read them; and
    # such a page's URL may take no GET, so the switch then comes back to the inbox.
    here = request.full_path.rstrip("?") if request.method == "GET" else ""
    return PresenceForm(formdata=None, presence=current_user.presence.value, next=here)


def case_url(case_id: int) -> str:
    """The case page's URL, or the inbox while the case page is not part of this app."""
    try:
        return url_for("cases.detail", case_id=case_id)
    except BuildError:
        return url_for("inbox.index")


@bp.post("/presence")
def set_presence():
    """Set the signed-in user's own presence (the no-JavaScript path; the socket path is `presence.set`)."""
    form = PresenceForm()
    target = _safe_next(form.next.data)
    if not form.validate():       # a bad CSRF token never gets here: CSRFProtect refuses it with 400
        flash("Choose Available, Away or Offline.", "error")
        return redirect(target, 303)
    presence = Presence(form.presence.data)
    Session.remove()       # loading current_user began a read; the step is a writer from its first statement
    routing.perform(rq_connection(), routing_engine.set_presence, current_user.id, presence)
    log.info("user %s set presence %s", current_user.id, presence.value)
    flash(f"You are now {PRESENCE_LABELS[presence]}.", "info")
    return redirect(target, 303)


@bp.get("/offers")
def open_offers():
    """The ids of the offers waiting on the signed-in user, oldest first: a page shows them at load and
    after a reconnect, since a push sent while it was not listening is gone."""
    ids = Session.execute(select(RoutingDecision.id).where(
        RoutingDecision.user_id == current_user.id, RoutingDecision.kind == DecisionKind.OFFER,
        RoutingDecision.outcome == DecisionOutcome.OFFERED).order_by(RoutingDecision.id)).scalars().all()
    return jsonify(offers=ids)


@bp.get("/offers/<int:decision_id>")
def offer(decision_id: int):
    """The body of the offer dialog: what the offered case is about. Only for the agent it is offered to;
    404 for anyone else (the same answer as for no such offer), 410 once the offer is answered or gone."""
    decision = Session.execute(
        select(RoutingDecision).where(RoutingDecision.id == decision_id, RoutingDecision.kind == DecisionKind.OFFER)
    ).scalar_one_or_none()
    if decision is None or decision.user_id != current_user.id:
        abort(404)
    case = Session.execute(select(Case).options(joinedload(Case.constituent), joinedload(Case.queue))
                           .where(Case.id == decision.case_id)).scalar_one_or_none()
    if (decision.outcome is not DecisionOutcome.OFFERED or case is None or case.offered_to_id != current_user.id
            or not access.can_see_case(current_user, case)):
        return render_template("console/_offer_gone.html"), 410
    return render_template("console/_offer.html", decision=decision, case=case,
                           channel=CHANNEL_LABELS.get(case.channel.value, case.channel.value),
                           snippet=_snippet(case.subject), seconds_left=_seconds_left(decision.expires_at),
                           case_url=case_url(case.id))


@bp.get("/cases/<int:case_id>/notice")
def assignment_notice(case_id: int):
    """The notice shown when a case is assigned to the signed-in user: its reference and subject."""
    case = access.case_or_404(case_id)
    if case.assignee_id != current_user.id:
        abort(404)
    audit.view("case", case.id, constituent_id=case.constituent_id, via="assignment notice")
    return render_template("console/_assigned.html", case=case, snippet=_snippet(case.subject),
                           case_url=case_url(case.id))


def _snippet(text: str) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= SNIPPET_CHARS else text[:SNIPPET_CHARS - 1].rstrip() + "…"


def _seconds_left(expires_at: datetime | None) -> int:
    if expires_at is None:
        return current_app.config["ROUTING_OFFER_TIMEOUT_SECONDS"]
    return max(0, int((expires_at - utcnow()).total_seconds()))

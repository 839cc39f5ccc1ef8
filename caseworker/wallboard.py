"""The supervisor's live wallboard: queues by channel and agents at a glance, and the actions a supervisor
takes from it (reassign a case, return it to its queue, change an agent's presence).

The figures come from `routing.wallboard.snapshot` (aggregate queries). The page re-fetches its figures
partial when a push reaches the "supervisors" room (`queue.changed`, `wallboard.changed`, `agent.presence`,
`sla.*`), at most once a second, and after a reconnect (static/js/wallboard.js). Every action goes through the
routing engine as one unit of work with its AuditEvent (`routing.perform`).
"""
import logging

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length

import routing
from caseworker import audit
from caseworker.access import can_see_case
from caseworker.auth import require_role
from caseworker.cases import perform as perform_on_case
from caseworker.console import CHANNEL_LABELS, PRESENCE_LABELS
from caseworker.extensions import rq_connection
from models import AuditAction, Case, Presence, Role, Session, User
from routing import engine as routing_engine
from routing import wallboard as figures
from routing.wallboard import AGENT_ROLES

log = logging.getLogger(__name__)

bp = Blueprint("wallboard", __name__, url_prefix="/wallboard")
bp.before_request(require_role(Role.SUPERVISOR))

_REFERENCE = [InputRequired("Enter the case's reference, like C-2026-000123."), Length(max=32)]
_UPPER = [lambda value: value.strip().upper() if value else value]


class ReassignForm(FlaskForm):
    reference = StringField("Case reference", id="reassign-reference", validators=_REFERENCE, filters=_UPPER)
    user = SelectField("Assign to", id="reassign-user", coerce=int, validators=[InputRequired()])
    force = BooleanField("Even when they have no free slot", id="reassign-force")


class ReturnForm(FlaskForm):
    reference = StringField("Case reference", id="return-reference", validators=_REFERENCE, filters=_UPPER)


class AgentPresenceForm(FlaskForm):
    user = SelectField("Agent", id="presence-user", coerce=int, validators=[InputRequired()])
    presence = SelectField("New presence", id="presence-value", validators=[InputRequired()],
                           choices=[SelectChoice(p.value, label) for p, label in PRESENCE_LABELS.items()])


def _agents() -> list[SelectChoice]:
    return [SelectChoice(user_id, name) for user_id, name in Session.execute(
        select(User.id, User.display_name).where(User.is_active, User.role.in_(AGENT_ROLES))
        .order_by(User.display_name, User.id))]


def _forms() -> dict:
    agents = _agents()
    reassign, presence = ReassignForm(prefix="reassign"), AgentPresenceForm(prefix="presence")
    reassign.user.choices = presence.user.choices = agents
    return {"reassign_form": reassign, "return_form": ReturnForm(prefix="return"), "agent_presence_form": presence}


def _board() -> dict:
    config = current_app.config
    board = figures.snapshot(Session())
    return {"board": board, "duration": figures.duration, "channels": CHANNEL_LABELS, "presences": PRESENCE_LABELS,
            "alerts": board.alerts(config["WALLBOARD_OLDEST_WAIT_ALERT_SECONDS"], config["WALLBOARD_AT_RISK_ALERT"])}


@bp.get("/")
def index():
    return render_template("wallboard/index.html", **_board(), **_forms())


@bp.get("/figures")
def figures_partial():
    """The figures alone, for the page to re-fetch when something changed."""
    return render_template("wallboard/_figures.html", **_board())


def _back():
    return redirect(url_for(".index"), 303)


def _submitted_case(form: FlaskForm, fallback: str) -> Case | None:
    """The case a valid action form names by reference; None, with the reason flashed, otherwise."""
    if not form.validate_on_submit():
        _form_error(form, fallback)
        return None
    case = Session.execute(select(Case).where(Case.reference == form.reference.data)).scalar_one_or_none()
    if case is None or not can_see_case(current_user, case):
        flash(f"No case {form.reference.data}.", "error")
        return None
    return case


def _form_error(form: FlaskForm, fallback: str) -> None:
    errors = [message for messages in form.errors.values() for message in messages]
    flash(errors[0] if errors else fallback, "error")


@bp.post("/reassign")
def reassign():
    """Give a case to another agent (or to one first), whatever their presence. Audited on the case."""
    form = _forms()["reassign_form"]
    case = _submitted_case(form, "Enter a case reference and choose whom to assign it to.")
    if case is None:
        return _back()
    case_id, user_id, force, reference = case.id, form.user.data, form.force.data, case.reference
    if perform_on_case(case, lambda s: routing_engine.assign_manually(s, case_id, user_id, current_user.id,
                                                                      force=force),
                       "assign", user_id=user_id, force=force, source="wallboard"):
        flash(f"{reference} assigned to {Session.get(User, user_id).display_name}.", "info")
    return _back()


@bp.post("/return")
def return_to_queue():
    """Take a case from its owner (or its offer) and route it again from its queue. Audited on the case."""
    case = _submitted_case(_forms()["return_form"], "Enter a case reference.")
    if case is None:
        return _back()
    case_id, reference = case.id, case.reference
    if perform_on_case(case, lambda s: routing_engine.return_to_queue(s, case_id, current_user.id), "return",
                       source="wallboard"):
        flash(f"{reference} returned to its queue; routing picks the next owner.", "info")
    return _back()


@bp.post("/presence")
def set_presence():
    """Change an agent's presence for them (e.g. marked available but gone home). Audited on the user."""
    form = _forms()["agent_presence_form"]
    if not form.validate_on_submit():
        _form_error(form, "Choose an agent and a presence.")
        return _back()
    user_id, presence, actor_id = form.user.data, Presence(form.presence.data), current_user.id
    name = Session.get(User, user_id).display_name

    def unit(session):
        effects = routing_engine.set_presence(session, user_id, presence)
        audit.record(session, AuditAction.UPDATE, "user", user_id, actor_id=actor_id, change="presence",
                     presence=presence.value, source="wallboard")
        return effects

    Session.remove()          # the form read users; the step is a writer from its first statement
    routing.perform(rq_connection(), unit)
    log.info("user %s set presence of user %s to %s", actor_id, user_id, presence.value)
    flash(f"{name} is now {PRESENCE_LABELS[presence]}.", "info")
    return _back()

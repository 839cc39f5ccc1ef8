"""The constituent 360° view: who they are, how to reach them, their cases, one timeline, duplicates, merges.

Every page that shows a constituent's record writes an AuditEvent; supervisors and admins see the record's
access log on the page itself and the whole trail under /constituents/audit.
"""
import logging

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import joinedload
from wtforms import RadioField, SubmitField
from wtforms.validators import InputRequired

from caseworker import access, audit
from caseworker.caselist import like_pattern
from caseworker.auth import require_role, role_required
from caseworker.extensions import redis_client
from caseworker.forms import ConfirmForm
from channels import identity
from channels.base import InvalidContact
from channels.calls import caller_address
from models import (
    OPEN_STATUSES,
    AuditAction,
    AuditEvent,
    Case,
    Constituent,
    ConstituentMerge,
    ContactKind,
    ContactPoint,
    Interaction,
    Role,
    Session,
    User,
)

log = logging.getLogger(__name__)

bp = Blueprint("constituents", __name__, url_prefix="/constituents")
bp.before_request(require_role(Role.AGENT))

TIMELINE_PAGE = 100
CASES_SHOWN = 200
SEARCH_LIMIT = 50
AUDIT_PAGE = 100


def case_url(case_id: int) -> str | None:
    """The case page's address, or None while the case page (cases.detail) is not part of the app."""
    if "cases.detail" not in current_app.view_functions:
        return None
    return url_for("cases.detail", case_id=case_id)


@bp.context_processor
def _helpers() -> dict:
    return {"case_url": case_url}


class MergeForm(FlaskForm):
    keep = RadioField("Which record stays?", validators=[InputRequired("Choose the record that stays.")],
                      coerce=int)
    submit = SubmitField("Merge the records")


# ---- reading ------------------------------------------------------------------------------------------


def _visible_constituents():
    """A WHERE clause on Constituent: records the signed-in user may open through one of their cases."""
    if access.sees_everything(current_user):
        return Constituent.merged_into_id.is_(None)
    return Constituent.merged_into_id.is_(None) & exists().where(Case.constituent_id == Constituent.id,
                                                                access.case_filter(current_user))


def search(query: str) -> list[Constituent]:
    """Constituents matching a name, an email address or a phone number (any format), that the user may open."""
    query = query.strip()
    matches = []
    if "@" in query:
        matches.append(Constituent.contact_points.any(
            (ContactPoint.kind == ContactKind.EMAIL) & (ContactPoint.value == query.lower())))
    digits = "".join(ch for ch in query if ch.isdigit())
    if len(digits) >= 6:
        try:
            number = caller_address(query, current_app.config["DEFAULT_PHONE_REGION"]).value
            matches.append(Constituent.contact_points.any(
                (ContactPoint.kind == ContactKind.PHONE) & (ContactPoint.value == number)))
        except InvalidContact:
            pass
        matches.append(Constituent.contact_points.any(
            (ContactPoint.kind == ContactKind.PHONE) & ContactPoint.value.like(f"%{digits}")))
    words = [w for w in query.lower().split() if len(w) >= 2]
    if words and "@" not in query and len(digits) < 6:
        matches.append(_all_words(words))
    if not matches:
        return []
    return list(Session.execute(
        select(Constituent).where(or_(*matches), _visible_constituents())
        .options(joinedload(Constituent.contact_points))
        .order_by(Constituent.display_name, Constituent.id).limit(SEARCH_LIMIT)).unique().scalars())


def _all_words(words: list[str]):
    return and_(*(Constituent.display_name.ilike(like_pattern(word), escape="\\") for word in words))


def _cases(constituent_id: int) -> tuple[list[Case], int]:
    """The constituent's cases the user may open (open first, recent first), and how many others exist."""
    mine = Case.constituent_id == constituent_id
    visible = access.case_filter(current_user)
    cases = Session.execute(
        select(Case).where(mine, visible).options(joinedload(Case.queue), joinedload(Case.assignee))
        .order_by(Case.status.in_(OPEN_STATUSES).desc(), Case.last_activity_at.desc()).limit(CASES_SHOWN)
    ).scalars().all()
    total = Session.execute(select(func.count(Case.id)).where(mine)).scalar_one()
    shown = Session.execute(select(func.count(Case.id)).where(mine, visible)).scalar_one()
    return list(cases), total - shown


def _timeline(constituent_id: int, offset: int) -> tuple[list[Interaction], int]:
    """Every interaction on the constituent's visible cases, across channels, newest first; and the count."""
    where = (Case.constituent_id == constituent_id) & access.case_filter(current_user)
    base = select(Interaction).join(Case, Case.id == Interaction.case_id).where(where)
    rows = Session.execute(
        base.options(joinedload(Interaction.case), joinedload(Interaction.author),
                     joinedload(Interaction.contact_point))
        .order_by(Interaction.occurred_at.desc(), Interaction.id.desc()).offset(offset).limit(TIMELINE_PAGE)
    ).scalars().all()
    total = Session.execute(select(func.count()).select_from(base.subquery())).scalar_one()
    return list(rows), total


def _duplicates(constituent_id: int) -> list[identity.Suggestion]:
    if not current_user.has_role(Role.CASEWORKER):
        return []
    redis = redis_client()
    return [s for s in identity.duplicates(Session(), constituent_id)
            if access.can_see_constituent(current_user, s.constituent_id, redis)]


def _access_log(constituent_id: int, limit: int = 20) -> list[AuditEvent]:
    if not access.sees_everything(current_user):
        return []
    return list(Session.execute(
        select(AuditEvent).where(AuditEvent.constituent_id == constituent_id)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)).scalars())


def _call_in_progress(constituent_id: int) -> Interaction | None:
    """The call a screen pop brought the agent here for (?call=<call id>), if it is this caller's and visible."""
    call_id = request.args.get("call", type=int)
    if call_id is None:
        return None
    call = Session.get(Interaction, call_id)
    if call is None or call.constituent_id != constituent_id or not access.can_see_case(current_user, call.case):
        return None
    return call if call.meta.get("state") == "ringing" else None


# ---- views --------------------------------------------------------------------------------------------


@bp.get("/")
def index():
    """Search constituents by name, email or phone."""
    query = request.args.get("q", "").strip()[:200]
    results = search(query) if query else []
    if query:
        audit.view("constituent_search", None, results=[c.id for c in results])
    return render_template("constituents/search.html", query=query, results=results)


@bp.get("/<int:constituent_id>")
def detail(constituent_id: int):
    """The 360° view of one constituent."""
    constituent = Session.get(Constituent, constituent_id)
    if constituent is not None and constituent.merged_into_id is not None:
        survivor = identity.current(Session(), constituent)
        access.constituent_or_404(survivor.id, redis_client())
        flash("That record was merged into this one.", "info")
        return redirect(url_for(".detail", constituent_id=survivor.id))
    constituent = access.constituent_or_404(constituent_id, redis_client())
    offset = max(request.args.get("offset", 0, type=int), 0)
    cases, hidden_cases = _cases(constituent_id)
    timeline, timeline_total = _timeline(constituent_id, offset)
    page = {
        "constituent": constituent,
        "contact_points": sorted(constituent.contact_points, key=lambda p: (p.kind.value, p.value)),
        "cases": cases, "hidden_cases": hidden_cases,
        "timeline": timeline, "timeline_total": timeline_total, "offset": offset, "page_size": TIMELINE_PAGE,
        "duplicates": _duplicates(constituent_id),
        "merges": identity.merges_of(Session(), constituent_id),
        "access_log": _access_log(constituent_id),
        "call": _call_in_progress(constituent_id),
        "can_merge": current_user.has_role(Role.CASEWORKER),
        "undo_form": ConfirmForm(),
    }
    audit.view("constituent", constituent_id, constituent_id=constituent_id, page="360", offset=offset)
    return render_template("constituents/detail.html", **page)


@bp.route("/<int:constituent_id>/merge/<int:other_id>", methods=["GET", "POST"])
@role_required(Role.CASEWORKER)
def merge(constituent_id: int, other_id: int):
    """Compare two records side by side and merge one into the other."""
    redis = redis_client()
    pair = [access.constituent_or_404(constituent_id, redis), access.constituent_or_404(other_id, redis)]
    if constituent_id == other_id or any(c.merged_into_id is not None for c in pair):
        abort(404)
    form = MergeForm()
    form.keep.choices = [(c.id, f"{c.display_name or 'Unnamed'} (record {c.id})") for c in pair]
    if form.validate_on_submit():
        target = form.keep.data
        source = other_id if target == constituent_id else constituent_id
        try:
            record = identity.merge(Session(), source, target, current_user.id)
        except identity.MergeError as error:
            Session.rollback()
            flash(str(error), "error")
            return redirect(url_for(".detail", constituent_id=constituent_id))
        for cid in (source, target):
            audit.record(Session(), AuditAction.MERGE, "constituent", cid, constituent_id=cid,
                         merge_id=record.id, source_id=source, target_id=target)
        Session.commit()
        flash(f"Record {source} was merged into this one. You can undo the merge below.", "success")
        return redirect(url_for(".detail", constituent_id=target))
    counts = dict(Session.execute(select(Case.constituent_id, func.count(Case.id))
                                  .where(Case.constituent_id.in_([constituent_id, other_id]))
                                  .group_by(Case.constituent_id)).all())
    for c in pair:
        audit.view("constituent", c.id, constituent_id=c.id, page="merge")
    return render_template("constituents/merge.html", pair=pair, counts=counts, form=form,
                           reasons=_reasons(constituent_id, other_id))


def _reasons(constituent_id: int, other_id: int) -> list[str]:
    found = next((s for s in identity.duplicates(Session(), constituent_id) if s.constituent_id == other_id), None)
    return found.reasons if found else []


@bp.post("/merges/<int:merge_id>/undo")
@role_required(Role.CASEWORKER)
def undo_merge(merge_id: int):
    """Undo a merge: the merged record comes back with its contact points, cases and history."""
    form = ConfirmForm()
    record = Session.get(ConstituentMerge, merge_id)
    if record is None or not form.validate_on_submit():
        abort(404 if record is None else 400)
    access.constituent_or_404(record.target_id, redis_client())
    try:
        identity.undo(Session(), merge_id, current_user.id)
    except identity.MergeError as error:
        Session.rollback()
        flash(str(error), "error")
        return redirect(url_for(".detail", constituent_id=record.target_id))
    for cid in (record.source_id, record.target_id):
        audit.record(Session(), AuditAction.MERGE, "constituent", cid, constituent_id=cid, merge_id=merge_id,
                     undo=True)
    Session.commit()
    flash(f"The merge was undone: record {record.source_id} is separate again.", "success")
    return redirect(url_for(".detail", constituent_id=record.target_id))


@bp.get("/audit")
@role_required(Role.SUPERVISOR)
def audit_log():
    """The audit trail: who saw or changed what, when, from where; by constituent, by staff member."""
    constituent_id = request.args.get("constituent", type=int)
    actor_id = request.args.get("actor", type=int)
    offset = max(request.args.get("offset", 0, type=int), 0)
    query = select(AuditEvent)
    if constituent_id is not None:
        query = query.where(AuditEvent.constituent_id == constituent_id)
    if actor_id is not None:
        query = query.where(AuditEvent.actor_id == actor_id)
    events = Session.execute(query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
                             .offset(offset).limit(AUDIT_PAGE)).scalars().all()
    total = Session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    actors = {u.id: u for u in Session.execute(
        select(User).where(User.id.in_({e.actor_id for e in events if e.actor_id}))).scalars()}
    audit.view("audit_log", None, constituent_id=constituent_id, actor=actor_id, offset=offset)
    return render_template("constituents/audit.html", events=events, total=total, offset=offset,
                           page_size=AUDIT_PAGE, actors=actors, constituent_id=constituent_id, actor_id=actor_id)

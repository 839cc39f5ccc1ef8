"""The case page: header, one timeline of every interaction across channels, and the actions on a case.

Every view, partial and action checks the case through `access.case_or_404`; every view of a case writes an
AuditEvent. Actions are thin: validate, call one service (channels.casework, routing.lifecycle, the routing
engine through `routing.perform`), commit, then signal `case_changed` so the pages watching the case re-fetch
their partials. Who else is viewing or typing (collision detection) is kept in Redis with an expiry.
"""
import logging
import time
from dataclasses import dataclass
from datetime import datetime

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup, escape
from redis import Redis, RedisError
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, selectinload
from werkzeug.routing import BuildError
from wtforms.fields.choices import SelectChoice

import routing
from caseworker import audit
from caseworker import chat as chat_console
from caseworker.access import can_see_case, case_or_404
from caseworker.auth import require_role, role_required
from caseworker.case_forms import (
    AssignForm,
    CaseStatusForm,
    CategoryForm,
    LinkForm,
    MergeForm,
    NoteForm,
    PriorityForm,
    ReplyForm,
    TransferForm,
)
from caseworker.extensions import enqueue_after_commit, redis_client, rq_connection
from caseworker.forms import ConfirmForm
from caseworker.retention_forms import LegalHoldForm
from channels import casework, jobs, outbound, storage
from channels import signals as channel_signals
from channels.settings import current as channel_settings
from models import (
    AuditAction,
    Attachment,
    Case,
    CaseMerge,
    CaseStatus,
    Category,
    Interaction,
    Priority,
    Queue,
    Role,
    RoutingDecision,
    Session,
    User,
    utcnow,
)
from routing import engine as routing_engine
from routing import lifecycle
from routing.explain import describe, language_name

log = logging.getLogger(__name__)

VIEWING_SECONDS = 45          # the page says it is still open every 20 s
TYPING_SECONDS = 8

bp = Blueprint("cases", __name__, url_prefix="/cases")
bp.before_request(require_role(Role.AGENT))


# ---- who else is here: viewing and typing, in Redis sorted sets scored by expiry -----------------------


def _presence_key(case_id: int, kind: str) -> str:
    return f"casework:case:{case_id}:{kind}"


def touch_presence(redis: Redis, case_id: int, user_id: int, kind: str) -> bool:
    """Mark `user_id` as `kind` ("viewing" or "typing") on the case for a while; True when they were not yet."""
    seconds = TYPING_SECONDS if kind == "typing" else VIEWING_SECONDS
    now = time.time()
    key = _presence_key(case_id, kind)
    pipe = redis.pipeline()
    pipe.zremrangebyscore(key, "-inf", now)
    pipe.zadd(key, {str(user_id): now + seconds})
    pipe.expire(key, seconds)
    return bool(pipe.execute()[1])


def clear_presence(redis: Redis, case_id: int, user_id: int, kinds: tuple[str, ...] = ("viewing", "typing")) -> bool:
    """`user_id` left the case (or stopped typing); True when that changes what others see."""
    pipe = redis.pipeline()
    for kind in kinds:
        pipe.zrem(_presence_key(case_id, kind), str(user_id))
    return any(pipe.execute())


def present_user_ids(redis: Redis, case_id: int, kind: str) -> list[int]:
    """Who is `kind` on the case now (expired marks left out)."""
    return [int(x) for x in redis.zrangebyscore(_presence_key(case_id, kind), time.time(), "+inf")]


# ---- reading ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One line of the timeline: an interaction, or a routing decision told in words."""

    at: datetime
    interaction: Interaction | None = None
    decision: RoutingDecision | None = None
    sentence: str = ""

    @property
    def anchor(self) -> str:
        return f"i-{self.interaction.id}" if self.interaction else f"r-{self.decision.id}"


def timeline(case_id: int) -> list[Entry]:
    """Every interaction and routing decision of the case, oldest first."""
    interactions = Session.execute(
        select(Interaction).where(Interaction.case_id == case_id)
        .options(selectinload(Interaction.attachments), joinedload(Interaction.author))
        .order_by(Interaction.occurred_at, Interaction.id)).scalars()
    decisions = Session.execute(
        select(RoutingDecision).where(RoutingDecision.case_id == case_id)
        .options(joinedload(RoutingDecision.user)).order_by(RoutingDecision.created_at, RoutingDecision.id)).scalars()
    entries = [Entry(i.occurred_at, interaction=i) for i in interactions]
    entries += [Entry(d.created_at, decision=d, sentence=describe(d)) for d in decisions]
    return sorted(entries, key=lambda e: (e.at, e.decision is not None))


def _last_interaction_id(case_id: int) -> int:
    return Session.execute(select(func.max(Interaction.id)).where(Interaction.case_id == case_id)).scalar() or 0


def _latest_decision(case_id: int) -> RoutingDecision | None:
    return Session.execute(select(RoutingDecision).where(RoutingDecision.case_id == case_id)
                           .order_by(RoutingDecision.created_at.desc(), RoutingDecision.id.desc()).limit(1)
                           ).scalar_one_or_none()


def _reply_address(case: Case) -> str | None:
    try:
        return outbound.reply_recipient(Session(), case).value
    except outbound.NoEmailAddress:
        return None


def _visible_case_by_reference(reference: str) -> Case | None:
    other = Session.execute(select(Case).where(Case.reference == reference)).scalar_one_or_none()
    return other if other is not None and can_see_case(current_user, other) else None


def _audit_view(case: Case, part: str) -> None:
    audit.view("case", case.id, constituent_id=case.constituent_id, part=part)


def _audit_change(case: Case, change: str, **detail) -> None:
    audit.record(Session(), AuditAction.UPDATE, "case", case.id, constituent_id=case.constituent_id, change=change,
                 **detail)


@bp.app_template_filter("case_countdown")
def countdown(due: datetime | None) -> str:
    """'due in 2 h 5 min' or 'overdue by 40 min', from now."""
    if due is None:
        return "no target"
    seconds = int((due - utcnow()).total_seconds())
    minutes = abs(seconds) // 60
    words = f"{minutes // 1440} d {minutes % 1440 // 60} h" if minutes >= 1440 else \
        f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"
    return f"due in {words}" if seconds >= 0 else f"overdue by {words}"


@bp.app_template_filter("with_mentions")
def with_mentions(text: str) -> Markup:
    """A note's text, escaped, with its @mentions marked."""
    escaped = str(escape(text))
    return Markup(casework.MENTION_RE.sub(lambda m: f'<strong class="mention">{m.group(0)}</strong>', escaped))


# ---- forms of the page --------------------------------------------------------------------------------


def _status_form(case: Case, **kw) -> CaseStatusForm:
    form = CaseStatusForm(**kw)
    form.status.choices = [SelectChoice(s.value, lifecycle.STATUS_WORDS[s]) for s in lifecycle.allowed_statuses(case)]
    return form


def _category_form(case: Case, **kw) -> CategoryForm:
    form = CategoryForm(**kw)
    form.category.choices = [SelectChoice(0, "None")] + [SelectChoice(c.id, c.name) for c in Session.execute(
        select(Category).order_by(Category.name)).scalars()]
    return form


def _transfer_form(case: Case, **kw) -> TransferForm:
    form = TransferForm(**kw)
    form.queue.choices = [SelectChoice(q.id, q.name) for q in Session.execute(
        select(Queue).where(Queue.is_active, Queue.id != (case.queue_id or 0)).order_by(Queue.name)).scalars()]
    return form


def _assign_form(case: Case, **kw) -> AssignForm:
    form = AssignForm(**kw)
    form.user.choices = [SelectChoice(u.id, u.display_name) for u in Session.execute(
        select(User).where(User.is_active).order_by(User.display_name)).scalars()]
    return form


_BUILDERS = {
    "reply_form": lambda case, **kw: ReplyForm(**kw),
    "note_form": lambda case, **kw: NoteForm(**kw),
    "status_form": _status_form,
    "priority_form": lambda case, **kw: PriorityForm(priority=int(case.priority), **kw),
    "category_form": lambda case, **kw: _category_form(case, category=case.category_id or 0, **kw),
    "transfer_form": _transfer_form,
    "assign_form": _assign_form,
    "merge_form": lambda case, **kw: MergeForm(prefix="merge", **kw),
    "link_form": lambda case, **kw: LinkForm(prefix="link", **kw),
    "confirm_form": lambda case, **kw: ConfirmForm(**kw),
    # Legal hold (caseworker/legal_hold.py): the form asks for the other state than the case is in.
    "legal_hold_form": lambda case, **kw: LegalHoldForm(hold="off" if case.legal_hold else "on", **kw),
}


def render_page(case: Case, status: int = 200, **posted) -> tuple[str, int]:
    """The whole case page; `posted` holds the form that was sent (with its errors and typed text). Views of other
    modules that post to the case page (legal hold) answer a refused form with it."""
    forms = {name: posted.pop(name, None) or build(case, formdata=None) for name, build in _BUILDERS.items()}
    if "reply_body" in posted:
        forms["reply_form"].body.data = posted.pop("reply_body")
    linked = [Session.get(Case, i) for i in casework.linked_case_ids(Session(), case.id)]
    html = render_template(
        "cases/detail.html", entries=timeline(case.id), last_seen=_last_interaction_id(case.id),
        reply_to=_reply_address(case), macros=casework.active_macros(Session()), linked=[c for c in linked if c],
        viewers=_others(case.id, "viewing"), typing=_others(case.id, "typing"), **_header_context(case),
        is_supervisor=current_user.has_role(Role.SUPERVISOR), **chat_console.panel_for(case),
        **forms, **posted)
    return html, status


def _header_context(case: Case) -> dict:
    merged = Session.get(CaseMerge, case.id)
    decision = _latest_decision(case.id)
    try:
        constituent_url = url_for("constituents.detail", constituent_id=case.constituent_id) \
            if case.constituent_id else None
    except BuildError:
        constituent_url = None
    return {"case": case, "language_name": language_name, "constituent_url": constituent_url,
            "routing_sentence": describe(decision) if decision else None,
            "merged_into": Session.get(Case, merged.into_case_id) if merged else None}


def _others(case_id: int, kind: str) -> list[User]:
    try:
        present = present_user_ids(redis_client(), case_id, kind)
    except RedisError:          # Redis is restarting: the page still opens, without who else is on it
        log.warning("case %s: redis unavailable, page shown without collision marks", case_id)
        return []
    ids = [i for i in present if i != current_user.id]
    if not ids:
        return []
    return list(Session.execute(select(User).where(User.id.in_(ids)).order_by(User.display_name)).scalars())


def _back(case_id: int, anchor: str = "timeline"):
    return redirect(url_for(".detail", case_id=case_id, _anchor=anchor))


def _changed(case_id: int) -> None:
    """After commit: pages watching the case re-fetch what they show."""
    channel_signals.case_changed.send(case_id)


def perform(case: Case, step, what: str, action: AuditAction = AuditAction.UPDATE, **detail) -> bool:
    """Run a routing step on the case as its own unit of work with its audit row, then announce it.
    Flashes the refusal and returns False when the step cannot be done."""
    case_id, constituent_id, user_id = case.id, case.constituent_id, current_user.id

    def unit(session):
        effects = step(session)
        audit.record(session, action, "case", case_id, constituent_id=constituent_id, actor_id=user_id,
                     change=what, **detail)
        return effects

    Session.remove()        # the check read the case; the step is a writer from its first statement
    try:
        routing.perform(rq_connection(), unit)
    except (lifecycle.LifecycleError, routing_engine.RoutingError) as error:
        flash(str(error) if isinstance(error, lifecycle.LifecycleError) else "That cannot be done: "
              "the person has no free slot for this channel, or the case is not open.", "error")
        return False
    _changed(case_id)
    return True


# ---- pages and partials -------------------------------------------------------------------------------


@bp.get("/<int:case_id>")
def detail(case_id: int):
    case = case_or_404(case_id)
    _audit_view(case, "page")
    posted = {}
    macro_id = request.args.get("macro", type=int)
    if macro_id:
        try:
            posted["reply_body"] = casework.apply_macro(Session(), macro_id, case, current_user)
        except casework.CaseworkError as error:
            flash(str(error), "error")
    return render_page(case, **posted)


@bp.get("/<int:case_id>/timeline")
def timeline_partial(case_id: int):
    case = case_or_404(case_id)
    _audit_view(case, "timeline")
    return render_template("cases/_timeline.html", case=case, entries=timeline(case.id))


@bp.get("/<int:case_id>/header")
def header(case_id: int):
    case = case_or_404(case_id)
    _audit_view(case, "header")
    return render_template("cases/_header.html", **_header_context(case))


@bp.get("/<int:case_id>/presence")
def presence(case_id: int):
    case = case_or_404(case_id)
    return render_template("cases/_presence.html", viewers=_others(case.id, "viewing"),
                           typing=_others(case.id, "typing"))


@bp.get("/<int:case_id>/macros/<int:macro_id>")
def macro_text(case_id: int, macro_id: int):
    """A macro filled in for the case, as plain text: case.js puts it into the reply being written."""
    case = case_or_404(case_id)
    try:
        text = casework.apply_macro(Session(), macro_id, case, current_user)
    except casework.CaseworkError:
        abort(404)
    _audit_view(case, "macro")
    return Response(text, mimetype="text/plain")


@bp.get("/<int:case_id>/attachments/<int:attachment_id>")
def attachment(case_id: int, attachment_id: int):
    """A file of the case, as a download (never shown inline: it came from outside). Audited."""
    case = case_or_404(case_id)
    found = Session.execute(select(Attachment).join(Interaction).where(
        Attachment.id == attachment_id, Interaction.case_id == case.id,
        Attachment.purged_at.is_(None))).scalar_one_or_none() or abort(404)      # retention deleted the file
    audit.view("attachment", found.id, constituent_id=case.constituent_id, case_id=case.id)
    try:
        data = storage.read(channel_settings().attachment_dir, found.sha256)
    except FileNotFoundError:
        abort(404)
    return Response(data, mimetype="application/octet-stream", headers={
        "Content-Disposition": storage.content_disposition(found.filename),
        "X-Content-Type-Options": "nosniff"})


# ---- actions -----------------------------------------------------------------------------------------


@bp.post("/<int:case_id>/reply")
def reply(case_id: int):
    case = case_or_404(case_id)
    form = ReplyForm()
    if not form.validate_on_submit():
        return render_page(case, 422, reply_form=form)
    other = casework.answered_since(Session(), case.id, form.last_seen.data or 0, current_user.id)
    if other is not None:
        # The typed text stays in the form; the page now shows the other reply, so sending again goes out.
        return render_page(case, 409, reply_form=form, collision=other)
    uploads = [casework.Upload(f.filename, f.read(), f.mimetype)
               for f in form.attachments.data or [] if f and f.filename]
    try:
        message = casework.reply(Session(), case, form.body.data, current_user.id, uploads,
                                 channel_settings().attachment_dir)
    except (casework.CaseworkError, outbound.NoEmailAddress) as error:
        Session.rollback()
        form.body.errors = [*form.body.errors, str(error) if isinstance(error, casework.CaseworkError)
                            else "This case has no email address to answer; record a call note instead."]
        return render_page(Session.get(Case, case_id), 422, reply_form=form)
    _audit_change(case, "reply", interaction_id=message.id)
    message_id = message.id
    Session.commit()
    enqueue_after_commit(lambda redis: jobs.request_send(redis, message_id))   # queued while Redis is away
    _changed(case_id)
    flash("Your reply is queued for sending.", "success")
    return _back(case_id)


@bp.post("/<int:case_id>/notes")
def add_note(case_id: int):
    case = case_or_404(case_id)
    form = NoteForm()
    if not form.validate_on_submit():
        return render_page(case, 422, note_form=form)
    try:
        note, mentioned = casework.add_note(Session(), case, form.note.data, current_user.id, can_see_case)
    except casework.CaseworkError as error:
        Session.rollback()
        form.note.errors = [*form.note.errors, str(error)]
        return render_page(Session.get(Case, case_id), 422, note_form=form)
    _audit_change(case, "note", interaction_id=note.id, mentions=[u.id for u in mentioned])
    note_id, user_ids = note.id, [u.id for u in mentioned]
    Session.commit()
    _changed(case_id)
    for user_id in user_ids:
        channel_signals.mentioned.send(case_id, interaction_id=note_id, user_id=user_id)
    flash("Note added." + (f" {len(user_ids)} colleague(s) notified." if user_ids else ""), "success")
    return _back(case_id)


@bp.post("/<int:case_id>/status")
def change_status(case_id: int):
    case = case_or_404(case_id)
    form = _status_form(case)
    if not form.validate_on_submit():
        flash("Choose one of the statuses offered.", "error")
        return _back(case_id, "case-details")
    status = CaseStatus(form.status.data)
    if perform(case, lambda s: lifecycle.change_status(s, case_id, status, current_user.id), "status",
                status=status.value):
        flash(f"Status is now {lifecycle.STATUS_WORDS[status]}.", "success")
    return _back(case_id)


def _simple_change(case: Case, form, change, what: str):
    if not form.validate_on_submit():
        flash("Choose one of the values offered.", "error")
        return _back(case.id, "case-details")
    try:
        changed = change()
    except lifecycle.LifecycleError as error:
        Session.rollback()
        flash(str(error), "error")
        return _back(case.id, "case-details")
    if changed is not None:
        _audit_change(case, what, interaction_id=changed.id)
        Session.commit()
        _changed(case.id)
        flash(changed.body_text, "success")
    return _back(case.id)


@bp.post("/<int:case_id>/priority")
def change_priority(case_id: int):
    case = case_or_404(case_id)
    form = PriorityForm()
    return _simple_change(case, form, lambda: lifecycle.change_priority(
        Session(), case.id, Priority(form.priority.data), current_user.id), "priority")


@bp.post("/<int:case_id>/category")
def change_category(case_id: int):
    case = case_or_404(case_id)
    form = _category_form(case)
    return _simple_change(case, form, lambda: lifecycle.change_category(
        Session(), case.id, form.category.data or None, current_user.id), "category")


def _after_move(case_id: int, done: str):
    """Where to go after the case moved: its page, or the inbox when the person may not see it any more."""
    case = Session.get(Case, case_id)
    if case is None or not can_see_case(current_user, case):
        flash(f"{done} It is no longer in your queues.", "success")
        return redirect(url_for("inbox.index"))
    flash(done, "success")
    return _back(case_id)


@bp.post("/<int:case_id>/transfer")
def transfer(case_id: int):
    case = case_or_404(case_id)
    form = _transfer_form(case)
    if not form.validate_on_submit():
        flash("Choose a queue to transfer the case to.", "error")
        return _back(case_id, "case-transfer")
    queue_id = form.queue.data
    if not perform(case, lambda s: lifecycle.transfer(s, case_id, queue_id, current_user.id), "transfer",
                    queue_id=queue_id):
        return _back(case_id)
    return _after_move(case_id, f"Transferred to {Session.get(Queue, queue_id).name}.")


@bp.post("/<int:case_id>/assign")
@role_required(Role.SUPERVISOR)
def assign(case_id: int):
    case = case_or_404(case_id)
    form = _assign_form(case)
    if not form.validate_on_submit():
        flash("Choose whom to assign the case to.", "error")
        return _back(case_id, "case-transfer")
    user_id, force = form.user.data, form.force.data
    if not perform(case, lambda s: routing_engine.assign_manually(s, case_id, user_id, current_user.id, force=force),
                    "assign", user_id=user_id, force=force):
        return _back(case_id)
    return _after_move(case_id, f"Assigned to {Session.get(User, user_id).display_name}.")


def _take(session, case_id: int, user_id: int) -> routing_engine.Effects:
    """The step of `take`: assign a case still waiting in its queue to `user_id`, within their capacity.
    Locks the case row, then flushes; raises LifecycleError when someone has it or is offered it already,
    RoutingError when the person has no free slot on its channel."""
    case = session.execute(select(Case.status, Case.assignee_id, Case.offered_to_id).where(
        Case.id == case_id).with_for_update()).one_or_none()
    if case is None or case.status is not CaseStatus.NEW or case.assignee_id or case.offered_to_id:
        raise lifecycle.LifecycleError("This case is no longer waiting in the queue: someone has it already.")
    return routing_engine.assign_manually(session, case_id, user_id, by_user_id=user_id)


@bp.post("/<int:case_id>/take")
def take(case_id: int):
    """Any member of the case's queue takes a waiting case for themselves (a slot of their capacity)."""
    case = case_or_404(case_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    user_id = current_user.id
    if not perform(case, lambda s: _take(s, case_id, user_id), "take", user_id=user_id):
        return _back(case_id)
    flash("The case is yours now.", "success")
    return _back(case_id)


@bp.post("/<int:case_id>/return")
@role_required(Role.SUPERVISOR)
def return_to_queue(case_id: int):
    case = case_or_404(case_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if not perform(case, lambda s: routing_engine.return_to_queue(s, case_id, current_user.id), "return"):
        return _back(case_id)
    return _after_move(case_id, "Returned to its queue; routing picks the next owner.")


@bp.post("/<int:case_id>/merge")
def merge(case_id: int):
    case = case_or_404(case_id)
    form = MergeForm(prefix="merge")
    target = _visible_case_by_reference(form.reference.data) if form.validate_on_submit() else None
    if target is None:
        if not form.errors:
            form.reference.errors = [f"No case you can see has the reference {form.reference.data}."]
        return render_page(case, 422, merge_form=form)
    target_id = target.id
    if not perform(case, lambda s: lifecycle.merge(s, case_id, target_id, current_user.id), "merge",
                    action=AuditAction.MERGE, into_case_id=target_id):
        return _back(case_id)
    _changed(target_id)
    flash(f"Merged into {target.reference}; this is the case now.", "success")
    return _back(target_id)


@bp.post("/<int:case_id>/links")
def link(case_id: int):
    case = case_or_404(case_id)
    form = LinkForm(prefix="link")
    other = _visible_case_by_reference(form.reference.data) if form.validate_on_submit() else None
    if other is None:
        if not form.errors:
            form.reference.errors = [f"No case you can see has the reference {form.reference.data}."]
        return render_page(case, 422, link_form=form)
    try:
        created = casework.link(Session(), case, other, current_user.id)
    except casework.CaseworkError as error:
        form.reference.errors = [str(error)]
        return render_page(case, 422, link_form=form)
    if created is not None:
        _audit_change(case, "link", other_case_id=other.id)
        Session.commit()
        _changed(case.id)
        _changed(other.id)
    flash(f"Linked with {other.reference}.", "success")
    return _back(case_id, "case-links")


@bp.post("/<int:case_id>/links/<int:other_id>/delete")
def unlink(case_id: int, other_id: int):
    case = case_or_404(case_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if casework.unlink(Session(), case.id, other_id):
        _audit_change(case, "unlink", other_case_id=other_id)
        Session.commit()
        _changed(case.id)
        flash("Link removed.", "success")
    return _back(case_id, "case-links")

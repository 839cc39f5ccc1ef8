"""The signed-in user's inbox ("my cases"), the filter form every case list shares, and saved views.

The queue views (caseworker/queues.py) render through `render_list` too, so both lists filter, sort,
page, count and update live the same way. Lists change nothing, so the filter form is a plain GET form;
saved views change data, so their forms carry a CSRF token.
"""
import logging
from dataclasses import dataclass, replace
from urllib.parse import parse_qsl, urlencode

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.datastructures import MultiDict
from wtforms import Form, HiddenField, SearchField, SelectField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from caseworker import caselist
from caseworker.access import sees_everything
from caseworker.auth import require_role
from caseworker.forms import ConfirmForm
from caseworker.i18n import LANGUAGES
from models import CaseStatus, Channel, Priority, Queue, QueueMember, Role, SavedView, Session, SlaState, User, utcnow

log = logging.getLogger(__name__)

bp = Blueprint("inbox", __name__, url_prefix="/inbox")
bp.before_request(require_role(Role.AGENT))

SCOPES = ("inbox", "queues")
SLA_LABELS = {SlaState.OK: "On track", SlaState.AT_RISK: "At risk", SlaState.PAUSED: "Paused",
              SlaState.BREACHED: "Breached"}


def _label(value: str) -> str:
    return value.replace("_", " ").capitalize()


def _options(pairs) -> list[SelectChoice]:
    return [SelectChoice(str(value), label) for value, label in pairs]


class FilterForm(Form):
    """The filters of a case list, read from the query string. Choices that depend on the user (queues,
    assignees) are filled by `filter_form`."""

    q = SearchField("Search subject and messages", validators=[Optional(), Length(max=200)])
    queue = SelectField("Queue", default="", choices=_options([("", "All my queues")]))
    status = SelectField("Status", default="open", choices=_options(
        [("open", "Open (any open status)"), ("all", "Any status")] + [(s.value, _label(s.value)) for s in CaseStatus]))
    channel = SelectField("Channel", default="", choices=_options(
        [("", "Any channel")] + [(c.value, _label(c.value)) for c in Channel]))
    priority = SelectField("Priority", default="", choices=_options(
        [("", "Any priority")] + [(str(int(p)), p.name.capitalize()) for p in reversed(Priority)]))
    language = SelectField("Language", default="", choices=_options([("", "Any language")]))
    sla = SelectField("SLA", default="", choices=_options([("", "Any SLA state")] + list(SLA_LABELS.items())))
    assignee = SelectField("Assignee", default="", choices=_options(
        [("", "Anyone"), ("me", "Me"), ("none", "Unassigned")]))
    sort = SelectField("Sort by", choices=_options([(s.key, s.label) for s in caselist.SORTS.values()]))
    submit = SubmitField("Apply filters")


class SavedViewForm(FlaskForm):
    name = StringField("Name of this view", validators=[DataRequired(), Length(max=80)],
                       filters=[lambda value: value.strip() if value else value])
    scope = HiddenField(validators=[DataRequired()])
    query = HiddenField()
    submit = SubmitField("Save view")


def visible_queues(user: User) -> list[Queue]:
    """The queues whose lists `user` may open: all active ones for supervisors, their own for others."""
    query = select(Queue).where(Queue.is_active).order_by(Queue.name)
    if not sees_everything(user):
        query = query.where(Queue.id.in_(select(QueueMember.queue_id).where(QueueMember.user_id == user.id)))
    return list(Session.execute(query).scalars())


def _assignable_users(user: User, queues: list[Queue]) -> list[User]:
    query = select(User).where(User.is_active).order_by(User.display_name)
    if not sees_everything(user):
        query = query.where(User.id.in_(select(QueueMember.user_id)
                                        .where(QueueMember.queue_id.in_([q.id for q in queues]))))
    return list(Session.execute(query).scalars())


def _choices(with_assignee: bool) -> dict:
    """This user's queue, language and assignee choices, looked up once per request."""
    key = f"list_choices_{with_assignee}"
    if key not in g:
        queues = visible_queues(current_user)
        languages = dict(LANGUAGES) | {code: code for q in queues for code in (q.languages or [])
                                       if code not in LANGUAGES}
        assignees = [(str(u.id), u.display_name) for u in _assignable_users(current_user, queues)] \
            if with_assignee else None
        setattr(g, key, {"queues": queues, "queue": [(str(q.id), q.name) for q in queues],
                         "language": sorted(languages.items()), "assignee": assignees})
    return g.get(key)


def filter_form(args: MultiDict, *, sort_default: str, with_assignee: bool) -> FilterForm:
    """The filter form over `args`, with this user's choices filled in, validated."""
    form = FilterForm(args, sort=sort_default)
    choices = _choices(with_assignee)
    form.queue.choices += _options(choices["queue"])
    form.language.choices += _options(choices["language"])
    if with_assignee:
        form.assignee.choices += _options(choices["assignee"])
    else:
        del form.assignee
    form.validate()
    return form


def read_filters(form: FilterForm, sort_default: str, **fixed) -> caselist.CaseFilters:
    """The filters the form asks for; a field with an error counts as "any" (its error is shown)."""
    def value(name: str) -> str | None:
        field = getattr(form, name, None)
        return None if field is None or field.errors or not field.data else field.data

    filters = caselist.CaseFilters(
        queue_id=int(value("queue")) if value("queue") else None,
        status=value("status") or "open",
        channel=Channel(value("channel")) if value("channel") else None,
        priority=Priority(int(value("priority"))) if value("priority") else None,
        language=value("language"),
        sla=SlaState(value("sla")) if value("sla") else None,
        assignee=value("assignee"),
        text=(value("q") or "").strip(),
        sort=value("sort") or sort_default,
    )
    return replace(filters, **fixed)


@dataclass
class ListView:
    """What a list page needs besides its filters: where it lives and how it speaks of its cases."""

    scope: str
    endpoint: str                 # the full page
    rows_endpoint: str            # the partial the page re-fetches
    url_args: dict
    default_text: str             # the count sentence for the unfiltered list, with {count} and {cases}
    empty_text: str
    live_events: str              # socket events that make the page re-fetch its rows
    queue_id: int | None = None
    implied: tuple[str, ...] = ()  # filters the page always applies, so its URLs leave them out


def _unfiltered(filters: caselist.CaseFilters, default: caselist.CaseFilters) -> bool:
    """No filter beyond the page's own (any sort order)."""
    return replace(filters, sort=default.sort) == default


def _count_sentence(view: ListView, filters: caselist.CaseFilters, n: int, cap: int, default: caselist.CaseFilters):
    shown = caselist.format_count(n, cap)
    cases = "case" if n == 1 else "cases"
    if _unfiltered(filters, default):
        return view.default_text.format(count=shown, cases=cases)
    return f"{shown} {cases} {'matches' if n == 1 else 'match'} these filters."


def _list_context(view: ListView, filters: caselist.CaseFilters, default: caselist.CaseFilters) -> dict:
    config = current_app.config
    cap, now = config["INBOX_COUNT_CAP"], utcnow()
    where = caselist.filter_clauses(current_user, filters, now=now)
    try:
        page = caselist.fetch_page(where, filters.sort, size=config["INBOX_PAGE_SIZE"],
                                   after=request.args.get("after") or None, before=request.args.get("before") or None)
    except caselist.BadCursor:
        abort(400, "This page link is not valid any more; start from the first page.")
    n = caselist.count(where, cap=cap)
    args = view.url_args | {key: value for key, value in filters.as_args().items() if key not in view.implied}
    return {"page": page, "count": n, "count_text": _count_sentence(view, filters, n, cap, default),
            "is_default": _unfiltered(filters, default), "view": view, "args": args, "filters": filters,
            "sla_of": lambda case: caselist.sla_state(case, now), "sla_labels": SLA_LABELS,
            "first_page": not request.args.get("after") and not request.args.get("before"),
            "rows_url": url_for(view.rows_endpoint, **args, **_cursor_args()),
            "page_url": lambda **cursor: url_for(view.endpoint, **args, **cursor)}


def _cursor_args() -> dict:
    return {key: request.args[key] for key in ("after", "before") if request.args.get(key)}


def render_list(view: ListView, template: str, *, partial: bool, fixed: dict, sort_default: str,
                with_assignee: bool, **context):
    """A list page, or just its rows partial, for the filters in the query string."""
    form = filter_form(request.args, sort_default=sort_default, with_assignee=with_assignee)
    filters = read_filters(form, sort_default, **fixed)
    default = caselist.CaseFilters(sort=sort_default, **fixed)
    listed = _list_context(view, filters, default)
    if partial:
        return render_template("inbox/_list.html", **listed)
    return render_template(template, form=form, queues=_choices(with_assignee)["queues"],
                           saved=_saved_views(view, filters),
                           save_form=SavedViewForm(scope=view.scope, query=_query_of(filters, fixed)),
                           delete_form=ConfirmForm(), **listed, **context)


def _query_of(filters: caselist.CaseFilters, fixed: dict) -> str:
    """The filters a saved view keeps: all those asked for, and the page's own (a queue page's queue), but
    not what the page always applies (the inbox's "assigned to me")."""
    return urlencode({key: value for key, value in filters.as_args().items()
                      if not (key == "assignee" and "assignee" in fixed)})


def _scope_form(scope: str, args: MultiDict) -> tuple[FilterForm, dict]:
    """The filter form of a saved view's page, and what that page always applies."""
    if scope == "inbox":
        return filter_form(args, sort_default="priority", with_assignee=False), {"assignee": "me"}
    return filter_form(args, sort_default="waiting", with_assignee=True), {}


def _saved_views(view: ListView, current: caselist.CaseFilters) -> list[dict]:
    cap = current_app.config["INBOX_COUNT_CAP"]
    rows = Session.execute(select(SavedView).where(SavedView.user_id == current_user.id, SavedView.scope == view.scope)
                           .order_by(SavedView.name)).scalars()
    result = []
    for saved in rows:
        form, fixed = _scope_form(saved.scope, MultiDict(saved.filters | {"sort": saved.sort}))
        filters = read_filters(form, saved.sort, **fixed)
        n = caselist.count(caselist.filter_clauses(current_user, filters, now=utcnow()), cap=cap)
        result.append({"view": saved, "url": saved_view_url(saved), "count": caselist.format_count(n, cap),
                       "current": filters == current})
    return result


def saved_view_url(saved: SavedView) -> str:
    """Where a saved view opens: its page with its filters."""
    args = dict(saved.filters) | {"sort": saved.sort}
    if saved.scope == "inbox":
        return url_for("inbox.index", **args)
    queue_id = args.pop("queue", None)
    if queue_id:
        return url_for("queues.detail", queue_id=queue_id, **args)
    return url_for("queues.index", **args)


# ---- the inbox -------------------------------------------------------------------------------------------

INBOX = ListView(scope="inbox", endpoint="inbox.index", rows_endpoint="inbox.rows", url_args={},
                 default_text="{count} open {cases} assigned to you.", empty_text="Nothing waits for you right now.",
                 live_events="case.assigned queue.changed", implied=("assignee",))


def _inbox(partial: bool):
    return render_list(INBOX, "inbox/index.html", partial=partial, fixed={"assignee": "me"},
                       sort_default="priority", with_assignee=False)


@bp.get("/")
def index():
    return _inbox(partial=False)


@bp.get("/rows")
def rows():
    """The inbox's list alone (count, rows, pager), for the page to re-fetch when something changed."""
    return _inbox(partial=True)


# ---- saved views -----------------------------------------------------------------------------------------


@bp.post("/views")
def save_view():
    """Save the current filters under a name for the signed-in user; the same name again replaces them."""
    form = SavedViewForm()
    if not form.validate_on_submit() or form.scope.data not in SCOPES:
        flash("The view was not saved: give it a name of up to 80 characters.", "error")
        return redirect(url_for("queues.index" if form.scope.data == "queues" else "inbox.index"))
    filters_form, _fixed = _scope_form(form.scope.data, MultiDict(parse_qsl(form.query.data or "")))
    args = read_filters(filters_form, filters_form.sort.data or "priority").as_args()
    if form.scope.data == "inbox":
        args.pop("assignee", None)
    sort = args.pop("sort")
    saved = Session.execute(select(SavedView).where(SavedView.user_id == current_user.id,
                                                    SavedView.scope == form.scope.data,
                                                    SavedView.name == form.name.data)).scalar_one_or_none()
    if saved is None:
        saved = SavedView(user_id=current_user.id, scope=form.scope.data, name=form.name.data)
        Session.add(saved)
    saved.filters, saved.sort = args, sort
    Session.commit()
    log.info("user %s saved view %s", current_user.id, saved.id)
    flash(f"Saved the view “{saved.name}”.", "success")
    return redirect(saved_view_url(saved))


@bp.post("/views/<int:view_id>/delete")
def delete_view(view_id: int):
    """Delete one of the signed-in user's saved views (anyone else's is a 404)."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    saved = Session.get(SavedView, view_id)
    if saved is None or saved.user_id != current_user.id:
        abort(404)
    scope, name = saved.scope, saved.name
    Session.delete(saved)
    Session.commit()
    flash(f"Deleted the view “{name}”.", "success")
    return redirect(url_for("inbox.index" if scope == "inbox" else "queues.index"))

"""Admin pages: inbound payloads that failed, with their error, the raw bytes and a retry button; retention
periods per category and the runs of the retention job."""
from flask import Blueprint, Response, abort, flash, redirect, render_template, url_for
from sqlalchemy import select

from caseworker import audit
from caseworker.auth import require_role
from caseworker.extensions import rq_connection
from caseworker.forms import ConfirmForm
from caseworker.retention_forms import RetentionPeriodForm
from channels import inbound, jobs, retention
from models import AuditAction, Category, InboundRaw, InboundStatus, RetentionRun, Role, Session

bp = Blueprint("admin", __name__, url_prefix="/admin")
bp.before_request(require_role(Role.ADMIN))


@bp.get("/inbound")
def failed_inbound():
    rows = inbound.failed(Session())
    return render_template("admin/inbound.html", rows=rows, form=ConfirmForm())


@bp.get("/inbound/<int:raw_id>/raw")
def raw_payload(raw_id: int):
    """The payload exactly as received, as a download. Payloads hold personal data: every view is audited."""
    raw = Session.get(InboundRaw, raw_id) or abort(404)
    audit.view("inbound_raw", raw.id, case_id=raw.case_id)
    return Response(raw.payload, mimetype="application/octet-stream",
                    headers={"Content-Disposition": f"attachment; filename=inbound-{raw.id}.eml",
                             "X-Content-Type-Options": "nosniff"})


@bp.post("/inbound/<int:raw_id>/retry")
def retry_inbound(raw_id: int):
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    raw = Session.get(InboundRaw, raw_id) or abort(404)
    if raw.purged_at is not None:
        flash(f"Inbound item {raw.id} was emptied under the retention policy; there is nothing to retry.", "info")
    elif raw.status is InboundStatus.FAILED:
        audit.record(Session(), AuditAction.UPDATE, "inbound_raw", raw.id, retry=True)
        Session.commit()
        jobs.request_ingest(rq_connection(), [raw.id])
        flash(f"Inbound item {raw.id} was sent for another try.", "success")
    else:
        flash(f"Inbound item {raw.id} has not failed; nothing to retry.", "info")
    return redirect(url_for("admin.failed_inbound"))


# ---- retention (issue 8) ------------------------------------------------------------------------------

RECENT_RUNS = 20


def _period_form(category: Category, **kw) -> RetentionPeriodForm:
    form = RetentionPeriodForm(prefix=f"category-{category.id}", days=category.retention_days, **kw)
    form.days.label.text = f"Days after closing for {category.name}"       # one form per row: say which
    return form


def _retention_page(status: int = 200, posted: RetentionPeriodForm | None = None, posted_id: int | None = None):
    categories = list(Session.execute(select(Category).order_by(Category.name)).scalars())
    forms = {c.id: posted if c.id == posted_id else _period_form(c, formdata=None) for c in categories}
    runs = list(Session.execute(select(RetentionRun).order_by(RetentionRun.started_at.desc(), RetentionRun.id.desc())
                                .limit(RECENT_RUNS)).scalars())
    return render_template("admin/retention.html", categories=categories, forms=forms, runs=runs,
                           settings=retention.current(), run_form=ConfirmForm()), status


@bp.get("/retention")
def retention_settings():
    """Each category's retention period (editable), the default and mode in force, and the latest runs."""
    return _retention_page()


@bp.post("/retention/categories/<int:category_id>")
def set_retention_period(category_id: int):
    """Set one category's period (empty: the default). Audited with the values before and after."""
    category = Session.get(Category, category_id) or abort(404)
    form = _period_form(category)
    if not form.validate_on_submit():
        return _retention_page(422, form, category.id)
    before = category.retention_days
    retention.set_retention_days(Session(), category.id, form.days.data)
    audit.record(Session(), AuditAction.UPDATE, "category", category.id, change="retention_days",
                 before=before, after=form.days.data)
    Session.commit()
    period = "the default" if form.days.data is None else f"{form.days.data} days after closing"
    flash(f"{category.name}: cases are now kept for {period}.", "success")
    return redirect(url_for("admin.retention_settings"))


@bp.post("/retention/run")
def run_retention_now():
    """Start a retention run now on a worker (the daily run goes on as scheduled)."""
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    audit.record(Session(), AuditAction.UPDATE, "retention", None, change="run_requested")
    Session.commit()
    retention.request_run(rq_connection(), retention.Trigger.ADMIN)
    flash("A retention run is queued; it shows below when a worker has taken it.", "success")
    return redirect(url_for("admin.retention_settings"))

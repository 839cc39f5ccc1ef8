"""Admin pages: inbound payloads that failed, with their error, the raw bytes and a retry button."""
from flask import Blueprint, Response, abort, flash, redirect, render_template, url_for

from caseworker import audit
from caseworker.auth import require_role
from caseworker.extensions import rq_connection
from caseworker.forms import ConfirmForm
from channels import inbound, jobs
from models import AuditAction, InboundRaw, InboundStatus, Role, Session

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
    audit.record(Session(), AuditAction.VIEW, "inbound_raw", raw.id, case_id=raw.case_id)
    Session.commit()
    return Response(raw.payload, mimetype="application/octet-stream",
                    headers={"Content-Disposition": f"attachment; filename=inbound-{raw.id}.eml",
                             "X-Content-Type-Options": "nosniff"})


@bp.post("/inbound/<int:raw_id>/retry")
def retry_inbound(raw_id: int):
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    raw = Session.get(InboundRaw, raw_id) or abort(404)
    if raw.status is InboundStatus.FAILED:
        audit.record(Session(), AuditAction.UPDATE, "inbound_raw", raw.id, retry=True)
        Session.commit()
        jobs.request_ingest(rq_connection(), [raw.id])
        flash(f"Inbound item {raw.id} was sent for another try.", "success")
    else:
        flash(f"Inbound item {raw.id} has not failed; nothing to retry.", "info")
    return redirect(url_for("admin.failed_inbound"))

"""Legal hold on a case (issue 8): supervisors and admins place or release it, with a reason. While it is on,
retention (channels/retention.py) leaves the case alone. Every change is audited and shown in the case header."""
from flask import Blueprint, flash, redirect, url_for
from flask_login import current_user

from caseworker import audit, cases
from caseworker.access import case_or_404
from caseworker.auth import require_role
from caseworker.retention_forms import LegalHoldForm
from channels import retention
from channels import signals as channel_signals
from models import AuditAction, Role, Session

bp = Blueprint("legal_hold", __name__, url_prefix="/cases")
bp.before_request(require_role(Role.SUPERVISOR))


@bp.post("/<int:case_id>/legal-hold")
def toggle(case_id: int):
    """Place or release the hold (the form says which). A missing reason or a stale click shows the case
    page again with the error and the typed reason."""
    case = case_or_404(case_id)
    form = LegalHoldForm()
    if not form.validate_on_submit():
        return cases.render_page(case, 422, legal_hold_form=form)
    on = form.hold.data == "on"
    try:
        retention.set_legal_hold(Session(), case.id, on=on, reason=form.reason.data, by_user_id=current_user.id)
    except retention.LegalHoldError as error:
        form.reason.errors = [*form.reason.errors, str(error)]
        return cases.render_page(case, 422, legal_hold_form=form)
    audit.record(Session(), AuditAction.UPDATE, "case", case.id, constituent_id=case.constituent_id,
                 change="legal_hold", legal_hold=on, reason=form.reason.data.strip()[:500])
    Session.commit()
    channel_signals.case_changed.send(case_id)          # pages watching the case re-fetch its header
    flash("The case is on legal hold: retention will leave it alone." if on else "The legal hold is released.",
          "success")
    return redirect(url_for("cases.detail", case_id=case_id, _anchor="case-legal-hold"))

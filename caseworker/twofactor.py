"""Two-factor sign-in for staff: the account page (set up, recovery codes, switch off), the sign-in's second
step, the admins' reset, and the gate that sends roles which must use it to set it up before anything else.

Two blueprints: `twofactor` is the signed-in staff member's (and the admins') pages; `twofactor_login` is the
second step of sign-in, reached only with a pending state from a right password (caseworker/auth.py).
"""
import logging

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import StringField, SubmitField
from wtforms.validators import InputRequired, Length

from caseworker import audit, auth, totp
from caseworker.auth import require_role, role_required
from caseworker.extensions import limiter
from caseworker.forms import ConfirmForm
from models import AuditAction, Role, Session, StaffTotp, User

log = logging.getLogger(__name__)

bp = Blueprint("twofactor", __name__, url_prefix="/account/two-factor")
bp.before_request(require_role(Role.AGENT))
login_bp = Blueprint("twofactor_login", __name__)

# What a staff member who must set up two-factor may still reach until they have.
_ENROLMENT_ENDPOINTS = {"twofactor.index", "twofactor.start", "twofactor.setup", "twofactor.confirm",
                        "auth.logout", "static"}


class SetupCodeForm(FlaskForm):
    code = StringField("6-digit code from your authenticator app",
                       validators=[InputRequired("Enter the 6-digit code your app shows."), Length(max=16)],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "spellcheck": "false"})
    submit = SubmitField("Turn on two-factor sign-in")


class CodeForm(FlaskForm):
    """A second-step code: from the authenticator app, or one of the recovery codes."""

    code = StringField("Code from your authenticator app, or a recovery code",
                       validators=[InputRequired("Enter the code from your authenticator app."), Length(max=32)],
                       render_kw={"autocomplete": "one-time-code", "spellcheck": "false", "autocapitalize": "none"})
    submit = SubmitField("Continue")


def _box() -> totp.SecretBox:
    return totp.SecretBox(current_app.config["TWOFACTOR_ENCRYPTION_KEY"], current_app.config["SECRET_KEY"])


def _required_roles() -> frozenset[Role]:
    return totp.required_roles(current_app.config["REQUIRE_2FA_ROLES"])


def is_required(user: User) -> bool:
    """True when `user`'s role must sign in with two-factor (REQUIRE_2FA_ROLES)."""
    return user.role in _required_roles()


def must_enrol(user: User) -> bool:
    """True for a signed-in user whose role needs two-factor and who has not set it up yet."""
    return user.is_authenticated and is_required(user) and not totp.is_enabled(Session(), user.id)


@bp.record_once
def _check_settings(state) -> None:
    totp.required_roles(state.app.config["REQUIRE_2FA_ROLES"])     # an unknown role fails at start, not per request


@bp.before_app_request
def _send_to_enrolment():
    if request.endpoint in _ENROLMENT_ENDPOINTS or not current_user.is_authenticated:
        return None
    if must_enrol(current_user):
        flash("Your role signs in with two-factor. Set it up to continue.", "info")
        return redirect(url_for("twofactor.index"))
    return None


def _verify(user: User, code: str) -> totp.Method | None:
    """Check the code with the user's counters read again in the request's unit of work, which writes from its
    start (`caseworker.writers`: a wrong code counts, a used one is spent)."""
    config = current_app.config
    Session.refresh(user)
    return totp.verify(Session(), user, code, _box(), max_failures=config["LOGIN_MAX_FAILURES"],
                       lock_seconds=config["LOGIN_LOCK_SECONDS"])


def _audit_change(user_id: int, change: str, **detail) -> None:
    audit.record(Session(), AuditAction.UPDATE, "user", user_id, two_factor=change, **detail)


# ---- the second step of sign-in -----------------------------------------------------------------------


@login_bp.route("/login/code", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
def code():
    """Ask for the code; only a right one turns the pending state into a login."""
    pending = auth.pending_second_step()
    if pending is None or not totp.is_enabled(Session(), pending[0].id):      # expired, or reset meanwhile
        session.pop(auth.PENDING_KEY, None)
        flash("Please sign in again.", "info")
        return redirect(url_for("auth.login"))
    user, state = pending
    form = CodeForm()
    if not form.validate_on_submit():
        return render_template("auth/twofactor_code.html", form=form), 400 if form.errors else 200
    method = _verify(user, form.code.data)
    if method is None:
        locked = user.locked_until is not None
        audit.record(Session(), AuditAction.LOGIN_FAILED, "user", user.id, actor_id=user.id, second_factor=True)
        Session.commit()
        if locked:
            session.pop(auth.PENDING_KEY, None)
            flash("Too many wrong codes: the account is locked for a while. Sign in again later.", "error")
            return redirect(url_for("auth.login"))
        form.code.errors.append("That code is not right. Codes change every 30 seconds; each works once.")
        return render_template("auth/twofactor_code.html", form=form), 401
    left = totp.recovery_codes_left(Session(), user.id) if method is totp.Method.RECOVERY_CODE else None
    if left is not None:
        _audit_change(user.id, "recovery_code_used", actor_id=user.id, codes_left=left)
    auth.sign_in(user, remember=state.get("remember", False), second_factor=method.value)
    if left is not None:
        flash(f"You signed in with a recovery code; {left} are left.", "info")
    return redirect(state.get("next") or url_for("inbox.index"))


# ---- the staff member's own account page ----------------------------------------------------------------


@bp.get("/")
def index():
    record = totp.record_of(Session(), current_user.id)
    enabled = record is not None and record.is_enabled
    return render_template("auth/twofactor_account.html", enabled=enabled, required=is_required(current_user),
                           codes_left=totp.recovery_codes_left(Session(), current_user.id) if enabled else 0,
                           start_form=ConfirmForm(), renew_form=CodeForm(prefix="renew"),
                           disable_form=CodeForm(prefix="disable"))


@bp.post("/setup")
def start():
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        totp.start_setup(Session(), current_user, _box())
    except totp.TwoFactorError:
        flash("Two-factor sign-in is on already.", "info")
        return redirect(url_for("twofactor.index"))
    Session.commit()
    return redirect(url_for("twofactor.setup"))


def _render_setup(form: SetupCodeForm, status: int = 200):
    secret = totp.pending_secret(Session(), current_user.id, _box())
    if secret is None:
        return redirect(url_for("twofactor.index"))
    uri = totp.provisioning_uri(secret, current_user.email, current_app.config["MAIL_SERVICE_NAME"])
    grouped = " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
    return render_template("auth/twofactor_setup.html", form=form, qr_svg=totp.qr_svg(uri), secret=grouped), status


@bp.get("/setup")
def setup():
    return _render_setup(SetupCodeForm())


@bp.post("/setup/confirm")
def confirm():
    form = SetupCodeForm()
    if not form.validate_on_submit():
        return _render_setup(form, 400)
    try:
        codes = totp.confirm_setup(Session(), current_user, form.code.data.strip(), _box())
    except totp.TwoFactorError as error:
        form.code.errors.append(f"{str(error).capitalize()}. Enter the code your app shows now.")
        return _render_setup(form, 400)
    _audit_change(current_user.id, "enabled")
    Session.commit()
    log.info("user %s turned two-factor sign-in on", current_user.id)
    return render_template("auth/twofactor_recovery_codes.html", codes=codes, first_time=True)


def _check_code_form(prefix: str) -> totp.Method | None:
    """Validate the code form of a change to two-factor; on a wrong code, commit the failure and flash why."""
    form = CodeForm(prefix=prefix)
    if not form.validate_on_submit():
        flash("Enter a current code from your authenticator app, or a recovery code.", "error")
        return None
    method = _verify(current_user._get_current_object(), form.code.data)
    if method is None:
        Session.commit()                  # the failure counts toward the lockout
        flash("That code is not right. Codes change every 30 seconds; each works once.", "error")
    elif method is totp.Method.RECOVERY_CODE:
        _audit_change(current_user.id, "recovery_code_used",
                      codes_left=totp.recovery_codes_left(Session(), current_user.id))
    return method


@bp.post("/recovery-codes")
def renew_codes():
    if not totp.is_enabled(Session(), current_user.id) or _check_code_form("renew") is None:
        return redirect(url_for("twofactor.index"))
    codes = totp.new_recovery_codes(Session(), current_user)
    _audit_change(current_user.id, "recovery_codes_renewed")
    Session.commit()
    return render_template("auth/twofactor_recovery_codes.html", codes=codes, first_time=False)


@bp.post("/disable")
def disable():
    if is_required(current_user):
        flash("Your role must sign in with two-factor; it cannot be turned off.", "error")
        return redirect(url_for("twofactor.index"))
    if not totp.is_enabled(Session(), current_user.id) or _check_code_form("disable") is None:
        return redirect(url_for("twofactor.index"))
    totp.disable(Session(), current_user.id)
    _audit_change(current_user.id, "disabled")
    Session.commit()
    log.info("user %s turned two-factor sign-in off", current_user.id)
    flash("Two-factor sign-in is off.", "success")
    return redirect(url_for("twofactor.index"))


# ---- admins: who uses two-factor, and a reset for someone who lost their authenticator ------------------


@bp.get("/staff")
@role_required(Role.ADMIN)
def staff():
    rows = Session.execute(select(User, StaffTotp.is_enabled).outerjoin(StaffTotp, StaffTotp.user_id == User.id)
                           .order_by(User.display_name, User.id)).all()
    return render_template("auth/twofactor_staff.html", rows=rows, required=_required_roles(), form=ConfirmForm())


@bp.post("/staff/<int:user_id>/reset")
@role_required(Role.ADMIN)
def reset(user_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    user = Session.get(User, user_id) or abort(404)
    was_on = totp.disable(Session(), user.id)
    _audit_change(user.id, "reset", was_enabled=was_on)
    Session.commit()
    log.info("user %s reset two-factor sign-in of user %s", current_user.id, user.id)
    flash(f"Two-factor sign-in of {user.display_name} is reset: they set it up again at their next sign-in."
          if is_required(user) else f"Two-factor sign-in of {user.display_name} is reset (off).", "success")
    return redirect(url_for("twofactor.staff"))

"""Sign-in and sign-out, the user loader, and the role checks every console view goes through."""
import logging
import time
from collections.abc import Callable
from functools import wraps
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from caseworker import accounts, audit, totp
from caseworker.extensions import limiter, login_manager
from caseworker.forms import LoginForm
from models import AuditAction, Role, Session, User

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)

# The half-signed-in state: the password was right, the second step is owed. It lives only in the session
# cookie and is never a login, so no staff page, partial or socket sees it as signed in.
PENDING_KEY = "second_step"
PENDING_SECONDS = 300


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    user = Session.get(User, int(user_id))
    return user if user is not None and user.is_active else None


def require_role(role: Role) -> Callable[[], None]:
    """A before_request hook for a blueprint: signed in, and with at least `role`."""

    def check() -> None:
        if not current_user.is_authenticated:
            abort(login_manager.unauthorized())
        if not current_user.has_role(role):
            abort(403)

    return check


def role_required(role: Role):
    """Decorator for a view that needs more than its blueprint's role."""

    def decorate(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            require_role(role)()
            return view(*args, **kwargs)

        return wrapped

    return decorate


def _safe_next(target: str | None) -> str:
    # Only a path on this site: an absolute URL here would make the login page an open redirect.
    # Browsers read a backslash as a slash, so "/\\host" would leave the site too.
    if target and target.startswith("/") and "\\" not in target and not target.startswith("//") \
            and not urlsplit(target).netloc:
        return target
    return url_for("inbox.index")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    form = LoginForm()
    if form.validate_on_submit():
        config = current_app.config
        user = accounts.authenticate(Session(), form.email.data, form.password.data,
                                     max_failures=config["LOGIN_MAX_FAILURES"],
                                     lock_seconds=config["LOGIN_LOCK_SECONDS"])
        if user is None:
            known = accounts.find_user(Session(), form.email.data)
            audit.record(Session(), AuditAction.LOGIN_FAILED, "user", known.id if known else None,
                         actor_id=known.id if known else None)
            Session.commit()
            form.password.errors.append("The email or password is not right, or the account is locked "
                                        "for a while after too many attempts.")
            return render_template("auth/login.html", form=form), 401
        if totp.is_enabled(Session(), user.id):
            Session.commit()
            session.clear()
            session[PENDING_KEY] = {"user_id": user.id, "remember": bool(form.remember.data),
                                    "next": _safe_next(request.args.get("next")),
                                    "until": time.time() + PENDING_SECONDS}
            return redirect(url_for("twofactor_login.code"))
        sign_in(user, remember=form.remember.data)
        return redirect(_safe_next(request.args.get("next")))
    status = 400 if form.errors else 200
    return render_template("auth/login.html", form=form), status


def sign_in(user: User, *, remember: bool, **detail) -> None:
    """Log `user` in on a fresh session and audit it (with `detail`, e.g. the second step's method). Commits."""
    session.clear()                   # a fresh session on sign-in: nothing carried over (fixation)
    login_user(user, remember=remember)
    audit.record(Session(), AuditAction.LOGIN, "user", user.id, **detail)
    Session.commit()
    log.info("user %s signed in", user.id)


def pending_second_step() -> tuple[User, dict] | None:
    """The user who gave the right password and owes the second step, with the pending state; None when
    there is none, it expired, or the account was disabled meanwhile (the state is dropped then)."""
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict):
        return None
    user_id, until = pending.get("user_id"), pending.get("until")
    fresh = isinstance(user_id, int) and isinstance(until, (int, float)) and until > time.time()
    user = Session.get(User, user_id) if fresh else None
    if user is None or not user.is_active:
        session.pop(PENDING_KEY, None)
        return None
    return user, pending


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        audit.record(Session(), AuditAction.LOGOUT, "user", current_user.id)
        Session.commit()
        logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))

"""The web console and composition root: `create_app` wires config, extensions, blueprints and the CLI."""
import logging

from flask import Flask, jsonify, redirect, render_template, url_for
from sqlalchemy import text

import routing
from caseworker import config, extensions, logconfig, writers
from channels import csat as channel_csat
from channels import retention as channel_retention
from channels import settings as channel_settings
from models import Session, init_engine

log = logging.getLogger(__name__)

_PROJECT_ROOT = __file__.rsplit("/", 2)[0]

# No inline script or style anywhere: everything comes from /static.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


def create_app(overrides: dict | None = None) -> Flask:
    """Build the app. Touches neither the database nor Redis: clients connect when first used."""
    app = Flask(
        __name__,
        instance_path=f"{_PROJECT_ROOT}/instance",
        template_folder=f"{_PROJECT_ROOT}/templates",
        static_folder=f"{_PROJECT_ROOT}/static",
    )
    config.load(app, overrides)
    if not app.config.get("TESTING"):
        logconfig.configure()
    init_engine(app.config["DATABASE_URL"])
    routing.configure(offer_timeout_seconds=app.config["ROUTING_OFFER_TIMEOUT_SECONDS"],
                      return_unanswered_after_seconds=app.config["ROUTING_RETURN_UNANSWERED_SECONDS"],
                      loads_max_age_seconds=app.config["ROUTING_LOADS_MAX_AGE_SECONDS"])
    channel_settings.configure(config.channel_settings(app))
    channel_csat.configure(config.csat_settings(app))
    channel_retention.configure(config.retention_settings(app))
    routing.configure_sla(warning_percent=app.config["SLA_WARNING_PERCENT"],
                          warning_max_minutes=app.config["SLA_WARNING_MAX_MINUTES"],
                          sweep_seconds=app.config["SLA_SWEEP_SECONDS"])
    _init_extensions(app)
    _register_blueprints(app)
    _register_hooks(app)
    from caseworker import cli
    cli.register(app)
    return app


def _init_extensions(app: Flask) -> None:
    extensions.login_manager.init_app(app)
    extensions.login_manager.login_view = "auth.login"
    extensions.login_manager.login_message = "Please sign in to see this page."
    extensions.login_manager.login_message_category = "info"
    extensions.login_manager.session_protection = "strong"
    extensions.csrf.init_app(app)
    from caseworker.i18n import select_locale

    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", f"{_PROJECT_ROOT}/translations")
    extensions.babel.init_app(app, locale_selector=select_locale)
    extensions.limiter.init_app(app)
    # Handlers must be declared before init_app: Flask-SocketIO copies them onto each server it builds, but a
    # handler declared later attaches only to the server that exists then (the first app of the process).
    from caseworker import realtime  # noqa: F401  (connects the socket handlers and signal receivers)
    extensions.socketio.init_app(
        app,
        **extensions.socketio_queue_options(app.config["SOCKETIO_MESSAGE_QUEUE"]),
        async_mode="threading",
        manage_session=False,        # Flask's signed cookie session is the one session
        cors_allowed_origins=[],     # same origin only
    )


def _register_blueprints(app: Flask) -> None:
    from caseworker import (admin, apikeys, auth, cases, chat, console, constituents, inbox, intake, legal_hold,
                            macros, open311, phone, public, queues, reports, survey, twofactor, wallboard)

    for blueprint in (auth.bp, twofactor.login_bp, twofactor.bp, inbox.bp, queues.bp, cases.bp, legal_hold.bp,
                      constituents.bp, console.bp, admin.bp, apikeys.bp, macros.bp, intake.bp, phone.bp,
                      phone.webhook_bp, open311.bp, public.bp, survey.bp, wallboard.bp, reports.bp):
        app.register_blueprint(blueprint)
    chat.register(app)              # the public chat pages and the agent's chat panel, with their settings

    @app.get("/")
    def home():
        return redirect(url_for("inbox.index"))

    @app.get("/healthz")
    def healthz():
        checks = {"database": _check(lambda: Session.execute(text("SELECT 1"))),
                  "redis": _check(lambda: extensions.redis_client().ping())}
        ok = all(checks.values())
        return jsonify(status="ok" if ok else "degraded", **checks), 200 if ok else 503


def _check(probe) -> bool:
    try:
        probe()
        return True
    except Exception:  # noqa: BLE001  (a health check reports any failure as "down")
        log.warning("health check failed", exc_info=True)
        return False


def _register_hooks(app: Flask) -> None:
    def remove_session(_exc=None):
        Session.remove()

    # Each request ends its unit of work, even inside a longer app context (a CLI command, a test).
    app.teardown_request(remove_session)
    app.teardown_appcontext(remove_session)
    # After the app-wide hooks the blueprints registered (two-factor enrolment), before each blueprint's own.
    app.before_request(writers.begin_unsafe_requests_as_writers)

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if response.mimetype == "text/html":
            response.headers.setdefault("Cache-Control", "no-store")   # pages hold personal data
        return response

    for status in (403, 404, 429):
        app.register_error_handler(status, _error_page(status))


def _error_page(status: int):
    def handler(_error):
        return render_template("errors/error.html", status=status), status

    return handler

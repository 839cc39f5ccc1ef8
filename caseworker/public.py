"""The constituent side: the contact page (web form) and the public status page, in English, Spanish, Italian."""
import logging
import secrets
import time
from dataclasses import dataclass

from flask import Blueprint, abort, current_app, redirect, render_template, session, url_for
from flask_babel import get_locale
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from wtforms.fields.choices import SelectChoice

from caseworker import audit
from caseworker.extensions import enqueue_after_commit, limiter
from caseworker.forms import ContactForm, StatusForm, upload_type
from caseworker.i18n import LANGUAGES
from caseworker.writers import writes_after_checks
from channels import storage, submission
from channels.settings import current as channel_settings
from channels.webform import Submission
from models import Category, Session, begin_writing

log = logging.getLogger(__name__)

bp = Blueprint("public", __name__)


@bp.context_processor
def languages():
    return {"languages": LANGUAGES, "page_lang": str(get_locale())}


@dataclass(frozen=True)
class Service:
    code: str
    name: str
    names: dict

    def label(self, language: str) -> str:
        return self.names.get(language) or self.name


_services_cache: tuple[float, dict[str, Service]] = (0.0, {})
SERVICES_TTL_SECONDS = 60


def _services() -> dict[str, Service]:
    """The public categories, kept a minute: the contact page still renders while the database is away."""
    global _services_cache
    loaded_at, services = _services_cache
    if time.monotonic() - loaded_at < SERVICES_TTL_SECONDS and services:
        return services
    try:
        rows = Session.execute(select(Category).where(Category.is_public.is_(True)).order_by(Category.id)).scalars()
        services = {c.code: Service(c.code, c.name, dict(c.names or {})) for c in rows}
    except SQLAlchemyError:
        Session.rollback()
        if not services:
            raise
        log.warning("database unavailable: the contact page uses the services it loaded before")
        return services
    _services_cache = (time.monotonic(), services)
    return services


def _label(category: Category) -> str:
    return (category.names or {}).get(str(get_locale())) or category.name


def _stored_uploads(form: ContactForm) -> list[dict]:
    kept = []
    for upload in form.attachments.data or []:
        if not (upload and upload.filename):
            continue
        data = upload.read()
        content_type, extension = upload_type(data[:8])
        digest = storage.store(channel_settings().attachment_dir, data)
        name = "".join(c for c in upload.filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1] if c.isprintable())[:120]
        kept.append({"filename": name or f"attachment{extension}", "content_type": content_type, "size": len(data),
                     "sha256": digest})
    return kept


@bp.route("/contact", methods=["GET", "POST"])
@writes_after_checks
@limiter.limit(lambda: current_app.config["WEBFORM_RATE_LIMIT"], methods=["POST"])
def contact():
    language = str(get_locale())
    categories = _services()
    form = ContactForm()
    form.category.choices = [SelectChoice(code, service.label(language)) for code, service in categories.items()]
    if not form.is_submitted():
        form.language.data = language
        form.token.data = secrets.token_urlsafe(16)
    if form.website.data:                                   # the honeypot: only robots fill it in
        abort(400)
    if not form.validate_on_submit():
        return render_template("public/contact.html", form=form), 400 if form.is_submitted() else 200
    category = categories[form.category.data]
    sent = Submission(category_code=category.code, description=form.description.data, name=form.name.data or "",
                      email=form.email.data or "", phone=form.phone.data or "", language=form.language.data,
                      address=form.address.data or "", attachments=_stored_uploads(form), token=form.token.data or "")
    try:
        # A writer from the start (see models.db._begin): on a double click the second request waits for the
        # first one's commit and then finds its submission, instead of failing on SQLite's lock upgrade.
        begin_writing()
        receipt = submission.take(Session(), sent, subject=f"{category.name}: {sent.description[:80]}")
        Session.commit()
    except SQLAlchemyError:
        Session.rollback()
        log.exception("a web form submission could not be stored")
        return render_template("public/contact.html", form=form, unavailable=True), 503
    # While Redis restarts, routing and the acknowledgement wait and the person still gets their reference.
    enqueue_after_commit(lambda redis: submission.announce(redis, receipt))
    session["receipt"] = {"reference": receipt.reference, "secret": receipt.status_secret}
    return redirect(url_for("public.received"))


@bp.get("/contact/received")
def received():
    receipt = session.pop("receipt", None)
    if receipt is None:
        return redirect(url_for("public.contact"))
    return render_template("public/received.html", receipt=receipt)


@bp.route("/status", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["STATUS_RATE_LIMIT"], methods=["POST"])
def status():
    form = StatusForm()
    if not form.validate_on_submit():
        return render_template("public/status.html", form=form), 400 if form.is_submitted() else 200
    case = submission.find_for_status(Session(), form.reference.data, form.secret.data)
    if case is None:           # the same answer for an unknown reference and a wrong code: nothing to enumerate
        return render_template("public/status.html", form=form, not_found=True), 404
    audit.view("case", case.id, constituent_id=case.constituent_id, via="public status page")
    notes = submission.public_notes(Session(), case.id)
    return render_template("public/status.html", form=form, case=case, notes=notes,
                           category=_label(case.category) if case.category else None)

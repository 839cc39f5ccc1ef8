"""Admin pages for Open311 API keys: issue a key (shown once), see when each was last used, revoke one."""
from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from caseworker import audit
from caseworker.auth import require_role
from caseworker.forms import ConfirmForm
from channels import open311_store
from models import AuditAction, Role, Session

bp = Blueprint("apikeys", __name__, url_prefix="/admin/api-keys")
bp.before_request(require_role(Role.ADMIN))


class ApiKeyForm(FlaskForm):
    name = StringField("Who the key is for", validators=[DataRequired(), Length(max=120)],
                       filters=[lambda value: value.strip() if value else value],
                       description="An app or partner, e.g. “Riverton 311 mobile app”.")


def _page(form: ApiKeyForm, new_key: str | None = None, status: int = 200):
    return render_template("admin/api_keys.html", form=form, keys=open311_store.keys(Session()),
                           confirm=ConfirmForm(), new_key=new_key), status


@bp.get("/")
def index():
    return _page(ApiKeyForm())


@bp.post("/")
def create():
    form = ApiKeyForm()
    if not form.validate_on_submit():
        return _page(form, status=400)
    row, key = open311_store.create_key(Session(), form.name.data, created_by_id=current_user.id)
    audit.record(Session(), AuditAction.CREATE, "api_key", row.id, name=row.name)
    Session.commit()
    # Shown on this page and never again: not flashed, because the session cookie is signed, not secret.
    return _page(ApiKeyForm(formdata=None), new_key=key, status=201)


@bp.post("/<int:key_id>/revoke")
def revoke(key_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    row = open311_store.revoke_key(Session(), key_id) or abort(404)
    audit.record(Session(), AuditAction.UPDATE, "api_key", row.id, revoked=True)
    Session.commit()
    flash(f"The key “{row.name}” ({row.key_prefix}…) no longer works.", "success")
    return redirect(url_for("apikeys.index"))

"""Admin pages for macros: canned replies with placeholders, one text per language."""
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from caseworker import audit
from caseworker.auth import require_role
from caseworker.case_forms import MacroForm
from caseworker.forms import ConfirmForm
from channels import casework
from models import AuditAction, Macro, MacroVariant, Role, Session
from routing.explain import language_name

bp = Blueprint("macros", __name__, url_prefix="/admin/macros")
bp.before_request(require_role(Role.ADMIN))


@bp.get("/")
def index():
    macros = Session.execute(select(Macro).order_by(Macro.name)).scalars().all()
    return render_template("macros/index.html", macros=macros, language_name=language_name)


def _save(form: MacroForm, macro: Macro | None):
    """Create or update the macro and the variant in the form's language. Returns the macro, or None when the
    name is taken (the form then carries the error)."""
    if macro is None:
        macro = Macro(created_by_id=current_user.id)
        Session.add(macro)
    macro.name, macro.is_active = form.name.data.strip(), form.is_active.data
    variant = next((v for v in macro.variants if v.language == form.language.data), None)
    if variant is None:
        variant = MacroVariant(language=form.language.data, body="")
        macro.variants.append(variant)
    variant.subject, variant.body = form.subject.data or "", form.body.data
    try:
        Session.flush()
    except IntegrityError:
        Session.rollback()
        form.name.errors = [*form.name.errors, "Another macro has that name."]
        return None
    audit.record(Session(), AuditAction.UPDATE, "macro", macro.id, language=variant.language)
    Session.commit()
    return macro


@bp.route("/new", methods=["GET", "POST"])
def create():
    form = MacroForm()
    if form.validate_on_submit() and (macro := _save(form, None)) is not None:
        flash(f"Macro {macro.name} saved.", "success")
        return redirect(url_for(".edit", macro_id=macro.id))
    return render_template("macros/edit.html", form=form, macro=None, placeholders=casework.PLACEHOLDERS,
                           language_name=language_name), 422 if form.errors else 200


@bp.route("/<int:macro_id>", methods=["GET", "POST"])
def edit(macro_id: int):
    macro = Session.get(Macro, macro_id) or abort(404)
    if request.method == "GET":
        language = request.args.get("language", "en")
        variant = next((v for v in macro.variants if v.language == language), None)
        form = MacroForm(formdata=None, name=macro.name, is_active=macro.is_active, language=language,
                         subject=variant.subject if variant else "", body=variant.body if variant else "")
    else:
        form = MacroForm()
        if form.validate_on_submit() and _save(form, macro) is not None:
            flash(f"Macro {macro.name} saved ({language_name(form.language.data)}).", "success")
            return redirect(url_for(".edit", macro_id=macro.id, language=form.language.data))
    return render_template("macros/edit.html", form=form, macro=macro, placeholders=casework.PLACEHOLDERS,
                           language_name=language_name, delete_form=ConfirmForm()), 422 if form.errors else 200


@bp.post("/<int:macro_id>/variants/<int:variant_id>/delete")
def delete_variant(macro_id: int, variant_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    variant = Session.get(MacroVariant, variant_id)
    if variant is None or variant.macro_id != macro_id:
        abort(404)
    audit.record(Session(), AuditAction.DELETE, "macro", macro_id, language=variant.language)
    Session.delete(variant)
    Session.commit()
    flash("That language's text was removed.", "success")
    return redirect(url_for(".edit", macro_id=macro_id))

"""Forms of the case page and of macro management. FlaskForm carries the CSRF token on each."""
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, IntegerField, MultipleFileField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from channels import casework
from models import CaseStatus, Priority
from routing.explain import LANGUAGE_NAMES

REFERENCE_HINT = {"autocomplete": "off", "spellcheck": "false", "placeholder": "C-2026-000123"}


class ReplyForm(FlaskForm):
    body = TextAreaField("Reply to the constituent", validators=[
        InputRequired("Write the reply before sending it."), Length(max=50_000)], render_kw={"rows": 8})
    attachments = MultipleFileField("Attach files (optional, up to 5 of 10 MB)")
    last_seen = IntegerField(validators=[Optional()], widget=HiddenField.widget)


class NoteForm(FlaskForm):
    note = TextAreaField("Internal note (type @ and a colleague's handle to mention them)", validators=[
        InputRequired("Write the note before saving it."), Length(max=20_000)], render_kw={"rows": 4})


class CaseStatusForm(FlaskForm):
    status = SelectField("New status", choices=[SelectChoice(s.value, s.value.replace("_", " ")) for s in CaseStatus],
                         validators=[InputRequired()])


class PriorityForm(FlaskForm):
    priority = SelectField("Priority", coerce=int, choices=[SelectChoice(int(p), p.name.lower()) for p in Priority],
                           validators=[InputRequired()])


class CategoryForm(FlaskForm):
    category = SelectField("Category", coerce=int, validators=[InputRequired()])


class TransferForm(FlaskForm):
    queue = SelectField("Transfer to queue", coerce=int, validators=[InputRequired()])


class AssignForm(FlaskForm):
    user = SelectField("Assign to", coerce=int, validators=[InputRequired()])
    force = BooleanField("Even when they have no free slot")


class ReferenceForm(FlaskForm):
    """Names another case by its reference: for merging and for linking."""

    reference = StringField("Case reference", validators=[
        InputRequired("Enter the other case's reference, like C-2026-000123."), Length(max=32)],
        filters=[lambda value: value.strip().upper() if value else value], render_kw=REFERENCE_HINT)


class LinkForm(ReferenceForm):
    reference = StringField("Link a related case (reference)", validators=ReferenceForm.reference.kwargs["validators"],
                            filters=ReferenceForm.reference.kwargs["filters"], render_kw=REFERENCE_HINT)


class MergeForm(ReferenceForm):
    reference = StringField("Merge this case into (reference)", validators=ReferenceForm.reference.kwargs["validators"],
                            filters=ReferenceForm.reference.kwargs["filters"], render_kw=REFERENCE_HINT)


class MacroForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    is_active = BooleanField("Offered on case pages", default=True)
    language = SelectField("Language of this text",
                           choices=[SelectChoice(code, name)
                                    for code, name in sorted(LANGUAGE_NAMES.items(), key=lambda kv: kv[1])])
    subject = StringField("Subject (optional)", validators=[Optional(), Length(max=500)])
    body = TextAreaField("Text", validators=[InputRequired("Write the macro's text."), Length(max=20_000)],
                         render_kw={"rows": 10})

    def validate_body(self, field) -> None:
        unknown = casework.unknown_placeholders(field.data or "")
        if unknown:
            known = ", ".join(f"{{{{ {p} }}}}" for p in casework.PLACEHOLDERS)
            raise ValidationError(f"Unknown placeholder {', '.join(unknown)}. Known placeholders: {known}.")

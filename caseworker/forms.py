"""WTForms for the console. FlaskForm carries a session-bound CSRF token on every form."""
from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    MultipleFileField,
    PasswordField,
    RadioField,
    SelectField,
    StringField,
    SubmitField,
    TelField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, InputRequired, Length, Optional, ValidationError

from caseworker.i18n import LANGUAGES
from channels.base import InvalidContact
from channels.webform import e164


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Email(check_deliverability=False), Length(max=254)],
                       filters=[lambda value: value.strip() if value else value],
                       render_kw={"autocomplete": "username"})
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)],
                             render_kw={"autocomplete": "current-password"})
    remember = BooleanField("Keep me signed in on this computer")
    submit = SubmitField("Sign in")


class LogoutForm(FlaskForm):
    submit = SubmitField("Sign out")


class ConfirmForm(FlaskForm):
    """A button that changes something: the form is only its CSRF token."""


# ---- the public contact page (translated: labels and messages are lazy gettext) -----------------------

ALLOWED_UPLOADS = {b"\xff\xd8\xff": ("image/jpeg", ".jpg"), b"\x89PNG\r\n\x1a\n": ("image/png", ".png"),
                   b"%PDF-": ("application/pdf", ".pdf")}


def upload_type(head: bytes) -> tuple[str, str] | None:
    """The content type and extension of an upload, judged by its first bytes (never by its name)."""
    return next((kind for magic, kind in ALLOWED_UPLOADS.items() if head.startswith(magic)), None)


class ContactForm(FlaskForm):
    category = RadioField(_l("What is your request about?"),
                          validators=[InputRequired(_l("Choose what your request is about."))])
    description = TextAreaField(_l("Describe your request"), validators=[
        InputRequired(_l("Tell us what happened or what you need.")),
        Length(min=10, max=5000, message=_l("Write between 10 and 5,000 characters."))],
        render_kw={"rows": 6})
    address = StringField(_l("Street address, if it is about a place (optional)"),
                          validators=[Optional(), Length(max=300)], render_kw={"autocomplete": "street-address"})
    name = StringField(_l("Your name (optional)"), validators=[Optional(), Length(max=200)],
                       render_kw={"autocomplete": "name"})
    email = EmailField(_l("Email, for our reply and your reference (optional)"), validators=[
        Optional(), Email(message=_l("Enter an email address like name@example.com."), check_deliverability=False),
        Length(max=254)], filters=[lambda v: v.strip() if v else v], render_kw={"autocomplete": "email"})
    phone = TelField(_l("Phone (optional)"), validators=[Optional(), Length(max=40)],
                     render_kw={"autocomplete": "tel"})
    language = SelectField(_l("Language for our replies"),
                           choices=[SelectChoice(code, name, render_kw={"lang": code}) for code, name in LANGUAGES.items()])
    attachments = MultipleFileField(_l("Photos or documents: JPEG, PNG or PDF, up to 3 files of 10 MB (optional)"),
                                    render_kw={"accept": "image/jpeg,image/png,application/pdf"})
    website = StringField(_l("Leave this field empty"), render_kw={"autocomplete": "off", "tabindex": "-1"})
    token = HiddenField()
    submit = SubmitField(_l("Send my request"))

    def validate_phone(self, field) -> None:
        if field.data:
            try:
                e164(field.data)
            except InvalidContact as exc:
                raise ValidationError(_l("Enter a phone number like 585 555 0123 or +39 06 1234 5678.")) from exc

    def validate_attachments(self, field) -> None:
        files = [f for f in field.data or [] if f and f.filename]
        limits = current_app.config
        if len(files) > limits["WEBFORM_MAX_FILES"]:
            raise ValidationError(_l("Attach at most %(n)s files.", n=limits["WEBFORM_MAX_FILES"]))
        for upload in files:
            if upload_type(upload.stream.read(8)) is None:
                raise ValidationError(_l("%(name)s is not a JPEG, PNG or PDF file.", name=upload.filename[:80]))
            upload.stream.seek(0, 2)
            too_big = upload.stream.tell() > limits["WEBFORM_MAX_FILE_BYTES"]
            upload.stream.seek(0)
            if too_big:
                raise ValidationError(_l("%(name)s is larger than 10 MB.", name=upload.filename[:80]))


class StatusForm(FlaskForm):
    reference = StringField(_l("Case reference"), validators=[
        InputRequired(_l("Enter the reference, like C-2026-000123.")), Length(max=32)],
        render_kw={"autocomplete": "off", "spellcheck": "false"})
    secret = StringField(_l("Code from your acknowledgement, or the email you wrote from"),
                         validators=[InputRequired(_l("Enter the code or your email address.")), Length(max=254)],
                         render_kw={"autocomplete": "off", "spellcheck": "false"})
    submit = SubmitField(_l("Show the status"))

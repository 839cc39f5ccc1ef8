"""The constituent's satisfaction survey (issue 7): one question behind a signed link, answered once.

No sign-in: the signed, expiring token in the link is the key, and it opens only its own survey. The page
shows nothing of the case but its reference. It speaks the language the survey was sent in (a ?lang= link
switches it); an expired link says so in that language (410), a changed or foreign one in the browser's (400).
Answers are rate-limited per client, CSRF-protected, and kept as plain text (escaped where shown); comments
are never logged.

Also here: the receiver that asks for a survey when a case is resolved (routing's `case_resolved`, sent after
commit), and the case page's survey panel (`case_survey`, a template global).
"""
import logging

from flask import Blueprint, current_app, has_app_context, redirect, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError
from sqlalchemy import select
from wtforms import RadioField, SubmitField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, InputRequired, Length, Optional

from caseworker import audit
from caseworker.extensions import limiter, rq_connection
from caseworker.i18n import LANGUAGES
from caseworker.writers import writes_after_checks
from channels import csat
from models import AuditAction, Case, Session, SurveyResponse, begin_writing
from routing import signals as routing_signals

log = logging.getLogger(__name__)

bp = Blueprint("survey", __name__, url_prefix="/survey")

SCORE_LABELS = {
    "1": _l("1 – very dissatisfied"),
    "2": _l("2 – dissatisfied"),
    "3": _l("3 – neither satisfied nor dissatisfied"),
    "4": _l("4 – satisfied"),
    "5": _l("5 – very satisfied"),
}


class SurveyForm(FlaskForm):
    score = RadioField(_l("How satisfied are you with how we handled your request?"),
                       choices=[SelectChoice(value, label) for value, label in SCORE_LABELS.items()],
                       validate_choice=False,
                       validators=[InputRequired(_l("Choose how satisfied you are, from 1 to 5.")),
                                   AnyOf(list(SCORE_LABELS), message=_l(
                                       "Choose one of the five answers: 1 (very dissatisfied) to 5 (very satisfied)."))])
    comment = TextAreaField(_l("Anything you would like to tell us? (optional)"),
                            validators=[Optional(), Length(max=csat.MAX_COMMENT, message=_l(
                                "Write at most %(max)s characters.", max=csat.MAX_COMMENT))],
                            render_kw={"rows": 5, "maxlength": csat.MAX_COMMENT})
    submit = SubmitField(_l("Send my answer"))


# ---- asking: the survey follows a resolve ----------------------------------------------------------


@routing_signals.case_resolved.connect
def request_survey(case_id: int, **_ids) -> None:
    """After a resolve commits: enqueue the survey job (it re-checks everything, and sends once)."""
    if not has_app_context():
        # Only library code driving routing by hand (tests of the engine) resolves outside an app; every
        # process of the system (web, worker, commands) runs inside one.
        log.warning("case %s resolved outside an app: no survey requested", case_id)
        return
    if current_app.config["CSAT_ENABLED"]:
        csat.request_survey(rq_connection(), case_id)


# ---- the case page ---------------------------------------------------------------------------------


@bp.app_template_global()
def case_survey(case_id: int) -> SurveyResponse | None:
    """The survey of a case for the case page (the page has checked that the user may see the case)."""
    return csat.for_case(Session(), case_id)


# ---- the public page -------------------------------------------------------------------------------


def _language(default: str | None = None) -> str:
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        return asked
    if default in LANGUAGES:
        return default
    return request.accept_languages.best_match(list(LANGUAGES)) or "en"


def _render(template: str, language: str, status: int = 200, **context):
    with force_locale(language):
        return render_template(template, languages=LANGUAGES, page_lang=language, **context), status


def _open(token: str) -> SurveyResponse:
    """The survey a token opens. Raises csat.LinkInvalid / csat.LinkExpired (their handlers answer)."""
    survey = Session.get(SurveyResponse, csat.read_link(token))
    if survey is None:                       # the case was deleted since: as good as a link that never was
        raise csat.LinkInvalid()
    return survey


def _reference(survey: SurveyResponse) -> str:
    return Session.execute(select(Case.reference).where(Case.id == survey.case_id)).scalar_one()


@bp.route("/<token>", methods=["GET", "POST"])
@writes_after_checks
@limiter.limit(lambda: current_app.config["CSAT_RATE_LIMIT"], methods=["POST"])
def answer(token: str):
    survey = _open(token)
    case = Session.get(Case, survey.case_id)
    language, reference = _language(survey.language), case.reference
    if survey.answered_at is not None:
        return _render("survey/done.html", language, 409 if request.method == "POST" else 200,
                       reference=reference, already=True)
    form = SurveyForm()
    with force_locale(language):              # validators format their messages as they fail
        valid = form.validate_on_submit()
    if not valid:
        return _render("survey/question.html", language, 400 if form.is_submitted() else 200,
                       form=form, reference=reference, token=token)
    begin_writing()          # SQLite cannot upgrade a reading transaction (see models.db._begin)
    try:
        answered = csat.answer(Session(), survey.id, int(form.score.data), form.comment.data)
    except csat.AlreadyAnswered:
        Session.rollback()
        return _render("survey/done.html", language, 409, reference=reference, already=True)
    audit.record(Session(), AuditAction.UPDATE, "survey", answered.id, constituent_id=case.constituent_id,
                 case_id=case.id, via="public survey", score=answered.score)
    Session.commit()
    return redirect(url_for(".thanks", token=token, lang=request.args.get("lang") or None))


@bp.get("/<token>/thanks")
def thanks(token: str):
    survey = _open(token)
    if survey.answered_at is None:
        return redirect(url_for(".answer", token=token, lang=request.args.get("lang") or None))
    return _render("survey/done.html", _language(survey.language), reference=_reference(survey), already=False)


@bp.errorhandler(csat.LinkExpired)
def link_expired(error: csat.LinkExpired):
    survey = Session.get(SurveyResponse, error.survey_id)
    language = _language(survey.language if survey else None)
    return _render("survey/expired.html", language, 410, answered=bool(survey and survey.answered_at))


@bp.errorhandler(csat.LinkInvalid)
def link_invalid(_error: csat.LinkInvalid):
    return _render("survey/invalid.html", _language(), 400)


@bp.errorhandler(CSRFError)
def form_expired(_error: CSRFError):
    """The form's CSRF token is missing or stale: ask again, with the reason, and save nothing."""
    token = (request.view_args or {}).get("token", "")
    try:
        survey = _open(token)
    except csat.LinkExpired as error:
        return link_expired(error)
    except csat.LinkInvalid as error:
        return link_invalid(error)
    if survey.answered_at is not None:
        return _render("survey/done.html", _language(survey.language), 409, reference=_reference(survey),
                       already=True)
    kept = {"comment": request.form.get("comment", "")[:csat.MAX_COMMENT]}
    if request.form.get("score") in SCORE_LABELS:
        kept["score"] = request.form["score"]
    form = SurveyForm(formdata=None, data=kept)
    return _render("survey/question.html", _language(survey.language), 400, form=form, token=token,
                   reference=_reference(survey), form_expired=True)

"""Satisfaction surveys (CSAT, issue 7): one question, 1 to 5 and an optional comment, once per resolved case.

When a person marks a case resolved, routing announces `case_resolved` after commit; the web layer enqueues
`survey_case` on the `channels` queue, and the job writes the survey (`send_survey`) and delivers it:
- a chat whose session is still open gets the link as a chat message from the case's agent;
- otherwise the constituent's email address gets it as an automatic mail threaded on the case (recorded as
  an outbound interaction, like the acknowledgement, and delivered by the same SMTP path);
- with neither, nobody is asked and nothing is recorded (see `send_survey`).

The link carries a signed, timestamped token (itsdangerous, keyed on the app's SECRET_KEY with its own salt)
naming the survey; it expires after CSAT_LINK_MAX_AGE_DAYS. `case_id` is unique in survey_responses, so a
re-resolved case or a retried job never asks twice, and `answer` fills a survey once (a conditional UPDATE).
Logs carry ids only: never a comment, an address or a token.
"""
import logging
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from redis import Redis
from rq import Queue
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from channels import chatting, jobs, outbound, signals
from channels.chat import ChatMessage
from channels.settings import current as channel_settings
from models import (
    Case,
    CaseMerge,
    CaseStatus,
    Channel,
    Interaction,
    SurveyResponse,
    transaction,
    utcnow,
)

log = logging.getLogger(__name__)

LANGUAGES = ("en", "es", "it")
SCORES = range(1, 6)
MAX_COMMENT = 2000
TOKEN_SALT = "casework.csat.survey"

SUBJECT = {"en": "How did we do?", "es": "¿Qué tal lo hicimos?", "it": "Come siamo andati?"}
CHAT_TEXT = {
    "en": "Your case {reference} is resolved. How satisfied are you with our help? One question, 1 to 5: {url}",
    "es": "Su caso {reference} está resuelto. ¿Qué tan satisfecho está con nuestra ayuda? Una pregunta, "
          "de 1 a 5: {url}",
    "it": "La sua pratica {reference} è risolta. Quanto è soddisfatto del nostro aiuto? Una domanda, da 1 a 5: {url}",
}


# ---- settings ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CsatSettings:
    """Set once by the composition root (create_app): channels/ does not read Flask's config."""

    secret_key: str = ""
    max_age_days: float = 14
    enabled: bool = True

    @property
    def max_age_seconds(self) -> int:
        return int(self.max_age_days * 86400)


_current = CsatSettings()


def configure(settings: CsatSettings) -> None:
    """Install the survey settings for this process."""
    global _current
    _current = settings


def settings() -> CsatSettings:
    return _current


# ---- the signed link --------------------------------------------------------------------------------


class LinkInvalid(ValueError):
    """The token was not made by us, or was changed: nothing in it can be trusted."""


class LinkExpired(ValueError):
    """The token is ours but older than the allowed age; `survey_id` names the survey it was for."""

    def __init__(self, survey_id: int):
        super().__init__(survey_id)
        self.survey_id = survey_id


class _Signer(TimestampSigner):
    """A TimestampSigner whose clock can be given (`now`, seconds since the epoch), so expiry can be tested
    at a time the test controls; without it, the real clock."""

    def __init__(self, *args, now: float | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._now = now

    def get_timestamp(self) -> int:
        return int(self._now) if self._now is not None else super().get_timestamp()


def _serializer(now: float | None) -> URLSafeTimedSerializer:
    if not settings().secret_key:
        raise RuntimeError("channels.csat is not configured: no secret key")
    return URLSafeTimedSerializer(settings().secret_key, salt=TOKEN_SALT, signer=_Signer, signer_kwargs={"now": now})


def sign_link(survey_id: int, now: float | None = None) -> str:
    """The URL-safe token that opens survey `survey_id`, signed at `now` (default: the clock)."""
    return _serializer(now).dumps({"s": survey_id})


def read_link(token: str, now: float | None = None) -> int:
    """The survey id a token opens. Raises LinkExpired (past CSAT_LINK_MAX_AGE_DAYS at `now`) or LinkInvalid."""
    serializer = _serializer(now)
    try:
        data = serializer.loads(token, max_age=settings().max_age_seconds)
    except SignatureExpired as expired:
        # The signature is good, only old: its payload is ours and tells which survey (and so which language).
        raise LinkExpired(_survey_id(serializer.load_payload(expired.payload))) from None
    except BadSignature:
        raise LinkInvalid() from None
    return _survey_id(data)


def _survey_id(data: object) -> int:
    if not isinstance(data, dict) or not isinstance(data.get("s"), int):
        raise LinkInvalid()
    return data["s"]


def survey_url(survey_id: int, now: float | None = None) -> str:
    """The public page of survey `survey_id`, for a mail or a chat message."""
    return f"{channel_settings().public_url.rstrip('/')}/survey/{sign_link(survey_id, now)}"


# ---- sending ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SurveySent:
    """What `send_survey` wrote: the survey, the interaction that carries the link, and whether it is new."""

    survey_id: int
    case_id: int
    channel: Channel
    interaction_id: int | None
    is_new: bool


def survey_language(case: Case, chat_language: str | None = None) -> str:
    """The language to ask in: the chat's, else the case's, else the constituent's preference, else English."""
    preferred = case.constituent.preferred_language if case.constituent is not None else None
    return next((lang for lang in (chat_language, case.language, preferred) if lang in LANGUAGES), "en")


def send_survey(session: Session, case_id: int, now: datetime | None = None) -> SurveySent | None:
    """Write the survey of a resolved case and the message that carries its link. Flushes; the caller commits,
    then announces (chat) or delivers (email) it: `survey_case` does both.

    Idempotent: a case that has its survey already gets it back (`is_new` False, with the interaction that
    carried it) and nothing new is written. Returns None, writing nothing, when surveys are off, when the case
    is gone, not resolved (reopened or closed meanwhile) or was merged into another, and when there is no way
    to reach the constituent (no live chat, no usable email address: phone and Open311 cases without an
    address). Such a case gets no row: a row means "asked", so the reports' response rate counts only people
    who were asked. Raises nothing of its own.
    """
    now = now or utcnow()
    existing = for_case(session, case_id)
    if existing is not None:
        return SurveySent(existing.id, case_id, existing.channel, _carrier(session, existing), is_new=False)
    case = session.get(Case, case_id)
    if (not settings().enabled or case is None or case.status is not CaseStatus.RESOLVED
            or session.get(CaseMerge, case_id) is not None):
        return None
    chat = chatting.for_case(session, case_id) if case.channel is Channel.CHAT else None
    live_chat = chat is not None and chat.is_open and case.assignee_id is not None
    if not live_chat:
        try:
            outbound.reply_recipient(session, case)
        except outbound.NoEmailAddress:
            log.info("case %s resolved: no live chat and no email address, so no survey", case_id)
            return None
    survey = SurveyResponse(case_id=case_id, agent_id=case.assignee_id, queue_id=case.queue_id,
                            channel=Channel.CHAT if live_chat else Channel.EMAIL,
                            language=survey_language(case, chat.language if live_chat else None), sent_at=now)
    try:
        with session.begin_nested():          # two jobs for the same case at once: the unique case_id picks one
            session.add(survey)
    except IntegrityError:
        return send_survey(session, case_id, now)
    url = survey_url(survey.id, now.timestamp())
    if live_chat:
        text = CHAT_TEXT[survey.language].format(reference=case.reference, url=url)
        posted = chatting.post(session, chat, ChatMessage(client_id=f"csat-{survey.id}", text=text),
                               author_id=case.assignee_id)
        carrier = session.get(Interaction, posted.interaction_id)
    else:
        carrier = _queue_mail(session, case, survey, url)
    carrier.meta = {**carrier.meta, "csat_survey_id": survey.id}
    session.flush()
    log.info("case %s: survey %s sent by %s", case_id, survey.id, survey.channel.value)
    return SurveySent(survey.id, case_id, survey.channel, carrier.id, is_new=True)


def _queue_mail(session: Session, case: Case, survey: SurveyResponse, url: str) -> Interaction:
    # The outbound path of replies and acknowledgements: threaded on the case and recorded as QUEUED.
    return outbound.queue_automatic(session, case, template=f"survey.{survey.language}.txt",
                                    subject=SUBJECT[survey.language], auto_submitted="auto-generated",
                                    url=url, days=int(settings().max_age_days))


def _carrier(session: Session, survey: SurveyResponse) -> int | None:
    """The interaction that carried the survey's link (a retry delivers it if it is still queued)."""
    return session.execute(
        select(Interaction.id).where(Interaction.case_id == survey.case_id,
                                     Interaction.meta["csat_survey_id"].as_integer() == survey.id).limit(1)
    ).scalar_one_or_none()


def request_survey(redis: Redis, case_id: int):
    """Enqueue `survey_case` for a case that was just resolved. Call after the resolve is committed."""
    return Queue(jobs.CHANNELS_QUEUE, connection=redis).enqueue(survey_case, case_id, job_timeout=120,
                                                                retry=jobs.SEND_RETRY)


def survey_case(case_id: int) -> str:
    """RQ job: send the survey of a resolved case; returns how ("email", "chat") or "none".

    Idempotent: the survey is written once (unique case_id); a retry after a failed delivery sends the mail
    it wrote if it is still queued, and an email already sent is not sent again.
    """
    with transaction() as session:
        sent = send_survey(session, case_id)
    if sent is None:
        return "none"
    if sent.is_new and sent.interaction_id is not None:
        if sent.channel is Channel.CHAT:
            chatting.chat_message.send(case_id, interaction_id=sent.interaction_id, side=chatting.AGENT)
        else:
            signals.interaction_added.send(case_id, interaction_id=sent.interaction_id)
    if sent.channel is Channel.EMAIL and sent.interaction_id is not None:
        jobs.send_email(sent.interaction_id)          # no-op when it went already; raises for the job's retries
    return sent.channel.value


# ---- answering --------------------------------------------------------------------------------------


class AlreadyAnswered(Exception):
    """The survey has its answer: one answer per case."""


class InvalidAnswer(ValueError):
    """A score outside 1 to 5, or a comment too long; the message says which."""


def clean_comment(text: str | None) -> str | None:
    """The comment as plain text: control characters (except newlines and tabs) and outer space removed;
    None when empty. It is stored as text and escaped wherever it is shown."""
    if not text:
        return None
    cleaned = "".join(c for c in text if c in "\n\t" or unicodedata.category(c) not in ("Cc", "Cf", "Cs"))
    return cleaned.strip() or None


def answer(session: Session, survey_id: int, score: int, comment: str | None = None,
           now: datetime | None = None) -> SurveyResponse:
    """Record the constituent's answer, once. Flushes; the caller commits.

    Raises InvalidAnswer (score outside 1-5, comment over MAX_COMMENT characters), LookupError (no such
    survey) and AlreadyAnswered (a first answer won, even one a moment ago in another request).
    """
    if not isinstance(score, int) or score not in SCORES:
        raise InvalidAnswer("score must be 1 to 5")
    comment = clean_comment(comment)
    if comment is not None and len(comment) > MAX_COMMENT:
        raise InvalidAnswer(f"comment longer than {MAX_COMMENT} characters")
    filled = session.execute(
        update(SurveyResponse).where(SurveyResponse.id == survey_id, SurveyResponse.answered_at.is_(None))
        .values(score=score, comment=comment, answered_at=now or utcnow())
        .execution_options(synchronize_session=False)).rowcount
    survey = session.execute(select(SurveyResponse).where(SurveyResponse.id == survey_id)
                             .execution_options(populate_existing=True)).scalar_one_or_none()
    if survey is None:
        raise LookupError(survey_id)
    if filled != 1:
        raise AlreadyAnswered(survey_id)
    log.info("survey %s answered", survey_id)
    return survey


# ---- results ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CsatSummary:
    sent: int
    answered: int
    average: float | None           # of the answered scores; None when none is answered
    satisfied: int                  # answers of 4 or 5 (the usual CSAT %: satisfied / answered)

    @property
    def response_rate(self) -> float | None:
        return self.answered / self.sent if self.sent else None

    @property
    def csat_percent(self) -> float | None:
        return 100 * self.satisfied / self.answered if self.answered else None


def csat_summary(session: Session, agent_id: int | None = None, since: datetime | None = None) -> CsatSummary:
    """Surveys sent since `since` (all time by default), for one agent or everyone: counts and the average.
    Reads only."""
    query = select(func.count(SurveyResponse.id), func.count(SurveyResponse.answered_at), func.avg(SurveyResponse.score),
                   func.count(SurveyResponse.id).filter(SurveyResponse.score >= 4))
    if agent_id is not None:
        query = query.where(SurveyResponse.agent_id == agent_id)
    if since is not None:
        query = query.where(SurveyResponse.sent_at >= since)
    sent, answered, average, satisfied = session.execute(query).one()
    return CsatSummary(sent, answered, round(float(average), 2) if average is not None else None, satisfied)


def for_case(session: Session, case_id: int) -> SurveyResponse | None:
    """The survey of a case, if one was sent. Reads only."""
    return session.execute(select(SurveyResponse).where(SurveyResponse.case_id == case_id)).scalar_one_or_none()

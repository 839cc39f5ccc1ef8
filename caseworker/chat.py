"""Live chat in the web layer: the public chat page and its embeddable loader, the agent's chat panel,
and the work behind the chat socket events (`caseworker/realtime.py` holds the handlers themselves).

The constituent never signs in: the pre-chat form (CSRF, rate-limited) answers with a signed chat token
that names the chat and carries its secret; the "/chat" socket namespace accepts only that token. Staff
use the console's signed-in default namespace, and may only join the room of a chat assigned to them.
"""
import logging
import secrets
import time
from collections.abc import Callable

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_from_directory,
    session,
    url_for,
)
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from wtforms import EmailField, HiddenField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Email, InputRequired, Length, Optional

import routing
from caseworker import access, audit
from caseworker.auth import require_role
from caseworker.extensions import limiter, redis_client, rq_connection
from caseworker.forms import ConfirmForm
from caseworker.i18n import LANGUAGES
from caseworker.public import _services
from channels import chatting, jobs
from channels.base import InvalidContact
from channels.chat import InvalidMessage, PreChat, message
from models import Case, Channel, ChatSession, QueueMember, Role, Session, User, begin_writing
from models import Queue as CaseQueue
from routing import engine

log = logging.getLogger(__name__)

bp = Blueprint("chat", __name__)
console_bp = Blueprint("chat_console", __name__, url_prefix="/console/chat")
console_bp.before_request(require_role(Role.AGENT))

TOKEN_SALT = "casework-chat"


# ---- the chat token ----------------------------------------------------------------------------------


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=TOKEN_SALT)


def issue_token(start: chatting.ChatStart) -> str:
    return _serializer().dumps({"chat": start.chat_id, "secret": start.secret})


def chat_from_token(token: object) -> ChatSession | None:
    """The chat a token opens, or None for a forged, expired or replaced token. Reads only."""
    if not isinstance(token, str) or len(token) > 512:
        return None
    try:
        data = _serializer().loads(token, max_age=current_app.config["CHAT_TOKEN_MAX_AGE_SECONDS"])
        return chatting.verify(Session(), int(data["chat"]), str(data["secret"]))
    except (BadSignature, KeyError, TypeError, ValueError):
        return None


# ---- the public chat page ------------------------------------------------------------------------------


class PreChatForm(FlaskForm):
    name = StringField(_l("Your name"), validators=[InputRequired(_l("Tell us your name.")), Length(max=120)],
                       render_kw={"autocomplete": "name"})
    email = EmailField(_l("Email, if you want a copy or we need to write back (optional)"), validators=[
        Optional(), Email(message=_l("Enter an email address like name@example.com."), check_deliverability=False),
        Length(max=254)], filters=[lambda v: v.strip() if v else v], render_kw={"autocomplete": "email"})
    language = SelectField(_l("Language"), choices=[SelectChoice(code, name, render_kw={"lang": code})
                                                    for code, name in LANGUAGES.items()])
    topic = SelectField(_l("What is it about?"), validators=[InputRequired(_l("Choose a topic."))])
    question = TextAreaField(_l("Your question (optional)"), validators=[Optional(), Length(max=2000)],
                             render_kw={"rows": 3})
    token = HiddenField()
    submit = SubmitField(_l("Start the chat"))


def _embed() -> bool:
    return request.args.get("embed") == "1"


@bp.after_request
def allow_framing(response):
    """The embedded chat page may be framed by the sites in CHAT_EMBED_ANCESTORS; nothing else may."""
    if _embed() and response.mimetype == "text/html":
        from caseworker import CONTENT_SECURITY_POLICY
        ancestors = current_app.config["CHAT_EMBED_ANCESTORS"]
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY.replace(
            "frame-ancestors 'none'", f"frame-ancestors {ancestors}")
        response.headers["X-Frame-Options"] = "SAMEORIGIN"     # ignored where frame-ancestors is understood
    return response


@bp.context_processor
def page_settings():
    return {"languages": LANGUAGES, "page_lang": str(get_locale()), "embed": _embed()}


@bp.route("/chat", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["CHAT_RATE_LIMIT"], methods=["POST"])
def start():
    language = str(get_locale())
    services = _services()
    form = PreChatForm()
    form.topic.choices = [SelectChoice(code, s.label(language)) for code, s in services.items()]
    if not form.is_submitted():
        form.language.data = language
        form.token.data = secrets.token_urlsafe(16)
    if not form.validate_on_submit():
        return render_template("chat/start.html", form=form), 400 if form.is_submitted() else 200
    service = services[form.topic.data]
    prechat = PreChat(name=form.name.data.strip(), language=form.language.data, category_code=service.code,
                      token=form.token.data or "", email=form.email.data or "", question=form.question.data or "")
    try:
        started = chatting.start(Session(), prechat, subject=f"Chat: {service.name}")
        Session.commit()
    except InvalidContact:
        Session.rollback()
        abort(400)
    except SQLAlchemyError:
        Session.rollback()
        log.exception("a chat could not be started")
        return render_template("chat/start.html", form=form, unavailable=True), 503
    chatting.announce_start(rq_connection(), started)
    session["chat_token"] = issue_token(started)
    session["lang"] = prechat.language
    return redirect(url_for("chat.live", embed="1" if _embed() else None))


@bp.get("/chat/live")
def live():
    token = session.get("chat_token")
    chat = chat_from_token(token)
    if chat is None:
        return redirect(url_for("chat.start", embed="1" if _embed() else None))
    return render_template("chat/live.html", token=token, chat=chat, reference=chat.case.reference)


@bp.get("/chat/widget.js")
def widget():
    """The loader a website includes with <script src=".../chat/widget.js" defer>: a button that opens
    the chat page in an iframe."""
    response = send_from_directory(current_app.static_folder, "js/chat-widget.js", mimetype="text/javascript")
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


# ---- the agent's chat panel ----------------------------------------------------------------------------


class ChatReplyForm(FlaskForm):
    text = TextAreaField("Message", validators=[InputRequired("Write a message."), Length(max=2000)],
                         render_kw={"rows": 2})
    client_id = HiddenField()
    submit = SubmitField("Send")


class ChatTransferForm(FlaskForm):
    queue_id = SelectField("To a queue", coerce=int, validators=[Optional()])
    user_id = SelectField("Or to a person", coerce=int, validators=[Optional()])
    submit = SubmitField("Transfer the chat")


def _chat_case(case_id: int) -> tuple[Case, ChatSession]:
    """The chat case, if the signed-in user may see it; 404 otherwise."""
    case = access.case_or_404(case_id)
    chat = chatting.for_case(Session(), case.id)
    if chat is None:
        abort(404)
    return case, chat


def _chat_transfer_form(case: Case) -> ChatTransferForm:
    form = ChatTransferForm(prefix="chat-transfer")
    queues = Session.execute(select(CaseQueue.id, CaseQueue.name).where(CaseQueue.is_active)
                             .order_by(CaseQueue.name)).all()
    people = Session.execute(
        select(User.id, User.display_name).join(QueueMember, QueueMember.user_id == User.id)
        .where(QueueMember.queue_id == case.queue_id, User.is_active, User.id != current_user.id)
        .distinct().order_by(User.display_name)).all() if case.queue_id else []
    form.queue_id.choices = [(0, "Choose a queue")] + [(q.id, q.name) for q in queues]
    form.user_id.choices = [(0, "Choose a person")] + [(u.id, u.display_name) for u in people]
    return form


def panel_context(case: Case, chat: ChatSession) -> dict:
    """What templates/chat/_agent_panel.html needs (the case page includes the panel with this)."""
    return {"chat_case": case, "chat": chat, "chat_messages": chatting.messages_after(Session(), case.id),
            "chat_transfer_form": _chat_transfer_form(case),
            "chat_can_speak": chat.is_open and case.assignee_id == current_user.id,
            "chat_can_manage": case.assignee_id == current_user.id or current_user.has_role(Role.SUPERVISOR)}


def panel_for(case: Case) -> dict:
    """The panel's template variables for a chat case (with `chat` set), or {} for any other case.
    The case page passes these to its template and includes "chat/_agent_panel.html" when `chat` is set."""
    chat = chatting.for_case(Session(), case.id) if case.channel is Channel.CHAT else None
    return panel_context(case, chat) if chat is not None else {}


@console_bp.get("/<int:case_id>")
def panel(case_id: int):
    case, chat = _chat_case(case_id)
    audit.view("case", case.id, constituent_id=case.constituent_id, via="chat panel")
    return render_template("chat/agent.html", **panel_context(case, chat))


@console_bp.get("/<int:case_id>/transcript")
def transcript(case_id: int):
    case, chat = _chat_case(case_id)
    audit.view("case", case.id, constituent_id=case.constituent_id, via="chat transcript")
    return render_template("chat/_transcript.html", chat_case=case, chat=chat,
                           chat_messages=chatting.messages_after(Session(), case.id))


def _back(case_id: int):
    target = request.form.get("next", "")
    if target.startswith("/") and not target.startswith("//"):
        return redirect(target)
    return redirect(url_for("chat_console.panel", case_id=case_id))


@console_bp.post("/<int:case_id>/send")
def send(case_id: int):
    """The panel's reply form without JavaScript; with it, chat-agent.js sends over the socket."""
    case, chat = _chat_case(case_id)
    form = ChatReplyForm()
    if not form.validate_on_submit():
        abort(400)
    result = agent_post(current_user, {"case_id": case.id, "text": form.text.data,
                                       "client_id": form.client_id.data or secrets.token_urlsafe(12)})
    if not result["ok"]:
        flash("The message was not sent: " + result["error"], "error")
    return _back(case_id)


def _staff_step(case: Case, step: Callable) -> engine.Effects | None:
    """Run a routing step for the chat's assignee (or a supervisor) as one unit of work."""
    if case.assignee_id != current_user.id and not current_user.has_role(Role.SUPERVISOR):
        abort(403)
    Session.remove()
    try:
        return routing.perform(rq_connection(), step)
    except engine.RoutingError as error:
        flash(f"That did not work: {error}", "error")
        return None


@console_bp.post("/<int:case_id>/end")
def end(case_id: int):
    case, chat = _chat_case(case_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if _staff_step(case, lambda s: end_step(s, chat.id)) is not None:
        chatting.chat_state.send(case_id)
        flash("The chat has ended. The case stays with you for any follow-up.", "success")
    return _back(case_id)


@console_bp.post("/<int:case_id>/transfer")
def transfer(case_id: int):
    case, chat = _chat_case(case_id)
    form = _chat_transfer_form(case)
    if not form.validate_on_submit() or not chat.is_open or not (form.queue_id.data or form.user_id.data):
        flash("Choose a queue or a person to transfer the chat to.", "error")
        return _back(case_id)
    if form.user_id.data:
        step = lambda s: engine.assign_manually(s, case_id, form.user_id.data, current_user.id)  # noqa: E731
    else:
        step = lambda s: engine.transfer(s, case_id, form.queue_id.data, current_user.id)  # noqa: E731
    if _staff_step(case, step) is not None:
        chatting.chat_state.send(case_id)
        flash("The chat was transferred.", "success")
    return redirect(url_for("inbox.index"))


# ---- work behind the socket events (realtime.py) ------------------------------------------------------


def end_step(session, chat_id: int) -> engine.Effects:
    """End the chat and free the slot it holds; a chat nobody took yet is resolved (it leaves the queue)."""
    chat = session.get(ChatSession, chat_id)
    if not chatting.end(session, chat):
        return engine.Effects()
    case = session.get(Case, chat.case_id)
    if case.assignee_id is None:
        return engine.resolve(session, case.id)
    return engine.end_chat(session, case.id)


def _message_json(item, chat: ChatSession) -> dict:
    return {"id": item.id, "client_id": (item.meta or {}).get("client_id"), "mine": item.author_id is None,
            "text": item.body_text, "at": item.occurred_at.isoformat()}


def sync(chat_id: int, after: object) -> dict:
    """The constituent's view of their chat: state, place in the queue, and messages after `after`."""
    chat = Session.get(ChatSession, chat_id)
    case = chat.case
    after_id = after if isinstance(after, int) and after >= 0 else 0
    waiting = chat.is_open and case.assignee_id is None
    state = "waiting" if waiting else "active" if chat.is_open else chat.state.value
    reply = {"ok": True, "state": state, "case_id": case.id, "reference": case.reference, "queue_id": case.queue_id,
             "position": chatting.queue_position(Session(), case) if waiting else None,
             "available": chatting.agents_available(Session(), case.queue_id) if waiting else None,
             "agent": case.assignee.display_name if case.assignee and chat.is_open else None,
             "agent_read_upto": chat.agent_read_upto,
             "messages": [_message_json(m, chat) for m in chatting.messages_after(Session(), case.id, after_id)
                          if m.body_text]}
    Session.remove()
    return reply


def _stored(store: Callable[[], chatting.Posted], case_id: int, side: str) -> dict:
    """Store a message, commit, then announce it; the ack carries its id ("delivered")."""
    try:
        posted = store()
        Session.commit()
    except InvalidMessage as error:
        Session.rollback()
        return {"ok": False, "error": str(error)}
    except chatting.ChatClosed:
        Session.rollback()
        return {"ok": False, "error": "closed"}
    except chatting.NotYourChat:
        Session.rollback()
        return {"ok": False, "error": "not your chat"}
    finally:
        Session.remove()
    if not posted.is_duplicate:
        chatting.chat_message.send(case_id, interaction_id=posted.interaction_id, side=side)
    return {"ok": True, "id": posted.interaction_id}


def _too_fast(chat_id: int) -> bool:
    """A flood guard: at most CHAT_MESSAGES_PER_MINUTE messages from one chat's constituent a minute."""
    key = f"casework:chat:rate:{chat_id}:{int(time.time() // 60)}"
    pipe = redis_client().pipeline()
    pipe.incr(key)
    pipe.expire(key, 120)
    return pipe.execute()[0] > current_app.config["CHAT_MESSAGES_PER_MINUTE"]


def constituent_post(chat_id: int, data: object) -> dict:
    if _too_fast(chat_id):
        return {"ok": False, "error": "too fast"}
    begin_writing()           # a socket event is no request: caseworker.writers did not make it a writer
    chat = Session.get(ChatSession, chat_id)
    return _stored(lambda: chatting.post(Session(), chat, message(data)), chat.case_id, chatting.CONSTITUENT)


def agent_post(user, data: object) -> dict:
    """A signed-in agent's message in a chat assigned to them."""
    case_id = (data or {}).get("case_id") if isinstance(data, dict) else None
    begin_writing()
    case = Session.get(Case, case_id) if isinstance(case_id, int) else None
    chat = chatting.for_case(Session(), case.id) if case is not None and access.can_see_case(user, case) else None
    if chat is None:
        Session.remove()
        return {"ok": False, "error": "no such chat"}
    return _stored(lambda: chatting.post(Session(), chat, message(data), author_id=user.id), case.id, chatting.AGENT)


def may_join(user, case_id: object) -> bool:
    """An agent joins a chat's room only for a chat case they can see and that is assigned to them."""
    case = Session.get(Case, case_id) if isinstance(case_id, int) else None
    allowed = (case is not None and case.assignee_id == user.id and access.can_see_case(user, case)
               and chatting.for_case(Session(), case.id) is not None)
    Session.remove()
    return allowed


def read(chat_id: int, side: str, upto: object) -> bool:
    """Record how far one side read; True (and the other side is told) when it moved."""
    if not isinstance(upto, int) or upto <= 0:
        return False
    begin_writing()
    chat = Session.get(ChatSession, chat_id)
    moved = chatting.mark_read(Session(), chat, side, upto)
    Session.commit()
    case_id = chat.case_id
    Session.remove()
    if moved:
        chatting.chat_read.send(case_id, side=side, upto=upto)
    return moved


def agent_chat_id(user, case_id: object) -> int | None:
    """The chat of a case assigned to `user`, else None."""
    case = Session.get(Case, case_id) if isinstance(case_id, int) else None
    chat = chatting.for_case(Session(), case.id) if case is not None and case.assignee_id == user.id else None
    chat_id = chat.id if chat is not None else None
    Session.remove()
    return chat_id


def constituent_end(chat_id: int) -> dict:
    case_id = Session.get(ChatSession, chat_id).case_id
    Session.remove()
    routing.perform(rq_connection(), lambda s: end_step(s, chat_id))
    chatting.chat_state.send(case_id)
    return {"ok": True}


def constituent_leave(chat_id: int, data: object) -> dict:
    """Nobody answered: keep the message, make the case an email case, acknowledge it by email."""
    data = data if isinstance(data, dict) else {}
    acknowledgement: list[int] = []

    def step(session) -> engine.Effects:
        chat = session.get(ChatSession, chat_id)
        acknowledgement.append(chatting.leave_message(session, chat, data.get("email", ""), message(data)))
        case = session.get(Case, chat.case_id)
        return engine.return_to_queue(session, case.id) if case.offered_to_id else engine.route_case(session, case.id)

    Session.remove()
    try:
        routing.perform(rq_connection(), step)
    except InvalidMessage as error:
        return {"ok": False, "error": str(error)}
    except InvalidContact:
        return {"ok": False, "error": "email"}
    except chatting.ChatClosed:
        return {"ok": False, "error": "closed"}
    jobs.request_send(rq_connection(), acknowledgement[0])
    case_id = Session.get(ChatSession, chat_id).case_id
    Session.remove()
    chatting.chat_state.send(case_id)
    return {"ok": True}


def register(app) -> None:
    """Register the chat blueprints and their settings' defaults."""
    app.config.setdefault("CHAT_RATE_LIMIT", "5 per minute; 30 per hour")
    app.config.setdefault("CHAT_MESSAGES_PER_MINUTE", 30)
    app.config.setdefault("CHAT_TOKEN_MAX_AGE_SECONDS", 12 * 3600)
    app.config.setdefault("CHAT_EMBED_ANCESTORS", "'self'")
    app.register_blueprint(bp)
    app.register_blueprint(console_bp)


"""Live chat, the stored part: start a chat (a case through intake), post messages both ways, read
receipts, the queue position, ending, and leaving a message when nobody answers.

Services flush; the boundary (a view or a socket handler) commits once, then sends this module's signals
and asks routing for an agent. Every message is an interaction on the case, stored before it is
acknowledged, with its sender's client id in its external id: a resend after a reconnect is one message.
"""
import hmac
import logging
import secrets
from dataclasses import dataclass

from blinker import Namespace
from redis import Redis
from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import routing
from channels import inbound, intake, outbound, signals
from channels.chat import SOURCE, ChatMessage, PreChat, email_address, external_id, to_contact
from channels.submission import hash_secret
from models import (
    Case,
    CaseStatus,
    Channel,
    ChatSession,
    ChatState,
    Constituent,
    ContactKind,
    ContactPoint,
    Direction,
    InboundStatus,
    Interaction,
    InteractionKind,
    Presence,
    QueueMember,
    User,
    UserCapacity,
    utcnow,
)

log = logging.getLogger(__name__)

CONSTITUENT, AGENT = "constituent", "agent"

_signals = Namespace()
# All sent after commit, with ids only.
chat_message = _signals.signal("chat_message")     # sender: case_id; interaction_id=, side=
chat_state = _signals.signal("chat_state")         # sender: case_id  (joined, transferred, ended, message left)
chat_read = _signals.signal("chat_read")           # sender: case_id; side= (who read), upto=


class ChatClosed(Exception):
    """The chat is over (ended, or a message was left): nothing more can be said in it."""


class NotYourChat(Exception):
    """An agent tried to speak in a chat that is not assigned to them."""


@dataclass(frozen=True)
class ChatStart:
    chat_id: int
    case_id: int
    secret: str
    is_new: bool


@dataclass(frozen=True)
class Posted:
    interaction_id: int
    is_duplicate: bool


# ---- starting --------------------------------------------------------------------------------------


def start(session: Session, prechat: PreChat, subject: str) -> ChatStart:
    """Store the pre-chat form raw, then open the chat's case through intake. Flushes; the view commits.

    Idempotent on the form's token: a resubmit returns the same chat with a new secret (the old one
    stops working). Raises InvalidContact for a form that cannot become a contact.
    """
    raw, created = inbound.store_raw(session, channel=Channel.CHAT, source=SOURCE, payload=prechat.to_payload(),
                                     content_type="application/json", idempotency_key=f"{SOURCE}:{prechat.token}")
    secret = secrets.token_urlsafe(18)
    if not created and raw.case_id is not None:
        chat = session.execute(select(ChatSession).where(ChatSession.case_id == raw.case_id)).scalar_one()
        chat.secret_hash = hash_secret(secret)
        session.flush()
        return ChatStart(chat.id, chat.case_id, secret, is_new=False)
    result = intake.ingest(session, to_contact(prechat, subject), inbound_raw_id=raw.id)
    chat = ChatSession(case_id=result.case_id, secret_hash=hash_secret(secret), language=prechat.language)
    session.add(chat)
    raw.status, raw.case_id, raw.outcome = InboundStatus.INGESTED, result.case_id, "new_case"
    raw.attempts, raw.processed_at = raw.attempts + 1, utcnow()
    session.flush()
    log.info("chat %s opened case %s", chat.id, result.case_id)
    return ChatStart(chat.id, result.case_id, secret, is_new=True)


def announce_start(redis: Redis, start_: ChatStart) -> None:
    """After commit: tell the console a case opened and ask routing to offer the chat to an agent."""
    if not start_.is_new:
        return
    signals.case_opened.send(start_.case_id)
    routing.request_assignment(redis, start_.case_id)


def verify(session: Session, chat_id: int, secret: str) -> ChatSession | None:
    """The chat `secret` opens, or None. Reads only."""
    chat = session.get(ChatSession, chat_id)
    if chat is None or not hmac.compare_digest(chat.secret_hash, hash_secret(secret)):
        return None
    return chat


def for_case(session: Session, case_id: int) -> ChatSession | None:
    return session.execute(select(ChatSession).where(ChatSession.case_id == case_id)).scalar_one_or_none()


# ---- messages --------------------------------------------------------------------------------------


def _existing(session: Session, external: str) -> int | None:
    return session.execute(select(Interaction.id).where(Interaction.channel == Channel.CHAT,
                                                        Interaction.external_id == external)).scalar_one_or_none()


def post(session: Session, chat: ChatSession, sent: ChatMessage, *, author_id: int | None = None) -> Posted:
    """Store one message of the constituent (no `author_id`) or of the case's assignee (`author_id`).

    Idempotent on the client id. Raises ChatClosed when the chat is over and NotYourChat when the
    author is not the case's assignee. Flushes; the caller commits, then sends `chat_message`.
    """
    side = CONSTITUENT if author_id is None else AGENT
    external = external_id(chat.id, side, sent.client_id)
    found = _existing(session, external)
    if found is not None:
        return Posted(found, is_duplicate=True)
    if not chat.is_open:
        raise ChatClosed(chat.id)
    case = session.get(Case, chat.case_id)
    if author_id is not None and case.assignee_id != author_id:
        raise NotYourChat(chat.id)
    now = utcnow()
    interaction = Interaction(
        case_id=case.id, constituent_id=case.constituent_id, kind=InteractionKind.MESSAGE, channel=Channel.CHAT,
        direction=Direction.INBOUND if author_id is None else Direction.OUTBOUND, author_id=author_id,
        body_text=sent.text, external_id=external, is_public=author_id is not None, occurred_at=now,
        meta={"chat_id": chat.id, "client_id": sent.client_id},
    )
    try:
        with session.begin_nested():        # the same resend racing on two sockets: one row wins
            session.add(interaction)
    except IntegrityError:
        return Posted(_existing(session, external), is_duplicate=True)
    case.last_activity_at = now
    if author_id is not None and case.first_responded_at is None:
        case.first_responded_at = now
    session.flush()
    return Posted(interaction.id, is_duplicate=False)


def messages_after(session: Session, case_id: int, after_id: int = 0) -> list[Interaction]:
    """The chat's messages (both ways) with an id above `after_id`, oldest first. Reads only."""
    return list(session.execute(
        select(Interaction).where(Interaction.case_id == case_id, Interaction.channel == Channel.CHAT,
                                  Interaction.kind == InteractionKind.MESSAGE, Interaction.id > after_id,
                                  Interaction.direction.in_((Direction.INBOUND, Direction.OUTBOUND)))
        .order_by(Interaction.id)).scalars())


def mark_read(session: Session, chat: ChatSession, side: str, upto: int) -> bool:
    """`side` has seen the chat up to interaction `upto`. Only moves forward; True when it moved. Flushes."""
    column = ChatSession.constituent_read_upto if side == CONSTITUENT else ChatSession.agent_read_upto
    moved = session.execute(update(ChatSession).where(
        ChatSession.id == chat.id, or_(column.is_(None), column < upto)).values({column: upto})).rowcount
    session.flush()
    return moved == 1


# ---- waiting ---------------------------------------------------------------------------------------


def _waiting_chat():
    return and_(Case.channel == Channel.CHAT, Case.status == CaseStatus.NEW, Case.assignee_id.is_(None))


def queue_position(session: Session, case: Case) -> int | None:
    """1 for the next chat an agent will take in the case's queue; None when the case is not waiting."""
    if case.queue_id is None or case.assignee_id is not None or case.status is not CaseStatus.NEW:
        return None
    ahead = session.execute(select(func.count()).where(
        Case.queue_id == case.queue_id, _waiting_chat(), Case.id != case.id,
        or_(Case.priority > case.priority,
            and_(Case.priority == case.priority, or_(Case.queued_at < case.queued_at,
                                                     and_(Case.queued_at == case.queued_at, Case.id < case.id)))))
    ).scalar_one()
    return ahead + 1


def agents_available(session: Session, queue_id: int | None) -> bool:
    """Whether any member of the queue is available and takes chats at all. Reads only."""
    if queue_id is None:
        return False
    return bool(session.execute(select(exists().where(
        QueueMember.queue_id == queue_id, User.id == QueueMember.user_id, User.is_active,
        User.presence == Presence.AVAILABLE, UserCapacity.user_id == User.id,
        UserCapacity.channel == Channel.CHAT, UserCapacity.slots > 0))).scalar())


# ---- ending ----------------------------------------------------------------------------------------


def end(session: Session, chat: ChatSession) -> bool:
    """Close the chat; True when it was open. The caller frees the agent's slot (routing). Flushes."""
    if not chat.is_open:
        return False
    chat.state, chat.ended_at = ChatState.ENDED, utcnow()
    session.flush()
    return True


def _reach_by_email(session: Session, case: Case, email: str) -> None:
    """Give the case's constituent the email address; if it already belongs to someone, the case (and
    its chat messages) become that person's."""
    point = session.execute(select(ContactPoint).where(ContactPoint.kind == ContactKind.EMAIL,
                                                       ContactPoint.value == email)).scalar_one_or_none()
    if point is None:
        if case.constituent_id is None:
            case.constituent = Constituent()
            session.flush()
        session.add(ContactPoint(constituent_id=case.constituent_id, kind=ContactKind.EMAIL, value=email))
    elif point.constituent_id != case.constituent_id:
        owner = point.constituent
        while owner.merged_into_id is not None:
            owner = session.get(Constituent, owner.merged_into_id)
        case.constituent_id = owner.id
        session.execute(update(Interaction).where(Interaction.case_id == case.id)
                        .values(constituent_id=owner.id))
    session.flush()


def leave_message(session: Session, chat: ChatSession, email: str, sent: ChatMessage) -> int:
    """Nobody answered: the message is kept on the case, which becomes an email case (answered by email,
    routed like one), and an acknowledgement is queued; returns its interaction id (send after commit).

    Raises InvalidContact for a bad email and ChatClosed for a chat that is over. The caller routes the
    case again (its open offer, if any, is withdrawn by routing). Flushes; the caller commits.
    """
    address = email_address(email)
    if not chat.is_open:
        raise ChatClosed(chat.id)
    case = session.get(Case, chat.case_id)
    if case.assignee_id is not None:
        raise ChatClosed(chat.id)       # an agent took it meanwhile: talk to them instead
    _reach_by_email(session, case, address)
    post(session, chat, sent)
    case.channel = Channel.EMAIL
    chat.state, chat.ended_at = ChatState.MESSAGE_LEFT, utcnow()
    session.flush()
    session.refresh(case)
    return outbound.queue_acknowledgement(session, case).id

"""Live chat in channels/: the pure checks (pre-chat form, messages) and the stored part (start, post,
queue position, leave a message)."""
import pytest
from sqlalchemy import func, select

from channels import chatting
from channels.base import InvalidContact
from channels.chat import ChatMessage, InvalidMessage, PreChat, clean_text, message, to_contact
from models import (
    Case,
    CaseStatus,
    Channel,
    ChatState,
    ContactKind,
    ContactPoint,
    DeliveryStatus,
    Direction,
    InboundRaw,
    Interaction,
    Presence,
)
from tests.routing.builders import make_agent, make_routed_queue


def _prechat(**kw) -> PreChat:
    return PreChat(**({"name": "Ana López", "language": "es", "category_code": "chat", "token": "tok-1",
                       "email": "", "question": "¿Cuándo recogen la basura?"} | kw))


# ---- pure ----------------------------------------------------------------------------------------------


def test_a_message_needs_a_client_id_and_some_text():
    assert message({"client_id": "a-1_B", "text": "  hola\x00 \n"}) == ChatMessage("a-1_B", "hola \n".strip())
    for bad in (None, "text", {"text": "hi"}, {"client_id": "has space", "text": "hi"},
                {"client_id": "x" * 65, "text": "hi"}, {"client_id": "ok", "text": "   "},
                {"client_id": "ok", "text": 5}, {"client_id": "ok", "text": "x" * 2001}):
        with pytest.raises(InvalidMessage):
            message(bad)


def test_control_characters_go_and_newlines_stay():
    assert clean_text("\x07a\tb\nc\x1b ") == "a\tb\nc"


def test_a_prechat_without_email_is_known_by_a_chat_handle():
    contact = to_contact(_prechat(), "Chat: Waste")
    assert contact.channel is Channel.CHAT and contact.language == "es" and contact.category_code == "chat"
    assert (contact.sender.kind, contact.sender.value, contact.sender.display_name) == (
        ContactKind.CHAT, "chat-tok-1", "Ana López")
    assert contact.external_id == "chat-start-tok-1" and contact.body_text == "¿Cuándo recogen la basura?"
    with_email = to_contact(_prechat(email=" Ana@Mail.Example "), "Chat")
    assert (with_email.sender.kind, with_email.sender.value) == (ContactKind.EMAIL, "ana@mail.example")


@pytest.mark.parametrize("change", [{"language": "de"}, {"token": ""}, {"email": "not-an-address"}])
def test_a_bad_prechat_is_refused(change):
    with pytest.raises(InvalidContact):
        to_contact(_prechat(**change), "Chat")


def test_the_prechat_payload_round_trips():
    assert PreChat.from_payload(_prechat().to_payload()) == _prechat()
    with pytest.raises(InvalidContact):
        PreChat.from_payload(b"[1, 2]")


# ---- stored --------------------------------------------------------------------------------------------


@pytest.fixture
def chat_queue(db_session):
    return make_routed_queue(db_session, "chat")


def test_start_stores_the_form_raw_opens_a_chat_case_and_is_idempotent(db_session, chat_queue):
    first = chatting.start(db_session, _prechat(), "Chat: Waste")
    case = db_session.get(Case, first.case_id)
    assert (case.channel, case.queue_id, case.language, case.status) == (Channel.CHAT, chat_queue.id, "es", CaseStatus.NEW)
    raw = db_session.execute(select(InboundRaw).where(InboundRaw.case_id == case.id)).scalar_one()
    assert raw.channel is Channel.CHAT and b"tok-1" in raw.payload
    assert chatting.verify(db_session, first.chat_id, first.secret) is not None
    again = chatting.start(db_session, _prechat(), "Chat: Waste")
    assert (again.chat_id, again.case_id, again.is_new) == (first.chat_id, first.case_id, False)
    assert chatting.verify(db_session, first.chat_id, first.secret) is None          # the old secret is replaced
    assert chatting.verify(db_session, first.chat_id, again.secret) is not None


def test_a_message_is_stored_once_even_when_resent(db_session, chat_queue):
    chat = db_session.get(chatting.ChatSession, chatting.start(db_session, _prechat(), "Chat").chat_id)
    first = chatting.post(db_session, chat, ChatMessage("m1", "Hola"))
    again = chatting.post(db_session, chat, ChatMessage("m1", "Hola"))
    assert (again.interaction_id, again.is_duplicate) == (first.interaction_id, True)
    texts = [m.body_text for m in chatting.messages_after(db_session, chat.case_id)]
    assert texts == ["¿Cuándo recogen la basura?", "Hola"]
    assert [m.id for m in chatting.messages_after(db_session, chat.case_id, first.interaction_id)] == []


def test_only_the_assignee_speaks_for_the_agency_and_nobody_after_the_end(db_session, chat_queue):
    agent = make_agent(db_session, "Rosa", [chat_queue], languages=("es",))
    chat = db_session.get(chatting.ChatSession, chatting.start(db_session, _prechat(), "Chat").chat_id)
    with pytest.raises(chatting.NotYourChat):
        chatting.post(db_session, chat, ChatMessage("a1", "Hola"), author_id=agent.id)
    chat.case.assignee_id = agent.id
    posted = chatting.post(db_session, chat, ChatMessage("a1", "Hola, soy Rosa"), author_id=agent.id)
    reply = db_session.get(Interaction, posted.interaction_id)
    assert (reply.direction, reply.author_id, reply.is_public) == (Direction.OUTBOUND, agent.id, True)
    assert chat.case.first_responded_at is not None
    assert chatting.end(db_session, chat) and not chatting.end(db_session, chat)
    with pytest.raises(chatting.ChatClosed):
        chatting.post(db_session, chat, ChatMessage("m9", "¿Hola?"))


def test_read_receipts_only_move_forward(db_session, chat_queue):
    chat = db_session.get(chatting.ChatSession, chatting.start(db_session, _prechat(), "Chat").chat_id)
    assert chatting.mark_read(db_session, chat, chatting.AGENT, 5)
    assert not chatting.mark_read(db_session, chat, chatting.AGENT, 3)
    db_session.refresh(chat)
    assert (chat.agent_read_upto, chat.constituent_read_upto) == (5, None)


def test_the_queue_position_counts_the_chats_waiting_ahead(db_session, chat_queue):
    starts = [chatting.start(db_session, _prechat(token=f"t{n}"), "Chat") for n in range(3)]
    cases = [db_session.get(Case, s.case_id) for s in starts]
    assert [chatting.queue_position(db_session, c) for c in cases] == [1, 2, 3]
    make_agent(db_session, "Rosa", [chat_queue], presence=Presence.OFFLINE)
    assert not chatting.agents_available(db_session, chat_queue.id)
    agent = make_agent(db_session, "Luca", [chat_queue], presence=Presence.AVAILABLE)
    assert chatting.agents_available(db_session, chat_queue.id)
    cases[0].assignee_id, cases[0].status = agent.id, CaseStatus.ASSIGNED
    db_session.flush()
    assert [chatting.queue_position(db_session, c) for c in cases] == [None, 1, 2]


def test_leaving_a_message_makes_an_email_case_with_an_acknowledgement(db_session, chat_queue):
    chat = db_session.get(chatting.ChatSession, chatting.start(db_session, _prechat(), "Chat").chat_id)
    with pytest.raises(InvalidContact):
        chatting.leave_message(db_session, chat, "nope", ChatMessage("l1", "Llámenme"))
    ack_id = chatting.leave_message(db_session, chat, "Ana@Mail.Example", ChatMessage("l1", "Escríbanme, por favor"))
    case = db_session.get(Case, chat.case_id)
    assert case.channel is Channel.EMAIL and chat.state is ChatState.MESSAGE_LEFT
    ack = db_session.get(Interaction, ack_id)
    assert (ack.channel, ack.direction, ack.delivery_status, ack.meta["to"]) == (
        Channel.EMAIL, Direction.OUTBOUND, DeliveryStatus.QUEUED, "ana@mail.example")
    assert "Hemos recibido" in ack.subject
    point = db_session.execute(select(ContactPoint).where(ContactPoint.value == "ana@mail.example")).scalar_one()
    assert point.constituent_id == case.constituent_id
    assert db_session.execute(select(func.count()).where(Interaction.case_id == case.id,
                                                         Interaction.body_text == "Escríbanme, por favor")).scalar() == 1
    with pytest.raises(chatting.ChatClosed):
        chatting.leave_message(db_session, chat, "ana@mail.example", ChatMessage("l2", "otra vez"))


def test_a_left_message_with_a_known_email_joins_that_constituent(db_session, chat_queue):
    known = db_session.get(Case, chatting.start(db_session, _prechat(token="k", email="ana@mail.example"), "C").case_id)
    chat = db_session.get(chatting.ChatSession, chatting.start(db_session, _prechat(token="n"), "Chat").chat_id)
    chatting.leave_message(db_session, chat, "ana@mail.example", ChatMessage("l1", "Hola"))
    case = db_session.get(Case, chat.case_id)
    assert case.constituent_id == known.constituent_id
    assert {i.constituent_id for i in case.interactions} == {known.constituent_id}

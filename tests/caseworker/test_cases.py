"""The case page: header, timeline with routing in words, the actions, collision detection, authorisation on
every view, partial and socket event, and the audit trail. Real database commits, real Redis, real SMTP."""
import io
import re
import time

import pytest
from sqlalchemy import func, select

from caseworker import realtime  # noqa: F401  (before any app: Flask-SocketIO then keeps the handlers for every app)
from caseworker.extensions import socketio
from channels import casework, chatting
from channels.chat import PreChat
from models import (
    Attachment,
    AuditAction,
    AuditEvent,
    Case,
    CaseLink,
    CaseMerge,
    CaseStatus,
    Channel,
    DecisionKind,
    DeliveryStatus,
    Interaction,
    InteractionKind,
    Macro,
    MacroVariant,
    Mention,
    Presence,
    Role,
    RoutingDecision,
    UserCapacity,
    reading,
    transaction,
)
from routing import engine
from tests.channels import mailtools as mt
from tests.conftest import Auth, csrf_token
from tests.factories import PASSWORD, make_case, make_category, make_queue, make_user

PDF = b"%PDF-1.4\n" + b"0" * 3000


@pytest.fixture
def site(scratch_database_url, redis_url, redis, tmp_path, sink):
    """Two queues; María (Spanish, benefits) owns a case from Ana, who writes in Spanish."""
    app = mt.mail_app(scratch_database_url, redis_url, tmp_path, sink, MAIL_ACKNOWLEDGE=False)
    with transaction() as session:
        benefits, streets = make_queue(session, "benefits", name="Benefits"), make_queue(session, "streets", name="Streets")
        category = make_category(session, benefits, "housing")
        make_category(session, streets, "pothole")
        maria = make_user(session, Role.CASEWORKER, email="maria.garcia@staff.example", display_name="María García",
                          languages=["es", "en"], presence=Presence.AVAILABLE, queues=[benefits])
        make_user(session, Role.CASEWORKER, email="li.wei@staff.example", display_name="Li Wei", queues=[benefits])
        make_user(session, Role.AGENT, email="sam.street@staff.example", display_name="Sam Street", queues=[streets])
        make_user(session, Role.SUPERVISOR, email="boss@staff.example", display_name="Bea Boss")
        make_user(session, Role.ADMIN, email="admin@staff.example", display_name="Ada Admin")
        case = make_case(session, category=category, email="ana.lopez@mail.example", subject="Ayuda con la vivienda",
                         body="Necesito ayuda con mi subsidio de vivienda.", language="es")
        case.constituent.display_name, case.constituent.preferred_language = "Ana López", "es"
        engine.route_case(session, case.id)
        session.expire_all()
        assert session.get(Case, case.id).assignee_id == maria.id
    app.case_id = case.id
    return app


def signed_in(app, email: str):
    client = app.test_client()
    assert Auth(client).login(email, PASSWORD).status_code == 302
    return client


def page(client, case_id: int, **query) -> tuple[str, str]:
    html = client.get(f"/cases/{case_id}", query_string=query).get_data(as_text=True)
    return html, csrf_token(html)


def last_seen(html: str) -> str:
    return re.search(r'name="last_seen" value="(\d+)"', html).group(1)


def case_of(case_id: int) -> Case:
    with reading() as session:
        return session.get(Case, case_id)


def rows(model, *where) -> list:
    with reading() as session:
        return list(session.execute(select(model).where(*where)).scalars())


def events(socket_client, name: str, timeout: float = 3.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        seen += [e["args"][0] for e in socket_client.get_received() if e["name"] == name]
        if seen:
            return seen
        time.sleep(0.05)
    return seen


# ---- the page ---------------------------------------------------------------------------------------------


def test_the_page_shows_the_header_the_timeline_and_why_it_was_routed_and_every_view_is_audited(site):
    maria = signed_in(site, "maria.garcia@staff.example")
    html, _ = page(maria, site.case_id)
    reference = case_of(site.case_id).reference
    assert f"<title>{reference} · Casework</title>" in html
    assert "Ayuda con la vivienda" in html and "Necesito ayuda con mi subsidio de vivienda." in html
    assert "Assigned to María García: speaks Spanish, 0 of 8 email slots used; 1 other considered, 1 offline." in html
    assert "By email to ana.lopez@mail.example" in html
    assert maria.get(f"/cases/{site.case_id}/timeline").status_code == 200
    header = maria.get(f"/cases/{site.case_id}/header").get_data(as_text=True)
    assert "Benefits" in header and "María García" in header and "Routing:" in header
    views = rows(AuditEvent, AuditEvent.action == AuditAction.VIEW, AuditEvent.object_type == "case")
    assert [e.detail["part"] for e in views] == ["page", "timeline", "header"]
    assert {e.object_id for e in views} == {str(site.case_id)} and all(e.constituent_id for e in views)


def test_the_inbox_links_each_case_to_its_page(site):
    inbox = signed_in(site, "maria.garcia@staff.example").get("/inbox/").get_data(as_text=True)
    assert f'href="/cases/{site.case_id}"' in inbox


@pytest.mark.parametrize("path", ["", "/timeline", "/header", "/presence"])
def test_an_agent_of_another_queue_gets_404_for_the_page_and_every_partial(site, path):
    sam = signed_in(site, "sam.street@staff.example")
    assert sam.get(f"/cases/{site.case_id}{path}").status_code == 404
    assert signed_in(site, "boss@staff.example").get(f"/cases/{site.case_id}{path}").status_code == 200


def test_an_agent_of_another_queue_can_neither_act_on_the_case_nor_join_its_room(site):
    sam = signed_in(site, "sam.street@staff.example")
    token = csrf_token(sam.get("/inbox/").get_data(as_text=True))
    assert sam.post(f"/cases/{site.case_id}/notes", data={"csrf_token": token, "note": "peek"}).status_code == 404
    socket_client = socketio.test_client(site, flask_test_client=sam)
    assert socket_client.emit("case.watch", {"case_id": site.case_id}, callback=True) == {"ok": False, "error": "not found"}
    assert socket_client.emit("case.typing", {"case_id": "nonsense"}, callback=True)["ok"] is False
    socketio.emit("case.changed", {"case_id": site.case_id}, to=f"case:{site.case_id}")
    assert events(socket_client, "case.changed", timeout=0.5) == []
    assert rows(Interaction, Interaction.kind == InteractionKind.NOTE) == []


def test_an_anonymous_visitor_is_sent_to_sign_in(site):
    response = site.test_client().get(f"/cases/{site.case_id}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# ---- replies ----------------------------------------------------------------------------------------------


def test_a_reply_with_an_attachment_reaches_the_constituents_mail_server(site, sink, redis_url):
    maria = signed_in(site, "maria.garcia@staff.example")
    html, token = page(maria, site.case_id)
    response = maria.post(f"/cases/{site.case_id}/reply", content_type="multipart/form-data", data={
        "csrf_token": token, "last_seen": last_seen(html), "body": "Hola Ana, adjunto el formulario.",
        "attachments": [(io.BytesIO(PDF), "formulario.pdf")]})
    assert response.status_code == 302
    (reply,) = rows(Interaction, Interaction.direction == "outbound")
    assert reply.delivery_status is DeliveryStatus.QUEUED and reply.author_id is not None
    assert [a.filename for a in rows(Attachment, Attachment.interaction_id == reply.id)] == ["formulario.pdf"]
    assert "queued" in maria.get(f"/cases/{site.case_id}/timeline").get_data(as_text=True)

    mt.work(redis_url, queues=("channels",))
    (message,) = sink.wait_for(1)
    assert message["To"] == "ana.lopez@mail.example" and case_of(site.case_id).reference in message["Subject"]
    assert message.get_body(("plain",)).get_content().strip() == "Hola Ana, adjunto el formulario."
    (part,) = list(message.iter_attachments())
    assert part.get_filename() == "formulario.pdf" and part.get_content() == PDF
    assert rows(Interaction, Interaction.id == reply.id)[0].delivery_status is DeliveryStatus.SENT
    timeline = maria.get(f"/cases/{site.case_id}/timeline").get_data(as_text=True)
    assert "delivery-sent" in timeline and "formulario.pdf" in timeline
    download = maria.get(re.search(r'href="(/cases/\d+/attachments/\d+)"', timeline).group(1))
    assert download.data == PDF and download.headers["Content-Disposition"] == 'attachment; filename="formulario.pdf"'
    assert rows(AuditEvent, AuditEvent.object_type == "attachment")[0].detail == {"case_id": site.case_id}
    assert signed_in(site, "sam.street@staff.example").get(download.request.path).status_code == 404
    assert case_of(site.case_id).first_responded_at is not None


def test_a_reply_is_refused_with_a_warning_when_someone_else_answered_meanwhile(site, sink):
    maria, li = signed_in(site, "maria.garcia@staff.example"), signed_in(site, "li.wei@staff.example")
    maria_html, maria_token = page(maria, site.case_id)
    li_html, li_token = page(li, site.case_id)
    assert li.post(f"/cases/{site.case_id}/reply", data={"csrf_token": li_token, "last_seen": last_seen(li_html),
                                                          "body": "Le llamamos mañana."}).status_code == 302

    typed = "Hola Ana, ya revisé su caso."
    refused = maria.post(f"/cases/{site.case_id}/reply", data={
        "csrf_token": maria_token, "last_seen": last_seen(maria_html), "body": typed})
    text = refused.get_data(as_text=True)
    assert refused.status_code == 409
    assert "Li Wei answered this case" in text and "Your reply was not sent" in text
    assert typed in text and "Le llamamos mañana." in text
    assert len(rows(Interaction, Interaction.direction == "outbound")) == 1

    again = maria.post(f"/cases/{site.case_id}/reply", data={
        "csrf_token": csrf_token(text), "last_seen": last_seen(text), "body": typed})
    assert again.status_code == 302
    assert len(rows(Interaction, Interaction.direction == "outbound")) == 2


def test_an_empty_reply_is_explained_and_nothing_is_queued(site):
    maria = signed_in(site, "maria.garcia@staff.example")
    html, token = page(maria, site.case_id)
    response = maria.post(f"/cases/{site.case_id}/reply", data={"csrf_token": token, "last_seen": last_seen(html),
                                                                 "body": "   "})
    assert response.status_code == 422 and "Write the reply before sending it." in response.get_data(as_text=True)
    assert rows(Interaction, Interaction.direction == "outbound") == []


# ---- notes, status, priority, transfer, merge, links, macros --------------------------------------------


def test_a_note_with_a_mention_notifies_the_colleague_and_an_unknown_handle_keeps_the_text(site):
    maria, li = signed_in(site, "maria.garcia@staff.example"), signed_in(site, "li.wei@staff.example")
    li_socket = socketio.test_client(site, flask_test_client=li)
    _html, token = page(maria, site.case_id)
    response = maria.post(f"/cases/{site.case_id}/notes", data={"csrf_token": token,
                                                                "note": "@li.wei ¿puedes revisar el subsidio?"})
    assert response.status_code == 302
    (mention,) = rows(Mention)
    (note,) = rows(Interaction, Interaction.kind == InteractionKind.NOTE)
    assert mention.interaction_id == note.id and mention.case_id == site.case_id
    assert events(li_socket, "mention.new") == [{"case_id": site.case_id, "interaction_id": note.id}]
    assert '<strong class="mention">@li.wei</strong>' in maria.get(f"/cases/{site.case_id}/timeline").get_data(as_text=True)

    typed = "@sam.street and @nobody, look"          # Sam exists but cannot see the case
    refused = maria.post(f"/cases/{site.case_id}/notes", data={"csrf_token": token, "note": typed})
    text = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "@sam.street, @nobody" in text and "the note was not saved" in text
    assert "@sam.street and @nobody, look" in text
    assert len(rows(Interaction, Interaction.kind == InteractionKind.NOTE)) == 1


def test_resolving_writes_the_change_frees_the_slot_and_reopening_routes_again(site):
    maria = signed_in(site, "maria.garcia@staff.example")
    _html, token = page(maria, site.case_id)
    assert maria.post(f"/cases/{site.case_id}/status", data={"csrf_token": token, "status": "resolved"}).status_code == 302
    case = case_of(site.case_id)
    assert case.status is CaseStatus.RESOLVED and case.slot_channel is None
    (change,) = rows(Interaction, Interaction.kind == InteractionKind.STATUS_CHANGE)
    assert change.body_text == "Status changed from assigned to resolved." and change.meta["to"] == "resolved"
    (capacity,) = rows(UserCapacity, UserCapacity.user_id == case.assignee_id, UserCapacity.channel == Channel.EMAIL)
    assert capacity.used == 0
    assert maria.post(f"/cases/{site.case_id}/status", data={"csrf_token": token, "status": "pending_constituent"}
                      ).status_code == 302                      # not offered for a resolved case: nothing happens
    assert case_of(site.case_id).status is CaseStatus.RESOLVED
    assert maria.post(f"/cases/{site.case_id}/status", data={"csrf_token": token, "status": "new"}).status_code == 302
    assert case_of(site.case_id).status is CaseStatus.ASSIGNED       # routed again, to the only one available
    assert len(rows(RoutingDecision, RoutingDecision.case_id == site.case_id)) == 2


def test_priority_and_category_changes_are_on_the_timeline(site):
    maria = signed_in(site, "maria.garcia@staff.example")
    _html, token = page(maria, site.case_id)
    maria.post(f"/cases/{site.case_id}/priority", data={"csrf_token": token, "priority": "4"})
    assert int(case_of(site.case_id).priority) == 4
    timeline = maria.get(f"/cases/{site.case_id}/timeline").get_data(as_text=True)
    assert "Priority changed from normal to urgent." in timeline


def test_transfer_to_another_queue_reroutes_and_leaves_an_agent_who_cannot_follow(site):
    maria = signed_in(site, "maria.garcia@staff.example")
    html, token = page(maria, site.case_id)
    streets_id = int(re.search(r'<option value="(\d+)">Streets</option>', html).group(1))
    response = maria.post(f"/cases/{site.case_id}/transfer", data={"csrf_token": token, "queue": streets_id})
    assert response.status_code == 302 and response.headers["Location"].endswith("/inbox/")
    case = case_of(site.case_id)
    assert case.queue_id == streets_id and case.assignee_id is None
    assert DecisionKind.RELEASE in {d.kind for d in rows(RoutingDecision, RoutingDecision.case_id == site.case_id)}
    assert maria.get(f"/cases/{site.case_id}").status_code == 404
    boss = signed_in(site, "boss@staff.example")
    assert "Returned to the queue: transferred." in boss.get(f"/cases/{site.case_id}").get_data(as_text=True)


def test_a_supervisor_assigns_by_hand_and_only_a_supervisor_may(site):
    maria = signed_in(site, "maria.garcia@staff.example")
    _html, token = page(maria, site.case_id)
    with reading() as session:
        li_id = session.execute(select(Case.id)).scalar()  # any id: the role check comes first
    assert maria.post(f"/cases/{site.case_id}/assign", data={"csrf_token": token, "user": li_id}).status_code == 403
    boss = signed_in(site, "boss@staff.example")
    html, token = page(boss, site.case_id)
    li_id = int(re.search(r'<option value="(\d+)">Li Wei</option>', html).group(1))
    assert boss.post(f"/cases/{site.case_id}/assign", data={"csrf_token": token, "user": li_id}).status_code == 302
    assert case_of(site.case_id).assignee_id == li_id
    assert "Assigned by hand to Li Wei." in boss.get(f"/cases/{site.case_id}").get_data(as_text=True)


def test_a_member_of_the_queue_takes_a_waiting_case_within_capacity_and_only_once(site):
    maria_id = case_of(site.case_id).assignee_id
    with transaction() as session:
        waiting_id = make_case(session, category=session.get(Case, site.case_id).category, email="joe@mail.example",
                               subject="Rent arrears", body="I am behind on my rent.").id
        session.execute(UserCapacity.__table__.update().where(UserCapacity.user_id == maria_id).values(
            used=UserCapacity.slots))                              # María is full
    maria = signed_in(site, "maria.garcia@staff.example")
    html, maria_token = page(maria, waiting_id)
    assert "Take this case" in html
    response = maria.post(f"/cases/{waiting_id}/take", data={"csrf_token": maria_token}, follow_redirects=True)
    assert "has no free slot" in response.get_data(as_text=True) and case_of(waiting_id).assignee_id is None

    li = signed_in(site, "li.wei@staff.example")
    _html, token = page(li, waiting_id)
    response = li.post(f"/cases/{waiting_id}/take", data={"csrf_token": token}, follow_redirects=True)
    html = response.get_data(as_text=True)
    assert "The case is yours now." in html and "Take this case" not in html
    li_id = case_of(waiting_id).assignee_id
    assert li_id not in (None, maria_id) and case_of(waiting_id).status is CaseStatus.ASSIGNED
    (decision,) = rows(RoutingDecision, RoutingDecision.case_id == waiting_id)
    assert decision.kind is DecisionKind.MANUAL and decision.decided_by_id == li_id
    (capacity,) = rows(UserCapacity, UserCapacity.user_id == li_id, UserCapacity.channel == Channel.EMAIL)
    assert capacity.used == 1
    assert any(e.detail.get("change") == "take" and e.actor_id == li_id
               for e in rows(AuditEvent, AuditEvent.object_id == str(waiting_id)))

    with transaction() as session:                                 # María has room again, but it is too late
        session.execute(UserCapacity.__table__.update().where(UserCapacity.user_id == maria_id).values(used=0))
    response = maria.post(f"/cases/{waiting_id}/take", data={"csrf_token": maria_token}, follow_redirects=True)
    assert "no longer waiting in the queue" in response.get_data(as_text=True)
    assert case_of(waiting_id).assignee_id == li_id
    assert maria.post(f"/cases/{waiting_id}/take", data={}).status_code == 400


def test_merging_a_duplicate_moves_its_messages_and_closes_it(site):
    with transaction() as session:
        duplicate = make_case(session, category=session.get(Case, site.case_id).category, email="ana.lopez@mail.example",
                              subject="Otra vez la vivienda", body="Escribo de nuevo por el subsidio.")
        engine.route_case(session, duplicate.id)
        duplicate_id, target_reference = duplicate.id, session.get(Case, site.case_id).reference
    maria = signed_in(site, "maria.garcia@staff.example")
    _html, token = page(maria, duplicate_id)
    response = maria.post(f"/cases/{duplicate_id}/merge", data={"csrf_token": token, "merge-reference": target_reference})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/cases/{site.case_id}#timeline")
    assert case_of(duplicate_id).status is CaseStatus.CLOSED
    assert rows(CaseMerge)[0].into_case_id == site.case_id
    target = maria.get(f"/cases/{site.case_id}").get_data(as_text=True)
    assert "Escribo de nuevo por el subsidio." in target and "was merged into this case" in target
    assert "This case was merged into" in maria.get(f"/cases/{duplicate_id}").get_data(as_text=True)
    maria.post(f"/cases/{duplicate_id}/status", data={"csrf_token": token, "status": "new"})
    assert case_of(duplicate_id).status is CaseStatus.CLOSED                 # a merged case stays closed
    assert rows(AuditEvent, AuditEvent.action == AuditAction.MERGE)[0].detail["into_case_id"] == site.case_id

    refused = maria.post(f"/cases/{site.case_id}/merge", data={"csrf_token": token, "merge-reference": "C-1999-000001"})
    assert refused.status_code == 422 and "No case you can see has the reference C-1999-000001" in refused.get_data(as_text=True)


def test_linking_related_cases_shows_each_on_the_other(site):
    with transaction() as session:
        other = make_case(session, category=session.get(Case, site.case_id).category, subject="Vecina con el mismo problema")
        other_id, other_reference = other.id, other.reference
    maria = signed_in(site, "maria.garcia@staff.example")
    _html, token = page(maria, site.case_id)
    assert maria.post(f"/cases/{site.case_id}/links", data={"csrf_token": token,
                                                            "link-reference": other_reference.lower()}).status_code == 302
    assert len(rows(CaseLink)) == 1
    assert case_of(site.case_id).reference in maria.get(f"/cases/{other_id}").get_data(as_text=True)
    maria.post(f"/cases/{site.case_id}/links", data={"csrf_token": token, "link-reference": other_reference})
    assert len(rows(CaseLink)) == 1                                  # linking twice is one link
    assert maria.post(f"/cases/{site.case_id}/links/{other_id}/delete", data={"csrf_token": token}).status_code == 302
    assert rows(CaseLink) == []


def test_a_macro_made_by_an_admin_comes_in_the_constituents_language(site):
    admin = signed_in(site, "admin@staff.example")
    token = csrf_token(admin.get("/admin/macros/new").get_data(as_text=True))
    response = admin.post("/admin/macros/new", data={
        "csrf_token": token, "name": "Documents needed", "is_active": "y", "language": "en",
        "body": "Dear {{ constituent.name }}, please send the documents for {{ case.reference }}. {{ agent.name }}"})
    assert response.status_code == 302
    macro_id = rows(Macro)[0].id
    admin.post(f"/admin/macros/{macro_id}", data={
        "csrf_token": token, "name": "Documents needed", "is_active": "y", "language": "es",
        "body": "Estimada {{ constituent.name }}, envíe los documentos del caso {{ case.reference }}. {{ agent.name }}"})
    bad = admin.post(f"/admin/macros/{macro_id}", data={"csrf_token": token, "name": "Documents needed",
                                                        "language": "it", "body": "Ciao {{ constituent.nome }}"})
    assert bad.status_code == 422 and "Unknown placeholder constituent.nome" in bad.get_data(as_text=True)
    assert signed_in(site, "maria.garcia@staff.example").get("/admin/macros/").status_code == 403

    maria = signed_in(site, "maria.garcia@staff.example")
    html, _ = page(maria, site.case_id, macro=macro_id)
    reference = case_of(site.case_id).reference
    assert f"Estimada Ana López, envíe los documentos del caso {reference}. María García</textarea>" in html
    text = maria.get(f"/cases/{site.case_id}/macros/{macro_id}")                # what case.js inserts
    assert text.mimetype == "text/plain" and text.get_data(as_text=True).startswith("Estimada Ana López")
    assert signed_in(site, "sam.street@staff.example").get(f"/cases/{site.case_id}/macros/{macro_id}").status_code == 404


# ---- live: rooms, viewing, typing, changes ------------------------------------------------------------


def test_viewers_and_typists_are_seen_live_and_changes_reach_the_room(site):
    maria, li = signed_in(site, "maria.garcia@staff.example"), signed_in(site, "li.wei@staff.example")
    maria_socket = socketio.test_client(site, flask_test_client=maria)
    li_socket = socketio.test_client(site, flask_test_client=li)
    assert maria_socket.emit("case.watch", {"case_id": site.case_id}, callback=True) == {"ok": True}
    assert li_socket.emit("case.watch", {"case_id": site.case_id}, callback=True) == {"ok": True}
    assert {"case_id": site.case_id} in events(maria_socket, "case.presence")
    assert "Li Wei is viewing this case" in maria.get(f"/cases/{site.case_id}/presence").get_data(as_text=True)
    assert "Nobody else" not in maria.get(f"/cases/{site.case_id}").get_data(as_text=True)

    li_socket.emit("case.typing", {"case_id": site.case_id, "typing": True}, callback=True)
    assert "Li Wei is typing a reply" in maria.get(f"/cases/{site.case_id}/presence").get_data(as_text=True)
    li_socket.emit("case.unwatch", {"case_id": site.case_id}, callback=True)
    assert "Nobody else is viewing this case." in maria.get(f"/cases/{site.case_id}/presence").get_data(as_text=True)

    maria_socket.get_received()
    _html, token = page(li, site.case_id)
    li.post(f"/cases/{site.case_id}/notes", data={"csrf_token": token, "note": "Llamé a Ana."})
    assert {"case_id": site.case_id} in events(maria_socket, "case.changed")


def test_audit_rows_name_the_actor_for_every_change(site):
    maria = signed_in(site, "maria.garcia@staff.example")
    _html, token = page(maria, site.case_id)
    maria.post(f"/cases/{site.case_id}/notes", data={"csrf_token": token, "note": "Revisado."})
    maria.post(f"/cases/{site.case_id}/status", data={"csrf_token": token, "status": "pending_constituent"})
    with reading() as session:
        changes = session.execute(select(AuditEvent.detail).where(AuditEvent.action == AuditAction.UPDATE)
                                  .order_by(AuditEvent.id)).scalars().all()
        actors = session.execute(select(func.count(func.distinct(AuditEvent.actor_id)))
                                 .where(AuditEvent.action == AuditAction.UPDATE)).scalar_one()
    assert [c["change"] for c in changes] == ["note", "status"] and actors == 1
    assert case_of(site.case_id).status is CaseStatus.PENDING_CONSTITUENT


def test_a_live_chat_case_answers_in_the_chat_and_its_messages_are_on_the_timeline(site):
    with transaction() as session:
        started = chatting.start(session, PreChat(name="Ana López", language="es", category_code="housing",
                                                  token="t-1", question="¿Sigue abierta la oficina?"), "Chat")
        session.get(Case, started.case_id).assignee_id = session.execute(
            select(Case.assignee_id).where(Case.id == site.case_id)).scalar()
    maria = signed_in(site, "maria.garcia@staff.example")
    html, _ = page(maria, started.case_id)
    assert 'id="chat-panel"' in html and f"/console/chat/{started.case_id}/send" in html
    assert "¿Sigue abierta la oficina?" in maria.get(f"/cases/{started.case_id}/timeline").get_data(as_text=True)


def test_mentions_placeholders_and_language_variants_are_read_as_written():
    assert casework.mentioned_handles("@li.wei, see ana@mail.example and @LI.WEI. Also @bea") == ["li.wei", "bea"]
    macro = Macro(name="m", variants=[MacroVariant(language="en", body="Hi"), MacroVariant(language="es", body="Hola")])
    assert casework.pick_variant(macro, ["es-MX"]).body == "Hola"
    assert casework.pick_variant(macro, [None, "fr"]).body == "Hi"
    assert casework.render("{{ case.reference }} {{case.nope}}", {"case.reference": "C-1"}) == "C-1 {{case.nope}}"
    assert casework.unknown_placeholders("{{ agent.name }} {{ x.y }}") == ["x.y"]

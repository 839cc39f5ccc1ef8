"""The constituent side: the contact page and the status page, in three languages, with what can go wrong."""
import io
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from models import (
    Attachment,
    AuditEvent,
    Case,
    Channel,
    ContactPoint,
    DeliveryStatus,
    Direction,
    Interaction,
    InteractionKind,
    init_engine,
    reading,
    transaction,
)
from tests.channels import mailtools as mt
from tests.conftest import csrf_token, free_port
from tests.factories import make_category, make_queue, make_user

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 2000


@pytest.fixture
def site(scratch_database_url, redis_url, redis, tmp_path):
    app = mt.mail_app(scratch_database_url, redis_url, tmp_path, STATUS_RATE_LIMIT="5 per minute")
    with transaction() as session:
        streets = make_queue(session, "streets", name="Streets & Sanitation")
        category = make_category(session, streets, "pothole")
        category.names = {"en": "Pothole", "es": "Bache", "it": "Buca stradale"}
    return app


def _form(client, **query) -> tuple[str, dict]:
    page = client.get("/contact", query_string=query).get_data(as_text=True)
    token = re.search(r'name="token" type="hidden" value="([^"]+)"', page).group(1)
    return page, {"csrf_token": csrf_token(page), "token": token}


def _valid(**fields) -> dict:
    return {"category": "pothole", "description": "A deep pothole outside number 12 Elm Street.",
            "address": "12 Elm Street", "name": "Ana López", "email": "ana.lopez@mail.example",
            "phone": "", "language": "es", "website": ""} | fields


def test_the_page_speaks_the_browsers_language_and_can_be_switched(site):
    client = site.test_client()
    spanish = client.get("/contact", headers={"Accept-Language": "es-MX,es;q=0.9,en;q=0.5"}).get_data(as_text=True)
    assert '<html lang="es">' in spanish and "Contáctenos" in spanish and "Bache" in spanish
    italian = client.get("/contact?lang=it").get_data(as_text=True)
    assert '<html lang="it">' in italian and "Buca stradale" in italian
    assert '<html lang="it">' in client.get("/status").get_data(as_text=True)          # remembered


def test_a_submission_opens_a_case_shows_the_reference_and_acknowledges(site, redis_url):
    client = site.test_client()
    _page, hidden = _form(client, lang="es")
    data = _valid() | hidden | {"attachments": [(io.BytesIO(JPEG), "../../etc/hole.jpg")]}
    response = client.post("/contact", data=data, content_type="multipart/form-data")
    assert response.status_code == 302
    received = client.get(response.headers["Location"]).get_data(as_text=True)
    reference = re.search(r"(C-\d{4}-\d{6})", received).group(1)
    code = re.search(r'class="code">([^<]+)<', received).group(1)
    assert "Gracias" in received
    with reading() as session:
        case = session.execute(select(Case)).scalar_one()
        queue_code = case.queue.code
        (attachment,) = session.execute(select(Attachment)).scalars()
        point = session.execute(select(ContactPoint)).scalar_one()
        ack = session.execute(select(Interaction).where(Interaction.direction == Direction.OUTBOUND)).scalar_one()
    assert (case.reference, case.channel, case.language, case.address) == (reference, Channel.WEBFORM, "es", "12 Elm Street")
    assert queue_code == "streets" and point.value == "ana.lopez@mail.example"
    assert attachment.filename == "hole.jpg" and attachment.content_type == "image/jpeg"
    assert code in ack.body_text and "Gracias" in ack.body_text
    mt.work(redis_url, queues=("channels",))
    (written,) = Path(site.config["OUTBOX_DIR"]).glob("*.eml")
    assert reference in written.read_text()
    with reading() as session:
        assert session.get(Interaction, ack.id).delivery_status is DeliveryStatus.SENT


def test_sending_the_same_form_twice_is_one_case(site):
    client = site.test_client()
    _page, hidden = _form(client)
    for _ in range(2):
        assert client.post("/contact", data=_valid() | hidden).status_code == 302
    with reading() as session:
        assert session.execute(select(func.count(Case.id))).scalar_one() == 1


def test_mistakes_are_explained_next_to_each_field_in_the_persons_language(site):
    client = site.test_client()
    _page, hidden = _form(client, lang="it")
    response = client.post("/contact", data=_valid(category="", description="short", email="not-an-address",
                                                   phone="12") | hidden)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "C&#39;è un problema" in page or "C'è un problema" in page
    assert 'href="#category-0"' in page and 'href="#description"' in page and 'href="#email"' in page
    assert 'id="description-error"' in page and 'aria-describedby="description-error"' in page
    assert "Scriva tra 10 e 5000 caratteri." in page and "Inserisca un numero" in page
    assert "not-an-address" in page                                # what they typed is kept
    with reading() as session:
        assert session.execute(select(func.count(Case.id))).scalar_one() == 0


def test_attachments_are_judged_by_their_bytes_and_counted(site):
    client = site.test_client()
    _page, hidden = _form(client)
    fake = client.post("/contact", content_type="multipart/form-data",
                       data=_valid() | hidden | {"attachments": [(io.BytesIO(b"MZ\x90\x00 program"), "photo.jpg")]})
    assert fake.status_code == 400 and "photo.jpg is not a JPEG, PNG or PDF file." in fake.get_data(as_text=True)
    many = client.post("/contact", content_type="multipart/form-data",
                       data=_valid() | hidden | {"attachments": [(io.BytesIO(JPEG), f"{i}.jpg") for i in range(4)]})
    assert many.status_code == 400 and "Attach at most 3 files." in many.get_data(as_text=True)


def test_the_honeypot_and_a_missing_csrf_token_open_nothing(site):
    client = site.test_client()
    _page, hidden = _form(client)
    assert client.post("/contact", data=_valid(website="http://spam.example") | hidden).status_code == 400
    assert client.post("/contact", data=_valid() | {"token": hidden["token"]}).status_code == 400
    with reading() as session:
        assert session.execute(select(func.count(Case.id))).scalar_one() == 0


def test_when_the_database_is_down_the_person_is_told_and_keeps_what_they_typed(site, scratch_database_url):
    client = site.test_client()
    _page, hidden = _form(client)
    init_engine(f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/nothing")
    try:
        response = client.post("/contact", data=_valid(description="Please keep this long description.") | hidden)
    finally:
        init_engine(scratch_database_url)
    page = response.get_data(as_text=True)
    assert response.status_code == 503 and "send it again in a minute" in page
    assert "Please keep this long description." in page


def _submitted(client) -> tuple[str, str]:
    _page, hidden = _form(client)
    client.post("/contact", data=_valid() | hidden)
    received = client.get("/contact/received").get_data(as_text=True)
    return re.search(r"(C-\d{4}-\d{6})", received).group(1), re.search(r'class="code">([^<]+)<', received).group(1)


def _look_up(client, reference: str, secret: str):
    page = client.get("/status").get_data(as_text=True)
    return client.post("/status", data={"reference": reference, "secret": secret, "csrf_token": csrf_token(page)})


def test_the_status_page_shows_only_what_staff_made_public(site):
    client = site.test_client()
    reference, code = _submitted(client)
    with transaction() as session:
        case = session.execute(select(Case)).scalar_one()
        staff = make_user(session)
        session.add_all([
            Interaction(case=case, kind=InteractionKind.NOTE, channel=Channel.WEBFORM, direction=Direction.INTERNAL,
                        author_id=staff.id, body_text="Internal: the caller seemed upset."),
            Interaction(case=case, kind=InteractionKind.STATUS_CHANGE, channel=Channel.WEBFORM,
                        direction=Direction.OUTBOUND, author_id=staff.id, is_public=True,
                        body_text="A crew is scheduled for Thursday."),
        ])
    page = _look_up(client, reference, code).get_data(as_text=True)
    assert "A crew is scheduled for Thursday." in page and "Internal" not in page
    assert "ana.lopez" not in page                                    # nothing about the person either
    by_email = _look_up(client, reference.lower(), "ana.lopez@mail.example")
    assert by_email.status_code == 200
    with reading() as session:
        views = session.execute(select(func.count(AuditEvent.id)).where(AuditEvent.object_type == "case")).scalar_one()
    assert views == 2


def test_a_wrong_code_and_an_unknown_reference_look_the_same_and_guessing_is_throttled(site):
    client = site.test_client()
    reference, _code = _submitted(client)
    wrong = _look_up(client, reference, "guess")
    unknown = _look_up(client, "C-2026-999999", "guess")
    assert wrong.status_code == unknown.status_code == 404
    for page in (wrong.get_data(as_text=True), unknown.get_data(as_text=True)):
        assert "We found no request with that reference and code." in page and "status-card" not in page
    statuses = [_look_up(client, reference, f"guess{i}").status_code for i in range(5)]
    assert statuses[-1] == 429

"""Drives one contact through each real entry point of the system: SMTP listener, web form, chat (Socket.IO),
Open311 POST and a phone call logged by an agent; then renders the console pages a caseworker would open.

Used by the hostile-input and the personal-data-in-logs tests, which send different content the same way.
"""
import re
import smtplib
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlencode

from flask import Flask
from rq import SimpleWorker
from sqlalchemy import select

from caseworker import realtime  # noqa: F401  (the socket handlers must exist before an app binds the server)
from caseworker.channels_cli import start_smtpd
from caseworker.extensions import socketio
from channels import open311_store
from models import Case, Presence, Role, reading, transaction
from tests.channels import mailtools as mt
from tests.conftest import Auth, csrf_token, free_port
from tests.factories import PASSWORD, make_category, make_queue, make_user

SERVICE = mt.SERVICE
CATEGORY = "pothole"
ADMIN = "admin@staff.example"
AGENT = "agent@staff.example"
JURISDICTION = "riverton.example"
FORM = "application/x-www-form-urlencoded; charset=utf-8"


def site_app(database_url: str, redis_url: str, tmp_path, **extra) -> Flask:
    """An app on its own real database (commits are real) with every channel switched on, and its data:
    a public category in a queue, a phone queue, an admin, and an available agent of both queues."""
    app = mt.mail_app(database_url, redis_url, tmp_path, OPEN311_JURISDICTION_ID=JURISDICTION,
                      PHONE_QUEUE="phone", WEBFORM_RATE_LIMIT="1000 per minute", CHAT_RATE_LIMIT="1000 per minute",
                      OPEN311_POST_RATE_LIMIT="1000 per minute", **extra)
    seed()
    return app


def seed() -> None:
    """A public category in a queue, a phone queue, an admin, and an available agent of both queues. Commits."""
    with transaction() as session:
        streets = make_queue(session, "streets", name="Streets")
        phone = make_queue(session, "phone", name="Phone")
        make_category(session, streets, CATEGORY).is_public = True
        make_user(session, Role.ADMIN, email=ADMIN, display_name="Admin")
        make_user(session, Role.AGENT, email=AGENT, presence=Presence.AVAILABLE, queues=[streets, phone],
                  display_name="Agent")


@contextmanager
def smtp_listener(app: Flask) -> Iterator[int]:
    """The system's own SMTP listener on a loopback port."""
    port = free_port()
    with app.app_context():
        controller = start_smtpd("127.0.0.1", port)
    try:
        yield port
    finally:
        controller.stop()


def send_email(port: int, raw: bytes, sender: str = "someone@mail.example") -> tuple[int, bytes]:
    """Hand `raw` to the listener as an MTA would; returns the DATA reply."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo()
        client.mail(sender)
        client.rcpt(SERVICE)
        return client.data(raw)


def submit_webform(app: Flask, *, description: str, name: str = "", email: str = "", phone: str = "",
                   address: str = "", attachments: list | None = None):
    """Fill in and post the public contact page; returns the response."""
    http = app.test_client()
    page = http.get("/contact?lang=en").get_data(as_text=True)
    token = re.search(r'name="token" type="hidden" value="([^"]+)"', page).group(1)
    data = {"csrf_token": csrf_token(page), "token": token, "category": CATEGORY, "description": description,
            "name": name, "email": email, "phone": phone, "address": address, "language": "en", "website": ""}
    if attachments:
        data["attachments"] = attachments
    return http.post("/contact?lang=en", data=data, content_type="multipart/form-data")


def start_chat(app: Flask, *, name: str, question: str, email: str = ""):
    """A constituent fills in the pre-chat form and connects to the "/chat" namespace; returns their socket."""
    http = app.test_client()
    page = http.get("/chat?lang=en").get_data(as_text=True)
    token = re.search(r'name="token" type="hidden" value="([^"]+)"', page).group(1)
    response = http.post("/chat?lang=en", data={"csrf_token": csrf_token(page), "token": token, "name": name,
                                                "email": email, "language": "en", "topic": CATEGORY,
                                                "question": question})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    live = http.get("/chat/live").get_data(as_text=True)
    chat_token = re.search(r'data-token="([^"]+)"', live).group(1)
    sock = socketio.test_client(app, namespace="/chat", auth={"token": chat_token}, flask_test_client=http)
    assert sock.is_connected("/chat")
    return sock


def say(sock, text: str, client_id: str) -> dict:
    """One chat message from the constituent; returns the server's acknowledgement."""
    return sock.emit("chat.message", {"client_id": client_id, "text": text}, namespace="/chat", callback=True)


def open311_key() -> str:
    with transaction() as session:
        _row, key = open311_store.create_key(session, "Test client")
    return key


def post_open311(app: Flask, key: str, fmt: str = "json", **fields: str):
    """An Open311 GeoReport v2 POST of a service request."""
    body = {"api_key": key, "jurisdiction_id": JURISDICTION, "service_code": CATEGORY,
            "address_string": "1 Main Street"} | fields
    return app.test_client().post(f"/open311/v2/requests.{fmt}", data=urlencode(body), content_type=FORM)


def signed_in(app: Flask, email: str):
    """A test client signed in through the real login form."""
    client = app.test_client()
    assert Auth(client).login(email, PASSWORD).status_code == 302
    return client


def log_call(agent, *, phone: str, caller_name: str, notes: str):
    """An agent logs a call they took by hand: their notes become a phone interaction."""
    page = agent.get("/phone/calls/new").get_data(as_text=True)
    return agent.post("/phone/calls/new", data={
        "csrf_token": csrf_token(page), "caller_phone": phone, "caller_name": caller_name, "direction": "inbound",
        "case": "new", "notes": notes, "outcome": "answered", "duration": "2:00"})


def console_pages(client) -> dict[str, str]:
    """Every page a caseworker opens on the stored contacts: each case, each constituent's 360 view, the inbox."""
    with reading() as session:
        cases = session.execute(select(Case.id, Case.constituent_id)).all()
    urls = ["/inbox/", *(f"/cases/{case_id}" for case_id, _ in cases),
            *dict.fromkeys(f"/constituents/{person}" for _, person in cases if person is not None)]
    found = {}
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        found[url] = response.get_data(as_text=True)
    return found


def work(redis_url: str, logging_level: str = "WARNING") -> None:
    """Run every queued job (intake, routing, mail) in this process until the queues are empty."""
    SimpleWorker(["channels", "routing", "default"], connection=mt.rq_redis(redis_url)).work(
        burst=True, logging_level=logging_level)

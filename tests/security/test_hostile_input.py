"""Hostile input through every channel: script injection, HTML smuggling, header injection, oversize input,
path tricks in attachment names, archives and content-type lies.

Each contact goes in through a real entry point (the SMTP listener, the contact page, the chat socket, the
Open311 API, an agent's call notes) and then: the raw input is kept whole, the console pages a caseworker
opens (case, 360 view, inbox) hold no executable markup from it (parsed with html.parser, not grepped),
attachment files exist only inside the storage folder under their digests, and downloads are never inline.
"""
import ast
import base64
import io
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest
from sqlalchemy import func, select

from channels import storage
from models import Attachment, Case, InboundRaw, Interaction, reading
from tests.conftest import csrf_token
from tests.security import drive

ROOT = Path(__file__).resolve().parents[2]
MARK = "__pwned"
SCRIPTS = [
    f"<script>window.{MARK}=1</script>",
    f'<img src=x onerror="window.{MARK}=2">',
    f'<a href="javascript:window.{MARK}=3">open</a>',
    f'<a href=" JaVaScRiPt:window.{MARK}=3">spaced</a>',
    f'<svg onload="window.{MARK}=4"><script>window.{MARK}=4</script></svg>',
    f'<iframe src="javascript:window.{MARK}=5"></iframe>',
    f'<iframe srcdoc="<script>window.{MARK}=5</script>"></iframe>',
    f'<object data="javascript:window.{MARK}=6"></object><embed src="javascript:window.{MARK}=6">',
    f'<div style="width:expression(window.{MARK}=7);background:url(javascript:window.{MARK}=7)">css</div>',
    f'<form action="javascript:window.{MARK}=8"><button formaction="javascript:window.{MARK}=8">go</button></form>',
    f'"><script>window.{MARK}=9</script>',
    f"'><img src=x onerror=window.{MARK}=10>",
    f"</textarea></title><script>window.{MARK}=11</script>",
    f'<details open ontoggle="window.{MARK}=12">',
]
SMUGGLING = [
    '<meta http-equiv="refresh" content="0;url=data:text/html,<script>window.__pwned=13</script>">',
    '<a href="data:text/html;base64,PHNjcmlwdD53aW5kb3cuX19wd25lZD0xNDwvc2NyaXB0Pg==">smuggled</a>',
    '<object data="data:text/html;base64,PHNjcmlwdD53aW5kb3cuX19wd25lZD0xNDwvc2NyaXB0Pg=="></object>',
    '<base href="javascript:window.__pwned=15//">',
]
HOSTILE = "\n".join(SCRIPTS + SMUGGLING)
SHORT = SCRIPTS[1]                      # fits fields that hold a line (names, addresses)
HTML_FILE = b"<html><body><script>window.__pwned=16</script><h1>not a picture</h1></body></html>"
SVG_FILE = (b'<svg xmlns="http://www.w3.org/2000/svg" onload="window.__pwned=17">'
            b"<script>window.__pwned=17</script></svg>")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "data", "srcdoc", "xlink:href", "background", "poster",
                  "codebase", "cite", "ping"}
ACTIVE_ELEMENTS = {"script", "iframe", "frame", "object", "embed", "applet", "base", "frameset"}


# ---- the HTML the console sends -----------------------------------------------------------------------


class Executable(HTMLParser):
    """Collects everything in a page that a browser would run or navigate to on its own."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.in_script = False
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.in_script = tag == "script"
        values = dict(attrs)
        if tag in ACTIVE_ELEMENTS and tag != "script":
            self.found.append(f"<{tag}> element")
        if tag == "meta" and (values.get("http-equiv") or "").lower() == "refresh":
            self.found.append("<meta http-equiv=refresh>")
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=...> event handler")
            if name in URL_ATTRIBUTES and value is not None:
                scheme = "".join(c for c in value if c.isprintable() and not c.isspace()).lower().split(":", 1)[0]
                if scheme in ("javascript", "vbscript", "data"):
                    self.found.append(f"<{tag} {name}={value[:40]!r}>")
            if name == "style" and value and ("expression" in value.lower() or "javascript" in value.lower()):
                self.found.append(f"<{tag} style={value[:40]!r}>")

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self.in_script = False

    def handle_data(self, data: str) -> None:
        if self.in_script and MARK in data:
            self.found.append(f"a script holding input: {data[:60]!r}")
        elif not self.in_script:
            self.text.append(data)


def executable(html: str) -> tuple[list[str], str]:
    """(what would run, the visible text) of a page."""
    parser = Executable()
    parser.feed(html)
    parser.close()
    return parser.found, "".join(parser.text)


def test_the_checker_sees_what_a_browser_would_run():
    found, _text = executable("<p>" + "".join(SCRIPTS + SMUGGLING) + "</p>")
    assert len(found) >= len(SCRIPTS + SMUGGLING)
    found, text = executable("<p>&lt;script&gt;window.__pwned=1&lt;/script&gt;</p><a href='/cases/1'>ok</a>")
    assert found == [] and "<script>window.__pwned=1</script>" in text


# ---- the site and its contacts ----------------------------------------------------------------------


@pytest.fixture
def site(scratch_database_url, redis_url, redis, tmp_path):
    return drive.site_app(scratch_database_url, redis_url, tmp_path, MAIL_MAX_BYTES=400_000)


def b64(data: bytes) -> str:
    """Base64 in 76-character lines ending CR LF, as a mail client writes it."""
    return base64.encodebytes(data).decode().rstrip("\n").replace("\n", "\r\n")


def mime(*, subject: str, from_header: str, text: str, html: str, files: list[tuple[str, str, bytes]],
         message_id: str = "<hostile-1@mail.example>") -> bytes:
    """A raw multipart message written by hand, so that names and headers can be as hostile as on the wire."""
    lines = [f"From: {from_header}", f"To: {drive.SERVICE}", f"Subject: {subject}", f"Message-ID: {message_id}",
             "MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="outer"', "", "--outer",
             'Content-Type: multipart/alternative; boundary="inner"', "", "--inner",
             "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: base64", "",
             b64(text.encode()), "--inner", "Content-Type: text/html; charset=utf-8",
             "Content-Transfer-Encoding: base64", "", b64(html.encode()), "--inner--"]
    for disposition_name, content_type, data in files:
        lines += ["--outer", f"Content-Type: {content_type}", f"Content-Disposition: attachment; {disposition_name}",
                  "Content-Transfer-Encoding: base64", "", b64(data)]
    lines.append("--outer--")
    return "\r\n".join(lines).encode("utf-8")


def zip_bomb() -> bytes:
    """A small zip whose one member expands a thousand times (20 MB of zeros)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr(zipfile.ZipInfo("zeros.txt", date_time=(2026, 1, 1, 0, 0, 0)), b"\x00" * 20_000_000,
                         compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


HOSTILE_NAMES = [
    ('filename="../../etc/passwd"', "text/plain", b"root:x:0:0"),
    ('filename="/etc/shadow"', "text/plain", b"shadow"),
    ('filename="C:\\\\Windows\\\\win.ini"', "text/plain", b"[windows]"),
    ("filename*=utf-8''evil%00.html%00.png", "image/png", PNG),
    ('filename="CON"', "text/plain", b"device"),
    ('filename="nul.txt"', "text/plain", b"device"),
    (f'filename="{"a" * 400}.pdf"', "application/pdf", b"%PDF-1.4 long"),
    ("filename*=utf-8''invoice%E2%80%AEfdp.exe", "application/octet-stream", b"MZ\x90\x00"),
    ('filename="..\\\\..\\\\boot.ini"', "text/plain", b"boot"),
    ('filename=".htaccess"', "text/plain", b"Options +ExecCGI"),
    ('filename="photo.png"', "image/png", HTML_FILE),                  # the content-type lie
    ('filename="drawing.svg"', "image/svg+xml", SVG_FILE),
    ('filename="smuggle.html"', "text/html", b"<meta http-equiv=refresh content='0;url=data:text/html,x'>"),
    ('filename="archive.zip"', "application/zip", zip_bomb()),
    ("filename*=utf-8''r%C3%A9sum%C3%A9%20%EF%BC%8F%20cv.pdf", "application/pdf", b"%PDF-1.4 cv"),
]


def send_hostile_everywhere(site, redis_url) -> None:
    """One hostile contact through each entry point, each answered and taken in."""
    with drive.smtp_listener(site) as port:
        raw = mime(subject=f"=?utf-8?q?Help_{'_'.join(SCRIPTS[0].split())}=0D=0ABcc:_victim@evil.example?=",
                   from_header=f'"{SHORT}" <hostile.sender@mail.example>', text=HOSTILE, html=HOSTILE,
                   files=HOSTILE_NAMES)
        code, reply = drive.send_email(port, raw)
        assert code == 250, reply
    assert drive.submit_webform(site, description=HOSTILE, name=SHORT, email="form.sender@mail.example",
                                address=SHORT, attachments=[(io.BytesIO(PNG), f"../../{SHORT}.png")]).status_code == 302
    sock = drive.start_chat(site, name=SHORT, question=HOSTILE)
    for n, payload in enumerate(SCRIPTS + SMUGGLING):
        assert drive.say(sock, payload, f"m{n}")["ok"] is True
    sock.disconnect(namespace="/chat")
    response = drive.post_open311(site, drive.open311_key(), description=HOSTILE[:3900], first_name=SHORT[:100],
                                  last_name=SCRIPTS[0], address_string=SHORT, email="api.sender@mail.example")
    assert response.status_code == 200, response.get_data(as_text=True)
    agent = drive.signed_in(site, drive.AGENT)
    assert drive.log_call(agent, phone="415-555-0199", caller_name=SHORT, notes=HOSTILE).status_code == 302
    drive.work(redis_url)


def test_hostile_markup_is_kept_as_sent_and_rendered_as_text_everywhere(site, redis_url):
    send_hostile_everywhere(site, redis_url)
    with reading() as session:
        raws = session.execute(select(InboundRaw)).scalars().all()
        bodies = session.execute(select(Interaction.body_text)).scalars().all()
        html_bodies = session.execute(select(Interaction.body_html).where(Interaction.body_html.is_not(None))
                                      ).scalars().all()
        cases = session.execute(select(func.count(Case.id))).scalar_one()
    assert cases == 5
    assert {r.channel.value for r in raws} >= {"email", "webform", "chat", "open311"}
    assert all(r.error is None for r in raws), [r.error for r in raws]
    email_raw = next(r for r in raws if r.channel.value == "email")
    assert b64(HOSTILE.encode()).encode() in email_raw.payload
    for payload in SCRIPTS + SMUGGLING:                      # nothing lost: every message holds what was sent
        assert sum(payload in (body or "") for body in bodies) >= 4, payload
    assert html_bodies and all(executable(html)[0] == [] for html in html_bodies)   # email HTML kept sanitised
    admin = drive.signed_in(site, drive.ADMIN)
    pages = drive.console_pages(admin)
    assert len(pages) >= 9
    for url, html in pages.items():
        found, text = executable(html)
        assert found == [], (url, found)
        if url.startswith("/cases/"):
            assert MARK in text, url                         # shown, as text
    for url in [u for u in pages if u.startswith("/cases/")]:
        for part in ("timeline", "header"):
            found, _text = executable(admin.get(f"{url}/{part}").get_data(as_text=True))
            assert found == [], (url, part, found)


def test_attachments_land_only_in_storage_and_download_as_files(site, redis_url, tmp_path):
    send_hostile_everywhere(site, redis_url)
    root = Path(site.config["ATTACHMENT_DIR"]).resolve()
    stored = [p for p in tmp_path.rglob("*") if p.is_file() and not p.is_relative_to(tmp_path / "outbox")
              and p.suffix not in (".db", ".db-wal", ".db-shm")]
    assert stored and all(p.resolve().is_relative_to(root) for p in stored), stored
    assert all(len(p.name) == 64 and p.parent.name == p.name[:2] for p in stored)
    with reading() as session:
        files = session.execute(select(Attachment, Interaction.case_id).join(Interaction)).all()
    assert len(files) == len(HOSTILE_NAMES) + 1
    names = [a.filename for a, _case in files]
    for name in names:
        assert name == storage.safe_filename(name), name
        assert "/" not in name and "\\" not in name and "\x00" not in name and not name.startswith(".")
        assert len(name.encode()) <= 255 and "\u202e" not in name
        assert name.split(".")[0].upper() not in storage.WINDOWS_DEVICES
    admin = drive.signed_in(site, drive.ADMIN)
    for attachment, case_id in files:
        response = admin.get(f"/cases/{case_id}/attachments/{attachment.id}")
        assert response.status_code == 200
        assert response.data == storage.read(root, attachment.sha256)
        assert response.headers["Content-Type"] == "application/octet-stream"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        disposition = response.headers["Content-Disposition"]
        disposition.encode("ascii")                          # a header any server can send
        assert disposition.startswith("attachment;") and "\r" not in disposition and "\n" not in disposition
        if "filename*=" in disposition:
            assert unquote(disposition.split("filename*=UTF-8''", 1)[1]) == attachment.filename


def test_a_zip_bomb_is_kept_as_the_bytes_sent_and_never_expanded(site, redis_url):
    send_hostile_everywhere(site, redis_url)
    bomb = zip_bomb()
    with reading() as session:
        archive = session.execute(select(Attachment).where(Attachment.filename == "archive.zip")).scalar_one()
    assert (archive.size, archive.sha256) == (len(bomb), storage.path_for(Path("."), archive.sha256).name)
    assert storage.read(Path(site.config["ATTACHMENT_DIR"]), archive.sha256) == bomb
    total = sum(p.stat().st_size for p in Path(site.config["ATTACHMENT_DIR"]).rglob("*") if p.is_file())
    assert total < 1_000_000                                  # 20 MB were never written out


# The build tool that vendors the console's browser libraries unpacks pinned npm tarballs whose hashes it checks.
NOT_INPUT = {ROOT / "caseworker" / "assets.py"}


def test_no_server_code_can_expand_an_archive():
    unpackers = {"zipfile", "tarfile", "gzip", "bz2", "lzma", "zlib", "py7zr", "rarfile"}
    for package in ("caseworker", "channels", "routing", "models"):
        for path in set((ROOT / package).rglob("*.py")) - NOT_INPUT:
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                    [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                assert not {n.split(".")[0] for n in names} & unpackers, f"{path} imports an unpacker"
                if isinstance(node, ast.Attribute):
                    assert node.attr != "unpack_archive", f"{path} unpacks archives"


def test_line_breaks_in_subjects_and_names_never_reach_outbound_mail_headers(scratch_database_url, redis_url,
                                                                             redis, tmp_path, sink):
    site = drive.site_app(scratch_database_url, redis_url, tmp_path, SMTP_HOST="127.0.0.1", SMTP_PORT=sink.port)
    evil = "Broken\r\nBcc: victim@evil.example\r\nX-Injected: yes"
    assert drive.submit_webform(site, description=f"{evil}\nand a pothole at the corner.", name=evil[:60],
                                email="header.test@mail.example").status_code == 302
    with drive.smtp_listener(site) as port:
        raw = mime(subject="=?utf-8?q?Hello=0D=0ABcc:_victim@evil.example=0D=0AX-Injected:_yes?=",
                   from_header="=?utf-8?q?Ana=0D=0ABcc:_victim@evil.example?= <ana.header@mail.example>",
                   text="please answer", html="<p>please answer</p>", files=[], message_id="<hdr-1@mail.example>")
        assert drive.send_email(port, raw)[0] == 250
    drive.work(redis_url)
    agent = drive.signed_in(site, drive.ADMIN)
    with reading() as session:
        case_id = session.execute(select(Interaction.case_id).where(
            Interaction.external_id == "hdr-1@mail.example")).scalar_one()
    page = agent.get(f"/cases/{case_id}").get_data(as_text=True)
    assert agent.post(f"/cases/{case_id}/reply", data={"csrf_token": csrf_token(page),
                                                     "body": "We are on it."}).status_code == 302
    drive.work(redis_url)
    received = sink.wait_for(3)        # the web form's and the email's acknowledgements, and the reply
    assert len(received) == 3
    for message in received:
        assert "X-Injected" not in message and "Bcc" not in message and message["To"].count("@") == 1
        assert all("\r" not in str(v) and "\n" not in str(v) for v in message.values())
        assert "victim@evil.example" in message["Subject"]          # the words are kept, on one line
    with reading() as session:
        stored = session.execute(select(Case.subject).where(Case.id == case_id)).scalar_one()
    assert "\r\nBcc: victim@evil.example" in stored                  # the case keeps the subject as sent


# ---- oversize input ---------------------------------------------------------------------------------


def test_oversize_email_is_refused_whole_or_taken_with_its_excess_named(site, redis_url):
    many_headers = "\r\n".join(f"X-Junk-{n}: {'y' * 40}" for n in range(3000))
    crowded = [(f'filename="part{n}.txt"', "text/plain", b"tiny") for n in range(1100)]
    with drive.smtp_listener(site) as port:
        too_big = mime(subject="big", from_header="big@mail.example", text="x" * 500_000, html="", files=[],
                       message_id="<big@mail.example>")
        assert drive.send_email(port, too_big)[0] == 552       # refused: the sender's server keeps it
        assert drive.send_email(port, mime(
            subject="s" * 900 + ("\r\n " + "t" * 900) * 25, from_header="long@mail.example", text="long subject",
            html="", files=[], message_id="<long@mail.example>").replace(b"MIME-Version", many_headers.encode()
                                                                     + b"\r\nMIME-Version", 1))[0] == 250
        assert drive.send_email(port, mime(subject="crowded", from_header="crowd@mail.example", text="many",
                                           html="", files=crowded, message_id="<crowd@mail.example>"))[0] == 250
    drive.work(redis_url)
    with reading() as session:
        raws = session.execute(select(InboundRaw).order_by(InboundRaw.id)).scalars().all()
        assert [(r.status.value, r.error) for r in raws] == [("ingested", None)] * 2
        long_case = session.execute(select(Case).join(Interaction).where(
            Interaction.external_id == "long@mail.example")).scalar_one()
        crowd = session.execute(select(Interaction).where(Interaction.external_id == "crowd@mail.example")).scalar_one()
        files = session.execute(select(func.count(Attachment.id))
                                .where(Attachment.interaction_id == crowd.id)).scalar_one()
    assert len(long_case.subject) == 500 and raws[0].payload.count(b"t" * 900) == 25   # the whole header is kept raw
    assert files < 1100 and any("too many parts" in d for d in crowd.meta["defects"])
    assert raws[1].payload.count(b"filename=") == 1100


def test_oversize_fields_on_the_other_channels_get_a_clear_answer_and_store_nothing(site):
    form = drive.submit_webform(site, description="x" * 5001, email="long.form@mail.example")
    assert form.status_code == 400 and "Write between 10 and 5,000 characters." in form.get_data(as_text=True)
    files = [(io.BytesIO(PNG), f"{n}.png") for n in range(4)]
    form = drive.submit_webform(site, description="A pothole, with photos.", attachments=files)
    assert form.status_code == 400 and "Attach at most 3 files." in form.get_data(as_text=True)
    sock = drive.start_chat(site, name="Long Talker", question="hello")
    assert drive.say(sock, "x" * 2001, "long") == {"ok": False, "error": "a message holds at most 2000 characters"}
    api = drive.post_open311(site, drive.open311_key(), description="x" * 4001)
    assert api.status_code == 400 and "description is longer than 4000" in api.get_data(as_text=True)
    agent = drive.signed_in(site, drive.AGENT)
    call = drive.log_call(agent, phone="415-555-0198", caller_name="n" * 201, notes="x" * 20_001)
    assert call.status_code == 200 and "Field cannot be longer than 20000 characters." in call.get_data(as_text=True)
    with reading() as session:
        texts = session.execute(select(Interaction.body_text)).scalars().all()
    assert texts == ["hello"]                                    # only the chat that did start


@pytest.mark.parametrize(("sent", "shown"), [
    ("../../etc/passwd", "passwd"), ("/etc/shadow", "shadow"), ("C:\\Windows\\win.ini", "win.ini"),
    ("evil\x00.html\x00.png", "evil.html.png"), ("CON", "_CON"), ("nul.txt", "_nul.txt"),
    ("com1 .tar.gz", "_com1 .tar.gz"),
    ("invoice\u202efdp.exe", "invoicefdp.exe"), (".htaccess", "htaccess"), ("report. ", "report"),
    ('a"b<c>:d|e?f*.txt', "a_b_c__d_e_f_.txt"), ("\u200b\u2066", "attachment"), ("", "attachment"),
    ("r\u00e9sum\u00e9.pdf", "r\u00e9sum\u00e9.pdf"), ("x" * 300 + ".jpeg", "x" * 250 + ".jpeg"),
    ("\u00e9" * 200 + ".pdf", "\u00e9" * 125 + ".pdf"),
])
def test_a_name_from_outside_is_made_safe_and_stays_safe(sent, shown):
    assert storage.safe_filename(sent) == shown
    assert storage.safe_filename(shown) == shown                  # idempotent
    assert len(shown.encode()) <= 255

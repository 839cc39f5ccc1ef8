"""Focused behaviour of the email parser on small hand-made messages."""
import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

from channels.email import parse_message
from channels.email.model import JSON_KEYS

from .corpus import CORPORA

ROOT = Path(__file__).resolve().parents[3]


def message(headers: str, body: str | bytes = "Hello there, this is the body.\n") -> bytes:
    """A raw message from header lines (LF-separated) and a body; From/Subject added unless given."""
    if "From:" not in headers and "NOFROM" not in headers:
        headers = "From: Ana <ana@example.org>\n" + headers
    head = headers.replace("NOFROM\n", "").strip("\n").replace("\n", "\r\n").encode("utf-8")
    data = body if isinstance(body, bytes) else body.replace("\n", "\r\n").encode("utf-8")
    return head + b"\r\n\r\n" + data


# ---- headers ----------------------------------------------------------------------------------------


def test_rfc2047_words_are_decoded_and_adjacent_ones_joined():
    raw = message("Subject: =?utf-8?B?w6k=?= =?utf-8?Q?t=C3=A9_?=\n =?iso-8859-1?Q?caf=E9?= ok")

    assert parse_message(raw).subject == "été café ok"


def test_a_character_split_across_two_encoded_words_survives():
    euro = "€".encode()
    words = [base64.b64encode(euro[:1]).decode(), base64.b64encode(euro[1:]).decode()]
    raw = message(f"Subject: =?utf-8?B?{words[0]}?= =?utf-8?B?{words[1]}?=")

    assert parse_message(raw).subject == "€"


def test_rfc2231_filenames_are_decoded_including_continuations():
    body = ("--b\nContent-Type: text/plain\n\nsee attached\n"
            "--b\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\n"
            "Content-Disposition: attachment; filename*=utf-8''%E2%82%AC%20bill.pdf\n\nJVBERg==\n"
            "--b\nContent-Type: text/plain\nContent-Disposition: attachment;\n"
            " filename*0*=iso-8859-1''r%E9sum; filename*1*=%E9.txt\n\nCV\n--b--\n")
    result = parse_message(message('Content-Type: multipart/mixed; boundary="b"', body))

    assert [a.filename for a in result.attachments] == ["€ bill.pdf", "résumé.txt"]
    assert result.attachments[0].data == b"%PDF"


def test_raw_8bit_latin1_header_is_repaired_with_a_defect():
    raw = (b"From: a@example.org\r\nSubject: caf\xe9 cr\xe8me br\xfbl\xe9e\r\n"
           b"Content-Type: text/plain; charset=iso-8859-1\r\n\r\nhi\r\n")
    result = parse_message(raw)

    assert result.subject == "café crème brûlée"
    assert "Subject header: raw 8-bit bytes in a header that are not UTF-8" in result.defects


def test_raw_utf8_header_is_accepted_as_rfc6532():
    result = parse_message("From: José <josé@example.org>\r\nSubject: ¿Qué tal?\r\n\r\nhi\r\n".encode())

    assert (result.subject, result.from_name, result.from_email) == ("¿Qué tal?", "José", "josé@example.org")
    assert result.defects == []


def test_addresses_are_normalised_and_recipients_include_delivery_headers():
    raw = message("From: \"Ana (Desk)\" <Ana.Diaz@EXAMPLE.xn--bcher-kva.ORG> (comment)\n"
                  "To: Support <support@City.Example>\nCc: x@example.com\n"
                  "Delivered-To: support+C-2026-000123@city.example\nX-Original-To: intake@city.example")
    result = parse_message(raw)

    assert (result.from_email, result.from_name) == ("Ana.Diaz@example.bücher.org", "Ana (Desk)")
    assert result.to == ["support@city.example"]
    assert result.recipients == ["support@city.example", "x@example.com", "support+C-2026-000123@city.example",
                                 "intake@city.example"]


def test_a_malformed_sender_gives_a_defect_not_a_crash():
    result = parse_message(message("From: ana@@example..org"))

    assert result.from_email is None
    assert "no usable sender address" in result.defects


def test_a_message_without_sender_has_no_from_email_and_a_defect():
    result = parse_message(message("NOFROM\nSubject: anonymous"))

    assert result.from_email is None and result.from_name is None
    assert "no usable sender address" in result.defects


def test_ids_and_dates():
    result = parse_message(message("Message-ID: <a1@x.example>\nIn-Reply-To: <p0@x.example>\n"
                                   "References: <r1@x.example>\n <p0@x.example>\n"
                                   "Date: Thu, 3 May 2012 11:36:43 +0200"))

    assert (result.message_id, result.in_reply_to, result.references) == (
        "a1@x.example", "p0@x.example", ["r1@x.example", "p0@x.example"])
    assert result.date == "2012-05-03T09:36:43+00:00"


def test_an_unreadable_date_is_null_with_a_defect():
    result = parse_message(message("Date: the day after tomorrow"))

    assert result.date is None
    assert "Date header: unreadable date ignored" in result.defects


# ---- charsets ----------------------------------------------------------------------------------------


def test_unknown_charset_falls_back_to_detection_with_a_defect():
    body = "Grüße aus Köln, schönen Abend und viele Grüße zurück!".encode("latin-1")
    result = parse_message(message("Content-Type: text/plain; charset=X-UNKNOWN", body))

    assert "Grüße aus Köln" in result.body_text
    assert any("detected charset" in d for d in result.defects)


def test_bytes_invalid_in_the_declared_charset_are_replaced_with_a_defect():
    result = parse_message(message("Content-Type: text/plain; charset=utf-8", b"ok \xff\xfe\xfd end"))

    assert result.body_text.startswith("ok ") and result.body_text.rstrip().endswith("end")
    assert any("not valid utf-8" in d for d in result.defects)


@pytest.mark.parametrize(("label", "text", "codec"), [
    ("ks_c_5601-1987", "안녕하세요", "cp949"), ("iso-8859-8-i", "שלום", "iso-8859-8"),
    ("unicode-1-1-utf-7", "naïve", "utf-7"), ("gb2312", "你好", "gb2312"),
])
def test_charset_aliases(label, text, codec):
    result = parse_message(message(f"Content-Type: text/plain; charset={label}", text.encode(codec)))

    assert result.body_text.strip() == text
    assert result.defects == []


# ---- bodies ------------------------------------------------------------------------------------------


def test_html_only_message_gets_text_and_sanitised_html():
    html = ("<html><head><style>p{color:red}</style><script>alert(1)</script></head><body>"
            "<p onclick='x()'>Dear&nbsp;council,</p><div>the lamp &amp; the bench</div>"
            "line one<br>line two<blockquote>old text</blockquote></body></html>")
    result = parse_message(message("Content-Type: text/html; charset=utf-8", html))

    assert result.body_text == "Dear council,\nthe lamp & the bench\nline one\nline two\n> old text"
    assert "script" not in result.body_html and "onclick" not in result.body_html
    assert result.reply_text == "Dear council,\nthe lamp & the bench\nline one\nline two"


def test_inline_image_keeps_its_content_id():
    body = ("--r\nContent-Type: text/html\n\n<p>Pothole:<img src=\"cid:pic1@x\"></p>\n"
            "--r\nContent-Type: image/png\nContent-ID: <pic1@x>\nContent-Transfer-Encoding: base64\n\n"
            "iVBORw0KGgo=\n--r--\n")
    result = parse_message(message('Content-Type: multipart/related; boundary="r"', body))

    [image] = result.attachments
    assert (image.content_id, image.inline, image.content_type, image.data) == (
        "pic1@x", True, "image/png", b"\x89PNG\r\n\x1a\n")
    assert image.filename == "part-1.2.png"
    assert 'src="cid:pic1@x"' in result.body_html


def test_uuencoded_file_in_a_text_body_becomes_an_attachment():
    import binascii
    encoded = binascii.b2a_uu(b"hello file").decode()
    body = f"See the file.\nbegin 644 note.txt\n{encoded}`\nend\nThanks.\n"
    result = parse_message(message("Content-Type: text/plain", body))

    assert [(a.filename, a.data) for a in result.attachments] == [("note.txt", b"hello file")]
    assert "begin 644" not in result.body_text and "Thanks." in result.body_text


def test_deeply_nested_forwards_parse_into_one_enclosed_message():
    raw = message("Subject: inner", "deep text\n")
    for _ in range(60):
        raw = message("Content-Type: message/rfc822", raw)
    result = parse_message(raw)

    assert [a.content_type for a in result.attachments] == ["message/rfc822"]
    assert json.dumps(result.to_json())


@pytest.mark.parametrize(("body", "expected"), [
    ("Sí, gracias.\n\nEl lun, 2 mar 2026 a las 10:00, Ana <a@x.es> escribió:\n> hola\n", "Sí, gracias."),
    ("Danke!\n\nAm 02.03.2026 um 10:00 schrieb Ana <a@x.de>:\n> Hallo\n", "Danke!"),
    ("Merci.\n\nLe lun. 2 mars 2026 à 10:00, Ana <a@x.fr> a écrit :\n> Bonjour\n", "Merci."),
    ("Grazie.\n\nIl giorno lun 2 mar 2026 alle 10:00 Ana <a@x.it> ha scritto:\n> Ciao\n", "Grazie."),
    ("Done.\n\n-----Ursprüngliche Nachricht-----\nVon: Ana\nGesendet: Montag\nAn: B\nBetreff: x\n\nold\n", "Done."),
    ("Fixed.\n\n________________________________\nFrom: Ana\nSent: Monday\nTo: B\nSubject: x\n\nold\n", "Fixed."),
    ("Thanks a lot.\n\n-- \nAna Diaz\nCity Council\n", "Thanks a lot."),
])
def test_reply_text_drops_quotes_and_signatures(body, expected):
    assert parse_message(message("Content-Type: text/plain; charset=utf-8", body)).reply_text == expected


def test_language_is_guessed_or_null_for_little_text():
    spanish = "Buenos días, la farola de mi calle lleva una semana apagada y está muy oscuro por la noche."

    assert parse_message(message("Content-Type: text/plain; charset=utf-8", spanish)).language == "es"
    assert parse_message(message("", "ok")).language is None


# ---- auto-replies and bounces --------------------------------------------------------------------------


@pytest.mark.parametrize(("headers", "auto"), [
    ("Auto-Submitted: auto-replied", True), ("Auto-Submitted: auto-generated; x=1", True),
    ("Auto-Submitted: no", False), ("X-Autoreply: yes", True), ("X-Autorespond: vacation", True),
    ("X-Auto-Response-Suppress: All", False), ("Precedence: bulk", True), ("Precedence: junk", True),
    ("Precedence: list", True), ("List-Id: <news.city.example>", True),
    ("List-Unsubscribe: <mailto:u@x.example>", True), ("Return-Path: <>", True),
    ("From: MAILER-DAEMON@mx.example", True), ("From: postmaster@mx.example", True),
    ("Subject: Automatic reply: your request", True), ("Subject: a plain question", False),
])
def test_auto_reply_headers(headers, auto):
    result = parse_message(message(headers))

    assert result.is_auto_reply is auto
    assert result.is_bounce is False


DSN = """--d
Content-Type: text/plain

Delivery to the following recipient failed permanently.

--d
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example

Final-Recipient: rfc822; gone@example.net
Action: failed
Status: 5.1.1

--d
Content-Type: text/rfc822-headers

From: desk@city.example
To: gone@example.net
Message-ID: <case-123@city.example>
Subject: Your case

--d--
"""


def test_delivery_status_bounce_gives_original_message_id_and_failed_recipient():
    result = parse_message(message("From: Mail Delivery Subsystem <mailer-daemon@mx.example>\n"
                                    'Content-Type: multipart/report; report-type=delivery-status; boundary="d"',
                                    DSN))

    assert result.is_bounce and result.is_auto_reply
    assert result.bounce_recipients == ["gone@example.net"]
    assert result.bounce_message_id == "case-123@city.example"


def test_a_delay_notice_is_an_auto_reply_not_a_bounce():
    body = DSN.replace("Action: failed", "Action: delayed").replace("Status: 5.1.1", "Status: 4.4.7")
    result = parse_message(message('Content-Type: multipart/report; report-type=delivery-status; boundary="d"', body))

    assert result.is_auto_reply and not result.is_bounce


def test_a_read_receipt_is_an_auto_reply_not_a_bounce():
    result = parse_message((CORPORA / "flanker/tests/fixtures/messages/disposition-notification.eml").read_bytes())

    assert result.is_auto_reply and not result.is_bounce


# ---- scale ---------------------------------------------------------------------------------------------


def test_a_200_kb_header_parses_and_the_address_list_is_capped():
    to = ", ".join(f"user{i}@example.org" for i in range(10_000))
    raw = message(f"To: {to}\nSubject: {'x' * 200_000}")
    result = parse_message(raw)

    assert len(result.to) == 500 and len(result.subject) == 200_000


def test_a_25_mb_message_parses_with_its_attachment_whole():
    blob = base64.encodebytes(bytes(range(256)) * (18 * 1024 * 1024 // 256)).decode()
    text = "A line of text in a long message.\n" * 100_000
    body = (f"--m\nContent-Type: text/plain\n\n{text}\n--m\nContent-Type: application/octet-stream\n"
            f"Content-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=big.bin\n\n{blob}--m--\n")
    raw = message('Content-Type: multipart/mixed; boundary="m"', body)
    assert len(raw) > 25_000_000
    result = parse_message(raw)

    assert result.attachments[0].size == 18 * 1024 * 1024


# ---- command line --------------------------------------------------------------------------------------


def run_cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "channels.email", *args], input=stdin, capture_output=True,
                          cwd=ROOT, timeout=60)


def test_cli_on_a_file(tmp_path):
    path = tmp_path / "m.eml"
    path.write_bytes(message("Subject: hello"))
    done = run_cli(str(path))

    assert done.returncode == 0
    assert tuple(json.loads(done.stdout)) == JSON_KEYS


def test_cli_on_stdin_even_for_a_broken_message():
    done = run_cli("-", stdin=b"Content-Type: multipart/mixed\r\n\r\nno boundary at all\r\n")

    assert done.returncode == 0
    data = json.loads(done.stdout)
    assert tuple(data) == JSON_KEYS and data["from_email"] is None and data["defects"]


def test_cli_refuses_empty_input():
    assert run_cli("-", stdin=b"").returncode == 1

"""Expected results written by others: Zammad's .yml parse results, talon's reply extraction, flanker's
address lists."""
import pytest

from channels.email import parse_message
from channels.email.quotes import strip_quotes

from .checks import talon_expected, zammad_checks, zammad_pairs
from .corpus import CORPORA

ZAMMAD = zammad_pairs()
TALON = talon_expected()
ADDRESS_LISTS = CORPORA / "flanker" / "tests" / "fixtures"
NOT_OUR_DESIGN = {
    ("mail001.box", "html_alternative"):
        "Zammad stores the text/html alternative as an attachment 'message.html'; we make it the body "
        "(body_html, sanitised) and list only real files as attachments, so there is no such attachment.",
}


def _zammad_params():
    for box, expected in ZAMMAD:
        for check in zammad_checks(parse_message(box.read_bytes()), expected):
            reason = NOT_OUR_DESIGN.get((box.name, check))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            yield pytest.param(box, expected, check, id=f"{box.name}-{check}", marks=marks)


@pytest.mark.parametrize(("box", "expected", "check"), list(_zammad_params()))
def test_zammad_expectation(box, expected, check):
    assert zammad_checks(parse_message(box.read_bytes()), expected)[check]


def test_zammad_bounce_gives_the_original_message_and_failed_recipient():
    box = next(box for box, _ in ZAMMAD if box.name.startswith("mail033"))
    result = parse_message(box.read_bytes())

    assert result.is_bounce and result.is_auto_reply
    assert result.bounce_recipients == ["not_existing@znuny.com"]
    assert result.bounce_message_id == ("notification.20150830145600.1.4.5f4fd063-f69b-4e64-a92d-5e7128bd6682"
                                        "@127.0.0.1:3000")


@pytest.mark.parametrize("path", list(TALON), ids=lambda path: path.name)
def test_talon_quote_stripping_matches(path):
    assert strip_quotes(parse_message(path.read_bytes()).body_text).rstrip() == TALON[path].rstrip()


@pytest.mark.parametrize("path", list(TALON), ids=lambda path: path.name)
def test_talon_reply_text_without_quotes_or_signature_is_hello(path):
    assert parse_message(path.read_bytes()).reply_text == "Hello"


def _addresses(file_name: str) -> list[str]:
    path = ADDRESS_LISTS / file_name
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return [line for line in lines if line.strip() and not line.startswith("#")]


def _sender_flagged(line: str) -> bool:
    result = parse_message(b"From: " + line.encode("utf-8") + b"\r\nSubject: x\r\n\r\nhi\r\n")
    return result.from_email is None or any(defect.startswith("From") for defect in result.defects)


@pytest.mark.parametrize("line", _addresses("mailbox_invalid.txt"))
def test_invalid_sender_addresses_give_a_defect(line):
    assert _sender_flagged(line)


STRICTER_DOMAINS = pytest.mark.xfail(strict=True, reason=(
    "domains must be hostnames (letters, digits, hyphens, or a [literal]); RFC 5322's dot-atom also allows "
    "'!' there, which flanker's list accepts and no mail system routes"))


@pytest.mark.parametrize("line", [pytest.param(line, marks=[STRICTER_DOMAINS] if "Micr!osoft" in line else [])
                                  for line in _addresses("mailbox_valid.txt")])
def test_valid_sender_addresses_are_accepted_cleanly(line):
    assert not _sender_flagged(line)

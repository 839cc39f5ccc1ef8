"""Every message of the third-party corpora parses: no exception, exact JSON keys, text and attachment bytes."""
import json
from functools import lru_cache
from pathlib import Path

import pytest

from channels.email import ParsedEmail, parse_message
from channels.email.model import JSON_KEYS

from .checks import has_readable_text, stdlib_attachment_hashes
from .corpus import CORPORA, message_files, name

FILES = message_files()
pytestmark = pytest.mark.skipif(not FILES, reason=f"corpora missing at {CORPORA}")


@lru_cache(maxsize=None)
def parsed(path: Path) -> ParsedEmail:
    return parse_message(path.read_bytes())


def test_the_corpus_has_every_message_file():
    assert len(FILES) == 189


@pytest.mark.parametrize("path", FILES, ids=name)
def test_parses_to_json_with_the_exact_keys(path):
    data = json.loads(json.dumps(parsed(path).to_json()))

    assert tuple(data) == JSON_KEYS
    assert all(set(a) == {"filename", "content_type", "size", "sha256", "inline", "content_id"}
               for a in data["attachments"])


@pytest.mark.parametrize("path", FILES, ids=name)
def test_readable_text_reaches_the_body(path):
    if has_readable_text(path.read_bytes()):
        assert parsed(path).body_text.strip()


@pytest.mark.parametrize("path", FILES, ids=name)
def test_attachment_bytes_match_an_independent_decoder(path):
    ours = {attachment.sha256 for attachment in parsed(path).attachments}

    assert set(stdlib_attachment_hashes(path.read_bytes())) <= ours


def test_crlf_and_lf_copies_of_one_pdf_decode_to_the_same_bytes():
    folder = CORPORA / "mail-ruby/spec/fixtures/emails/attachment_emails"
    crlf, lf = (parsed(folder / f"attachment_pdf{suffix}.eml").attachments for suffix in ("", "_lf"))

    assert [a.sha256 for a in crlf] == [a.sha256 for a in lf]
    assert crlf[0].data.startswith(b"%PDF")


def test_uuencoded_parts_are_decoded():
    result = parsed(CORPORA / "mail-parser/tests/mails/mail_test_15")

    zipped = [a for a in result.attachments if a.filename == "REQUEST FOR QUOTE.zip"]
    assert zipped and zipped[0].data.startswith(b"PK\x03\x04") and zipped[0].size == 251141


def test_an_empty_uuencoded_part_stays_a_named_attachment():
    result = parsed(CORPORA / "mail-ruby/spec/fixtures/emails/error_emails/content_transfer_encoding_x_uuencode.eml")

    assert [(a.filename, a.size) for a in result.attachments] == [("PGP_Cmts_on_12-14-01_Pkg.doc", 0)]

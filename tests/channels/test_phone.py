"""The phone webhook's wire format: signatures (good, bad, stale, rotated) and parsing, pure."""
from urllib.parse import urlencode

import pytest

from channels import phone
from channels.base import InvalidContact
from models import Channel, ContactKind

SECRET = "shared-secret"
NOW = 1_800_000_000


def body(**fields) -> bytes:
    return urlencode({"CallSid": "CA0123456789abcdef0123456789abcdef", "From": "+1 (415) 555-0134",
                      "To": "+14155550100"} | fields).encode()


def test_a_good_signature_passes():
    payload = body()
    phone.verify(SECRET, str(NOW), phone.sign(SECRET, NOW, payload), payload, now=NOW + 10)


@pytest.mark.parametrize("timestamp, signature, reason", [
    (str(NOW), phone.sign("another secret", NOW, body()), "signature mismatch"),
    (str(NOW), phone.sign(SECRET, NOW, body(From="+14155550199")), "signature mismatch"),   # body changed
    (str(NOW - 301), phone.sign(SECRET, NOW - 301, body()), "stale timestamp"),
    (str(NOW + 400), phone.sign(SECRET, NOW + 400, body()), "stale timestamp"),
    (None, phone.sign(SECRET, NOW, body()), "signature headers missing"),
    (str(NOW), None, "signature headers missing"),
    ("yesterday", "v1=00", "bad timestamp"),
])
def test_a_bad_or_stale_signature_is_refused(timestamp, signature, reason):
    with pytest.raises(phone.InvalidSignature, match=reason):
        phone.verify(SECRET, timestamp, signature, body(), now=NOW)


def test_a_rotated_secret_may_sign_alongside_the_old_one():
    payload = body()
    both = f"{phone.sign('old secret', NOW, payload)}, {phone.sign(SECRET, NOW, payload)}"
    phone.verify(SECRET, str(NOW), both, payload, now=NOW)


def test_no_secret_never_verifies():
    with pytest.raises(phone.InvalidSignature):
        phone.verify("", str(NOW), phone.sign("", NOW, body()), body(), now=NOW)


def test_the_caller_is_normalised_to_e164_in_the_default_region():
    call = phone.parse(body(From="(415) 555-0134", To="415 555 0100"), "US")
    assert (call.caller, call.dialled) == ("+14155550134", "+14155550100")
    contact = phone.to_contact(call)
    assert contact.channel is Channel.PHONE
    assert (contact.sender.kind, contact.sender.value) == (ContactKind.PHONE, "+14155550134")
    assert contact.external_id == "call:CA0123456789abcdef0123456789abcdef"
    assert contact.meta["state"] == "ringing"


def test_a_national_number_reads_in_the_configured_region():
    assert phone.parse(body(From="020 7946 0018"), "GB").caller == "+442079460018"


@pytest.mark.parametrize("withheld", ["anonymous", "Restricted", "", "+266696687"])
def test_a_withheld_number_is_a_call_without_a_known_caller(withheld):
    call = phone.parse(body(From=withheld), "US")
    assert call.caller is None
    assert phone.to_contact(call).sender is None


def test_the_caller_name_is_kept_when_the_provider_sends_it():
    call = phone.parse(body(CallerName="ADA LOVELACE"), "US")
    assert phone.to_contact(call).sender.display_name == "ADA LOVELACE"


@pytest.mark.parametrize("payload, message", [
    (body(CallSid=""), "CallSid"),
    (body(CallSid="CA 1; drop table"), "CallSid"),
    (body(From="not a number"), "phone number"),
    (b"\xff\xfe", "form-encoded"),
    (b"x" * (phone.MAX_BODY_BYTES + 1), "too large"),
])
def test_a_body_that_is_not_a_call_is_refused_clearly(payload, message):
    with pytest.raises(InvalidContact, match=message):
        phone.parse(payload, "US")


def test_a_dialled_sip_address_does_not_lose_the_call():
    assert phone.parse(body(To="sip:desk@pbx.example"), "US").dialled is None

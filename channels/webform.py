"""The public web form: validated fields in, a NormalizedContact out (pure); the raw submission kept as JSON."""
import json
from dataclasses import dataclass, field

import phonenumbers

from channels.base import ContactAddress, InvalidContact, NormalizedContact
from models import Channel, ContactKind

SOURCE = "webform"
LANGUAGES = ("en", "es", "it")


@dataclass(frozen=True)
class Submission:
    """What a person sent through the contact page, after the form validated it."""

    category_code: str
    description: str
    name: str = ""
    email: str = ""
    phone: str = ""
    language: str = "en"
    address: str = ""
    attachments: list[dict] = field(default_factory=list)      # {filename, content_type, size, sha256}
    token: str = ""                                            # one per form rendering: a resubmit is one case

    def to_payload(self) -> bytes:
        return json.dumps(self.__dict__, ensure_ascii=False, sort_keys=True).encode()

    @classmethod
    def from_payload(cls, payload: bytes) -> "Submission":
        try:
            return cls(**json.loads(payload))
        except (ValueError, TypeError) as exc:
            raise InvalidContact(f"not a web form submission: {exc}") from exc


def e164(phone: str, region: str = "US") -> str:
    """`phone` in E.164. Raises InvalidContact for a number that cannot be a real one."""
    try:
        number = phonenumbers.parse(phone, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidContact("not a phone number") from exc
    if not phonenumbers.is_possible_number(number):
        raise InvalidContact("not a possible phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def sender(submission: Submission) -> ContactAddress | None:
    """Email first (it can be answered in writing), else the phone number; None when anonymous."""
    if submission.email:
        return ContactAddress(ContactKind.EMAIL, submission.email.strip().lower(), submission.name)
    if submission.phone:
        return ContactAddress(ContactKind.PHONE, e164(submission.phone), submission.name)
    return None


def to_contact(submission: Submission, subject: str) -> NormalizedContact:
    if submission.language not in LANGUAGES:
        raise InvalidContact("unknown language")
    return NormalizedContact(
        channel=Channel.WEBFORM, sender=sender(submission), subject=" ".join(subject.split())[:500],   # one line
        body_text=submission.description, external_id=f"webform-{submission.token}" if submission.token else None,
        language=submission.language, category_code=submission.category_code,
        meta={"address": submission.address, "phone": submission.phone and e164(submission.phone),
              "attachments": submission.attachments},
    )

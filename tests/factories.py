"""Builders for test data. Each flushes and returns the object."""
import itertools

from sqlalchemy.orm import Session

from caseworker import accounts
from channels.base import ContactAddress, NormalizedContact
from channels.intake import ingest
from models import Case, Category, Channel, ContactKind, Presence, Queue, QueueMember, Role, User

PASSWORD = "a-long-test-password"
_seq = itertools.count(1)


def make_user(session: Session, role: Role = Role.AGENT, *, email: str | None = None,
              presence: Presence = Presence.OFFLINE, queues: list[Queue] = (), **kw) -> User:
    user = accounts.create_user(session, email or f"user{next(_seq)}@staff.example", PASSWORD, role, **kw)
    user.presence = presence
    for queue in queues:
        session.add(QueueMember(queue_id=queue.id, user_id=user.id))
    session.flush()
    return user


def make_queue(session: Session, code: str | None = None, **kw) -> Queue:
    code = code or f"queue{next(_seq)}"
    queue = Queue(code=code, name=kw.pop("name", code.title()), **kw)
    session.add(queue)
    session.flush()
    return queue


def make_category(session: Session, queue: Queue, code: str | None = None) -> Category:
    code = code or f"category{next(_seq)}"
    category = Category(code=code, name=code.title(), queue=queue)
    session.add(category)
    session.flush()
    return category


def make_case(session: Session, *, category: Category | None = None, email: str | None = None,
              subject: str = "Pothole on Elm Street", body: str = "There is a deep pothole.",
              channel: Channel = Channel.EMAIL, **kw) -> Case:
    """A case opened through the real intake, as a contact on `channel` from `email` would open it."""
    n = next(_seq)
    contact = NormalizedContact(
        channel=channel,
        sender=ContactAddress(ContactKind.EMAIL, email or f"resident{n}@mail.example", "A Resident"),
        subject=subject, body_text=body, external_id=f"<test.{n}@mail.example>",
        category_code=category.code if category else None,
    )
    result = ingest(session, contact)
    case = session.get(Case, result.case_id)
    for key, value in kw.items():
        setattr(case, key, value)
    session.flush()
    return case

"""Duplicate suggestions, merge and undo of constituents, against the database."""
import pytest
from sqlalchemy import select

from channels import identity
from channels.base import ContactAddress, NormalizedContact
from channels.intake import ingest
from models import Case, Channel, Constituent, ConstituentMerge, ContactKind, ContactPoint, Interaction
from tests.factories import make_case


def person(session, name: str, kind: ContactKind, value: str, **meta) -> Constituent:
    """A constituent made the way intake makes them: by a contact on a new case."""
    contact = NormalizedContact(channel=Channel.PHONE if kind is ContactKind.PHONE else Channel.WEBFORM,
                                sender=ContactAddress(kind, value, name), subject="Help", body_text="Please help.",
                                external_id=f"test-{value}", meta=meta)
    result = ingest(session, contact)
    return session.get(Case, result.case_id).constituent


def test_same_mailbox_same_phone_and_similar_names_are_suggested(db_session):
    jane = person(db_session, "Jane Doe", ContactKind.EMAIL, "jane.doe@gmail.com", phone="+14155550134")
    tagged = person(db_session, "J. D.", ContactKind.EMAIL, "janedoe+city@googlemail.com")
    caller = person(db_session, "", ContactKind.PHONE, "+14155550134")
    typo = person(db_session, "Jane  Doé", ContactKind.EMAIL, "other@mail.example")
    stranger = person(db_session, "Bob Stone", ContactKind.EMAIL, "bob@mail.example")
    found = {s.constituent_id: s.reasons for s in identity.duplicates(db_session, jane.id)}
    assert found[tagged.id] == ["same email"]
    assert found[caller.id] == ["same phone"]
    assert found[typo.id] == ["similar name"]
    assert stranger.id not in found and jane.id not in found


def test_a_number_typed_with_the_wrong_country_still_matches(db_session):
    home = person(db_session, "Ana Ruiz", ContactKind.PHONE, "+14155550134")
    abroad = person(db_session, "", ContactKind.PHONE, "+444155550134")
    assert [s.constituent_id for s in identity.duplicates(db_session, home.id)] == [abroad.id]


def test_merged_records_are_not_suggested(db_session):
    a = person(db_session, "Jane Doe", ContactKind.EMAIL, "a@mail.example")
    b = person(db_session, "Jane Doe", ContactKind.EMAIL, "b@mail.example")
    identity.merge(db_session, b.id, a.id, None)
    assert identity.duplicates(db_session, a.id) == []


def _owned(session, constituent_id):
    return (sorted(session.execute(select(ContactPoint.id).where(ContactPoint.constituent_id == constituent_id)).scalars()),
            sorted(session.execute(select(Case.id).where(Case.constituent_id == constituent_id)).scalars()),
            sorted(session.execute(select(Interaction.id).where(Interaction.constituent_id == constituent_id)).scalars()))


def test_merge_moves_everything_and_undo_restores_it(db_session):
    keep = person(db_session, "", ContactKind.EMAIL, "keep@mail.example")
    dup = person(db_session, "Jane Doe", ContactKind.PHONE, "+14155550134")
    dup.preferred_language = "es"
    make_case(db_session, email="keep@mail.example")
    keep.display_name = ""                   # the second contact named them; this test wants a nameless record
    db_session.flush()
    before_keep, before_dup = _owned(db_session, keep.id), _owned(db_session, dup.id)

    record = identity.merge(db_session, dup.id, keep.id, None)
    points, cases, interactions = _owned(db_session, keep.id)
    assert points == sorted(before_keep[0] + before_dup[0])
    assert cases == sorted(before_keep[1] + before_dup[1])
    assert interactions == sorted(before_keep[2] + before_dup[2])
    assert _owned(db_session, dup.id) == ([], [], [])
    merged_keep = db_session.get(Constituent, keep.id)
    assert (merged_keep.display_name, merged_keep.preferred_language) == ("Jane Doe", "es")
    assert db_session.get(Constituent, dup.id).merged_into_id == keep.id

    # A call from the merged record's number after the merge lands on the surviving record...
    later = ingest(db_session, NormalizedContact(channel=Channel.PHONE,
                                                 sender=ContactAddress(ContactKind.PHONE, "+14155550134"),
                                                 subject="Phone call", body_text="", external_id="call:later"))
    assert db_session.get(Case, later.case_id).constituent_id == keep.id

    identity.undo(db_session, record.id, None)
    assert _owned(db_session, keep.id) == before_keep
    points, cases, interactions = _owned(db_session, dup.id)
    # ...and goes back with it on undo, case and all.
    assert (points, cases) == (before_dup[0], sorted(before_dup[1] + [later.case_id]))
    assert interactions == sorted(before_dup[2] + [later.interaction_id])
    restored = db_session.get(Constituent, keep.id)
    assert (restored.display_name, restored.preferred_language) == ("", None)
    assert db_session.get(Constituent, dup.id).merged_into_id is None
    assert db_session.get(ConstituentMerge, record.id).is_undone


@pytest.mark.parametrize("how", ["self", "twice", "undo twice", "chain"])
def test_merges_that_cannot_be_done_say_why(db_session, how):
    a = person(db_session, "A", ContactKind.EMAIL, "a@mail.example")
    b = person(db_session, "B", ContactKind.EMAIL, "b@mail.example")
    c = person(db_session, "C", ContactKind.EMAIL, "c@mail.example")
    with pytest.raises(identity.MergeError):
        if how == "self":
            identity.merge(db_session, a.id, a.id, None)
        elif how == "twice":
            identity.merge(db_session, b.id, a.id, None)
            identity.merge(db_session, b.id, c.id, None)
        elif how == "undo twice":
            record = identity.merge(db_session, b.id, a.id, None)
            identity.undo(db_session, record.id, None)
            identity.undo(db_session, record.id, None)
        else:
            first = identity.merge(db_session, b.id, a.id, None)
            identity.merge(db_session, a.id, c.id, None)
            identity.undo(db_session, first.id, None)


def test_current_follows_a_chain_of_merges(db_session):
    a = person(db_session, "A", ContactKind.EMAIL, "a@mail.example")
    b = person(db_session, "B", ContactKind.EMAIL, "b@mail.example")
    c = person(db_session, "C", ContactKind.EMAIL, "c@mail.example")
    identity.merge(db_session, a.id, b.id, None)
    identity.merge(db_session, b.id, c.id, None)
    assert identity.current(db_session, db_session.get(Constituent, a.id)).id == c.id


def test_names_compare_without_accents_order_or_case():
    assert identity.name_similarity("García, María", "maria garcia") == 1.0
    assert identity.name_similarity("", "maria") == 0.0
    assert identity.canonical_email("J.Doe+x@GoogleMail.com") == "jdoe@gmail.com"

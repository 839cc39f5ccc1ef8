"""The constituent 360° view: what it shows, to whom, the audit trail it leaves, search, merge and undo."""
import pytest
from sqlalchemy import select

from caseworker import realtime  # noqa: F401  (socket handlers registered before any app exists)
from caseworker.access import grant_constituent
from channels.base import ContactAddress, NormalizedContact
from channels.intake import ingest
from models import (
    AuditAction,
    AuditEvent,
    Case,
    CaseStatus,
    Channel,
    Constituent,
    ConstituentMerge,
    ContactKind,
    ContactPoint,
    Interaction,
    Role,
)
from tests.conftest import Auth, csrf_token, see_commits
from tests.factories import PASSWORD, make_case, make_category, make_queue, make_user



@pytest.fixture
def world(db_session):
    """Ada, known by email and phone, with a streets case (open), a parks case (closed) and a licensing case."""
    streets, parks, licensing = (make_queue(db_session, code) for code in ("streets", "parks", "licensing"))
    cats = {q.code: make_category(db_session, q, f"{q.code}-cat") for q in (streets, parks, licensing)}
    open_case = make_case(db_session, category=cats["streets"], email="ada@mail.example", subject="Pothole")
    closed = make_case(db_session, category=cats["parks"], email="ada@mail.example", subject="Bench broken",
                       status=CaseStatus.CLOSED)
    secret = make_case(db_session, category=cats["licensing"], email="ada@mail.example", subject="Licence")
    ada = open_case.constituent
    ada.display_name, ada.preferred_language = "Ada Lovelace", "en"
    db_session.add(ContactPoint(constituent=ada, kind=ContactKind.PHONE, value="+14155550134"))
    agent = make_user(db_session, Role.AGENT, email="agent@staff.example", queues=[streets, parks])
    outsider = make_user(db_session, Role.AGENT, email="outsider@staff.example", queues=[make_queue(db_session, "x")])
    supervisor = make_user(db_session, Role.SUPERVISOR, email="super@staff.example")
    db_session.commit()
    return {"ada": ada, "open": open_case, "closed": closed, "secret": secret, "agent": agent,
            "outsider": outsider, "supervisor": supervisor}


def test_the_360_view_shows_everything_the_agent_may_see_and_counts_the_rest(client, db_session, world):
    Auth(client).login(world["agent"].email, PASSWORD)
    page = client.get(f"/constituents/{world['ada'].id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Ada Lovelace" in html and "Preferred language" in html
    assert "ada@mail.example" in html and "+14155550134" in html
    assert world["open"].reference in html and world["closed"].reference in html
    assert world["secret"].reference not in html and "Licence" not in html
    assert "1 other case in queues you do not work" in html
    assert "Pothole" in html and "Bench broken" in html                  # the timeline, across cases
    assert "Access log" not in html                                      # agents do not see the audit trail


def test_every_360_view_is_audited_with_who_what_and_from_where(client, db_session, world):
    Auth(client).login(world["agent"].email, PASSWORD)
    for _ in range(2):
        assert client.get(f"/constituents/{world['ada'].id}").status_code == 200
    see_commits(db_session)
    events = db_session.execute(select(AuditEvent).where(AuditEvent.object_type == "constituent",
                                                         AuditEvent.action == AuditAction.VIEW)).scalars().all()
    assert len(events) == 2
    assert {(e.actor_id, e.object_id, e.constituent_id) for e in events} == {
        (world["agent"].id, str(world["ada"].id), world["ada"].id)}
    assert all(e.remote_addr and e.user_agent and e.at for e in events)


def test_an_agent_of_another_queue_gets_404_and_leaves_no_view(client, db_session, world):
    Auth(client).login(world["outsider"].email, PASSWORD)
    assert client.get(f"/constituents/{world['ada'].id}").status_code == 404
    assert client.get("/constituents/999999").status_code == 404
    see_commits(db_session)
    assert db_session.execute(select(AuditEvent).where(AuditEvent.object_type == "constituent")).first() is None


def test_a_call_grant_opens_the_record_to_the_agent_on_the_call(client, db_session, redis, world):
    Auth(client).login(world["outsider"].email, PASSWORD)
    grant_constituent(redis, world["outsider"].id, world["ada"].id)
    page = client.get(f"/constituents/{world['ada'].id}").get_data(as_text=True)
    assert "Ada Lovelace" in page and "3 other cases in queues you do not work" in page


def test_supervisors_see_the_records_access_log_and_the_audit_trail(client, db_session, world):
    Auth(client).login(world["agent"].email, PASSWORD)
    client.get(f"/constituents/{world['ada'].id}")
    assert client.get("/constituents/audit").status_code == 403
    Auth(client).logout()
    Auth(client).login(world["supervisor"].email, PASSWORD)
    html = client.get(f"/constituents/{world['ada'].id}").get_data(as_text=True)
    assert "Access log" in html and world["secret"].reference in html
    trail = client.get(f"/constituents/audit?constituent={world['ada'].id}").get_data(as_text=True)
    assert trail.count("<td>view</td>") >= 2 and world["agent"].display_name in trail


@pytest.mark.parametrize("query", ["Lovelace", "ada lovelace", "ADA@mail.example", "(415) 555-0134", "5550134"])
def test_search_finds_by_name_email_or_phone_in_any_format(client, db_session, world, query):
    Auth(client).login(world["agent"].email, PASSWORD)
    html = client.get("/constituents/", query_string={"q": query}).get_data(as_text=True)
    assert f"/constituents/{world['ada'].id}" in html and "1 record found" in html


def test_search_only_finds_records_the_agent_may_open(client, db_session, world):
    Auth(client).login(world["outsider"].email, PASSWORD)
    html = client.get("/constituents/", query_string={"q": "Lovelace"}).get_data(as_text=True)
    assert "0 records found" in html


def _twin(db_session, world):
    """A second record for Ada: she called from her phone's other number and gave her name."""
    result = ingest(db_session, NormalizedContact(
        channel=Channel.PHONE, sender=ContactAddress(ContactKind.PHONE, "+14155550999", "Ada Lovelace"),
        subject="Phone call", body_text="About the pothole", external_id="call:twin",
        category_code="streets-cat"))
    db_session.commit()
    return db_session.get(Case, result.case_id)


def test_merge_from_the_360_view_moves_everything_and_undo_restores_it(client, db_session, world, worker_commits):
    twin_case = _twin(db_session, world)
    twin_id, ada_id = twin_case.constituent_id, world["ada"].id
    caseworker = make_user(db_session, Role.CASEWORKER, queues=[world["open"].queue])
    db_session.commit()
    Auth(client).login(caseworker.email, PASSWORD)
    html = client.get(f"/constituents/{ada_id}").get_data(as_text=True)
    assert "Possible duplicates" in html and f"/constituents/{ada_id}/merge/{twin_id}" in html

    page = client.get(f"/constituents/{ada_id}/merge/{twin_id}")
    assert page.status_code == 200 and "similar name" in page.get_data(as_text=True)
    with worker_commits(caseworker.id):
        response = client.post(f"/constituents/{ada_id}/merge/{twin_id}",
                               data={"csrf_token": csrf_token(page.get_data(as_text=True)), "keep": ada_id})
    assert response.status_code == 302
    see_commits(db_session)
    assert db_session.get(Constituent, twin_id).merged_into_id == ada_id
    assert db_session.get(Case, twin_case.id).constituent_id == ada_id
    assert db_session.execute(select(ContactPoint.constituent_id)
                              .where(ContactPoint.value == "+14155550999")).scalar_one() == ada_id
    assert db_session.execute(select(Interaction.constituent_id)
                              .where(Interaction.external_id == "call:twin")).scalar_one() == ada_id
    merged = db_session.execute(select(AuditEvent).where(AuditEvent.action == AuditAction.MERGE)).scalars().all()
    assert {e.constituent_id for e in merged} == {ada_id, twin_id}
    # The merged record's address leads to the survivor.
    assert client.get(f"/constituents/{twin_id}").headers["Location"].endswith(f"/constituents/{ada_id}")

    record = db_session.execute(select(ConstituentMerge)).scalar_one()
    page = client.get(f"/constituents/{ada_id}").get_data(as_text=True)
    assert "Undo merge" in page
    with worker_commits(caseworker.id):
        response = client.post(f"/constituents/merges/{record.id}/undo", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 302
    response = client.get(response.headers["Location"])
    assert "The merge was undone" in response.get_data(as_text=True), response.get_data(as_text=True)[-3000:]
    see_commits(db_session)
    assert db_session.get(Constituent, twin_id).merged_into_id is None
    assert db_session.get(Case, twin_case.id).constituent_id == twin_id
    assert db_session.execute(select(ContactPoint.constituent_id)
                              .where(ContactPoint.value == "+14155550999")).scalar_one() == twin_id


def test_agents_may_not_merge(client, db_session, world):
    twin_case = _twin(db_session, world)
    Auth(client).login(world["agent"].email, PASSWORD)
    assert "Possible duplicates" not in client.get(f"/constituents/{world['ada'].id}").get_data(as_text=True)
    assert client.get(f"/constituents/{world['ada'].id}/merge/{twin_case.constituent_id}").status_code == 403

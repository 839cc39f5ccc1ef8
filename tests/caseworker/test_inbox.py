"""The inbox and the queue views: filters, keyset pages, counts, saved views, text search and visibility."""
import re
from contextlib import nullcontext
from datetime import timedelta

import pytest
from sqlalchemy import select

from caseworker import caselist
from models import CaseStatus, Channel, Priority, Role, SavedView, utcnow
from tests.conftest import csrf_token
from tests.factories import PASSWORD, make_case, make_queue, make_user

ROW_RE = re.compile(r'data-case-id="(\d+)"')


def ids(response) -> list[int]:
    assert response.status_code == 200, response.status_code
    return [int(i) for i in ROW_RE.findall(response.get_data(as_text=True))]


def count_text(response) -> str:
    return re.search(r'<p id="inbox-count"[^>]*>([^<]*)</p>', response.get_data(as_text=True)).group(1)


@pytest.fixture
def world(db_session):
    """Two queues, an agent in each, a supervisor, and cases that differ in one attribute each."""
    now = utcnow()
    streets, benefits = make_queue(db_session, "streets", name="Streets"), make_queue(db_session, "benefits")
    ana = make_user(db_session, Role.AGENT, email="ana@staff.example", display_name="Ana", queues=[streets])
    ben = make_user(db_session, Role.AGENT, email="ben@staff.example", display_name="Ben", queues=[benefits])
    sue = make_user(db_session, Role.SUPERVISOR, email="sue@staff.example", display_name="Sue")
    c = {}
    c["plain"] = make_case(db_session, queue_id=streets.id, subject="Broken bench in the park")
    c["mine"] = make_case(db_session, queue_id=streets.id, assignee_id=ana.id, status=CaseStatus.ASSIGNED,
                          subject="Graffiti on the library wall")
    c["closed"] = make_case(db_session, queue_id=streets.id, status=CaseStatus.CLOSED, subject="Old request")
    c["chat"] = make_case(db_session, queue_id=streets.id, channel=Channel.CHAT, subject="Chat about bins")
    c["urgent"] = make_case(db_session, queue_id=streets.id, priority=Priority.URGENT, subject="Gas smell")
    c["spanish"] = make_case(db_session, queue_id=streets.id, language="es", subject="Farola apagada")
    c["breached"] = make_case(db_session, queue_id=streets.id, subject="Overdue",
                              first_response_due_at=now - timedelta(hours=1))
    c["at_risk"] = make_case(db_session, queue_id=streets.id, subject="Due soon",
                             resolution_due_at=now + timedelta(minutes=20),
                             resolution_warn_at=now - timedelta(minutes=10))
    c["paused"] = make_case(db_session, queue_id=streets.id, subject="Waiting on the resident",
                            status=CaseStatus.PENDING_CONSTITUENT, resolution_due_at=now - timedelta(minutes=5),
                            sla_paused_at=now - timedelta(hours=2))
    c["on_track"] = make_case(db_session, queue_id=streets.id, subject="Due later",
                              first_response_due_at=now + timedelta(hours=5),
                              first_response_warn_at=now + timedelta(hours=4))
    c["body"] = make_case(db_session, queue_id=streets.id, subject="Streetlight",
                          body="The lamp flickers purple all night (100% of the time).")
    c["bens"] = make_case(db_session, queue_id=benefits.id, assignee_id=ben.id, status=CaseStatus.ASSIGNED,
                          subject="Housing benefit appeal", body="Secret zucchini word in another queue.")
    db_session.commit()
    return {"streets": streets.id, "benefits": benefits.id, "ana": ana.id, "ben": ben.id, "sue": sue.id,
            "cases": {name: case.id for name, case in c.items()}}


def login(auth, email: str) -> None:
    if auth.client.get("/inbox/").status_code == 200:
        auth.logout()
    assert auth.login(email, PASSWORD).status_code == 302


def test_the_inbox_lists_my_open_cases(client, auth, world):
    login(auth, "ana@staff.example")
    page = client.get("/inbox/")
    assert ids(page) == [world["cases"]["mine"]]
    assert count_text(page) == "1 open case assigned to you."
    assert "<h1>My cases</h1>" in page.get_data(as_text=True)


@pytest.mark.parametrize(("query", "expected"), [
    ({"status": "closed"}, {"closed"}),
    ({"status": "assigned"}, {"mine", "bens"}),
    ({"channel": "chat"}, {"chat"}),
    ({"priority": "4"}, {"urgent"}),
    ({"language": "es"}, {"spanish"}),
    ({"sla": "breached"}, {"breached"}),
    ({"sla": "at_risk"}, {"at_risk"}),
    ({"sla": "ok"}, {"on_track"}),
    ({"sla": "paused"}, {"paused"}),
    ({"assignee": "me"}, set()),
    ({"q": "GRAFFITI"}, {"mine"}),
    ({"q": "flickers purple"}, {"body"}),
    ({"q": "100%"}, {"body"}),
    ({"q": "zucchini"}, {"bens"}),
])
def test_each_filter_narrows_the_queue_view(client, auth, world, query, expected):
    login(auth, "sue@staff.example")
    listed = set(ids(client.get("/queues/", query_string=query)))
    assert listed == {world["cases"][name] for name in expected}
    partial = client.get("/queues/rows", query_string=query)
    assert set(ids(partial)) == listed and "<html" not in partial.get_data(as_text=True)


def test_queue_and_assignee_filters(client, auth, world):
    login(auth, "sue@staff.example")
    assert set(ids(client.get("/queues/", query_string={"queue": world["benefits"]}))) == {world["cases"]["bens"]}
    assert set(ids(client.get(f"/queues/{world['benefits']}"))) == {world["cases"]["bens"]}
    assert set(ids(client.get("/queues/", query_string={"assignee": world["ana"]}))) == {world["cases"]["mine"]}
    unassigned = set(ids(client.get("/queues/", query_string={"assignee": "none"})))
    assert world["cases"]["mine"] not in unassigned and world["cases"]["plain"] in unassigned


@pytest.mark.parametrize(("id_list_max", "subquery_max"), [(1000, 30000), (0, 30000), (0, 0)],
                         ids=["rare: ids", "less rare: index", "common: row by row"])
def test_search_finds_the_same_cases_by_every_plan(client, auth, world, monkeypatch, id_list_max, subquery_max):
    monkeypatch.setattr(caselist, "SEARCH_ID_LIST_MAX", id_list_max)
    monkeypatch.setattr(caselist, "SEARCH_SUBQUERY_MAX", subquery_max)
    login(auth, "sue@staff.example")
    for query, expected in (("graffiti", {"mine"}), ("Purple LAMP", {"body"}), ("100%", {"body"}),
                            ("street", {"body"}), ("zucchini appeal", {"bens"}), ("purple bench", set())):
        listed = set(ids(client.get("/queues/", query_string={"q": query})))
        assert listed == {world["cases"][name] for name in expected}, query


def test_a_search_wildcard_is_taken_literally(client, auth, world):
    login(auth, "sue@staff.example")
    assert ids(client.get("/queues/", query_string={"q": "%"})) == [world["cases"]["body"]]
    assert ids(client.get("/queues/", query_string={"q": "_"})) == []


def test_an_agent_never_sees_a_case_of_another_queue(client, auth, world):
    login(auth, "ana@staff.example")
    theirs = world["cases"]["bens"]
    for url in ("/inbox/", "/inbox/rows", "/queues/", "/queues/rows", f"/queues/{world['streets']}"):
        for query in ({}, {"status": "all"}, {"q": "zucchini"}, {"queue": world["benefits"]},
                      {"assignee": world["ben"]}):
            assert theirs not in ids(client.get(url, query_string=query)), (url, query)
    assert client.get(f"/queues/{world['benefits']}").status_code == 404
    assert client.get(f"/queues/{world['benefits']}/rows").status_code == 404
    searched = client.get("/queues/", query_string={"q": "zucchini", "status": "all"})
    assert count_text(searched) == "0 cases match these filters."
    everything = client.get("/queues/", query_string={"status": "all"})
    assert count_text(everything) == f"{len(world['cases']) - 1} cases match these filters."
    # Ben's name is no choice for Ana, and Ben's queue is not in her queue list
    page = client.get("/queues/").get_data(as_text=True)
    assert ">Ben</option>" not in page and ">Benefits</option>" not in page and ">Streets</option>" in page


def test_counts_stop_at_the_cap(client, auth, world, app):
    app.config["INBOX_COUNT_CAP"] = 3
    login(auth, "sue@staff.example")
    assert count_text(client.get("/queues/")) == "3+ open cases in your queues."
    assert count_text(client.get("/queues/", query_string={"priority": "4"})) == "1 case matches these filters."


@pytest.mark.parametrize("sort", ["priority", "waiting", "recent", "newest", "oldest"])
def test_keyset_pages_visit_every_case_exactly_once(client, auth, db_session, app, sort):
    queue = make_queue(db_session)
    make_user(db_session, Role.SUPERVISOR, email="pager@staff.example")
    same = utcnow().replace(microsecond=0)
    created = []
    for i in range(23):          # equal sort keys everywhere but the id, and a few different ones
        case = make_case(db_session, queue_id=queue.id, priority=Priority.HIGH if i % 7 else Priority.LOW)
        case.last_activity_at = case.queued_at = case.created_at = same + timedelta(seconds=i % 3)
        created.append(case.id)
    db_session.commit()
    app.config["INBOX_PAGE_SIZE"] = 5
    login(auth, "pager@staff.example")
    seen, pages, url = [], [], f"/queues/{queue.id}?sort={sort}"
    while url:
        response = client.get(url)
        pages.append(ids(response))
        seen += pages[-1]
        found = re.search(r'href="([^"]+)" rel="next"', response.get_data(as_text=True))
        url = found.group(1).replace("&amp;", "&") if found else None
    assert sorted(seen) == sorted(created) and len(seen) == len(set(seen))
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    # and back again, page by page, to the same pages
    back = [pages[-1]]
    html = response.get_data(as_text=True)
    while found := re.search(r'href="([^"]+)" rel="prev"', html):
        html = client.get(found.group(1).replace("&amp;", "&")).get_data(as_text=True)
        back.append([int(i) for i in ROW_RE.findall(html)])
    assert back[::-1] == pages


def test_a_forged_cursor_is_a_clear_error(client, auth, world):
    login(auth, "sue@staff.example")
    assert client.get("/queues/", query_string={"after": "bm90LWEtY3Vyc29y"}).status_code == 400
    assert client.get("/inbox/", query_string={"after": "%%%"}).status_code == 400


def test_a_bad_filter_value_is_shown_as_an_error_and_ignored(client, auth, world):
    login(auth, "sue@staff.example")
    response = client.get("/queues/", query_string={"channel": "pigeon"})
    assert response.status_code == 200
    assert 'aria-invalid="true"' in response.get_data(as_text=True)
    assert world["cases"]["plain"] in ids(response)


def _save(client, page_url: str, name: str, scope: str, query: str, during=nullcontext()):
    token = csrf_token(client.get(page_url).get_data(as_text=True))
    with during:
        return client.post("/inbox/views", data={"csrf_token": token, "name": name, "scope": scope, "query": query})


def test_saved_views_belong_to_their_user(client, auth, world, db_session, worker_commits):
    login(auth, "ana@staff.example")
    saved = _save(client, "/queues/", "Urgent streets", "queues", f"priority=4&queue={world['streets']}&sort=recent",
                  during=worker_commits(world["ana"]))
    assert saved.status_code == 302 and saved.location.startswith(f"/queues/{world['streets']}?")
    page = client.get("/queues/").get_data(as_text=True)
    assert "Urgent streets" in page and "(1<span" in page          # listed, with its count
    opened = client.get(saved.location)
    assert ids(opened) == [world["cases"]["urgent"]] and 'aria-current="page">Urgent streets' in opened.get_data(
        as_text=True)
    view = db_session.execute(select(SavedView).where(SavedView.name == "Urgent streets")).scalar_one()
    assert view.user_id == world["ana"] and view.sort == "recent"
    assert view.filters == {"queue": str(world["streets"]), "status": "open", "priority": "4"}

    login(auth, "ben@staff.example")
    assert ">Urgent streets</a>" not in client.get("/queues/").get_data(as_text=True)
    token = csrf_token(client.get("/queues/").get_data(as_text=True))
    assert client.post(f"/inbox/views/{view.id}/delete", data={"csrf_token": token}).status_code == 404

    login(auth, "ana@staff.example")
    token = csrf_token(client.get("/queues/").get_data(as_text=True))
    assert client.post(f"/inbox/views/{view.id}/delete").status_code == 400            # no CSRF token
    assert client.post(f"/inbox/views/{view.id}/delete", data={"csrf_token": token}).status_code == 302
    assert ">Urgent streets</a>" not in client.get("/queues/").get_data(as_text=True)


def test_a_saved_view_keeps_only_what_the_user_may_filter_on(client, auth, world, db_session):
    login(auth, "ana@staff.example")
    _save(client, "/inbox/", "Spanish", "inbox", f"language=es&queue={world['benefits']}&assignee={world['ben']}")
    view = db_session.execute(select(SavedView).where(SavedView.name == "Spanish")).scalar_one()
    assert view.scope == "inbox" and view.filters == {"status": "open", "language": "es"}
    db_session.commit()              # end the test's read (a snapshot on SQLite, a savepoint on PostgreSQL)
    again = _save(client, "/inbox/", "Spanish", "inbox", "status=closed")           # the same name replaces it
    assert again.status_code == 302
    assert db_session.execute(select(SavedView.filters).where(SavedView.name == "Spanish")).scalar_one() == {
        "status": "closed"}
    assert _save(client, "/inbox/", "", "inbox", "").status_code == 302                  # refused, with a message
    assert "The view was not saved" in client.get("/inbox/").get_data(as_text=True)


def test_list_pages_need_a_signed_in_agent(client, world):
    for url in ("/inbox/", "/inbox/rows", "/queues/", f"/queues/{world['streets']}/rows"):
        assert client.get(url).status_code == 302

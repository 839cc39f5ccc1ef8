"""Audit completeness: every page or partial that shows one constituent's data writes an AuditEvent.

Each GET rule under /cases/<case_id> or /constituents/<constituent_id> is requested as a supervisor (who may
see everything); the newest AuditEvent must name the actor, the constituent and the client address. A new rule
taking such an id fails `test_every_record_route_is_checked` until it is listed in AUDITED or NOT_A_VIEW.
"""
import re

from sqlalchemy import func, select

from models import AuditEvent, CaseStatus, Channel, ChatSession, ChatState, Role

from tests.factories import PASSWORD, make_case, make_user

SCOPE_ARGS = {"case_id", "constituent_id"}
# rules reached by GET that take a case/constituent id but render nothing of the constituent's record.
NOT_A_VIEW: set[str] = {"/cases/<int:case_id>/presence"}     # which staff are viewing: no constituent data


def _record_views(app) -> list[str]:
    return sorted(rule.rule for rule in app.url_map.iter_rules()
                  if "GET" in rule.methods and set(rule.arguments) & SCOPE_ARGS
                  and not set(rule.arguments) - SCOPE_ARGS and rule.rule not in NOT_A_VIEW)


def test_every_record_route_is_checked(app):
    views = _record_views(app)
    assert any(view.startswith("/cases/") for view in views)
    assert any(view.startswith("/constituents/") for view in views)


def test_every_view_of_a_constituents_record_writes_an_audit_event(app, client, auth, db_session, worker_commits):
    """Requested as the supervisor the case is assigned to, on a chat case, so that views which need a chat or
    an assignment to the viewer (chat panel, transcript, assignment notice) answer too. With a worker committing
    between each view's first read and its audit record, the view still answers and is audited."""
    supervisor = make_user(db_session, Role.SUPERVISOR)
    case = make_case(db_session, channel=Channel.CHAT, assignee_id=supervisor.id, status=CaseStatus.ASSIGNED)
    db_session.add(ChatSession(case_id=case.id, secret_hash="0" * 64, state=ChatState.OPEN))
    db_session.commit()
    client.environ_base["REMOTE_ADDR"] = "198.51.100.7"     # sessions are bound to the address (protection "strong")
    assert auth.login(supervisor.email, PASSWORD).status_code == 302
    ids = {"case_id": case.id, "constituent_id": case.constituent_id}
    unaudited = []
    for rule in _record_views(app):
        path = re.sub(r"<(?:int:)?(\w+)>", lambda m: str(ids[m.group(1)]), rule)
        before = db_session.scalar(select(func.max(AuditEvent.id))) or 0
        with worker_commits(supervisor.id):
            response = client.get(path)
        if response.status_code != 200:
            unaudited.append((path, response.status_code))
            continue
        db_session.commit()
        db_session.expire_all()
        events = db_session.scalars(select(AuditEvent).where(AuditEvent.id > before)).all()
        if not any(event.actor_id == supervisor.id and event.constituent_id == case.constituent_id
                   and event.remote_addr == "198.51.100.7" for event in events):
            unaudited.append((path, "no audit event"))
    assert not unaudited

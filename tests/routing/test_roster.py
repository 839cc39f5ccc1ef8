"""What routing keeps of the staffing between transactions (`routing.roster`): every change of what it keeps
reaches the next decision, the loads and presence it does not keep leave it in place, and a rolled-back
change never leaves behind what was read under it."""
import pytest
from sqlalchemy import delete, select, update

from models import (
    Channel,
    Presence,
    Queue,
    QueueMember,
    QueueSkill,
    Skill,
    StaffingVersion,
    User,
    UserCapacity,
    UserSkill,
    transaction,
)
from routing import engine, roster, rules
from tests.routing.builders import make_agent, make_routed_queue, open_case


def _token(session) -> int:
    return session.execute(select(StaffingVersion.token)).scalar_one()


@pytest.fixture
def desk(db_session):
    queue = make_routed_queue(db_session, "permits", skills=[("permits", True)])
    lucia = make_agent(db_session, "Lucia Rossi", [queue], skills={"permits": 2}, languages=("en", "it"))
    db_session.commit()
    return queue, lucia


def _route(session, queue_code: str, **case):
    """Open a case in the queue, route it in its own transaction, and return its decision's explanation."""
    opened = open_case(session, queue_code, **case)
    session.commit()
    engine.route_case(session, opened.id)
    session.commit()
    return session.execute(select(engine.RoutingDecision.explanation).where(
        engine.RoutingDecision.case_id == opened.id)).scalar_one()


def test_what_routing_keeps_follows_each_change_of_the_staffing(db_session, desk):
    queue, lucia = desk
    assert _route(db_session, "permits", language="it")["pick"]["name"] == "Lucia Rossi"

    db_session.execute(update(User).where(User.id == lucia.id).values(display_name="Lucia Bianchi"))
    db_session.commit()
    assert _route(db_session, "permits", language="it")["pick"]["name"] == "Lucia Bianchi"

    db_session.execute(update(User).where(User.id == lucia.id).values(languages=["en"]))
    db_session.commit()
    assert _route(db_session, "permits", language="it")["filtered"] == {"language": 1}

    db_session.execute(update(UserSkill).where(UserSkill.user_id == lucia.id).values(level=1))
    db_session.execute(update(QueueSkill).where(QueueSkill.queue_id == queue.id).values(min_level=2))
    db_session.commit()
    assert _route(db_session, "permits", language="en")["filtered"] == {"skill": 1}

    db_session.execute(update(QueueSkill).where(QueueSkill.queue_id == queue.id).values(min_level=1))
    db_session.execute(update(Queue).where(Queue.id == queue.id).values(strategy="round_robin"))
    db_session.commit()
    assert _route(db_session, "permits", language="en")["strategy"] == "round_robin"

    marco = make_agent(db_session, "Marco Neri", [], skills={"permits": 3})
    db_session.add(QueueMember(queue_id=queue.id, user_id=marco.id))
    db_session.commit()
    assert _route(db_session, "permits", language="en")["considered"] == 2

    db_session.execute(delete(QueueMember).where(QueueMember.user_id == marco.id))
    db_session.execute(update(User).where(User.id == lucia.id).values(is_active=False))
    db_session.commit()
    assert _route(db_session, "permits", language="en")["considered"] == 0


def test_renaming_a_skill_reaches_the_explanation(db_session, desk):
    _route(db_session, "permits")
    db_session.execute(update(Skill).where(Skill.code == "permits").values(code="building-permits"))
    db_session.commit()
    assert _route(db_session, "permits")["skills"] == ["building-permits"]


@pytest.mark.parametrize("table", ["queues", "queue_skills", "skills", "queue_members", "user_skills", "users"])
def test_every_write_to_a_kept_table_changes_the_token(db_session, desk, table):
    queue, lucia = desk
    before = _token(db_session)
    writes = {
        "queues": update(Queue).where(Queue.id == queue.id).values(priority=5),
        "queue_skills": delete(QueueSkill).where(QueueSkill.queue_id == queue.id),
        "skills": update(Skill).values(name="Permits and licences"),
        "queue_members": delete(QueueMember).where(QueueMember.user_id == lucia.id),
        "user_skills": update(UserSkill).where(UserSkill.user_id == lucia.id).values(level=3),
        "users": update(User).where(User.id == lucia.id).values(display_name="L. Rossi"),
    }
    db_session.execute(writes[table])
    db_session.commit()
    assert _token(db_session) != before


def test_loads_presence_and_assignments_leave_the_token_alone(db_session, desk):
    _queue, lucia = desk
    before = _token(db_session)
    _route(db_session, "permits")
    engine.set_presence(db_session, lucia.id, Presence.AWAY)
    db_session.execute(update(UserCapacity).where(UserCapacity.user_id == lucia.id).values(slots=2))
    db_session.commit()
    assert _token(db_session) == before


def test_a_rolled_back_change_leaves_nothing_read_under_it(db_session, desk):
    """A transaction changes a name and reads the staffing (keeping the new name under its token), then
    rolls back. The name committed next must be the one routing sees, whatever token that commit gets."""
    queue_id, lucia_id = desk[0].id, desk[1].id

    def name_kept() -> str:
        with transaction() as session:
            staffing = roster.current(session)
            return staffing.staff(session, staffing.queue(session, queue_id)).names[lucia_id]

    with pytest.raises(RuntimeError):
        with transaction() as session:
            session.execute(update(User).where(User.id == lucia_id).values(display_name="Rolled Back"))
            staffing = roster.current(session)
            assert staffing.staff(session, staffing.queue(session, queue_id)).names[lucia_id] == "Rolled Back"
            raise RuntimeError("roll back")
    with transaction() as session:          # nothing read in between: the roster still holds "Rolled Back"
        session.execute(update(User).where(User.id == lucia_id).values(display_name="Committed"))
    assert name_kept() == "Committed"


def test_without_the_token_row_nothing_is_kept_and_routing_goes_on(db_session, desk):
    queue, lucia = desk
    db_session.execute(delete(StaffingVersion))
    db_session.commit()
    staffing = roster.current(db_session)
    profile = staffing.queue(db_session, queue.id)
    assert staffing.queue(db_session, queue.id) is not profile
    assert staffing.staff(db_session, profile) is not staffing.staff(db_session, profile)
    assert _route(db_session, "permits")["pick"]["name"] == "Lucia Rossi"


def test_a_member_the_roster_does_not_know_makes_it_read_the_queue_again(db_session, desk):
    """A member added by a writer no trigger saw (say, a restore that skipped triggers) is read, not lost."""
    queue, lucia = desk
    staffing = roster.current(db_session)
    profile = staffing.queue(db_session, queue.id)
    kept = staffing.staff(db_session, profile)
    assert staffing.staff(db_session, profile, {lucia.id}) is kept
    unknown = lucia.id + 1000
    assert staffing.staff(db_session, profile, {unknown}) is not kept


def _candidate(user_id: int, used: int = 0) -> rules.Candidate:
    return rules.Candidate(user_id, "available", ("en",), {}, 2, used, None, f"agent {user_id}")


def test_a_kept_pool_is_built_again_only_for_other_agents_or_another_reading_of_the_staff():
    loads, staff, built = roster.Loads(), roster.Staff({1: "a", 2: "b"}, {}, {}), []
    build = lambda: built.append(1) or [_candidate(1), _candidate(2)]
    pool, index = loads.pool(7, Channel.EMAIL, staff, build)
    loads.set_slot(2, Channel.EMAIL, 2, 1)
    loads.read(7, (Channel.EMAIL,), 0.0, {1, 2})
    assert loads.pool(7, Channel.EMAIL, staff, build) == (pool, index)
    assert (pool[index[2]].used, built) == (1, [1])
    loads.read(7, (Channel.EMAIL,), 0.0, {1, 2, 3})             # another agent: built again on next use
    loads.pool(7, Channel.EMAIL, staff, build)
    loads.pool(7, Channel.EMAIL, roster.Staff({1: "a", 2: "b"}, {}, {}), build)    # the staff read again
    assert built == [1, 1, 1]

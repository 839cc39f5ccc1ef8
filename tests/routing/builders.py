"""Builders for routing tests: skills, queues with needs, agents with skills and languages."""
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import (
    Case,
    Channel,
    Presence,
    QueueSkill,
    Role,
    Skill,
    UserCapacity,
    UserSkill,
    init_engine,
    migrate,
    transaction,
)
from tests.factories import make_case, make_category, make_queue, make_user


def make_skill(session: Session, code: str) -> Skill:
    skill = session.execute(select(Skill).where(Skill.code == code)).scalar_one_or_none()
    if skill is None:
        skill = Skill(code=code, name=code.title())
        session.add(skill)
        session.flush()
    return skill


def make_routed_queue(session: Session, code: str, *, skills=(), strategy="least_loaded", **kw):
    """A queue needing `skills` [(code, essential)], with a category of the same code for its cases."""
    queue = make_queue(session, code, strategy=strategy, **kw)
    for skill_code, essential in skills:
        session.add(QueueSkill(queue_id=queue.id, skill_id=make_skill(session, skill_code).id, is_essential=essential))
    make_category(session, queue, code)
    session.flush()
    return queue


def make_agent(session: Session, name: str, queues, *, skills=None, languages=("en",),
               presence=Presence.AVAILABLE, capacity=None):
    user = make_user(session, Role.AGENT, presence=presence, queues=list(queues), display_name=name,
                     languages=list(languages))
    for code, level in (skills or {}).items():
        session.add(UserSkill(user_id=user.id, skill_id=make_skill(session, code).id, level=level))
    for channel, slots in (capacity or {}).items():
        session.get(UserCapacity, (user.id, Channel(channel))).slots = slots
    session.flush()
    return user


def open_case(session: Session, queue_code: str, channel=Channel.EMAIL, **kw) -> Case:
    from models import Category
    category = session.execute(select(Category).where(Category.code == queue_code)).scalar_one()
    return make_case(session, category=category, channel=channel, **kw)


def slots_held(session: Session, user_id: int, channel: Channel) -> int:
    holder = func.coalesce(Case.offered_to_id, Case.assignee_id)
    return session.execute(select(func.count()).where(holder == user_id, Case.slot_channel == channel)).scalar_one()


def maria_and_james(database_url: str, cases: int) -> dict:
    """Commit, in a new database at `database_url`: Maria (first by id, so she wins a tie) and James, two email
    slots each, in one least-loaded queue, and `cases` waiting cases, oldest first."""
    migrate.upgrade(database_url)
    init_engine(database_url)
    with transaction() as session:
        queue = make_routed_queue(session, "streets")
        maria = make_agent(session, "Maria Garcia", [queue], capacity={"email": 2})
        james = make_agent(session, "James Okafor", [queue], capacity={"email": 2})
        opened = [open_case(session, "streets") for _ in range(cases)]
        return {"maria": maria.id, "james": james.id, "cases": [c.id for c in opened]}

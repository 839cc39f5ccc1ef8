"""What routing keeps of the staffing between transactions, per process: each queue's profile (strategy,
priority, skill needs, overflow), each queue's active agents with their names, languages and levels in the
queue's skills, and each agent's servable queues; and, apart from the staffing, the agents' presence and
loads as this process last saw them (`Loads`).

What is kept is valid for one token of `staffing_version`, which triggers change with every write to those
tables (`models.routing.StaffingVersion`). A routing transaction reads the token first, in the statement
that locks its cases or reads its agent (`TOKEN`, `for_token`) or alone (`current`); a new token starts an
empty `Roster`, filled again as queues and agents are asked for. Each entry is read after the token, so it
is at least as new as the token it is kept under. A roster's staffing is only ever added to, never changed
(its `Loads` change value by value), and a new token replaces the whole object, so threads of one process
can share it.

Without the token row (a database made by hand) nothing is kept and every transaction reads afresh.

Presence and loads change all the time, in every process, so what `Loads` holds is a copy that may be behind:
the engine trusts it only where a stale value is harmless (see `routing.engine`): for picking an agent,
which the claim then checks against the locked row, and never for deciding that nobody can take a case.
Every value routing learns (a read, a claim, a freed slot, a presence change) goes into it at once, and into
the candidate pools built from it; a queue's agents are read again once their copy is `max_age` old, by a
worker between jobs before that (`routing.engine.refresh_copy`).
"""
import functools
import json
import math
import time
from collections import defaultdict
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Text, bindparam, cast, select
from sqlalchemy.exc import NoResultFound
from sqlalchemy.orm import Session

from models import Channel, Queue, QueueMember, QueueSkill, Skill, StaffingVersion, User, UserSkill
from models.db import execute_core
from routing import rules


@dataclass(frozen=True)
class QueueProfile:
    id: int
    strategy: str
    priority: int
    skills: tuple[rules.SkillNeed, ...]
    overflow_queue_id: int | None
    overflow_after_seconds: int | None


@dataclass(frozen=True)
class Staff:
    """A queue's active agents as routing keeps them: name, languages, levels in the queue's skills."""

    names: dict[int, str]
    languages: dict[int, tuple[str, ...]]
    skills: dict[int, dict[int, int]]                           # user -> skill id -> level


@dataclass(frozen=True)
class Servable:
    """A queue an agent can serve, and whether only its cases with relaxed skill needs (the agent lacks a
    non-essential skill)."""

    queue_id: int
    queue_priority: int
    relaxed_only: bool


_TOKEN = select(StaffingVersion.token).where(StaffingVersion.id == 1)
_ACTIVE_QUEUES = select(Queue.id).where(Queue.is_active).order_by(Queue.id)
# A queue with its skill needs in one round trip: a row per skill, or one row of NULL skill columns.
_QUEUE = (select(Queue.strategy, Queue.priority, Queue.overflow_queue_id, Queue.overflow_after_seconds,
                 QueueSkill.skill_id, Skill.code, QueueSkill.min_level, QueueSkill.is_essential)
          .outerjoin(QueueSkill, QueueSkill.queue_id == Queue.id).outerjoin(Skill, Skill.id == QueueSkill.skill_id)
          .where(Queue.id == bindparam("queue_id")).order_by(QueueSkill.skill_id))
# Languages as the column's JSON text, for `languages` to parse once per distinct list.
LANGUAGES_TEXT = cast(User.languages, Text).label("languages")
_STAFF = (select(User.id, User.display_name, LANGUAGES_TEXT)
          .join(QueueMember, QueueMember.user_id == User.id)
          .where(QueueMember.queue_id == bindparam("queue_id"), User.is_active))
_LEVELS = (select(UserSkill.user_id, UserSkill.skill_id, UserSkill.level)
           .join(QueueMember, QueueMember.user_id == UserSkill.user_id)
           .where(QueueMember.queue_id == bindparam("queue_id"),
                  UserSkill.skill_id.in_(bindparam("skill_ids", expanding=True))))
_AGENT_SKILLS = select(UserSkill.skill_id, UserSkill.level).where(UserSkill.user_id == bindparam("user_id"))
# The agent's active queues with their skill needs: a row per need, or one of NULL need columns.
_AGENT_QUEUES = (select(Queue.id, Queue.priority, QueueSkill.skill_id, QueueSkill.min_level, QueueSkill.is_essential)
                 .join(QueueMember, QueueMember.queue_id == Queue.id)
                 .outerjoin(QueueSkill, QueueSkill.queue_id == Queue.id)
                 .where(QueueMember.user_id == bindparam("user_id"), Queue.is_active).order_by(Queue.id))


@functools.lru_cache(maxsize=1024)
def languages(text: str | None) -> tuple[str, ...]:
    """An agent's languages from the column's JSON text. Read as text and parsed once per distinct list:
    a big queue's agents share a handful of lists, and decoding each row's JSON was a tenth of a decision."""
    return tuple(json.loads(text) or ()) if text else ()


def _read_queue(session: Session, queue_id: int) -> QueueProfile:
    rows = execute_core(session, _QUEUE, {"queue_id": queue_id}).all()
    if not rows:
        raise NoResultFound(f"no queue {queue_id}")
    queue = rows[0]
    skills = tuple(rules.SkillNeed(r.skill_id, r.code, r.min_level, r.is_essential)
                   for r in rows if r.skill_id is not None)
    return QueueProfile(queue_id, queue.strategy.value, queue.priority, skills, queue.overflow_queue_id,
                        queue.overflow_after_seconds)


def _read_staff(session: Session, queue: QueueProfile) -> Staff:
    names, spoken = {}, {}
    for user_id, name, text in execute_core(session, _STAFF, {"queue_id": queue.id}).all():
        names[user_id], spoken[user_id] = name, languages(text)
    skills: dict[int, dict[int, int]] = {}
    if queue.skills:
        levels = execute_core(session, _LEVELS,
                              {"queue_id": queue.id, "skill_ids": [s.skill_id for s in queue.skills]})
        for user_id, skill_id, level in levels.all():
            skills.setdefault(user_id, {})[skill_id] = level
    return Staff(names, spoken, skills)


def _read_servable(session: Session, user_id: int) -> tuple[Servable, ...]:
    """The agent's active queues minus those whose essential skills they lack (at the level asked)."""
    skills = dict(execute_core(session, _AGENT_SKILLS, {"user_id": user_id}).all())
    lacking = defaultdict(list)                       # (queue, priority) -> its needs the agent lacks the level for
    for row in execute_core(session, _AGENT_QUEUES, {"user_id": user_id}).all():
        needs = lacking[(row.id, row.priority)]
        if row.skill_id is not None and skills.get(row.skill_id, 0) < row.min_level:
            needs.append(row)
    return tuple(Servable(queue_id, priority, bool(needs)) for (queue_id, priority), needs in lacking.items()
                 if not any(n.is_essential for n in needs))


class Loads:
    """The agents' presence and loads as this process last saw them, when it last read each queue's agents on
    each channel, and the candidate pools built from them (`pool`), kept in step with every value set. Values
    are set through `set_agent`, `set_slot` and `drop_slot`, and single values are replaced whole, so threads
    can share it: a lost race only leaves a value older than it could be, which the engine allows for where
    it uses the copy (a transaction that reads the agents uses its own rows, not what the copy holds after)."""

    def __init__(self):
        self.agents: dict[int, tuple[str, datetime | None]] = {}     # user -> (presence, last assigned)
        self.slots: dict[tuple[int, Channel], tuple[int, int]] = {}   # (user, channel) -> (slots, used)
        self._read_at: dict[tuple[int, Channel], float] = {}          # (queue, channel) -> time.monotonic()
        # (queue, channel) -> the pool, its index (user -> place) and the staff it was built from
        self._pools: dict[tuple[int, Channel], tuple[list, dict[int, int], Staff]] = {}
        self._places: dict[tuple[int, Channel], dict[tuple[int, Channel], int]] = defaultdict(dict)  # slot -> pools

    def age(self, queue_id: int, channel: Channel, now: float | None = None) -> float:
        """Seconds since the queue's agents were last read on `channel` (infinite if never)."""
        return (time.monotonic() if now is None else now) - self._read_at.get((queue_id, channel), -math.inf)

    def fresh(self, queue_id: int, channels: tuple[Channel, ...], max_age: float) -> bool:
        """Whether the copy of the queue's agents on each of `channels` is at most `max_age` seconds old."""
        now = time.monotonic()
        return all(self.age(queue_id, c, now) <= max_age for c in channels)

    def most_due(self, queue_ids: tuple[int, ...], older_than: float) -> int | None:
        """Of `queue_ids`, the one whose copy is the oldest on some channel (one never read first), if it is
        more than `older_than` seconds old."""
        now, oldest, due = time.monotonic(), older_than, None
        for queue_id in queue_ids:
            age = max(self.age(queue_id, c, now) for c in Channel)
            if age > oldest:
                oldest, due = age, queue_id
        return due

    def read(self, queue_id: int, channels: tuple[Channel, ...], read_at: float, user_ids: AbstractSet[int]) -> None:
        """Note that the queue's agents, `user_ids`, were read on `channels` at `read_at` (a `time.monotonic()`),
        their values set first. A pool there of other agents is built again on next use; one of the same agents
        holds what was read already (set through `set_agent`, `set_slot` and `drop_slot`)."""
        for channel in channels:
            self._read_at[(queue_id, channel)] = read_at
            kept = self._pools.get((queue_id, channel))
            if kept is not None and kept[1].keys() != user_ids:
                self._drop_pool(queue_id, channel)

    def _drop_pool(self, queue_id: int, channel: Channel) -> None:
        kept = self._pools.pop((queue_id, channel), None)      # None: another thread dropped it first
        for user_id in kept[1] if kept else ():
            self._places[(user_id, channel)].pop((queue_id, channel), None)

    def set_agent(self, user_id: int, presence: str, last_assigned_at: datetime | None) -> None:
        value = (presence, last_assigned_at)
        if self.agents.get(user_id) != value:
            self.agents[user_id] = value
            for channel in Channel:
                self._patch(user_id, channel, presence=presence, last_assigned_at=last_assigned_at)

    def set_slot(self, user_id: int, channel: Channel, slots: int, used: int) -> None:
        if self.slots.get((user_id, channel)) != (slots, used):
            self.slots[(user_id, channel)] = (slots, used)
            self._patch(user_id, channel, slots=slots, used=used)

    def drop_slot(self, user_id: int, channel: Channel) -> None:
        """The agent has no capacity row on `channel` (any more): no slot there."""
        if self.slots.pop((user_id, channel), None) is not None:
            self._patch(user_id, channel, slots=0, used=0)

    def _patch(self, user_id: int, channel: Channel, **values) -> None:
        for key, n in tuple(self._places.get((user_id, channel), {}).items()):
            kept = self._pools.get(key)
            if kept is not None:
                kept[0][n] = kept[0][n]._replace(**values)

    def pool(self, queue_id: int, channel: Channel, staff: Staff,
             build: Callable[[], list]) -> tuple[list, dict[int, int]]:
        """The queue's pool of candidates on `channel` as kept, and its index (user -> place); built first
        (`build()`, from `staff`) if none is kept, or the one kept was built from another reading of the staff.
        Both are the copy's: a transaction changes a copy of the list."""
        key = (queue_id, channel)
        kept = self._pools.get(key)
        if kept is not None and kept[2] is not staff:
            self._drop_pool(queue_id, channel)
            kept = None
        if kept is None:
            pool = build()
            kept = self._pools[key] = (pool, {candidate.user_id: n for n, candidate in enumerate(pool)}, staff)
            for user_id, n in kept[1].items():
                self._places[(user_id, channel)][key] = n
        return kept[0], kept[1]


class Roster:
    """The staffing as of one token, read on first use, and the agents' loads seen under it."""

    def __init__(self, token: int | None):
        self.token = token
        self.loads = Loads()
        self._queues: dict[int, QueueProfile] = {}
        self._staff: dict[int, Staff] = {}
        self._servable: dict[int, tuple[Servable, ...]] = {}
        self.active: tuple[int, ...] | None = None                  # the active queues, once asked for

    def _get(self, kept: dict, key: int, read: Callable[[], Any],
             fresh_enough: Callable[[Any], bool] = lambda _found: True):
        """What `kept` holds under `key` if it is there and `fresh_enough`, else `read()` (kept under a token)."""
        found = kept.get(key)
        if found is not None and fresh_enough(found):
            return found
        found = read()
        if self.token is not None:
            kept[key] = found
        return found

    def queue(self, session: Session, queue_id: int) -> QueueProfile:
        """The queue's profile; raises NoResultFound for an unknown queue."""
        return self._get(self._queues, queue_id, lambda: _read_queue(session, queue_id))

    def staff(self, session: Session, queue: QueueProfile, user_ids: AbstractSet[int] = frozenset()) -> Staff:
        """The queue's active agents, with each of `user_ids` in it (read again when one is missing: a
        member added by a writer that no trigger saw)."""
        return self._get(self._staff, queue.id, lambda: _read_staff(session, queue),
                         lambda found: found.names.keys() >= user_ids)

    def servable(self, session: Session, user_id: int) -> tuple[Servable, ...]:
        return self._get(self._servable, user_id, lambda: _read_servable(session, user_id))

    def active_queues(self, session: Session) -> tuple[int, ...]:
        active = self.active
        if active is None:
            active = tuple(execute_core(session, _ACTIVE_QUEUES).scalars())
            if self.token is not None:
                self.active = active
        return active


_kept = Roster(None)


def kept() -> Roster:
    """The roster this process keeps now (of the last token a transaction read), for steps outside a routing
    batch: one that learns a value, or one that checks the copy's age before reading anything."""
    return _kept


# The token as a column, for a statement that reads it along with what it reads (`for_token`).
TOKEN = _TOKEN.scalar_subquery().label("staffing_token")


def for_token(token: int | None) -> Roster:
    """The roster for the staffing token the transaction just read (`TOKEN`, or `current`)."""
    global _kept
    if token is None:
        return Roster(None)
    kept = _kept                    # read once: another thread may replace it meanwhile
    if kept.token != token:
        kept = _kept = Roster(token)
    return kept


def current(session: Session) -> Roster:
    """The roster for the staffing as the transaction sees it now (one small read)."""
    return for_token(execute_core(session, _TOKEN).scalar())

"""Routing glue to the database: route, offer, accept, decline, release. Flushes; callers commit.

Design (concurrency). The database is the only truth; Redis carries jobs and timers, never state.

- A case holds at most one *slot*: `cases.slot_channel` names the channel, and the slot belongs to the
  case's assignee, or to the agent it is offered to (`offered_to_id`). Owner and offer exclude each other,
  so a case never has two owners.
- `user_capacities.used` counts the slots an agent holds per channel; it only moves in this module.
  Routing decides in memory first: a transaction takes each queue's agents once (`_Batch`; read, or from
  the process's copy, below), ranks every case of the batch against those pools, and carries each pick's
  new load to every pool the agent is in.
  Then it *claims* the picks (`_claim`) in one statement with no read before it: it locks the capacity rows
  picked, in (user, channel) order, then their agents, and adds its picks to each row that has room for all
  of them and whose agent is still available and active, marking that agent as just assigned; it returns
  each row and agent as it was. A lock waits for a transaction holding the row and then sees the row as that
  one left it; a presence change locks the agent's capacity rows before the agent, so the claim sees the
  presence as it is. From then on the rows are held and their loads in memory exact. A pick whose agent
  turned out full or away is not taken, and is ranked again on the corrected pools, and so on until every
  pick stands. The decisions and the cases are then written in bulk (`_write`), on PostgreSQL in one
  statement. On SQLite, where writers run one at a time
  (BEGIN IMMEDIATE), what the transaction read is exact already: the claim is skipped and `_write` takes
  the slots. Either way an agent never exceeds capacity. `reconcile` recounts an agent's slots from their
  cases.
- Every routing step first locks the case row (SELECT ... FOR UPDATE) and re-checks its state, so two
  workers given the same case do the work once; batches take their cases with SKIP LOCKED or in id order.
- A step that frees one agent's slot and takes another's (decline, return, presence), or a batch whose
  second claim round locks rows out of order, can still meet a mirror-image step on PostgreSQL; the
  database detects the deadlock and `dispatch.perform` runs the step again. `fill` routes one case per
  transaction; `route_waiting` and `route_cases` route a batch in one transaction (a burst, many freed
  slots, an intake batch) and run through `dispatch.perform` as well.
- Queue profiles and each queue's agents' names, languages and skill levels come from `routing.roster`,
  kept per process and dropped whenever a trigger changes the staffing token. Presence and loads change all
  the time, in every process. On PostgreSQL a pool is taken from the process's copy of them
  (`roster.Loads`, which keeps each queue's pools built and changes them with it), read again once it is
  `settings.loads_max_age_seconds` old, and given every value this process learns: each claim's rows, each
  freed slot, each presence change, and the freed agent `fill` reads. A worker reads the copy again between
  jobs, before it is that old (`refresh_copy`), so routing transactions seldom read the agents themselves.
  A copy that is behind cannot break an invariant: the claim checks every pick against the locked row and
  agent. It can only rank less well for that long. And a case is never left waiting on a copy: when a case
  finds nobody on one, the transaction reads its pools afresh and chooses again (`_Batch.read_again`). On
  SQLite every transaction reads them, as it has no claim.
- The hot path runs prebuilt statements on the session's connection (`models.db.execute_core`). Once the
  roster is kept, a batch of one queue on PostgreSQL is at most five statements and the commit, whatever its
  size: lock the cases (with the staffing token), the agents (unless the copy serves them), their declines
  (only for a case declined since it joined its queue: `cases.declined_at`), the claim, the writes. `fill` first reads the agent (with the token) and probes the
  queues they serve for the case.
- Nothing polls. Arrival routes the case (`route_case`), a freed slot pulls the best waiting case the
  agent can take (`fill`), and timers (offer expiry, overflow, return of unanswered cases) are RQ jobs
  scheduled for their moment. Waiting cases are read through an index of the waiting cases alone
  (`models.case.WAITING`: queue, priority, longest wait) with a LIMIT, so the cost grows neither with the
  backlog nor with a queue's history of resolved and closed cases.

Each function returns `Effects`: what the caller announces (signals) and schedules (timers) after commit.
"""
import functools
import json
import logging
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    and_,
    bindparam,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.orm import Session, aliased

from models import (
    OPEN_STATUSES,
    Case,
    CaseStatus,
    Channel,
    DecisionKind,
    DecisionOutcome,
    Presence,
    Priority,
    QueueMember,
    RoutingDecision,
    User,
    UserCapacity,
    utcnow,
)
from models.case import WAITING
from models.db import execute_core, execute_update, serialises_writers, sync_loaded
from routing import roster, rules, settings

log = logging.getLogger(__name__)

OFFER_CHANNELS = frozenset({Channel.CHAT, Channel.PHONE})
_ID_SAMPLE = 20          # ids kept per filter reason in an explanation; counts are always complete


class RoutingError(ValueError):
    """A routing request that cannot be done as asked (unknown offer, someone else's offer, full agent)."""


@dataclass(frozen=True)
class Offer:
    decision_id: int
    case_id: int
    user_id: int
    expires_at: datetime


@dataclass
class Effects:
    """What a committed routing step leads to: announcements and timers, all by id."""

    assigned: list[tuple[int, int, int | None]] = field(default_factory=list)   # case, user, queue
    offered: list[Offer] = field(default_factory=list)
    closed_offers: list[tuple[int, int, int]] = field(default_factory=list)     # decision, case, user
    waiting: list[tuple[int, int, datetime]] = field(default_factory=list)      # case, queue, overflow at
    freed: set[int] = field(default_factory=set)                                 # users to fill
    presence: list[tuple[int, str, datetime]] = field(default_factory=list)     # user, presence, at
    resolved: list[int] = field(default_factory=list)                            # cases a person resolved

    def merge(self, other: "Effects") -> "Effects":
        self.assigned += other.assigned
        self.offered += other.offered
        self.closed_offers += other.closed_offers
        self.waiting += other.waiting
        self.freed |= other.freed
        self.presence += other.presence
        self.resolved += other.resolved
        return self


# ---- reading ---------------------------------------------------------------------------------------

# A case as routing reads it, locking it; with the staffing token, which saves routing a round trip.
_CASE_COLUMNS = (Case.id, Case.status, Case.channel, Case.language, Case.priority, Case.queue_id,
                 Case.assignee_id, Case.offered_to_id, Case.slot_channel, Case.is_skill_relaxed,
                 Case.queued_at, Case.entered_queue_at, Case.declined_at, roster.TOKEN)


_LOCK_CASE = select(*_CASE_COLUMNS).where(Case.id == bindparam("case_id")).with_for_update()


def _lock_case(session: Session, case_id: int):
    return execute_core(session, _LOCK_CASE, {"case_id": case_id}).one_or_none()


def _is_waiting(case) -> bool:
    return (case.status is CaseStatus.NEW and case.assignee_id is None and case.offered_to_id is None
            and case.queue_id is not None)


# A queue's active agents as they are now: presence (as text), last assignment, and per channel asked for
# its slots and used slots (NULL without a capacity row): a row per agent, whatever the number of channels.
_PRESENCE_TEXT = type_coerce(User.presence, String)


@functools.lru_cache(maxsize=64)
def _loads(channels: tuple[Channel, ...]):
    statement = (select(User.id, _PRESENCE_TEXT, User.last_assigned_at)
                 .join(QueueMember, QueueMember.user_id == User.id)
                 .where(QueueMember.queue_id == bindparam("queue_id"), User.is_active))
    for channel in channels:
        capacity = aliased(UserCapacity, name=f"capacity_{channel.value}")
        statement = (statement.add_columns(capacity.slots, capacity.used)
                     .outerjoin(capacity, and_(capacity.user_id == User.id, capacity.channel == channel)))
    return statement


_DECLINED = select(RoutingDecision.case_id, RoutingDecision.user_id, RoutingDecision.created_at).where(
    RoutingDecision.case_id.in_(bindparam("case_ids", expanding=True)),
    RoutingDecision.outcome.in_((DecisionOutcome.DECLINED, DecisionOutcome.TIMED_OUT)))


@dataclass(frozen=True)
class _Agents:
    """A queue's active agents: what the roster keeps of them (names, languages, levels), and their presence,
    last assignment and slots on the channels asked for, read now, or as this process's copy has them when
    `copied` (then `members` and `slots` hold every agent the copy has, of any queue)."""

    members: dict[int, tuple[str, datetime | None]]           # user -> (presence, last assigned), for any agent
    slots: dict[tuple[int, Channel], tuple[int, int]]          # (user, channel) -> (slots, used), for any agent
    staff: roster.Staff
    copied: bool


_NO_SKILLS = MappingProxyType({})
_NO_SLOTS = (0, 0)


def _agents(session: Session, staffing: roster.Roster, queue: roster.QueueProfile,
            channels: tuple[Channel, ...], copy: bool) -> _Agents:
    """The queue's agents on `channels`: read, or where `copy` allows, taken from the process's copy
    (`staffing.loads`) while it is fresh enough (`settings.loads_max_age_seconds`). A copy is read again on
    every channel at once, for the next transactions to find them all."""
    loads = staffing.loads
    reading = channels
    if copy:
        reading = () if loads.fresh(queue.id, channels, settings.current.loads_max_age_seconds) else _ALL_CHANNELS
    if not reading:
        return _Agents(loads.agents, loads.slots, staffing.staff(session, queue), True)
    members, slots = _read_loads(session, loads, queue.id, reading)
    return _Agents(members, slots, staffing.staff(session, queue, members.keys()), False)


_ALL_CHANNELS = tuple(sorted(Channel, key=lambda c: c.value))


def _read_loads(session: Session, loads: roster.Loads, queue_id: int,
                channels: tuple[Channel, ...]) -> tuple[dict, dict]:
    """Read the queue's active agents' presence and loads on `channels`; returns them as read (members, slots),
    and keeps them in `loads`, which other threads also write to."""
    read_at = time.monotonic()
    members, slots = {}, {}
    for user_id, presence, last_assigned_at, *capacities in execute_core(session, _loads(channels),
                                                                          {"queue_id": queue_id}).all():
        members[user_id] = (presence, last_assigned_at)
        loads.set_agent(user_id, presence, last_assigned_at)
        for channel, count, used in zip(channels, capacities[::2], capacities[1::2]):
            if count is None:
                loads.drop_slot(user_id, channel)
            else:
                slots[(user_id, channel)] = (count, used)
                loads.set_slot(user_id, channel, count, used)
    loads.read(queue_id, channels, read_at, members.keys())
    return members, slots


# Between jobs, a copy is read again once it is this share of its maximum age old (`refresh_copy`).
_REFRESH_AT = 0.75


def refresh_copy(session: Session) -> int | None:
    """Between jobs (`caseworker.cli.PacedWorker`), read again the agents' presence and loads of the one queue
    whose copy is the most due: never read under the staffing token, or `_REFRESH_AT` of
    `settings.loads_max_age_seconds` old. So the routing transactions, which hold row locks other workers
    wait for, seldom read them themselves. One queue per call keeps each pause short (a queue of a hundred
    agents: ~2.5 ms). Returns the queue read, if any. Reads nothing where writers run one at a time (no copy
    is used there), nor while the kept roster's copies are all fresh: then it makes no round trip."""
    if serialises_writers(session.get_bind()):
        return None
    older_than = _REFRESH_AT * settings.current.loads_max_age_seconds
    staffing = roster.kept()
    if staffing.active is not None and staffing.loads.most_due(staffing.active, older_than) is None:
        return None
    staffing = roster.current(session)
    queue_id = staffing.loads.most_due(staffing.active_queues(session), older_than)
    if queue_id is not None:
        staffing.staff(session, staffing.queue(session, queue_id))
        _read_loads(session, staffing.loads, queue_id, _ALL_CHANNELS)
    return queue_id


def _candidates(agents: _Agents, channel: Channel) -> list[rules.Candidate]:
    """The queue's staff with presence and loads as candidates on `channel`; one without a capacity row there
    has no slot. A member read but not in the staff was deactivated or taken off the queue between the two
    reads (READ COMMITTED): the staff is the newer, so they are no longer the queue's."""
    names, spoken, skills, slots, members = (agents.staff.names, agents.staff.languages, agents.staff.skills,
                                             agents.slots, agents.members)
    return [rules.Candidate(user_id, member[0], spoken[user_id], skills.get(user_id, _NO_SKILLS),
                            *slots.get((user_id, channel), _NO_SLOTS), member[1], name)
            for user_id, name in names.items() if (member := members.get(user_id)) is not None]


def _declined(session: Session, cases: list) -> dict[int, frozenset[int]]:
    """Per case, the agents who declined it, or let its offer time out, since it joined its current queue.
    One query for the cases declined since (`Case.declined_at`, as the lock found it); the others have none."""
    since = {}
    for case in cases:
        joined = case.entered_queue_at or case.queued_at
        if case.declined_at is not None and case.declined_at >= joined:
            since[case.id] = joined
    found: dict[int, set[int]] = defaultdict(set)
    if since:
        for case_id, user_id, at in execute_core(session, _DECLINED, {"case_ids": list(since)}).all():
            if at >= since[case_id]:
                found[case_id].add(user_id)
    return {case.id: frozenset(found.get(case.id, ())) for case in cases}


# ---- slots -----------------------------------------------------------------------------------------


_SLOT = and_(UserCapacity.user_id == bindparam("b_user"),
             UserCapacity.channel == bindparam("b_channel", type_=UserCapacity.channel.type))
_TAKE = update(UserCapacity).where(_SLOT).values(used=UserCapacity.used + bindparam("b_count"))
_TOUCH = update(User).where(User.id == bindparam("b_user")).values(last_assigned_at=bindparam("b_now"))
# PostgreSQL's claim (`_claim`), one statement. `locked` locks the capacity rows (user, channel) picked, in that
# order; `agents` then locks their agents (each ARRAY(...) is computed whole first, so all capacity rows are locked
# before any agent). Both see each row as the last transaction to commit it left it, waiting for one that holds it.
# An agent still available and active who has room on some picked row is marked as just assigned (`touched`), and
# `taken` adds each picked row's count where it all fits and its agent is touched. Returns every locked row as it
# was, whether it took, and its agent's presence (offline when deactivated) and last assignment as found.
_TAKE_FREE = text("""
WITH wanted AS (
    SELECT * FROM unnest(CAST(:k_users AS integer[]), CAST(:k_channels AS varchar[]), CAST(:k_counts AS integer[]))
         AS w(user_id, channel, taken)),
locked AS (
    SELECT c.user_id, c.channel, c.slots, c.used, w.taken, c.used + w.taken <= c.slots AS fits
    FROM user_capacities c JOIN wanted w ON c.user_id = w.user_id AND c.channel = w.channel
    ORDER BY c.user_id, c.channel FOR UPDATE OF c),
agents AS (
    SELECT id, CASE WHEN is_active THEN presence ELSE 'offline' END AS presence, last_assigned_at
    FROM users WHERE id = ANY(ARRAY(SELECT user_id FROM locked)) ORDER BY id FOR NO KEY UPDATE),
touched AS (
    UPDATE users SET last_assigned_at = :now
    WHERE id = ANY(ARRAY(SELECT id FROM agents WHERE presence = 'available'))
      AND id = ANY(ARRAY(SELECT user_id FROM locked WHERE fits))
    RETURNING id),
taken AS (
    UPDATE user_capacities c SET used = c.used + l.taken FROM locked l
    WHERE c.user_id = l.user_id AND c.channel = l.channel AND l.fits
      AND l.user_id = ANY(ARRAY(SELECT id FROM touched))
    RETURNING c.user_id, c.channel)
SELECT l.user_id, l.channel, l.slots, l.used, t.user_id IS NOT NULL AS took, a.presence, a.last_assigned_at
FROM locked l JOIN agents a ON a.id = l.user_id
     LEFT JOIN taken t ON t.user_id = l.user_id AND t.channel = l.channel
""").columns(last_assigned_at=User.last_assigned_at.type)


def _slot_order(key: tuple[int, Channel]) -> tuple[int, str]:
    return key[0], key[1].value


# The slot a case holds, given back; with the row as it is then (no row: the agent held none there).
_GIVE_BACK = (update(UserCapacity)
              .where(UserCapacity.user_id == bindparam("b_user"), UserCapacity.channel == bindparam("b_channel"),
                     UserCapacity.used > 0)
              .values(used=UserCapacity.used - 1)
              .returning(UserCapacity.slots, UserCapacity.used))


def _release_slot(session: Session, case) -> int | None:
    """Give back the slot `case` holds (the row must be locked); returns the agent it freed. The caller's
    own UPDATE of the case (`_update_case`) sets its `slot_channel` to NULL: the case is written once."""
    holder = case.offered_to_id or case.assignee_id
    if case.slot_channel is None or holder is None:
        return None
    row = execute_core(session, _GIVE_BACK, {"b_user": holder, "b_channel": case.slot_channel}).one_or_none()
    if row is not None:
        roster.kept().loads.set_slot(holder, case.slot_channel, row.slots, row.used)
        sync_loaded(session, UserCapacity, (holder, case.slot_channel), used=row.used)
    return holder


def _update_case(session: Session, case_id: int, now: datetime, **values) -> None:
    """Write `values` to the case's row, and to the object the session holds for it, if any, as the ORM's
    UPDATE would (`updated_at` too), with a prebuilt Core statement: resolves and offers answered, which
    every routed case comes to, spent several times as much in the ORM's bulk UPDATE, and a statement built
    anew with its values in it costs most of that again in working out its cache key."""
    values["updated_at"] = now
    execute_update(session, _case_update(tuple(sorted(values))), values | {"b_case": case_id}, Case, case_id, **values)


@functools.lru_cache(maxsize=32)
def _case_update(names: tuple[str, ...]):
    """UPDATE of the case `b_case` setting the columns `names`, each from the parameter of its name."""
    return update(Case).where(Case.id == bindparam("b_case")).values({name: bindparam(name) for name in names})


def _lock_capacity_rows(session: Session, user_id: int) -> None:
    """Lock the agent's capacity rows in channel order, the order the claim (`_TAKE_FREE`) locks them in."""
    session.execute(select(UserCapacity.channel).where(UserCapacity.user_id == user_id)
                    .order_by(UserCapacity.channel).with_for_update()).all()


def reconcile(session: Session, user_id: int) -> dict[Channel, int]:
    """Recount the slots `user_id` holds from their cases and store the counts. Flushes; idempotent."""
    _lock_capacity_rows(session, user_id)
    holder = func.coalesce(Case.offered_to_id, Case.assignee_id)
    counts = dict(session.execute(select(Case.slot_channel, func.count())
                                  .where(holder == user_id, Case.slot_channel.is_not(None))
                                  .group_by(Case.slot_channel)).all())
    loads = roster.kept().loads
    for channel in Channel:
        slots = session.execute(update(UserCapacity)
                                .where(UserCapacity.user_id == user_id, UserCapacity.channel == channel)
                                .values(used=counts.get(channel, 0)).returning(UserCapacity.slots)).scalar()
        if slots is not None:
            loads.set_slot(user_id, channel, slots, counts.get(channel, 0))
    return counts


# ---- deciding --------------------------------------------------------------------------------------


# The best candidates whose scores an explanation keeps; routing ranks no further.
_SCORES_SHOWN = 5


def _explanation(queue: roster.QueueProfile, need: rules.Need, evaluation: rules.Evaluation,
                 pick: rules.Candidate | None, declined: frozenset[int], loads_age: float) -> dict:
    skill_codes = {s.skill_id: s.code for s in queue.skills}
    explanation = {
        "strategy": queue.strategy, "channel": need.channel, "language": need.language,
        "skills": [s.code for s in need.required_skills], "relaxed": need.is_relaxed,
        "considered": evaluation.considered,
        "filtered": {reason: len(c) for reason, c in evaluation.filtered.items() if c},
        "absent": dict(Counter(c.presence for c in evaluation.filtered[rules.PRESENCE])),
        "filtered_ids": {reason: sorted(x.user_id for x in c)[:_ID_SAMPLE]
                         for reason, c in evaluation.filtered.items() if c},
        "scores": [{"user_id": r.candidate.user_id, "score": round(r.score, 3), "used": r.candidate.used,
                    "slots": r.candidate.slots} for r in evaluation.ranked[:_SCORES_SHOWN]],
        "declined": sorted(declined),
        "loads_age_ms": round(loads_age * 1000),      # how old the pool's presence and loads were, if a copy
    }
    if pick is not None:
        explanation["pick"] = {"user_id": pick.user_id, "name": pick.name, "languages": list(pick.languages),
                               "skills": {skill_codes[k]: v for k, v in pick.skills.items() if k in skill_codes},
                               "used": pick.used, "slots": pick.slots}
    return explanation


_RECORD = insert(RoutingDecision).returning(RoutingDecision.id)
_RECORD_MANY = insert(RoutingDecision).returning(RoutingDecision.id, sort_by_parameter_order=True)
# A routed case's new values (`_routed_case`), on SQLite: one statement for the offered and the assigned.
_ROUTED_CASE = (update(Case).where(Case.id == bindparam("b_case"))
                .values(assignee_id=bindparam("assignee_id"), offered_to_id=bindparam("offered_to_id"),
                        status=bindparam("status"), slot_channel=bindparam("slot_channel"),
                        last_activity_at=func.coalesce(bindparam("b_active", type_=Case.last_activity_at.type),
                                                       Case.last_activity_at)))


# PostgreSQL stores a batch's decisions and routed cases in one statement, each set of rows passed as one JSON
# document (`json_to_recordset` reads each column from the key of its name; a missing key reads as NULL): one
# round trip, and the same statement whatever the batch's size, so psycopg prepares it once. Being text, it sets
# `updated_at` itself, as the ORM's onupdate does for the SQLite statement.
# (As arrays, the explanations' quotes would be escaped one by one in Python.) The planner cannot see how
# many rows a JSON document holds; the cases' ids as an array make it find the cases by their key.
_STORE = text("""
WITH decided AS (
    INSERT INTO routing_decisions (case_id, queue_id, user_id, kind, outcome, strategy, rule, explanation,
                                   created_at, expires_at)
    SELECT d.case_id, d.queue_id, d.user_id, d.kind, d.outcome, d.strategy, d.rule, d.explanation, :now,
           d.expires_at
    FROM json_to_recordset(CAST(:decisions AS json))
         AS d(case_id integer, queue_id integer, user_id integer, kind varchar, outcome varchar, strategy varchar,
              rule varchar, explanation json, expires_at timestamptz)
    RETURNING case_id, id),
routed AS (
    UPDATE cases SET assignee_id = r.assignee_id, offered_to_id = r.offered_to_id, status = r.status,
                     slot_channel = r.slot_channel, last_activity_at = coalesce(r.b_active, cases.last_activity_at),
                     updated_at = :now
    FROM json_to_recordset(CAST(:cases AS json))
         AS r(b_case integer, assignee_id integer, offered_to_id integer, status varchar, slot_channel varchar,
              b_active timestamptz)
    WHERE cases.id = ANY(CAST(:case_ids AS integer[])) AND cases.id = r.b_case)
SELECT case_id, id FROM decided
""")


def _record(session: Session, **values) -> int:
    return execute_core(session, _RECORD, values).scalar_one()


def _overflow_at(queue: roster.QueueProfile, case, relaxed: bool) -> datetime | None:
    can_relax = not relaxed and any(not s.is_essential for s in queue.skills)
    if queue.overflow_after_seconds is None or not (queue.overflow_queue_id or can_relax):
        return None
    return (case.entered_queue_at or case.queued_at) + timedelta(seconds=queue.overflow_after_seconds)


def route_case(session: Session, case_id: int, now: datetime | None = None) -> Effects:
    """Assign (email, web form, Open311) or offer (chat, phone) a waiting case to the best agent of its queue.

    Idempotent: a case that is not waiting (assigned, offered, closed, gone, no queue) is left alone.
    Every attempt is stored as a RoutingDecision with its explanation, NO_CANDIDATE included.
    Flushes; the caller commits, then announces the returned Effects.
    """
    return _route_one(session, case_id, now or utcnow())


def _route_one(session: Session, case_id: int, now: datetime, staffing: roster.Roster | None = None) -> Effects:
    case = _lock_case(session, case_id)
    if case is None or not _is_waiting(case):
        return Effects()
    return _route_locked(session, [case], now, staffing)


class _Batch:
    """What one routing transaction has read: the queues, and their agents per channel as `rules.Candidate`s
    whose loads follow the transaction's own decisions (exact for the rows its claim wrote or locked)."""

    def __init__(self, session: Session, cases: list, staffing: roster.Roster | None = None):
        self.session = session
        self.roster = staffing or roster.for_token(cases[0].staffing_token)
        self.channels: dict[int, set[Channel]] = defaultdict(set)       # queue -> the channels its cases need
        for case in cases:
            self.channels[case.queue_id].add(case.channel)
        self.agents: dict[int, _Agents] = {}
        self.pools: dict[tuple[int, Channel], list[rules.Candidate]] = {}
        self.index: dict[tuple[int, Channel], dict[int, int]] = {}      # pool -> user -> place in it
        self.on_channel: dict[Channel, list[tuple[int, Channel]]] = defaultdict(list)   # the pools of a channel
        self.serialised = serialises_writers(session.connection())     # what it read is exact: no claim needed
        # Whether pools may come from the process's copy of the loads: where the claim checks every pick.
        self.copy = not self.serialised

    def queue(self, queue_id: int) -> roster.QueueProfile:
        return self.roster.queue(self.session, queue_id)

    def pool(self, queue: roster.QueueProfile, channel: Channel) -> list[rules.Candidate]:
        key = (queue.id, channel)
        pool = self.pools.get(key)
        if pool is None:
            if queue.id not in self.agents:
                self.agents[queue.id] = _agents(self.session, self.roster, queue,
                                                tuple(sorted(self.channels[queue.id], key=lambda c: c.value)),
                                                self.copy)
            agents = self.agents[queue.id]
            if agents.copied:           # the copy's pool, kept in step with the copy: this transaction's own list
                kept, index = self.roster.loads.pool(queue.id, channel, agents.staff,
                                                     lambda: _candidates(agents, channel))
                pool = list(kept)
            else:
                pool = _candidates(agents, channel)
                index = {candidate.user_id: n for n, candidate in enumerate(pool)}
            self.pools[key], self.index[key] = pool, index
            for earlier in self.on_channel[channel]:      # an agent of two queues: the load this transaction gave them
                earlier_pool, earlier_index = self.pools[earlier], self.index[earlier]
                for user_id in index.keys() & earlier_index.keys():
                    known, n = earlier_pool[earlier_index[user_id]], index[user_id]
                    pool[n] = pool[n]._replace(presence=known.presence, slots=known.slots, used=known.used,
                                               last_assigned_at=known.last_assigned_at)
            self.on_channel[channel].append(key)
        return pool

    def change(self, user_id: int, channel: Channel, **values) -> None:
        """Give the agent's entry on `channel` new values in every pool it is in (an agent of two queues)."""
        for key in self.on_channel.get(channel, ()):
            n = self.index[key].get(user_id)
            if n is not None:
                pool = self.pools[key]
                pool[n] = pool[n]._replace(**values)

    def read_again(self, choices: list["_Choice"]) -> list["_Choice"]:
        """The choices that found nobody, if any pool of the transaction came from the process's copy of the
        loads (a pool read afresh takes the values of an agent of two queues from the pool built first): the
        pools are dropped, to be read afresh (with every claim made so far in them), for those choices to be
        made again. So that nobody is never decided on a copy that may be behind."""
        unpicked = [c for c in choices if c.pick is None]
        if not unpicked or not any(agents.copied for agents in self.agents.values()):
            return []
        self.copy = False
        self.agents.clear()
        self.pools.clear()
        self.index.clear()
        self.on_channel.clear()
        return unpicked


@dataclass
class _Choice:
    """One waiting case and the agent chosen for it in memory, before the slot is claimed in the database."""

    case: Any
    queue: roster.QueueProfile
    need: rules.Need
    declined: frozenset[int]
    evaluation: rules.Evaluation | None = None
    pick: rules.Candidate | None = None
    loads_age: float = 0.0


    @property
    def slot(self) -> tuple[int, Channel]:
        return self.pick.user_id, self.case.channel


def _choose(batch: _Batch, choice: _Choice, now: datetime) -> None:
    """Rank the case's pool as it stands and give the best agent the case's slot in memory."""
    pool = batch.pool(choice.queue, choice.case.channel)
    choice.evaluation = rules.evaluate(choice.queue.strategy, choice.need, pool, choice.declined, best=_SCORES_SHOWN)
    choice.loads_age = batch.roster.loads.age(choice.queue.id, choice.case.channel)
    choice.pick = choice.evaluation.ranked[0].candidate if choice.evaluation.ranked else None
    if choice.pick is not None:
        batch.change(*choice.slot, used=choice.pick.used + 1, last_assigned_at=now)


def _claim(batch: _Batch, choices: list[_Choice], now: datetime) -> list[_Choice]:
    """Take the slots the choices picked, with no read before, in one statement (`_TAKE_FREE`): it locks the
    capacity rows picked and then their agents, and takes each row's picks where they all fit and the agent is
    still available and active, marking that agent as just assigned. A lock waits for any transaction holding
    the row and then sees the row as that one left it (a presence change locks the agent's capacity rows and
    then the agent), so from then on the rows are held and the pools get their exact loads and presence. The
    choices of the slots not taken are returned, to be chosen again. Returns [] where writers run one at a
    time (`_write` takes the slots there)."""
    if batch.serialised:
        return []
    wanted = Counter(c.slot for c in choices if c.pick is not None)
    if not wanted:
        return []
    slots = sorted(wanted, key=_slot_order)
    rows = {(r.user_id, Channel(r.channel)): r for r in execute_core(batch.session, _TAKE_FREE, {
        "k_users": [u for u, _c in slots], "k_channels": [c.value for _u, c in slots],
        "k_counts": [wanted[slot] for slot in slots], "now": now}).all()}
    stands = {slot: row.used for slot, row in rows.items() if row.took}
    loads = batch.roster.loads
    for row in rows.values():
        if row.presence != Presence.AVAILABLE:
            for channel in Channel:
                batch.change(row.user_id, channel, presence=row.presence, last_assigned_at=row.last_assigned_at)
    assigned = {user_id for user_id, _channel in stands}
    for slot in slots:
        row = rows.get(slot)
        if row is None:                     # the capacity row is gone: no slot there
            batch.change(*slot, slots=0, used=0)
            loads.drop_slot(*slot)
            continue
        used, last_assigned_at = row.used + (wanted[slot] if slot in stands else 0), row.last_assigned_at
        if slot[0] in assigned:
            last_assigned_at = now
        batch.change(*slot, slots=row.slots, used=used, last_assigned_at=last_assigned_at)
        loads.set_slot(*slot, row.slots, used)
        loads.set_agent(slot[0], row.presence, last_assigned_at)
    lost = []
    for choice in choices:
        if choice.pick is None:
            continue
        if choice.slot in stands:
            choice.pick = choice.pick._replace(used=stands[choice.slot], slots=rows[choice.slot].slots)
            stands[choice.slot] += 1
        else:
            lost.append(choice)
    return lost


def _route_locked(session: Session, cases: list, now: datetime, staffing: roster.Roster | None = None) -> Effects:
    """Decide each locked waiting case in turn against its queue's pool (each queue profiled once, its agents
    on a channel read once), claim the slots picked, choose again for the picks that lost, and write it all."""
    if not cases:
        return Effects()
    batch = _Batch(session, cases, staffing)
    declined = _declined(session, cases)
    choices = []
    for case in cases:
        queue = batch.queue(case.queue_id)
        choices.append(_Choice(case, queue, rules.Need(case.channel.value, case.language, queue.skills,
                                                       case.is_skill_relaxed), declined[case.id]))
    pending = choices
    while pending:
        for choice in pending:
            _choose(batch, choice, now)
        pending = _claim(batch, pending, now) or batch.read_again(choices)
    return _write(session, choices, now, take_slots=batch.serialised)


def _decision_row(choice: _Choice, now: datetime) -> dict:
    case, queue, pick = choice.case, choice.queue, choice.pick
    row = {"case_id": case.id, "queue_id": case.queue_id, "strategy": queue.strategy, "created_at": now,
           "explanation": _explanation(queue, choice.need, choice.evaluation, pick, choice.declined,
                                        choice.loads_age),
           "kind": DecisionKind.ASSIGNMENT, "user_id": pick and pick.user_id, "expires_at": None}
    if pick is None:
        return row | {"outcome": DecisionOutcome.NO_CANDIDATE, "rule": "nobody eligible with a free slot"}
    if case.channel in OFFER_CHANNELS:
        return row | {"kind": DecisionKind.OFFER, "outcome": DecisionOutcome.OFFERED,
                      "rule": f"{queue.strategy}: offered, accept within the timeout",
                      "expires_at": now + timedelta(seconds=settings.current.offer_timeout_seconds)}
    return row | {"outcome": DecisionOutcome.ASSIGNED, "rule": f"{queue.strategy}: assigned directly"}


def _write(session: Session, choices: list[_Choice], now: datetime, take_slots: bool) -> Effects:
    """Store the batch's decisions and cases (`_store`), and the slots picked where `take_slots` (the claim
    took them otherwise), and say what follows."""
    loads = Counter(c.slot for c in choices if c.pick is not None)
    if loads and take_slots:
        execute_core(session, _TAKE, [{"b_user": slot[0], "b_channel": slot[1], "b_count": loads[slot]}
                                      for slot in sorted(loads, key=_slot_order)])
        execute_core(session, _TOUCH, [{"b_user": user_id, "b_now": now} for user_id in sorted({u for u, _c in loads})])
    rows = [_decision_row(choice, now) for choice in choices]
    routed = [_routed_case(choice, row, now) for choice, row in zip(choices, rows) if choice.pick is not None]
    decision_ids = _store(session, rows, routed, now)
    effects = Effects()
    for choice, row in zip(choices, rows):
        case = choice.case
        if choice.pick is None:
            overflow_at = _overflow_at(choice.queue, case, case.is_skill_relaxed)
            if overflow_at is not None:
                effects.waiting.append((case.id, case.queue_id, overflow_at))
        elif row["kind"] is DecisionKind.OFFER:
            effects.offered.append(Offer(decision_ids[case.id], case.id, choice.pick.user_id, row["expires_at"]))
        else:
            effects.assigned.append((case.id, choice.pick.user_id, case.queue_id))
    _show_loaded(session, loads, routed, now)
    return effects


def _routed_case(choice: _Choice, row: dict, now: datetime) -> dict:
    """The case's new values: it holds its slot, offered (still NEW, no owner) or assigned (owner, ASSIGNED,
    active now)."""
    case, user_id = choice.case, choice.pick.user_id
    if row["kind"] is DecisionKind.OFFER:
        return {"b_case": case.id, "assignee_id": None, "offered_to_id": user_id, "status": CaseStatus.NEW,
                "slot_channel": case.channel, "b_active": None}
    return {"b_case": case.id, "assignee_id": user_id, "offered_to_id": None, "status": CaseStatus.ASSIGNED,
            "slot_channel": case.channel, "b_active": now}


def _store(session: Session, rows: list[dict], routed: list[dict], now: datetime) -> dict[int, int]:
    """Insert the decisions `rows` (one a case) and update the `routed` cases; returns case -> decision id.
    PostgreSQL takes it all in one statement (`_STORE`); SQLite in two."""
    if not rows:
        return {}
    if session.connection().dialect.name != "postgresql":
        decision_ids = execute_core(session, _RECORD_MANY, rows).scalars().all()
        if routed:
            execute_core(session, _ROUTED_CASE, routed)
        return {row["case_id"]: decision_id for row, decision_id in zip(rows, decision_ids)}
    return dict(execute_core(session, _STORE, {"now": now, "decisions": json.dumps(rows, default=_json_value),
                                               "cases": json.dumps(routed, default=_json_value),
                                               "case_ids": [r["b_case"] for r in routed]}).all())


def _json_value(value: Any) -> str:
    """The datetimes of `_store`'s rows as JSON text that PostgreSQL reads back as timestamps (the enums are
    StrEnums, which JSON writes as their values)."""
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} cannot go into _STORE's JSON")


def _show_loaded(session: Session, loads: Counter, routed: list[dict], now: datetime) -> None:
    """Give the rows written by `_write` that the session holds as objects their new values."""
    for (user_id, channel), count in loads.items():
        sync_loaded(session, UserCapacity, (user_id, channel), used=lambda used, count=count: used + count)
        sync_loaded(session, User, user_id, last_assigned_at=now)
    for row in routed:
        active = {"last_activity_at": row["b_active"]} if row["b_active"] else {}
        sync_loaded(session, Case, row["b_case"], assignee_id=row["assignee_id"], offered_to_id=row["offered_to_id"],
                    status=row["status"], slot_channel=row["slot_channel"], **active)


_WAITING = (select(*_CASE_COLUMNS)
            .where(Case.queue_id == bindparam("queue_id"), WAITING)
            .order_by(Case.priority.desc(), Case.queued_at, Case.id).limit(bindparam("limit"))
            .with_for_update(skip_locked=True))


def route_waiting(session: Session, queue_id: int, limit: int = 50, now: datetime | None = None) -> Effects:
    """Route up to `limit` waiting cases of one queue, best first, in one transaction (a burst arrived,
    or capacity freed for many). Each case gets its own decision and explanation exactly as `route_case`
    would give it; the queue and its agents are read once and their load is kept in memory across the
    batch, while every slot is still taken by the guarded UPDATE. Cases another transaction holds locked
    are skipped (PostgreSQL SKIP LOCKED; SQLite serialises writers). Flushes; the caller commits.
    """
    now = now or utcnow()
    return _route_locked(session, execute_core(session, _WAITING, {"queue_id": queue_id, "limit": limit}).all(), now)


_LOCK_CASES = (select(*_CASE_COLUMNS).where(Case.id.in_(bindparam("case_ids", expanding=True)))
               .order_by(Case.id).with_for_update())


def route_cases(session: Session, case_ids: list[int], now: datetime | None = None) -> Effects:
    """Route the given cases (the new and reopened cases of an intake batch) in one transaction, in the
    order given, each exactly as `route_case` would: same decision, same explanation. The cases are
    locked in id order in one statement; those not waiting any more are left alone, so a retry is a
    no-op. Each queue and its agents are read once for the batch. Flushes; the caller commits.
    """
    now = now or utcnow()
    order = {case_id: n for n, case_id in enumerate(case_ids)}
    locked = execute_core(session, _LOCK_CASES, {"case_ids": list(order)}).all()
    return _route_locked(session, sorted((c for c in locked if _is_waiting(c)), key=lambda c: order[c.id]), now)


# ---- offers ----------------------------------------------------------------------------------------


_OFFER = select(RoutingDecision.case_id, RoutingDecision.user_id).where(
    RoutingDecision.id == bindparam("decision_id"), RoutingDecision.kind == DecisionKind.OFFER)
_OFFER_STATE = select(RoutingDecision.outcome, RoutingDecision.expires_at).where(
    RoutingDecision.id == bindparam("decision_id"))


def _open_offer(session: Session, decision_id: int):
    """The offer and its case, the case row locked; None when the offer is not open any more (its state is
    read again once the case is locked: an answer or a timeout may have come first)."""
    offer = execute_core(session, _OFFER, {"decision_id": decision_id}).one_or_none()
    if offer is None:
        raise RoutingError(f"no offer {decision_id}")
    case = _lock_case(session, offer.case_id)
    current = execute_core(session, _OFFER_STATE, {"decision_id": decision_id}).one()
    if case is None or current.outcome is not DecisionOutcome.OFFERED or case.offered_to_id != offer.user_id:
        return None
    return offer, case, current.expires_at


_ANSWER = (update(RoutingDecision).where(RoutingDecision.id == bindparam("b_decision"))
           .values(outcome=bindparam("outcome"), responded_at=bindparam("responded_at")))


def _answer_offer(session: Session, decision_id: int, outcome: DecisionOutcome, now: datetime) -> None:
    """Store the offer's answer (accepted, declined, timed out), in its row and in the object held for it."""
    values = {"outcome": outcome, "responded_at": now}
    execute_update(session, _ANSWER, values | {"b_decision": decision_id}, RoutingDecision, decision_id, **values)


def accept_offer(session: Session, decision_id: int, user_id: int, now: datetime | None = None) -> Effects:
    """`user_id` takes the case offered to them: it becomes theirs, on the slot the offer held.

    Raises RoutingError for an unknown offer or one made to someone else. An offer that expired, was
    withdrawn or already answered is not accepted (empty Effects). Flushes; the caller commits.
    """
    now = now or utcnow()
    found = _open_offer(session, decision_id)
    if found is None:
        return Effects()
    offer, case, expires_at = found
    if offer.user_id != user_id:
        raise RoutingError(f"offer {decision_id} is not for user {user_id}")
    if expires_at is not None and now > expires_at:
        return Effects()                 # too late: the expiry job re-offers it
    _answer_offer(session, decision_id, DecisionOutcome.ACCEPTED, now)
    _update_case(session, case.id, now, assignee_id=user_id, offered_to_id=None, status=CaseStatus.ASSIGNED,
                 last_activity_at=now)
    return Effects(assigned=[(case.id, user_id, case.queue_id)])


def _close_offer(session: Session, decision_id: int, outcome: DecisionOutcome, now: datetime,
                 user_id: int | None = None) -> Effects:
    found = _open_offer(session, decision_id)
    if found is None:
        return Effects()
    offer, case, expires_at = found
    if user_id is not None and offer.user_id != user_id:
        raise RoutingError(f"offer {decision_id} is not for user {user_id}")
    if outcome is DecisionOutcome.TIMED_OUT and expires_at is not None and now < expires_at:
        return Effects()                 # an early timer (clock skew): the offer still stands
    _answer_offer(session, decision_id, outcome, now)
    _release_slot(session, case)
    _update_case(session, case.id, now, offered_to_id=None, declined_at=now, slot_channel=None)
    effects = Effects(closed_offers=[(decision_id, case.id, offer.user_id)], freed={offer.user_id})
    return effects.merge(route_case(session, case.id, now))


def decline_offer(session: Session, decision_id: int, user_id: int, now: datetime | None = None) -> Effects:
    """`user_id` turns the offer down; the case is offered to the next agent at once (not to them again
    while it stays in this queue). Raises RoutingError as accept_offer. Flushes; the caller commits."""
    return _close_offer(session, decision_id, DecisionOutcome.DECLINED, now or utcnow(), user_id)


def expire_offer(session: Session, decision_id: int, now: datetime | None = None) -> Effects:
    """Time out an unanswered offer and re-offer the case. No-op for an answered or not yet due offer."""
    return _close_offer(session, decision_id, DecisionOutcome.TIMED_OUT, now or utcnow())


# ---- agents ----------------------------------------------------------------------------------------


def set_presence(session: Session, user_id: int, presence: Presence, now: datetime | None = None) -> Effects:
    """Record an agent's presence. Going available recounts their slots and pulls waiting work (`freed`);
    going away or offline withdraws their open offers and re-routes those cases at once.

    Idempotent for an unchanged presence. Flushes; the caller commits.
    """
    now = now or utcnow()
    _lock_capacity_rows(session, user_id)
    agent = session.execute(select(User.presence, User.last_assigned_at, User.is_active)
                            .where(User.id == user_id).with_for_update()).one_or_none()
    if agent is None:
        raise RoutingError(f"no user {user_id}")
    if agent.presence is presence:
        return Effects()
    session.execute(update(User).where(User.id == user_id).values(presence=presence, presence_changed_at=now))
    if agent.is_active:
        roster.kept().loads.set_agent(user_id, presence.value, agent.last_assigned_at)
    effects = Effects(presence=[(user_id, presence.value, now)])
    if presence is Presence.AVAILABLE:
        reconcile(session, user_id)
        effects.freed.add(user_id)
        return effects
    open_offers = session.execute(select(RoutingDecision.id).where(
        RoutingDecision.user_id == user_id, RoutingDecision.outcome == DecisionOutcome.OFFERED)).scalars().all()
    for decision_id in open_offers:
        effects.merge(_close_offer(session, decision_id, DecisionOutcome.CANCELLED, now))
    return effects


def agents_with_free_slots(session: Session) -> list[int]:
    """The active, available agents with a free slot on some channel, by id."""
    return session.execute(
        select(User.id).join(UserCapacity, UserCapacity.user_id == User.id)
        .where(User.is_active, User.presence == Presence.AVAILABLE, UserCapacity.used < UserCapacity.slots)
        .distinct().order_by(User.id)).scalars().all()


def return_unanswered(session: Session, user_id: int, offline_since: datetime, now: datetime | None = None) -> Effects:
    """Put back in the queue the assigned cases of an agent who went offline at `offline_since` and has
    not answered them (no first response). No-op when the agent came back since. Flushes."""
    now = now or utcnow()
    user = session.execute(select(User.presence, User.presence_changed_at).where(User.id == user_id)).one_or_none()
    if user is None or user.presence is not Presence.OFFLINE or user.presence_changed_at != offline_since:
        return Effects()
    case_ids = session.execute(select(Case.id).where(
        Case.assignee_id == user_id, Case.status == CaseStatus.ASSIGNED, Case.first_responded_at.is_(None),
        Case.queue_id.is_not(None))).scalars().all()
    effects = Effects()
    for case_id in case_ids:
        effects.merge(_unassign(session, case_id, now, "owner offline, unanswered", None))
    return effects


def _probe_arm(n: int):
    """The first waiting cases of one queue (`queue_id_<n>`) and priority an agent could take: a walk of the
    index of waiting cases (`ix_cases_waiting`) that stops at LIMIT, whatever the backlog and the queue's
    history. Each row says which queue of the statement it came from (`arm`)."""
    declined = (select(RoutingDecision.id).where(
        RoutingDecision.case_id == Case.id, RoutingDecision.user_id == bindparam("user_id"),
        RoutingDecision.outcome.in_((DecisionOutcome.DECLINED, DecisionOutcome.TIMED_OUT)),
        RoutingDecision.created_at >= func.coalesce(Case.entered_queue_at, Case.queued_at)).exists())
    return (select(Case.id, Case.priority, Case.queued_at, literal_column(str(n), Integer).label("arm"))
            .where(Case.queue_id == bindparam(f"queue_id_{n}"), WAITING,
                   Case.priority == bindparam("priority", type_=Case.priority.type),
                   Case.channel.in_(bindparam("channels", expanding=True)),
                   or_(Case.language.in_(bindparam("languages", expanding=True)), Case.language.is_(None)),
                   or_(~bindparam(f"relaxed_only_{n}"), Case.is_skill_relaxed),
                   or_(Case.channel.not_in(tuple(OFFER_CHANNELS)), ~declined))
            .order_by(Case.queued_at, Case.id).limit(bindparam("limit")))


@functools.lru_cache(maxsize=16)
def _probes(count: int):
    """`_probe_arm` for each of `count` queues, in one statement: one round trip a priority."""
    return union_all(*(_probe_arm(n).subquery(f"arm_{n}").select() for n in range(count)))


# The agent with their capacity rows (a row per channel, or one of NULL channel columns), and the staffing token.
_AGENT = (select(User.presence, User.last_assigned_at, roster.LANGUAGES_TEXT, UserCapacity.channel,
                 UserCapacity.slots, UserCapacity.used, roster.TOKEN)
          .outerjoin(UserCapacity, UserCapacity.user_id == User.id)
          .where(User.id == bindparam("user_id"), User.is_active))


def _seen_agent(loads: roster.Loads, user_id: int, rows: list) -> None:
    """Keep the agent as `_AGENT` just read them in the process's loads: the freed agent `fill` routes for
    is then ranked as they are, whoever freed the slot."""
    loads.set_agent(user_id, rows[0].presence.value, rows[0].last_assigned_at)
    for row in rows:
        if row.channel is not None:
            loads.set_slot(user_id, row.channel, row.slots, row.used)


def _waiting_case_ids(session: Session, servable: tuple[roster.Servable, ...], user_id: int,
                      channels: list[Channel], languages: list[str], limit: int) -> list[int]:
    """The first waiting cases `user_id` could take in the queues they can serve, best first. Priorities
    are walked from the top, all the queues at once, and the walk stops at the first priority with a match,
    so a backlog costs a few index probes and usually one round trip."""
    if not servable:
        return []
    params = {"channels": channels, "languages": languages, "user_id": user_id, "limit": limit}
    for n, queue in enumerate(servable):
        params |= {f"queue_id_{n}": queue.queue_id, f"relaxed_only_{n}": queue.relaxed_only}
    for priority in sorted(Priority, reverse=True):
        rows = execute_core(session, _probes(len(servable)), params | {"priority": priority}).all()
        if rows:
            found = sorted((rules.waiting_order(int(r.priority), r.queued_at, servable[r.arm].queue_priority), r.id)
                           for r in rows)
            return [case_id for _key, case_id in found[:limit]]
    return []


def fill(session: Session, user_id: int, now: datetime | None = None) -> Effects:
    """Route the best waiting case the agent could take, if they have a free slot ("pull" on a freed slot).

    Routes at most one case, so that a transaction holds few locks; `freed` names the agent again when
    a case was routed, for the caller to go on. The case goes through `route_case`, so its queue's
    strategy still picks among all who could take it. A no-op for an agent who is not available. Flushes.
    """
    now = now or utcnow()
    rows = execute_core(session, _AGENT, {"user_id": user_id}).all()
    if not rows or rows[0].presence is not Presence.AVAILABLE:
        return Effects()
    spare = [r.channel for r in rows if r.channel is not None and r.used < r.slots]
    if not spare:
        return Effects()
    staffing = roster.for_token(rows[0].staffing_token)
    _seen_agent(staffing.loads, user_id, rows)
    waiting = _waiting_case_ids(session, staffing.servable(session, user_id), user_id, spare,
                                list(roster.languages(rows[0].languages)), 3)
    for case_id in waiting:
        effects = _route_one(session, case_id, now, staffing)
        if effects.assigned or effects.offered:
            effects.freed.add(user_id)
            return effects
    return Effects()


# ---- releases and supervisors' hand ----------------------------------------------------------------


def _unassign(session: Session, case_id: int, now: datetime, reason: str, by_user_id: int | None,
              queue_id: int | None = None) -> Effects:
    """Take a case back from its owner or offer into a queue (its own, or `queue_id`), then route it."""
    case = _lock_case(session, case_id)
    if case is None or case.status not in OPEN_STATUSES:
        return Effects()
    effects = Effects()
    if case.offered_to_id is not None:
        effects.closed_offers += _cancel_open_offers(session, case.id, now)
    freed = _release_slot(session, case)
    if freed is not None:
        effects.freed.add(freed)
    target = queue_id or case.queue_id
    values = {"assignee_id": None, "offered_to_id": None, "slot_channel": None, "status": CaseStatus.NEW,
              "queue_id": target}
    if target != case.queue_id:
        values |= {"entered_queue_at": now, "is_skill_relaxed": False}
    _update_case(session, case.id, now, **values)
    _record(session, case_id=case.id, queue_id=target, user_id=case.assignee_id or case.offered_to_id,
            kind=DecisionKind.RELEASE, outcome=DecisionOutcome.RETURNED, rule=reason, decided_by_id=by_user_id,
            explanation={"reason": reason, "from_queue": case.queue_id, "to_queue": target}, created_at=now)
    return effects.merge(route_case(session, case.id, now))


def _cancel_open_offers(session: Session, case_id: int, now: datetime) -> list[tuple[int, int, int]]:
    rows = session.execute(select(RoutingDecision.id, RoutingDecision.user_id).where(
        RoutingDecision.case_id == case_id, RoutingDecision.outcome == DecisionOutcome.OFFERED)).all()
    session.execute(update(RoutingDecision).where(RoutingDecision.id.in_([r.id for r in rows]))
                    .values(outcome=DecisionOutcome.CANCELLED, responded_at=now))
    return [(r.id, case_id, r.user_id) for r in rows]


def return_to_queue(session: Session, case_id: int, by_user_id: int | None = None,
                    now: datetime | None = None) -> Effects:
    """Take the case from its owner (or withdraw its offer) and route it again; it keeps its `queued_at`.
    The caller checks the role. No-op for a closed or resolved case. Flushes; the caller commits."""
    return _unassign(session, case_id, now or utcnow(), "returned to the queue by hand", by_user_id)


def transfer(session: Session, case_id: int, queue_id: int, by_user_id: int | None = None,
             now: datetime | None = None) -> Effects:
    """Move the case to another queue, freeing its owner's slot, and route it there. Flushes."""
    return _unassign(session, case_id, now or utcnow(), "transferred", by_user_id, queue_id)


def assign_manually(session: Session, case_id: int, user_id: int, by_user_id: int | None = None, *,
                    force: bool = False, now: datetime | None = None) -> Effects:
    """A supervisor gives (or reassigns) an open case to `user_id`, whatever their presence.

    Needs a free slot on the case's channel unless `force`; raises RoutingError otherwise. The previous
    owner's slot or open offer is released. The caller checks the role. Flushes; the caller commits.
    """
    now = now or utcnow()
    case = _lock_case(session, case_id)
    if case is None or case.status not in OPEN_STATUSES:
        raise RoutingError(f"case {case_id} is not open")
    if case.assignee_id == user_id and case.offered_to_id is None:
        return Effects()
    capacity = update(UserCapacity).where(UserCapacity.user_id == user_id, UserCapacity.channel == case.channel)
    if not force:
        capacity = capacity.where(UserCapacity.used < UserCapacity.slots)
    taken = session.execute(capacity.values(used=UserCapacity.used + 1)
                            .returning(UserCapacity.slots, UserCapacity.used)).one_or_none()
    if taken is None:
        raise RoutingError(f"user {user_id} has no free {case.channel.value} slot")
    loads = roster.kept().loads
    loads.set_slot(user_id, case.channel, taken.slots, taken.used)
    if user_id in loads.agents:
        loads.set_agent(user_id, loads.agents[user_id][0], now)
    effects = Effects()
    if case.offered_to_id is not None:
        effects.closed_offers += _cancel_open_offers(session, case.id, now)
    freed = _release_slot(session, case)
    if freed is not None:
        effects.freed.add(freed)
    _update_case(session, case.id, now, assignee_id=user_id, offered_to_id=None, status=CaseStatus.ASSIGNED,
                 slot_channel=case.channel, last_activity_at=now)
    session.execute(update(User).where(User.id == user_id).values(last_assigned_at=now))
    _record(session, case_id=case.id, queue_id=case.queue_id, user_id=user_id, kind=DecisionKind.MANUAL,
            outcome=DecisionOutcome.ASSIGNED, rule="assigned by hand", decided_by_id=by_user_id, created_at=now,
            explanation={"previous_user_id": case.assignee_id, "forced": force})
    effects.assigned.append((case.id, user_id, case.queue_id))
    return effects


def resolve(session: Session, case_id: int, now: datetime | None = None) -> Effects:
    """Mark an open case resolved and free its slot (`freed` names who can take the next case). Flushes."""
    now = now or utcnow()
    case = _lock_case(session, case_id)
    if case is None or case.status not in OPEN_STATUSES:
        return Effects()
    effects = Effects()
    if case.offered_to_id is not None:
        effects.closed_offers += _cancel_open_offers(session, case.id, now)
    freed = _release_slot(session, case)
    _update_case(session, case.id, now, status=CaseStatus.RESOLVED, resolved_at=now, offered_to_id=None,
                 last_activity_at=now, slot_channel=None)
    if freed is not None:
        effects.freed.add(freed)
    return effects


def end_chat(session: Session, case_id: int) -> Effects:
    """A chat (or call) is over: its slot frees while the case stays with its owner for follow-up. Flushes."""
    case = _lock_case(session, case_id)
    if case is None or case.offered_to_id is not None:
        return Effects()
    freed = _release_slot(session, case)
    _update_case(session, case.id, utcnow(), slot_channel=None)
    return Effects(freed={freed} if freed is not None else set())


def overflow(session: Session, case_id: int, queue_id: int, now: datetime | None = None) -> Effects:
    """When a case has waited its queue's overflow delay there, move it to the overflow queue, or else drop
    the queue's non-essential skills for it; then route it. No-op when it is no longer waiting there."""
    now = now or utcnow()
    case = _lock_case(session, case_id)
    if case is None or not _is_waiting(case) or case.queue_id != queue_id:
        return Effects()
    queue = roster.current(session).queue(session, queue_id)
    due = _overflow_at(queue, case, case.is_skill_relaxed)
    if due is None or now < due - timedelta(seconds=1):
        return Effects()
    waited = round((now - (case.entered_queue_at or case.queued_at)).total_seconds())
    if queue.overflow_queue_id is not None:
        values = {"queue_id": queue.overflow_queue_id, "entered_queue_at": now, "is_skill_relaxed": False}
        explanation = {"from_queue": queue_id, "to_queue": queue.overflow_queue_id, "waited_seconds": waited}
        rule = "overflow to the fallback queue"
    else:
        values = {"is_skill_relaxed": True}
        explanation = {"dropped_skills": [s.code for s in queue.skills if not s.is_essential], "waited_seconds": waited}
        rule = "overflow: non-essential skills dropped"
    session.execute(update(Case).where(Case.id == case.id).values(**values))
    _record(session, case_id=case.id, queue_id=queue_id, kind=DecisionKind.OVERFLOW,
            outcome=DecisionOutcome.RETURNED, rule=rule, explanation=explanation, created_at=now)
    return route_case(session, case.id, now)

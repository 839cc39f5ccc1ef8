"""Pure routing rules over small dataclasses: eligibility, the strategies' scores and waiting order. No DB.

A candidate is filtered out for the first reason that applies, in this order: presence, language, skill,
capacity, declined (already declined or let the offer time out). The eligible rest is ranked by the
queue's strategy; ties fall to the agent who waited longest for work, then to the lowest id, so the
outcome never depends on the order rows came back in.
"""
import heapq
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from types import MappingProxyType
from typing import NamedTuple

# Reasons a candidate is not eligible, in the order they are checked.
PRESENCE, LANGUAGE, SKILL, CAPACITY, DECLINED = "presence", "language", "skill", "capacity", "declined"
REASONS = (PRESENCE, LANGUAGE, SKILL, CAPACITY, DECLINED)

LEAST_LOADED, ROUND_ROBIN, BEST_MATCH = "least_loaded", "round_robin", "best_match"
_NEVER = datetime.min.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class SkillNeed:
    skill_id: int
    code: str
    min_level: int = 1
    is_essential: bool = True


@dataclass(frozen=True)
class Need:
    """What a case asks of an agent: its channel, language and its queue's skills (with the relaxation)."""

    channel: str
    language: str | None
    skills: tuple[SkillNeed, ...] = ()
    is_relaxed: bool = False

    @cached_property
    def required_skills(self) -> tuple[SkillNeed, ...]:
        return tuple(s for s in self.skills if s.is_essential or not self.is_relaxed)


class Candidate(NamedTuple):
    """An agent as routing sees them for one channel: `slots` of that channel, `used` of them taken.

    A named tuple, not a dataclass: a decision builds one per agent of the queue (hundreds), and a tuple is
    several times cheaper to make. Change one with `_replace`."""

    user_id: int
    presence: str = "available"
    languages: tuple[str, ...] = ()
    skills: Mapping[int, int] = MappingProxyType({})         # skill id -> level
    slots: int = 0
    used: int = 0
    last_assigned_at: datetime | None = None
    name: str = ""

    @property
    def spare(self) -> int:
        return self.slots - self.used


class Ranked(NamedTuple):
    candidate: Candidate
    score: float


@dataclass
class Evaluation:
    """The candidates of one decision: the eligible ranked best first (all of them, or the best few asked
    for), how many were eligible, and the others by reason."""

    ranked: list[Ranked]
    filtered: dict[str, list[Candidate]]
    eligible: int

    @property
    def considered(self) -> int:
        return self.eligible + sum(len(c) for c in self.filtered.values())


def score(strategy: str, need: Need, candidate: Candidate) -> float:
    """Higher is better. least_loaded: spare slots; round_robin: seconds since the last assignment;
    best_match: skill levels above the minimum (all the queue's skills count, relaxed or not)."""
    return scorer(strategy, need)(candidate)


def scorer(strategy: str, need: Need) -> Callable[[Candidate], float]:
    """`score` for one strategy and need, as a function of the candidate alone: made once per case."""
    if strategy == ROUND_ROBIN:
        return lambda candidate: -(candidate.last_assigned_at or _NEVER).timestamp()
    if strategy == BEST_MATCH:
        needs = tuple((s.skill_id, s.min_level) for s in need.skills)
        return lambda candidate: float(sum(level - min_level + 1 for skill_id, min_level in needs
                                           if (level := candidate.skills.get(skill_id, 0)) >= min_level))
    return lambda candidate: float(candidate.slots - candidate.used)


def _rank_key(score_of: Callable[[Candidate], float]) -> Callable[[Candidate], tuple]:
    """Best first: the highest score, then the agent who waited longest for work, then the lowest id."""
    return lambda candidate: (-score_of(candidate), candidate.last_assigned_at or _NEVER, candidate.user_id)


def _lacks_skill(skills: Mapping[int, int], required: tuple[tuple[int, int], ...]) -> bool:
    for skill_id, min_level in required:
        if skills.get(skill_id, 0) < min_level:
            return True
    return False


def evaluate(strategy: str, need: Need, candidates: Iterable[Candidate],
             declined: frozenset[int] = frozenset(), best: int | None = None) -> Evaluation:
    """Filter `candidates` for `need`, each for the first reason that applies (see REASONS), and rank the
    eligible by `strategy`, best first: all of them, or only the `best` first (routing uses the pick and the
    few scores an explanation shows; most of a queue's agents may be eligible). Runs for every case against
    every agent of its queue: kept lean."""
    filtered: dict[str, list[Candidate]] = {reason: [] for reason in REASONS}
    away, unspoken, unskilled, full, refused = (filtered[reason] for reason in REASONS)
    language = need.language
    required = tuple((s.skill_id, s.min_level) for s in need.required_skills)
    eligible = []
    for candidate in candidates:
        if candidate.presence != "available":
            away.append(candidate)
        elif language and language not in candidate.languages:
            unspoken.append(candidate)
        elif required and _lacks_skill(candidate.skills, required):
            unskilled.append(candidate)
        elif candidate.slots <= candidate.used:
            full.append(candidate)
        elif candidate.user_id in declined:
            refused.append(candidate)
        else:
            eligible.append(candidate)
    score_of = scorer(strategy, need)
    order = _rank_key(score_of)
    best_first = sorted(eligible, key=order) if best is None else heapq.nsmallest(best, eligible, key=order)
    return Evaluation([Ranked(candidate, score_of(candidate)) for candidate in best_first], filtered, len(eligible))


def waiting_order(case_priority: int, queued_at: datetime, queue_priority: int = 0) -> tuple:
    """Sort key of waiting cases, first to serve first: priority, then the queue's, then the longest wait.

    `queued_at` is the first arrival, kept when a case is re-routed, so a returned case keeps its place.
    """
    return (-case_priority, -queue_priority, queued_at)

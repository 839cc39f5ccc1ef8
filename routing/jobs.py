"""RQ jobs of the routing queue. They take ids, open their own unit of work, and announce after commit.

Every job is idempotent: the engine re-checks the state under a row lock and no-ops when it moved on.
"""
import logging
from collections.abc import Callable
from datetime import datetime

from rq import get_current_job

from models import Presence, reading
from routing import dispatch, engine, presence

log = logging.getLogger(__name__)


def _run(step: Callable[..., engine.Effects], *args) -> engine.Effects:
    return dispatch.perform(get_current_job().connection, step, *args)


def assign_case(case_id: int) -> None:
    """Route one waiting case (assign or offer). Idempotent: an assigned, offered or vanished case is left alone."""
    effects = _run(engine.route_case, case_id)
    log.info("case %s routed: %s assigned, %s offered", case_id, len(effects.assigned), len(effects.offered))


def assign_cases(case_ids: list[int]) -> None:
    """Route the new and reopened cases of an intake batch in one transaction, each as `assign_case` would.
    Idempotent: cases that are not waiting any more are left alone."""
    effects = _run(engine.route_cases, case_ids)
    log.info("%s cases routed: %s assigned, %s offered", len(case_ids), len(effects.assigned), len(effects.offered))


def fill_agent(user_id: int) -> None:
    """Pull the best waiting cases for an agent with free slots."""
    effects = _run(engine.fill, user_id)
    log.info("agent %s filled: %s assigned, %s offered", user_id, len(effects.assigned), len(effects.offered))


def fill_free_agents() -> None:
    """Fill every available agent with a free slot on some channel, each as `fill_agent` would. Idempotent."""
    with reading() as session:
        user_ids = engine.agents_with_free_slots(session)
    routed = 0
    for user_id in user_ids:
        effects = _run(engine.fill, user_id)
        routed += len(effects.assigned) + len(effects.offered)
    log.info("%s agents with a free slot filled: %s cases routed", len(user_ids), routed)


def expire_offer(decision_id: int) -> None:
    """Time out an unanswered offer and offer the case to the next agent."""
    _run(engine.expire_offer, decision_id)


def overflow_case(case_id: int, queue_id: int) -> None:
    """Overflow a case that waited its queue's delay (fallback queue, or non-essential skills dropped)."""
    _run(engine.overflow, case_id, queue_id)


def return_unanswered(user_id: int, offline_since: str) -> None:
    """Return an offline agent's unanswered cases to their queues, unless they came back meanwhile."""
    effects = _run(engine.return_unanswered, user_id, datetime.fromisoformat(offline_since))
    log.info("agent %s offline: %s cases re-routed", user_id, len(effects.assigned) + len(effects.offered))


def go_offline_if_disconnected(user_id: int) -> None:
    """Mark an agent offline when none of their consoles reconnected within the grace period."""
    if presence.open_sockets(get_current_job().connection, user_id):
        return
    _run(engine.set_presence, user_id, Presence.OFFLINE)
    log.info("agent %s offline: last console closed", user_id)

"""RQ jobs of the routing queue. They take ids, open their own unit of work, and announce after commit."""
import logging

from models import transaction
from routing import engine, signals

log = logging.getLogger(__name__)


def assign_case(case_id: int) -> None:
    """Route one waiting case. Idempotent: an assigned or vanished case is left alone."""
    with transaction() as session:
        case = engine.assign(session, case_id)
        if case is None:
            log.warning("case %s vanished before routing", case_id)
            return
        caseworker_id, queue_id = case.assignee_id, case.queue_id
    if caseworker_id is None:
        log.info("case %s waits: nobody available", case_id)
        return
    signals.case_assigned.send(case_id, caseworker_id=caseworker_id, queue_id=queue_id)
    log.info("case %s assigned to caseworker %s", case_id, caseworker_id)

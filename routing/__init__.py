"""Routing: the public API that channels/ and caseworker/ use."""
from redis import Redis
from rq import Queue
from rq.job import Job

from routing import jobs
from routing.dispatch import ASSIGN_RETRY, ROUTING_QUEUE, announce, perform, request_fill, schedule_offline_check
from routing.dispatch import request_assignments, request_recovery
from routing.settings import configure
from routing.sla import configure as configure_sla
from routing.sla import apply_sla, next_due, record_first_response, sla_state, sync_sla
from routing.sla_jobs import request_sla_sweep, request_sla_timers

__all__ = ["ROUTING_QUEUE", "announce", "configure", "perform", "request_assignment", "request_fill",
           "request_assignments", "request_recovery",
           "schedule_offline_check",
           "apply_sla", "configure_sla", "next_due", "record_first_response", "request_sla_sweep", "request_sla_timers",
           "sla_state", "sync_sla"]


def request_assignment(redis: Redis, case_id: int) -> Job:
    """Enqueue routing of `case_id`, and setting its SLA timers (every new or reopened case comes this way).
    Call after the case is committed."""
    request_sla_timers(redis, case_id)
    return Queue(ROUTING_QUEUE, connection=redis).enqueue(
        jobs.assign_case, case_id, job_timeout=30, retry=ASSIGN_RETRY
    )

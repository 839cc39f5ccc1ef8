"""Routing: the public API that channels/ and caseworker/ use."""
from redis import Redis
from rq import Queue, Retry
from rq.job import Job

from routing import jobs
from routing.dispatch import ROUTING_QUEUE, announce, perform, request_fill, schedule_offline_check
from routing.settings import configure

__all__ = ["ROUTING_QUEUE", "announce", "configure", "perform", "request_assignment", "request_fill",
           "schedule_offline_check"]


def request_assignment(redis: Redis, case_id: int) -> Job:
    """Enqueue routing of `case_id`. Call after the case is committed."""
    return Queue(ROUTING_QUEUE, connection=redis).enqueue(
        jobs.assign_case, case_id, job_timeout=30, retry=Retry(max=3, interval=[5, 30, 120])
    )

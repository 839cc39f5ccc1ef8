"""Which agents have a console open: a Redis set of socket ids per agent, shared by all web processes.

A web process that dies leaves its socket ids behind; such an agent then goes offline only by hand or
at their next disconnect. The sets only decide *when* to look; presence itself lives in the database.
"""
from redis import Redis

_KEY = "casework:sockets:{}"


def socket_opened(redis: Redis, user_id: int, sid: str) -> None:
    redis.sadd(_KEY.format(user_id), sid)


def socket_closed(redis: Redis, user_id: int, sid: str) -> int:
    """Forget one socket; returns how many the agent still has open."""
    key = _KEY.format(user_id)
    pipe = redis.pipeline()
    pipe.srem(key, sid)
    pipe.scard(key)
    return pipe.execute()[1]


def open_sockets(redis: Redis, user_id: int) -> int:
    return redis.scard(_KEY.format(user_id))

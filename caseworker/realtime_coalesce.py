"""Coalescing of broadcast "something changed, re-fetch" pushes, shared by every process through Redis.

A broadcast such as `queue.changed` to a team's room makes every socket in the room re-fetch a partial; one
per contact at 50 contacts a second is thousands of socket writes a second for news a page takes at most
once a second. So each (event, room, key) is announced at most once per window, with two edges:

- leading: the first change after a quiet window is emitted at once (`SET lead NX PX window` wins);
- trailing: a change inside the window is parked (its latest payload under `pending`, its due time, the
  end of the window, in one sorted set) and a flusher emits it when the window ends, then opens a new
  window. The last change is announced within about one window, never dropped.

The flusher runs in the web processes (`start_flusher`, a background task started with the first socket
connection), never in the process that parked the change: an RQ work-horse exits as soon as its job is
done and a thread of its would die with it, and a web process is alive whenever anyone can listen. Any
number of web processes may flush; the flush script hands each parked change to exactly one of them.
Personal events (one user's room, a case's or a chat's room) are not coalesced: callers emit them directly.
"""
import json
import logging
import threading
import time
from collections.abc import Callable

from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

PREFIX = "casework:coalesce:"
DUE = PREFIX + "due"
FLUSH_BATCH = 200

# KEYS: lead, pending, due. ARGV: window ms, payload, member. 1 = emit now (leading edge), 0 = parked.
_PARK = """
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then
  redis.call('DEL', KEYS[2])               -- a change parked in the last window is superseded by this push
  redis.call('ZREM', KEYS[3], ARGV[3])
  return 1
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then ttl = 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('SET', KEYS[2], ARGV[2], 'PX', tonumber(ARGV[1]) * 20 + 60000)
redis.call('ZADD', KEYS[3], 'NX', now + ttl, ARGV[3])
return 0
"""

# KEYS: due. ARGV: prefix, window ms, batch. Returns the payloads now due; each starts a new window.
_TAKE_DUE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, member in ipairs(due) do
  redis.call('ZREM', KEYS[1], member)
  local pending = ARGV[1] .. 'pending:' .. member
  local payload = redis.call('GET', pending)
  if payload then
    redis.call('DEL', pending)
    redis.call('SET', ARGV[1] .. 'lead:' .. member, '1', 'PX', ARGV[2])
    table.insert(out, payload)
  end
end
return out
"""

Emit = Callable[[str, dict, str], None]          # (event, data, room)


def member(event: str, room: str, key: object) -> str:
    """The name of one coalesced stream: an event to a room about one thing (a queue id, or nothing)."""
    return f"{event}|{room}|{key}"


def announce(redis: Redis, window_ms: int, emit: Emit, event: str, data: dict, room: str, key: object = "") -> bool:
    """Emit `event` to `room` now, or park it for the window's trailing flush when one went out this window.

    `window_ms` 0 emits every time. Returns True when emitted now. The parked payload replaces any earlier
    one of the same stream (the latest ids win). When Redis is away the event is emitted at once (a push
    too many beats a push lost). Writes to Redis; never raises RedisError.
    """
    if window_ms <= 0:
        emit(event, data, room)
        return True
    name = member(event, room, key)
    payload = json.dumps({"event": event, "room": room, "data": data})
    try:
        leading = bool(redis.eval(_PARK, 3, PREFIX + "lead:" + name, PREFIX + "pending:" + name, DUE,
                                  window_ms, payload, name))
    except RedisError as error:
        log.warning("coalescing unavailable (%s): emitting %s directly", type(error).__name__, event)
        leading = True
    if leading:
        emit(event, data, room)
    return leading


def flush_due(redis: Redis, window_ms: int, emit: Emit) -> int:
    """Emit every parked change whose window has ended, each by exactly one caller. Returns how many.

    Writes to Redis (each emitted stream opens a new window); raises RedisError when Redis is away.
    """
    emitted = 0
    while True:
        payloads = redis.eval(_TAKE_DUE, 1, DUE, PREFIX, window_ms, FLUSH_BATCH)
        for raw in payloads:
            parked = json.loads(raw)
            emit(parked["event"], parked["data"], parked["room"])
        emitted += len(payloads)
        if len(payloads) < FLUSH_BATCH:
            return emitted


class Flusher:
    """The trailing edge in a long-lived process: polls Redis a few times a window and emits what is due."""

    def __init__(self, redis: Redis, window_ms: int, emit: Emit):
        self.redis, self.window_ms, self.emit = redis, window_ms, emit
        self.interval = min(max(window_ms / 4000, 0.02), 0.25)
        self.stopped = threading.Event()

    def run(self) -> None:
        """Flush until `stop`; a Redis outage is logged once and retried (parked changes wait in Redis)."""
        failing = False
        while not self.stopped.wait(self.interval):
            try:
                flush_due(self.redis, self.window_ms, self.emit)
                failing = False
            except RedisError as error:
                if not failing:
                    log.warning("coalesced pushes wait: Redis unavailable (%s)", type(error).__name__)
                failing = True
            except Exception:  # noqa: BLE001  (the flusher must outlive one bad emit)
                log.exception("coalesced push failed")

    def stop(self) -> None:
        self.stopped.set()


def wait_for(redis: Redis, timeout: float) -> bool:
    """True once nothing is parked (for tests and benchmarks); False when `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while redis.zcard(DUE):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True

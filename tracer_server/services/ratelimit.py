"""Rate limits on anonymous device calls, in this process or shared through Redis.

Identifiers are HMAC'd under a key that rotates every UTC day (the server's pepper with the
day), so neither memory nor Redis holds an address, and a day's identifiers cannot be linked to
the next day's. Both limiters allow ``limit`` attempts in any sliding minute; with
``redis_url`` set, every server process shares the count (:class:`RedisLimiter`).
"""

from __future__ import annotations

import secrets
from collections import deque
from datetime import UTC, datetime
from typing import Protocol

from tracer_server.clock import Clock
from tracer_server.errors import RateLimited
from tracer_server.secrets_store import ServerKeys

__all__ = ["Limiter", "MemoryLimiter", "RedisLimiter", "client_identifier"]

_MESSAGE = "too many attempts: wait a minute and try again"


def client_identifier(keys: ServerKeys, address: str, now: datetime) -> bytes:
    day = now.astimezone(UTC).date().isoformat()
    return keys.digest(f"client:{day}:{address}")


class Limiter(Protocol):
    def check(self, identifier: bytes) -> None: ...


class MemoryLimiter:
    """At most ``limit`` attempts per identifier per sliding minute, in this process."""

    def __init__(self, limit: int, clock: Clock) -> None:
        self._limit, self._clock = limit, clock
        self._seen: dict[bytes, deque[float]] = {}

    def check(self, identifier: bytes) -> None:
        now = self._clock.now()
        window = self._seen.setdefault(identifier, deque())
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) >= self._limit:
            raise RateLimited(_MESSAGE)
        window.append(now)
        if len(self._seen) > 100_000:  # forget idle clients rather than grow without bound
            self._seen = {k: v for k, v in self._seen.items() if v and v[-1] > now - 60}


class RedisLimiter:
    """At most ``limit`` attempts per identifier in any sliding minute, across processes.

    One sorted set per identifier holds the accepted attempts' times (the server's clock); a Lua
    script drops those older than a minute, counts, and adds the new one only when under the
    limit, atomically. A refused attempt is not counted, as in :class:`MemoryLimiter`. (A fixed
    clock-minute window let ``2 × limit`` attempts through across a minute boundary.)
    """

    _SCRIPT = """
local key, now, window, limit = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZCARD', key) >= limit then return 0 end
redis.call('ZADD', key, now, ARGV[4])
redis.call('EXPIRE', key, math.ceil(window) + 1)
return 1
"""

    def __init__(self, url: str, limit: int, clock: Clock, prefix: str = "bluezone:rl:") -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._limit, self._clock, self._prefix = limit, clock, prefix
        self._allow = self._redis.register_script(self._SCRIPT)

    def check(self, identifier: bytes) -> None:
        key = f"{self._prefix}{identifier.hex()[:32]}"
        attempt = secrets.token_hex(8)  # members must differ when two attempts share a time
        if not int(self._allow(keys=[key], args=[repr(self._clock.now()), 60, self._limit, attempt])):
            raise RateLimited(_MESSAGE)

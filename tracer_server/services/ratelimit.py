"""Rate limits on anonymous device calls, in this process or shared through Redis.

Identifiers are HMAC'd under a key that rotates every UTC day (the server's pepper with the
day), so neither memory nor Redis holds an address, and a day's identifiers cannot be linked to
the next day's. With ``redis_url`` set, every server process shares one count per identifier
per minute (fixed window, ``INCR`` + ``EXPIRE``).
"""

from __future__ import annotations

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
    """At most ``limit`` attempts per identifier per clock minute, across processes."""

    def __init__(self, url: str, limit: int, clock: Clock, prefix: str = "bluezone:rl:") -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._limit, self._clock, self._prefix = limit, clock, prefix

    def check(self, identifier: bytes) -> None:
        minute = int(self._clock.now() // 60)
        key = f"{self._prefix}{identifier.hex()[:32]}:{minute}"
        pipe = self._redis.pipeline()
        pipe.incr(key)
        pipe.expire(key, 120)
        count, _ = pipe.execute()
        if int(count) > self._limit:
            raise RateLimited(_MESSAGE)

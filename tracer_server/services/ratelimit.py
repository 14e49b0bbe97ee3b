"""Rate limits on anonymous device calls, in this process or shared through Redis.

Identifiers are HMAC'd under a key that rotates every UTC day (the server's pepper with the
day), so neither memory nor Redis holds an address, and a day's identifiers cannot be linked to
the next day's. Both limiters allow ``limit`` attempts in any sliding minute; with
``redis_url`` set, every server process shares the count (:class:`RedisLimiter`).

The address is the ASGI scope's client: the TCP peer, or what ``X-Forwarded-For`` says only when
the peer is a proxy named in ``forwarded_allow_ips`` (uvicorn decides, before the app). An IPv6
client counts per /64, the block one subscriber gets: its 2^64 addresses are one client.
"""

from __future__ import annotations

import ipaddress
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
    return keys.digest(f"client:{day}:{_client_block(address)}")


def _client_block(address: str) -> str:
    """The address a limit counts: IPv4 as is, IPv6 by its /64, an IPv4-mapped IPv6 as IPv4."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address  # not an IP (a test client, a Unix socket): taken as it is
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class Limiter(Protocol):
    def check(self, identifier: bytes) -> None:
        """Count an attempt, or raise :class:`RateLimited` (and count nothing) at the limit."""

    def wait(self, identifier: bytes) -> float:
        """Seconds until :meth:`check` would pass (0.0 now); counts nothing."""


class MemoryLimiter:
    """At most ``limit`` attempts per identifier per sliding minute, in this process."""

    def __init__(self, limit: int, clock: Clock) -> None:
        self._limit, self._clock = limit, clock
        self._seen: dict[bytes, deque[float]] = {}

    def check(self, identifier: bytes) -> None:
        now = self._clock.now()
        window = self._window(identifier, now)
        if len(window) >= self._limit:
            raise RateLimited(_MESSAGE)
        window.append(now)
        if len(self._seen) > 100_000:  # forget idle clients rather than grow without bound
            self._seen = {k: v for k, v in self._seen.items() if v and v[-1] > now - 60}

    def wait(self, identifier: bytes) -> float:
        now = self._clock.now()
        window = self._window(identifier, now)
        return _wait([*window], self._limit, now)

    def _window(self, identifier: bytes, now: float) -> deque[float]:
        window = self._seen.setdefault(identifier, deque())
        while window and window[0] <= now - 60:
            window.popleft()
        return window


def _wait(times: list[float], limit: int, now: float) -> float:
    """Seconds until fewer than ``limit`` of the sorted attempt ``times`` are in the last minute."""
    if len(times) < limit:
        return 0.0
    return max(0.0, times[len(times) - limit] + 60 - now)


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
        attempt = secrets.token_hex(8)  # members must differ when two attempts share a time
        args: list[str | int] = [repr(self._clock.now()), 60, self._limit, attempt]
        if not int(self._allow(keys=[self._key(identifier)], args=args)):
            raise RateLimited(_MESSAGE)

    def wait(self, identifier: bytes) -> float:
        now = self._clock.now()
        # Read-only, so not atomic with check(): a wait may be a moment stale, never too long.
        scored: list[tuple[bytes, float]] = self._redis.zrangebyscore(  # type: ignore[assignment]
            self._key(identifier), f"({now - 60!r}", "+inf", withscores=True
        )
        return _wait(sorted(score for _, score in scored), self._limit, now)

    def _key(self, identifier: bytes) -> str:
        return f"{self._prefix}{identifier.hex()[:32]}"

"""Both limiters allow ``limit`` attempts in any sliding minute: in memory, and in the real Redis
shared by server processes (127.0.0.1:6379, database 15); and what a client is."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tracer_server.clock import ManualClock
from tracer_server.errors import RateLimited
from tracer_server.secrets_store import load_or_create_keys
from tracer_server.services.ratelimit import Limiter, MemoryLimiter, RedisLimiter, client_identifier
from tracer_server.settings import Settings

REDIS_URL = os.environ.get("BLUEZONE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
LIMIT = 3


def _memory(clock: ManualClock) -> Limiter:
    return MemoryLimiter(LIMIT, clock)


def _redis(clock: ManualClock) -> Limiter:
    return RedisLimiter(REDIS_URL, LIMIT, clock, prefix=f"bluezone:test:{secrets.token_hex(4)}:")


LIMITERS: dict[str, Callable[[ManualClock], Limiter]] = {
    "memory": _memory,
    "redis": pytest.param(_redis, marks=pytest.mark.slow),  # type: ignore[dict-item]
}


def _allowed(limiter: Limiter, who: bytes = b"device") -> bool:
    try:
        limiter.check(who)
    except RateLimited:
        return False
    return True


@pytest.mark.parametrize("make", list(LIMITERS.values()), ids=list(LIMITERS))
def test_a_minute_boundary_does_not_reset_the_count(make: Callable[[ManualClock], Limiter]) -> None:
    clock = ManualClock(datetime(2025, 11, 22, 10, 30, 59, 500_000, tzinfo=UTC))
    limiter = make(clock)
    assert [_allowed(limiter) for _ in range(LIMIT + 1)] == [True] * LIMIT + [False]
    clock.advance(seconds=1)  # 10:31:00.5, a new clock minute: a fixed window would reset here
    assert not _allowed(limiter)
    assert _allowed(limiter, b"someone else")
    clock.advance(seconds=59.1)  # 60.1 s after the first attempts: they have left the window
    assert [_allowed(limiter) for _ in range(LIMIT + 1)] == [True] * LIMIT + [False]


@pytest.mark.parametrize("make", list(LIMITERS.values()), ids=list(LIMITERS))
def test_refused_attempts_do_not_extend_the_wait(make: Callable[[ManualClock], Limiter]) -> None:
    clock = ManualClock(datetime(2025, 11, 22, 10, 0, tzinfo=UTC))
    limiter = make(clock)
    for _ in range(LIMIT):
        assert _allowed(limiter)
    for _ in range(30):  # hammering while refused
        clock.advance(seconds=1)
        assert not _allowed(limiter)
    clock.advance(seconds=30.5)
    assert _allowed(limiter)


@pytest.mark.parametrize("make", list(LIMITERS.values()), ids=list(LIMITERS))
def test_wait_says_when_the_next_attempt_passes_and_counts_nothing(
    make: Callable[[ManualClock], Limiter],
) -> None:
    clock = ManualClock(datetime(2025, 11, 22, 10, 0, tzinfo=UTC))
    limiter = make(clock)
    assert limiter.wait(b"device") == 0.0
    for _ in range(LIMIT):
        assert limiter.wait(b"device") == 0.0  # asking is free: the full limit is still there
        assert _allowed(limiter)
        clock.advance(seconds=10)
    # attempts at 0, 10 and 20 s; now 30 s: the one at 0 s leaves the window at 60 s
    assert limiter.wait(b"device") == pytest.approx(30.0)
    assert limiter.wait(b"someone else") == 0.0
    clock.advance(seconds=30.5)
    assert limiter.wait(b"device") == 0.0 and _allowed(limiter)


def test_an_ipv6_client_is_one_client_across_its_64_and_a_mapped_ipv4_is_the_ipv4(tmp_path: Path) -> None:
    keys = load_or_create_keys(Settings(data_dir=tmp_path))
    now = datetime(2025, 11, 22, 10, 0, tzinfo=UTC)

    def ident(address: str) -> bytes:
        return client_identifier(keys, address, now)

    assert ident("2001:db8:1:2::1") == ident("2001:db8:1:2:ffff:ffff:ffff:ffff")  # one subscriber
    assert ident("2001:db8:1:2::1") != ident("2001:db8:1:3::1")
    assert ident("::ffff:192.0.2.7") == ident("192.0.2.7") != ident("192.0.2.8")
    assert ident("192.0.2.7") != client_identifier(keys, "192.0.2.7", now + timedelta(days=1))  # daily key

"""Dependencies, one ``Annotated`` alias each, so handlers read as English."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session, sessionmaker

from tracer_server.clock import Clock, utcnow
from tracer_server.console.auth import SignInThrottle
from tracer_server.models import Official
from tracer_server.secrets_store import ServerKeys
from tracer_server.services.certificates import Authority
from tracer_server.services.officials import authenticate
from tracer_server.services.ratelimit import Limiter, client_identifier
from tracer_server.settings import Settings
from tracer_server.storage import ExportStorage

__all__ = [
    "AppState",
    "ClientId",
    "CurrentOfficial",
    "DbDep",
    "NowDep",
    "StateDep",
]


@dataclass
class AppState:
    settings: Settings
    keys: ServerKeys
    factory: sessionmaker[Session]
    clock: Clock
    storage: ExportStorage
    authorities: dict[str, Authority]
    limiter: Limiter
    issue_limiter: Limiter
    signin: SignInThrottle
    activity_limiter: Limiter


# Cheap dependencies are ``async def``: FastAPI runs a sync one in the thread pool, a hop each.
async def _state(request: Request) -> AppState:
    state: AppState = request.app.state.bluezone
    return state


StateDep = Annotated[AppState, Depends(_state)]


def _db(state: StateDep) -> Iterator[Session]:
    """One transaction per request: committed on success, rolled back on any error.

    Sync, so FastAPI opens and commits it in the thread pool: a commit waits on the database
    (under SQLite's write lock, up to its busy timeout) and must never wait on the event loop.

    ``scope="function"``: the commit happens when the handler returns, before the response is
    sent. With the default (request) scope FastAPI commits after sending, so a client's next
    call could miss what the last one wrote, and a failed commit would follow a 200.
    """
    with state.factory() as session, session.begin():
        yield session


DbDep = Annotated[Session, Depends(_db, scope="function")]


async def _now(state: StateDep) -> datetime:
    return utcnow(state.clock)


NowDep = Annotated[datetime, Depends(_now)]


def _official(state: StateDep, db: DbDep, x_api_key: Annotated[str | None, Header()] = None) -> Official:
    return authenticate(db=db, keys=state.keys, api_key=x_api_key)


CurrentOfficial = Annotated[Official, Depends(_official)]


async def _client_id(request: Request, state: StateDep) -> bytes:
    """The caller's address, HMAC'd at once under a daily key: rate limits need an identifier,
    logs need none."""
    host = request.client.host if request.client else "unknown"
    return client_identifier(state.keys, host, utcnow(state.clock))


ClientId = Annotated[bytes, Depends(_client_id)]

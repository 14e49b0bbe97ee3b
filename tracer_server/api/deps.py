"""Dependencies, one ``Annotated`` alias each, so handlers read as English."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader
from sqlalchemy.orm import Session, sessionmaker

from tracer_server.clock import Clock, utcnow
from tracer_server.console.auth import SignInThrottle
from tracer_server.errors import UnparsableRequest
from tracer_server.models import Official
from tracer_server.schemas import has_control_characters
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
    "refuse_control_characters",
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


# A security scheme, not a plain header, so the OpenAPI document says the route needs it (and
# schemathesis checks that a request without it is refused); a missing key is our 401.
_API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, description="An official's API key")


def _official(state: StateDep, db: DbDep, x_api_key: Annotated[str | None, Security(_API_KEY)]) -> Official:
    return authenticate(db=db, keys=state.keys, api_key=x_api_key)


CurrentOfficial = Annotated[Official, Depends(_official)]


async def _client_id(request: Request, state: StateDep) -> bytes:
    """The caller's address, HMAC'd at once under a daily key: rate limits need an identifier,
    logs need none."""
    host = request.client.host if request.client else "unknown"
    return client_identifier(state.keys, host, utcnow(state.clock))


ClientId = Annotated[bytes, Depends(_client_id)]


_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


async def refuse_control_characters(request: Request) -> None:
    """An app-wide dependency: path, query and form text with a control character is a 400
    before any handler or database sees it (JSON bodies: the ``Text`` pattern in schemas).

    Form fields may hold line breaks (a key file pasted in a text area); nothing else may."""
    texts = [
        *request.path_params.values(),
        *(text for pair in request.query_params.multi_items() for text in pair),
    ]
    if any(has_control_characters(text) for text in texts):
        raise UnparsableRequest("the path or query holds a control character")
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media in _FORMS:
        form = await request.form()  # starlette keeps it: the handler's Form() reads the same
        for name, value in form.multi_items():
            text = value if isinstance(value, str) else (value.filename or "")
            if has_control_characters(name) or has_control_characters(text, multiline=True):
                raise UnparsableRequest("a form field holds a control character")

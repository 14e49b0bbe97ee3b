"""Key server API: ``POST /v1/publish`` and the export files under ``/v1/exports/``."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi import Path as PathParam
from starlette.concurrency import run_in_threadpool

from tracer_server.api.deps import AppState, NowDep, StateDep
from tracer_server.db import transaction
from tracer_server.errors import NotFound, UnsupportedMediaType
from tracer_server.middleware import response_padding
from tracer_server.schemas import PublishRequest, PublishResponse, Text, error_responses
from tracer_server.services.publish import PublishOutcome, publish_keys
from tracer_server.storage import cache_control, media_type, valid_export_name

router = APIRouter(prefix="/v1", tags=["keys"])


def _json_only(request: Request) -> None:
    """Google's key server answers 415 to a body that is not ``application/json``."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise UnsupportedMediaType("the body must be application/json")


@router.post(
    "/publish",
    response_model=PublishResponse,
    dependencies=[Depends(_json_only)],
    responses=error_responses(400, 401, 413, 415),
)
async def publish(body: PublishRequest, state: StateDep, now: NowDep) -> PublishResponse:
    """Publish the TEKs a verification certificate covers (GAEN key server v1)."""
    # One hop to the thread pool for the whole transaction, commit included: a sync handler
    # would take two (FastAPI validates its return value in the pool too) and commit on the loop.
    outcome = await run_in_threadpool(_publish_in_transaction, state, body, now)
    return PublishResponse(
        revisionToken=outcome.revision_token,
        insertedExposures=outcome.inserted,
        code="partial_failure" if outcome.partial else "",
        warnings=outcome.warnings,
        padding=response_padding(),
    )


def _publish_in_transaction(state: AppState, body: PublishRequest, now: datetime) -> PublishOutcome:
    with transaction(state.factory) as db:
        return publish_keys(
            db=db, keys=state.keys, settings=state.settings, known=state.authorities, body=body, now=now
        )


_CACHE_HEADERS = {
    "ETag": {"description": "the file's SHA-256, quoted", "schema": {"type": "string"}},
    "Cache-Control": {
        "description": "immutable for a zip, short-lived for index.txt",
        "schema": {"type": "string"},
    },
}
_EXPORT_FILE = {
    "description": "a signed export zip, or index.txt: the zips' names, one a line",
    "headers": _CACHE_HEADERS,
    "content": {
        "application/zip": {"schema": {"type": "string", "format": "binary"}},
        "text/plain": {"schema": {"type": "string"}},
    },
}


@router.get(
    "/exports/{name}",
    response_class=Response,
    responses={
        200: _EXPORT_FILE,
        304: {"description": "not modified: If-None-Match holds the ETag", "headers": _CACHE_HEADERS},
        **error_responses(400, 404),
    },
)
def export_file(name: Annotated[Text, PathParam()], request: Request, state: StateDep) -> Response:
    """An export zip (immutable) or ``index.txt`` (short-lived), with an ETag."""
    data = state.storage.get(name) if valid_export_name(name) else None
    if data is None:
        raise NotFound("no such export file")
    etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": cache_control(name)}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(content=data, media_type=media_type(name), headers=headers)

"""``create_app(settings)``: the FastAPI application, its error handling and its export loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from tracer_server.api import keys as keys_api
from tracer_server.api import officials as officials_api
from tracer_server.api import verification as verification_api
from tracer_server.api.deps import AppState, refuse_control_characters
from tracer_server.clock import Clock, DemoClock, SystemClock, utcnow
from tracer_server.console import routes as console_routes
from tracer_server.console.auth import SignInThrottle
from tracer_server.db import make_engine, make_sessionmaker
from tracer_server.errors import (
    NotFound,
    PayloadTooLarge,
    ServerError,
    UnparsableRequest,
    describe_unexpected,
    error_body,
)
from tracer_server.middleware import AccessLog, BodyLimit, Chaff
from tracer_server.secrets_store import load_or_create_keys
from tracer_server.services.certificates import authorities
from tracer_server.services.cleanup import run_cleanup
from tracer_server.services.export_job import LockBusy, run_export
from tracer_server.services.ratelimit import MemoryLimiter, RedisLimiter
from tracer_server.settings import Settings
from tracer_server.storage import ExportStorage, storage_for

__all__ = ["clock_for", "create_app"]

log = logging.getLogger("tracer_server")


def clock_for(settings: Settings) -> Clock:
    if settings.clock_start is None:
        return SystemClock()
    return DemoClock(settings.clock_start, settings.clock_speed)


def _limiter(settings: Settings, limit: int, clock: Clock, audience: str) -> MemoryLimiter | RedisLimiter:
    if settings.redis_url:
        return RedisLimiter(settings.redis_url, limit, clock, prefix=f"bluezone:rl:{audience}:")
    return MemoryLimiter(limit, clock)


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    storage: ExportStorage | None = None,
    run_jobs: bool = False,
) -> FastAPI:
    """The app with its own engine, keys and storage; ``run_jobs`` schedules export and cleanup."""
    engine = make_engine(settings)
    keys = load_or_create_keys(settings)
    clock = clock or clock_for(settings)
    state = AppState(
        settings=settings,
        keys=keys,
        factory=make_sessionmaker(engine),
        clock=clock,
        storage=storage or storage_for(settings),
        authorities=authorities(settings, keys),
        limiter=_limiter(settings, settings.verify_attempts_per_minute, clock, "device"),
        issue_limiter=_limiter(settings, settings.issue_requests_per_minute, clock, "official"),
        signin=SignInThrottle(
            per_name_and_client=_limiter(settings, settings.signin_attempts_per_minute, clock, "signin"),
            per_client=_limiter(settings, settings.signin_client_attempts_per_minute, clock, "signin-client"),
            failures=_limiter(settings, settings.signin_failures_per_minute, clock, "signin-failures"),
        ),
        activity_limiter=_limiter(settings, settings.activity_signals_per_minute, clock, "activity"),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_job_loop(state)) if run_jobs else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            engine.dispose()

    app = FastAPI(
        title="bluezone tracer server",
        summary="GAEN verification and key server: codes, certificates, publish, signed exports",
        version="0.1.0",
        lifespan=lifespan,
        dependencies=[Depends(refuse_control_characters)],
    )
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    app.state.bluezone = state
    # Outermost first on the way in: the access log, chaff (timed from arrival), the body cap.
    app.add_middleware(BodyLimit, console_page=_too_large_page)
    app.add_middleware(Chaff)
    app.add_middleware(AccessLog)
    app.include_router(officials_api.router)
    app.include_router(verification_api.router)
    app.include_router(keys_api.router)
    app.include_router(console_routes.router)
    app.add_exception_handler(console_routes.SignInRequired, _to_sign_in)
    app.add_exception_handler(ServerError, _server_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)

    @app.get("/health", tags=["operations"])
    def health() -> dict[str, Any]:
        return {"status": "ok", "time": int(state.clock.now())}

    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document without its 422s: every validation error is answered with a 400
    (``_validation_error``), in the shape each route declares with ``error_responses``."""
    if app.openapi_schema is None:
        document = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                operation.get("responses", {}).pop("422", None)
        schemas = document.get("components", {}).get("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = document
    return app.openapi_schema


async def _job_loop(state: AppState) -> None:
    """Export and clean up every ``export_job_interval_seconds`` (in a thread: they block)."""
    while True:
        try:
            now = utcnow(state.clock)
            await asyncio.to_thread(
                run_export,
                factory=state.factory,
                settings=state.settings,
                storage=state.storage,
                signing_keys=state.keys.signing_keys,
                now=now,
            )
            await asyncio.to_thread(
                run_cleanup, factory=state.factory, settings=state.settings, storage=state.storage, now=now
            )
        except LockBusy:
            pass  # another process is exporting
        except Exception as exc:  # keep the server up; the next round retries from the database state
            # Classes and our frame only: a database error's text holds its parameters (key data).
            log.error("export job failed: %s", describe_unexpected(exc))
        await asyncio.sleep(state.settings.export_job_interval_seconds)


async def _to_sign_in(request: Request, exc: Exception) -> RedirectResponse:
    return RedirectResponse("/console/login", status_code=303)


def _is_console(path: str) -> bool:
    return path == "/console" or path.startswith("/console/")


async def _console_page(request: Request, error: ServerError) -> Response:
    """A console refusal as a console page; it reads the session, so off the event loop."""
    return await run_in_threadpool(console_routes.error_page, request, error)


async def _too_large_page(scope: Scope) -> Response:
    return await _console_page(Request(scope), PayloadTooLarge("request body too large"))


async def _server_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServerError)
    if _is_console(request.url.path):  # a page, not an API: say it in a page, in its language
        return await _console_page(request, exc)
    return JSONResponse(error_body(exc, request.url.path), status_code=exc.http_status)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if _is_console(request.url.path):  # a form field missing or too long: no field names for officials
        return await _console_page(request, UnparsableRequest("the form is not valid"))
    problems = []
    for error in exc.errors()[:5]:
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body") or "body"
        problems.append(f"{where}: {error.get('msg', 'invalid')}")
    message = "; ".join(problems) or "the request body is not valid JSON for this endpoint"
    error = UnparsableRequest(message)
    if request.url.path.startswith("/v1/"):
        return JSONResponse({"error": message, "code": "bad_request"}, status_code=400)
    return JSONResponse(error_body(error, request.url.path), status_code=400)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if _is_console(request.url.path) and exc.status_code in (404, 405):  # an unknown console address
        page = await _console_page(request, NotFound("no such console page", status=exc.status_code))
        page.headers.update(exc.headers or {})
        return page
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "bad_request")
    key = "code" if request.url.path.startswith("/v1/") else "errorCode"
    # The exception's headers go out with it: a 405's Allow (RFC 9110 requires it).
    return JSONResponse(
        {"error": str(exc.detail), key: code}, status_code=exc.status_code, headers=exc.headers
    )

"""ASGI middleware: body size cap, chaff, and an access log that records no one.

* **Body cap**: a request body over ``MAX_BODY_BYTES`` (64 KB, GENS) is refused with 413 before
  any parsing, whether it declares its length or streams it.
* **Chaff**: a POST to a device endpoint with an ``X-Chaff`` header is answered without touching
  the application or the database, after a latency and with a size drawn from recent real
  answers on the same path, the clock started at arrival (CWA issue #474: timing from a queue
  makes fakes faster than real requests under load). Apps send chaff so that uploaders do not
  stand out.
* **Access log**: method, route, status and duration only: no address, no user agent, no query.
* **Unexpected errors** end here, as a 500 whose message carries an error id, and one log line
  with the same id: method, route template and the error's classes and place, never its text
  (SQL parameters) nor the raw path (a ``%0a`` in it would start a forged log line). Nothing is
  re-raised: the server (uvicorn) would log the traceback with every value in it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import random
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from tracer_server.errors import describe_unexpected

__all__ = ["MAX_BODY_BYTES", "AccessLog", "BodyLimit", "Chaff", "response_padding"]

MAX_BODY_BYTES = 64_000
CHAFF_PATHS = ("/api/verify", "/api/certificate", "/v1/publish", "/api/user-activity")
_MAX_CHAFF_LATENCY = 1.0  # GENS's go-chaff caps replayed latency at 1 s

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

access_log = logging.getLogger("tracer_server.access")
error_log = logging.getLogger("tracer_server.errors")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})


def response_padding() -> str:
    """1024 + random(0…1024) random bytes, base64 (GENS ``RESPONSE_PADDING_MIN_BYTES`` / ``_RANGE``)."""
    return base64.b64encode(secrets.token_bytes(1024 + secrets.randbelow(1025))).decode()


async def _json(send: Send, status: int, body: dict[str, Any]) -> int:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": data})
    return len(data)


class BodyLimit:
    def __init__(
        self,
        app: ASGIApp,
        limit: int = MAX_BODY_BYTES,
        console_page: Callable[[Scope], Awaitable[ASGIApp]] | None = None,
    ) -> None:
        # console_page: the refusal of a console form, as a console page rather than JSON.
        self.app, self.limit, self.console_page = app, limit, console_page

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, refusal: dict[str, str]) -> None:
        if self.console_page is not None and scope["path"].startswith("/console/"):
            await (await self.console_page(scope))(scope, receive, send)
        else:
            await _json(send, 413, refusal)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        key = "code" if scope["path"].startswith("/v1/") else "errorCode"
        refusal = {"error": f"request body over {self.limit} bytes", key: "payload_too_large"}
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._refuse(scope, receive, send, refusal)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            size += len(message.get("body", b""))
            if size > self.limit:
                await self._refuse(scope, receive, send, refusal)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


class Chaff:
    """Answers ``X-Chaff`` requests like recent real ones; learns from real ones as they pass."""

    def __init__(self, app: ASGIApp, *, history: int = 64, rng: random.Random | None = None) -> None:
        self.app, self.rng = app, rng or random.Random()
        self.seen: dict[str, deque[tuple[float, int]]] = {path: deque(maxlen=history) for path in CHAFF_PATHS}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] != "POST" or path not in self.seen:
            await self.app(scope, receive, send)
            return
        arrived = time.monotonic()
        # "X-Chaff: 0" marks a real request that carries the header so as to look like chaff.
        if any(
            name.lower() == b"x-chaff" and value.strip() not in (b"", b"0")
            for name, value in scope["headers"]
        ):
            while (await receive()).get("more_body"):
                pass
            latency, size = self._sample(path)
            await asyncio.sleep(max(0.0, arrived + latency - time.monotonic()))
            # {"padding": "…"} of about the size real answers have.
            filler = max(0, size - 16)
            await _json(
                send, 200, {"padding": base64.b64encode(secrets.token_bytes(filler * 3 // 4)).decode()}
            )
            return
        size = 0

        async def measure(message: Message) -> None:
            nonlocal size
            if message["type"] == "http.response.body":
                size += len(message.get("body", b""))
                if not message.get("more_body"):
                    self.seen[path].append((time.monotonic() - arrived, size))
            await send(message)

        await self.app(scope, receive, measure)

    def _sample(self, path: str) -> tuple[float, int]:
        history = self.seen[path]
        if not history:
            return 0.05 + self.rng.random() * 0.1, 1024 + self.rng.randrange(1024) * 4 // 3
        latency, size = self.rng.choice(list(history))
        return min(latency, _MAX_CHAFF_LATENCY), size


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status, responded = time.monotonic(), 500, False

        async def watch(message: Message) -> None:
            nonlocal status, responded
            if message["type"] == "http.response.start":
                status, responded = message["status"], True
            await send(message)

        # The route template, never the raw path (it is the client's text: log injection); a
        # method we do not know is logged as "?" for the same reason.
        method = scope["method"] if scope["method"] in _METHODS else "?"
        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            error_id = secrets.token_hex(6)
            error_log.error("error %s: %s %s: %s", error_id, method, _route(scope), describe_unexpected(exc))
            if not responded:  # else the client sees the connection end mid-answer
                key = "code" if scope["path"].startswith("/v1/") else "errorCode"
                # A client already gone fails this send; raised here, it would carry the first
                # error (and its text) to uvicorn's traceback log as its context.
                with contextlib.suppress(Exception):
                    await _json(send, 500, {"error": f"internal error {error_id}", key: "internal_error"})
            status = 500
        finally:
            access_log.info(
                "%s %s %s %.0f ms", method, _route(scope), status, (time.monotonic() - started) * 1000
            )


def _route(scope: Scope) -> str:
    return getattr(scope.get("route"), "path", "<no route>")

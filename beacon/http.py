"""The beacon's one HTTP client: one timeout, retry and TLS policy, one error, for sync, report
and the activity signal alike.

Built on ``httpx2`` (the stack already ships it; the server's test client uses it). TLS is
verified with the system's trust store; a server URL is ``https://`` anywhere and plain
``http://`` only on loopback (``check_server_url``). Connection attempts are retried
(``RETRIES``) by the transport, never a request the server may have seen, so a publish is
never sent twice. Bodies are read up to a limit and no further.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any
from urllib.parse import urlsplit

import httpx2

from beacon.errors import BeaconError

__all__ = ["RETRIES", "TIMEOUT", "HttpError", "check_server_url", "get", "post"]

TIMEOUT = httpx2.Timeout(30.0, connect=10.0)
RETRIES = 2
_HEADERS = {"User-Agent": "bluezone-beacon"}


class HttpError(BeaconError):
    """The server could not be reached, refused, or answered too much; ``status`` when it answered."""

    def __init__(self, message: str, status: int | None = None, answer: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.answer = status, answer or {}


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_server_url(url: str) -> str:
    """``https://`` anywhere, ``http://`` only on loopback; returns the URL with a trailing slash."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise HttpError(f"server URL must be https://host/…, got {url!r}")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise HttpError("plain http is refused except on loopback (127.0.0.0/8, ::1, localhost): use https")
    return url if url.endswith("/") else url + "/"


def _client() -> httpx2.AsyncClient:
    return httpx2.AsyncClient(
        timeout=TIMEOUT,
        headers=_HEADERS,
        transport=httpx2.AsyncHTTPTransport(retries=RETRIES),
        follow_redirects=False,
    )


async def _send(
    method: str, url: str, limit: int, content: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    try:
        async with _client() as client:
            request = client.build_request(method, url, content=content, headers=headers)
            response = await client.send(request, stream=True)
            try:
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > limit:
                        raise HttpError(f"{urlsplit(url).path} is larger than {limit} bytes")
                return response.status_code, bytes(body)
            finally:
                await response.aclose()
    except httpx2.HTTPError as exc:
        raise HttpError(f"cannot reach the server: {type(exc).__name__}: {exc}") from None


def _refused(status: int, body: bytes, path: str) -> HttpError:
    try:
        answer = json.loads(body) if body else {}
    except ValueError:
        answer = {}
    answer = answer if isinstance(answer, dict) else {}
    return HttpError(str(answer.get("error") or f"server answered {status} for {path}"), status, answer)


async def get(url: str, limit: int) -> bytes:
    """The body of a 200 answer, at most ``limit`` bytes; HttpError otherwise."""
    status, body = await _send("GET", url, limit)
    if status != 200:
        raise _refused(status, body[:65536], urlsplit(url).path)
    return body


async def post(url: str, body: bytes, headers: dict[str, str], limit: int = 1 << 20) -> bytes:
    """POST ``body``; the answer's body on a 2xx, HttpError (with the server's JSON) otherwise."""
    status, answer = await _send("POST", url, limit, body, headers)
    if not 200 <= status < 300:
        raise _refused(status, answer[:65536], urlsplit(url).path)
    return answer

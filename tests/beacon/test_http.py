"""beacon.http: the one client sync, report and the activity signal share, against a real HTTP
server on loopback."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from beacon import http

from .conftest import dead_url


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def _answer(self, status: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/big":
            self._answer(200, b"x" * 5000, "application/octet-stream")
        elif self.path == "/agent":
            self._answer(200, self.headers["User-Agent"].encode(), "text/plain")
        else:
            self._answer(404, json.dumps({"error": "no such file"}).encode())

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/echo":
            self._answer(200, body)
        else:
            self._answer(400, json.dumps({"error": "code is not valid", "code": "bad_code"}).encode())


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def test_get_reads_a_body_up_to_its_limit_and_names_itself(server: str) -> None:
    assert asyncio.run(http.get(server + "agent", 100)) == b"bluezone-beacon"
    assert asyncio.run(http.get(server + "big", 5000)) == b"x" * 5000
    with pytest.raises(http.HttpError, match="larger than 4999 bytes"):
        asyncio.run(http.get(server + "big", 4999))


def test_a_refusal_carries_the_status_and_the_servers_own_error(server: str) -> None:
    with pytest.raises(http.HttpError) as missing:
        asyncio.run(http.get(server + "nothing", 100))
    assert missing.value.status == 404 and str(missing.value) == "no such file"
    with pytest.raises(http.HttpError) as refused:
        asyncio.run(http.post(server + "publish", b"{}", {"Content-Type": "application/json"}))
    assert refused.value.status == 400 and refused.value.answer["code"] == "bad_code"
    assert (
        asyncio.run(http.post(server + "echo", b'{"a": 1}', {"Content-Type": "application/json"}))
        == b'{"a": 1}'
    )


def test_an_unreachable_server_is_one_error_without_a_status() -> None:
    with pytest.raises(http.HttpError, match="cannot reach the server") as down:
        asyncio.run(http.get(dead_url() + "index.txt", 100))
    assert down.value.status is None


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://tracer.example.vn", True),
        ("http://127.0.0.1:8000/", True),
        ("http://[::1]:8000/", True),
        ("http://localhost/", True),
        ("http://tracer.example.vn/", False),
        ("ftp://tracer.example.vn/", False),
        ("https:///nohost", False),
    ],
)
def test_https_everywhere_and_plain_http_only_on_loopback(url: str, ok: bool) -> None:
    if ok:
        assert http.check_server_url(url).endswith("/")
    else:
        with pytest.raises(http.HttpError):
            http.check_server_url(url)

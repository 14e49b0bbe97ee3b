"""A real tracer server in a thread: uvicorn on a free loopback port, its clock given by the caller.

The demo and the simulator drive beacons through simulated time; the server reads the same
simulated clock (``clock``), so key ages, embargoes and export windows agree with the beacons.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tracer_server.clock import Clock
from tracer_server.settings import Settings

__all__ = ["RunningServer", "free_port", "serve_in_thread"]


@dataclass
class RunningServer:
    url: str
    app: Any

    @property
    def state(self) -> Any:
        return self.app.state.bluezone


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve_in_thread(settings: Settings, clock: Clock, *, timeout: float = 30.0) -> Iterator[RunningServer]:
    import uvicorn

    from tracer_server import migrate
    from tracer_server.app import create_app

    migrate.upgrade(settings)
    app = create_app(settings, clock=clock)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
            **settings.uvicorn_proxy_options,
        )
    )
    thread = threading.Thread(target=server.run, name="tracer-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the tracer server did not start")
        time.sleep(0.02)
    try:
        yield RunningServer(f"http://127.0.0.1:{port}/", app)
    finally:
        server.should_exit = True
        thread.join(timeout)

"""The opt-in "active today" signal (issue E3): once a UTC day, at a random time, padded.

With ``report_activity`` on (off by default) the beacon tells the server its user's district,
and nothing else; otherwise, when a server is configured, it sends the same-sized request as
chaff (``X-Chaff``), so the ones who opted in do not stand out on the network.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
import secrets
import urllib.error
import urllib.request
from urllib.parse import urljoin

from beacon.sync import check_server_url

__all__ = ["ActivitySignal"]

log = logging.getLogger("beacon.activity")
_DAY = 86_400.0


class ActivitySignal:
    def __init__(self, server_url: str, district: str, *, opted_in: bool, rng: random.Random) -> None:
        if opted_in and not district:
            raise ValueError("report_activity needs a district code")
        self.url = urljoin(check_server_url(server_url), "api/user-activity")
        self.district, self.opted_in, self.rng = district, opted_in, rng
        self.next_at: float | None = None
        self.sent = 0

    def schedule(self, now: float) -> float:
        day = now // _DAY * _DAY
        when = day + self.rng.uniform(0, _DAY)
        self.next_at = when if when > now else when + _DAY
        return self.next_at

    async def maybe_send(self, now: float) -> None:
        if self.next_at is None:
            self.schedule(now)
        assert self.next_at is not None
        if now < self.next_at:
            return
        self.next_at = (now // _DAY + 1) * _DAY + self.rng.uniform(0, _DAY)  # tomorrow, at random
        body = {
            "district": self.district or "none",
            "padding": base64.b64encode(secrets.token_bytes(512)).decode(),
        }
        headers = {"Content-Type": "application/json"}
        if not self.opted_in:
            headers["X-Chaff"] = "1"
        try:
            await asyncio.to_thread(self._post, json.dumps(body).encode(), headers)
            self.sent += 1
        except (urllib.error.URLError, OSError) as exc:
            log.info("activity signal not sent: %s", exc)

    def _post(self, data: bytes, headers: dict[str, str]) -> None:
        request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read(1 << 16)

"""The opt-in "active today" signal (issue E3): once a UTC day, at a random time, padded.

With ``report_activity`` on (off by default) the beacon tells the server its user's district,
and nothing else; otherwise, when a server is configured, it sends chaff: the same headers
(``X-Chaff: 1`` against the real ``X-Chaff: 0``) and a body of exactly the same length with no
district in it, so the ones who opted in do not stand out on the network and nothing of a user
who did not opt in leaves the device.
"""

from __future__ import annotations

import json
import logging
import random
import secrets
from urllib.parse import urljoin

from beacon import http
from beacon.sync import check_server_url

__all__ = ["BODY_BYTES", "ActivitySignal", "signal_body"]

log = logging.getLogger("beacon.activity")
_DAY = 86_400.0
BODY_BYTES = 768
"""Every signal's JSON body is this long, real or chaff (district codes are a few characters)."""
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def signal_body(district: str) -> bytes:
    """``{"district": …, "padding": …}`` padded with random base64 to exactly BODY_BYTES."""
    bare = json.dumps({"district": district, "padding": ""}).encode()
    if len(bare) > BODY_BYTES:
        raise ValueError("district code too long")
    padding = "".join(secrets.choice(_B64) for _ in range(BODY_BYTES - len(bare)))
    return json.dumps({"district": district, "padding": padding}).encode()


class ActivitySignal:
    def __init__(self, server_url: str, district: str, *, opted_in: bool, rng: random.Random) -> None:
        if opted_in and not district:
            raise ValueError("report_activity needs a district code")
        # Not opted in: the district is never kept, so it cannot be sent.
        district = district if opted_in else ""
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
        headers = {"Content-Type": "application/json", "X-Chaff": "0" if self.opted_in else "1"}
        data = signal_body(self.district)
        try:
            await self._post(data, headers)
            self.sent += 1
        except http.HttpError as exc:
            log.info("activity signal not sent: %s", exc)

    async def _post(self, data: bytes, headers: dict[str, str]) -> None:
        await http.post(self.url, data, headers, limit=1 << 16)

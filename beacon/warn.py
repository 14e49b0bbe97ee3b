"""How a warning reaches the user: a log line, a desktop notification, an optional hook command.

The desktop notification goes through the freedesktop Notifications service on the session
D-Bus when there is one (dbus-fast, imported only then). The hook runs without a shell, with
the warning in environment variables, never in its arguments.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["Notice", "Notifier"]

log = logging.getLogger("beacon.warn")


@dataclass(frozen=True, slots=True)
class Notice:
    day: int
    weighted_minutes: float
    withdrawn: bool = False

    @property
    def date(self) -> str:
        return datetime.fromtimestamp(self.day * 86_400, UTC).date().isoformat()

    @property
    def text(self) -> str:
        if self.withdrawn:
            return (
                f"The close-contact warning for {self.date} is withdrawn: a case revised its published "
                "keys (revoked them or changed their report type) and that day no longer reaches a close "
                "contact."
            )
        return (
            f"Close contact with a confirmed case on {self.date} "
            f"({self.weighted_minutes:.0f} weighted minutes). Watch for symptoms and follow the health "
            "authority's advice."
        )


class Notifier:
    def __init__(self, *, desktop: bool = True, hook: str | None = None) -> None:
        self.desktop, self.hook = desktop, hook
        self.sent: list[Notice] = []

    async def notify(self, notice: Notice) -> None:
        self.sent.append(notice)
        log.warning("%s", notice.text)
        if self.desktop and os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
            await self._desktop(notice)
        if self.hook:
            await self._run_hook(notice)

    async def _desktop(self, notice: Notice) -> None:
        try:
            from dbus_fast import Message, MessageType
            from dbus_fast.aio import MessageBus
        except ImportError:
            return
        try:
            bus = await asyncio.wait_for(MessageBus().connect(), 5)
            reply = await bus.call(
                Message(
                    destination="org.freedesktop.Notifications",
                    path="/org/freedesktop/Notifications",
                    interface="org.freedesktop.Notifications",
                    member="Notify",
                    signature="susssasa{sv}i",
                    body=["bluezone", 0, "dialog-warning", "Bluezone", notice.text, [], {}, -1],
                )
            )
            bus.disconnect()
            if reply is not None and reply.message_type == MessageType.ERROR:
                log.info("no desktop notification service: %s", reply.error_name)
        except (OSError, TimeoutError, ValueError) as exc:
            log.info("desktop notification failed: %s", exc)

    async def _run_hook(self, notice: Notice) -> None:
        assert self.hook is not None
        env = {
            **os.environ,
            "BLUEZONE_WARNING_DATE": notice.date,
            "BLUEZONE_WARNING_MINUTES": f"{notice.weighted_minutes:.1f}",
            "BLUEZONE_WARNING_WITHDRAWN": "1" if notice.withdrawn else "0",
        }
        try:
            process = await asyncio.create_subprocess_exec(*shlex.split(self.hook), env=env)
        except (OSError, ValueError) as exc:  # ValueError: the command line does not parse
            log.error("warning hook could not run: %s", exc)
            return
        try:
            code = await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()
            await process.wait()
            log.error("warning hook took over 30 s and was stopped")
            return
        if code:
            log.error("warning hook exited with status %s", code)

"""beacon.warn: the hook gets the warning in its environment; failures are logged, never raised;
no desktop notification without a session bus."""

from __future__ import annotations

import asyncio
import json
import logging
import shlex
import sys
from pathlib import Path

import pytest

from beacon.warn import Notice, Notifier

from .conftest import T0

DAY = int(T0 // 86_400)  # 2025-11-22
HOOK = """
import json, os, sys
wanted = {k: v for k, v in os.environ.items() if k.startswith("BLUEZONE_WARNING_")}
with open(sys.argv[1], "a") as out:
    out.write(json.dumps({"env": wanted, "argv": sys.argv[2:]}) + "\\n")
"""


def hook_command(tmp_path: Path, *, script: str = HOOK) -> tuple[str, Path]:
    path, out = tmp_path / "hook.py", tmp_path / "hook.out"
    path.write_text(script)
    return shlex.join([sys.executable, str(path), str(out)]), out


def test_the_hook_runs_with_the_warning_in_its_environment(tmp_path: Path) -> None:
    command, out = hook_command(tmp_path)
    notifier = Notifier(desktop=False, hook=command)

    asyncio.run(notifier.notify(Notice(DAY, 23.46)))
    asyncio.run(notifier.notify(Notice(DAY, 23.46, withdrawn=True)))

    warned, withdrawn = (json.loads(line) for line in out.read_text().splitlines())
    assert warned == {
        "env": {
            "BLUEZONE_WARNING_DATE": "2025-11-22",
            "BLUEZONE_WARNING_MINUTES": "23.5",
            "BLUEZONE_WARNING_WITHDRAWN": "0",
        },
        "argv": [],  # the warning is never in the arguments
    }
    assert withdrawn["env"]["BLUEZONE_WARNING_WITHDRAWN"] == "1"
    assert notifier.sent == [Notice(DAY, 23.46), Notice(DAY, 23.46, withdrawn=True)]


def test_a_failing_hook_is_logged_not_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    command, _ = hook_command(tmp_path, script="import sys; sys.exit(3)")
    notifier = Notifier(desktop=False, hook=command)

    with caplog.at_level(logging.ERROR, logger="beacon.warn"):
        asyncio.run(notifier.notify(Notice(DAY, 20.0)))

    assert any("status 3" in r.getMessage() for r in caplog.records)
    assert notifier.sent == [Notice(DAY, 20.0)]


def test_a_hook_that_does_not_exist_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = Notifier(desktop=False, hook=str(tmp_path / "no-such-hook"))

    with caplog.at_level(logging.ERROR, logger="beacon.warn"):
        asyncio.run(notifier.notify(Notice(DAY, 20.0)))

    assert any("could not run" in r.getMessage() for r in caplog.records)


def test_a_hook_command_that_cannot_be_parsed_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    notifier = Notifier(desktop=False, hook="/usr/local/bin/on-warning 'unterminated")

    with caplog.at_level(logging.ERROR, logger="beacon.warn"):
        asyncio.run(notifier.notify(Notice(DAY, 20.0)))

    assert any("hook" in r.getMessage() for r in caplog.records)


def test_the_warning_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="beacon.warn"):
        asyncio.run(Notifier(desktop=False).notify(Notice(DAY, 31.0)))
    assert any("2025-11-22" in r.getMessage() and "Close contact" in r.getMessage() for r in caplog.records)


def test_desktop_notifications_are_skipped_without_a_session_bus(monkeypatch: pytest.MonkeyPatch) -> None:
    shown: list[Notice] = []

    async def desktop(self: Notifier, notice: Notice) -> None:
        shown.append(notice)

    monkeypatch.setattr(Notifier, "_desktop", desktop)
    notifier = Notifier(desktop=True)

    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    asyncio.run(notifier.notify(Notice(DAY, 20.0)))
    assert shown == []

    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
    asyncio.run(notifier.notify(Notice(DAY, 21.0)))
    assert shown == [Notice(DAY, 21.0)]  # the same notifier does use a bus when there is one


def test_a_desktop_notification_to_an_unreachable_bus_does_not_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bluezone-test-bus")
    notifier = Notifier(desktop=True)
    asyncio.run(notifier.notify(Notice(DAY, 20.0)))
    assert notifier.sent == [Notice(DAY, 20.0)]

"""``bluezone beacon selftest`` on a machine with BlueZ (BlueZoo here) and without."""

from __future__ import annotations

import asyncio

import pytest

from beacon import selftest
from beacon.settings import BeaconSettings
from tests.beacon.conftest import LiveServer

pytestmark = pytest.mark.slow


def _checks(settings: BeaconSettings) -> dict[str, selftest.Check]:
    return {c.name: c for c in asyncio.run(selftest.run_selftest(settings))}


def test_adapter_server_and_pinned_keys_pass_on_a_ready_machine(
    bluezoo: str, live_server: LiveServer
) -> None:
    key = live_server.verification_key
    settings = BeaconSettings(
        adapter="hci0",
        server_url=live_server.url,
        pinned_keys=({"key_id": "452", "key_version": "v1", "pem": key.to_pem().decode()},),
    )
    checks = _checks(settings)
    assert checks["adapter"].status == "ok", checks["adapter"]
    assert checks["server"].status == "ok" and "clock within" in checks["server"].detail
    assert checks["export keys"].status == "ok" and key.fingerprint()[:16] in checks["export keys"].detail


def test_every_failure_comes_with_a_fix(private_bus: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", private_bus)  # a bus with no BlueZ on it
    checks = _checks(BeaconSettings(adapter="hci0", server_url="http://127.0.0.1:9/"))
    assert checks["adapter"].status == "fail" and "bluetooth" in checks["adapter"].fix
    assert checks["server"].status == "fail"
    assert checks["export keys"].status == "fail" and "signing-key" in checks["export keys"].fix
    assert all(c.fix for c in checks.values() if c.status != "ok")

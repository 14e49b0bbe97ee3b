"""The beacon on the real BlueZ: the TX power it claims and one fresh address per RPI.

BlueZoo has no ``MinTxPower``/``MaxTxPower`` and a fixed adapter address, so it cannot show
either property. Each scenario boots the Debian 12 VM of ``tests/beacon/qemu/vm.py`` (kernel
``hci_vhci``, ``bluetoothd`` 5.66, two ``btvirt`` controllers that hear each other), runs the
beacon's daemon advertising on hci0 with a witness scanning on hci1 (``qemu/guest.py``) and
``selftest`` on the same adapter, and judges here what the witness heard.

What the scenarios established (the asserts below hold them):

* With privacy off and the adapter neither connectable nor discoverable, each registration of
  the broadcast advertisement goes out from a fresh non-resolvable address, on controllers with
  and without LE extended advertising: one address per RPI, never an old address with a new RPI.
* A connectable adapter advertises from its own fixed address: every RPI linkable. ``selftest``
  fails the adapter there.
* ``CanSetTxPower`` appears only on a controller with LE extended advertising *and* bluetoothd
  ``--experimental``; bluetoothd then writes back the power the controller applied, and the
  metadata claims it from the next RPI on. Elsewhere the metadata claims the calibrated value.

Software emulation: ``/dev/kvm`` exists on this machine kind but hangs a guest at boot. The image
(about 180 MB) is built once per machine by debootstrap, a few minutes.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.beacon.qemu import vm
from tests.beacon.test_deploy import _guide_settings, _guide_toml, _unit

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 3
TX_POWER_DBM = -12
"""Plays this beacon's calibrated TX power; the emulated controller applies 0 dBm whatever is asked."""


GUEST = f"{sys.executable} tests/beacon/qemu/guest.py"
STATUS_MARK = "BLUEZONE-VM-STATUS "
LISTEN_S = 60
"""At most: the witness stops soon after it hears the beacon (its start takes seconds in emulation)."""


@dataclass(frozen=True)
class Scenario:
    name: str
    bluetoothd: str = ""
    setup: str = ""
    """Shell run after bluetoothd is up, before the beacon starts."""
    command: str = f"{GUEST} {ROUNDS} {TX_POWER_DBM}"

    def script(self) -> str:
        return f"""
if [ -n "$BLUETOOTHD" ]; then kill $BLUETOOTHD; wait $BLUETOOTHD; fi
/usr/libexec/bluetooth/bluetoothd -n {self.bluetoothd} &
BLUETOOTHD=$!
for i in $(seq 100); do
  dbus-send --system --print-reply --dest=org.bluez /org/bluez/hci1 \\
    org.freedesktop.DBus.Introspectable.Introspect > /dev/null 2>&1 && break
  sleep 0.2
done
{self.setup}
{self.command}
"""


@dataclass(frozen=True)
class Boot:
    """One VM: two btvirt controllers of one kind, and the scenarios run on them in turn."""

    btvirt: str
    scenarios: tuple[Scenario, ...]

    def script(self) -> str:
        start = f"mkdir -p /run/dbus /var/lib/bluetooth\ndbus-daemon --system --fork\nbtvirt {self.btvirt} &\nsleep 1\n"
        return start + f"cd {ROOT}\n" + "".join(s.script() for s in self.scenarios)


EXTENDED_PLAIN = Scenario("extended advertising, plain bluetoothd")
EXTENDED = Scenario("extended advertising, bluetoothd --experimental", "--experimental")
PI_LIKE = Scenario("LE without extended advertising (the Pi's onboard controllers)")
CONNECTABLE = Scenario("a connectable adapter", setup="export BLUEZONE_VM_CONNECTABLE=1")


def _guide_script() -> str:
    """The Raspberry Pi guide's set-up as far as a VM without systemd allows: its user and
    groups, its beacon.toml and pinned key file, and the unit's own command, user and
    environment; then a witness listens and ``status --json`` runs as the unit's user."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    service = _unit()["Service"]
    (variable,) = service["Environment"].split()
    config = variable.split("=", 1)[1]
    user = service["User"]
    settings = _guide_settings()
    (pinned,) = settings.pinned_keys
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    as_user = f"setpriv --reuid={user} --regid={user} --init-groups env {variable}"
    return f"""
useradd --system --user-group --home-dir {settings.state_dir} {user}
usermod -a -G bluetooth {user}
mkdir -p {settings.state_dir} {Path(config).parent} {Path(pinned["pem_file"]).parent} /opt/bluezone
chown {user}: {settings.state_dir}
ln -s {sys.prefix} /opt/bluezone/venv
cat > {config} <<'TOML'
{_guide_toml()}TOML
cat > {pinned["pem_file"]} <<'PEM'
{pem}PEM
{as_user} {service["ExecStart"]} &
BEACON=$!
{GUEST} listen {LISTEN_S}
kill -0 $BEACON && echo "{STATUS_MARK}$({as_user} /opt/bluezone/venv/bin/bluezone beacon status --json)"
kill $BEACON
"""


GUIDE = Scenario("the Pi guide's settings and the unit's command, as its user", command=_guide_script())
BOOTS = (Boot("-l2", (EXTENDED_PLAIN, EXTENDED)), Boot("-L -l2", (PI_LIKE, GUIDE, CONNECTABLE)))


def _shares() -> dict[str, Path]:
    """The checkout, the interpreter and the venv, for the guest. 9p shows the host's modes, and
    the guide's scenario runs the beacon as an unprivileged user: a share root the host made
    0700 (``mktemp -d`` does) is opened to others for reading, nothing else changes."""
    shares = {"repo": ROOT, "python": Path(sys.base_prefix)}
    if not Path(sys.prefix).is_relative_to(ROOT):
        shares["venv"] = Path(sys.prefix)
    for path in shares.values():
        mode = path.stat().st_mode
        if mode & 0o005 != 0o005:
            path.chmod(mode | 0o005)
    return shares


def _boot(image: vm.Image, boot: Boot) -> dict[Scenario, dict[str, Any]]:
    console = vm.run(image, boot.script(), _shares(), timeout=900)
    lines = [line for line in console.splitlines() if line.startswith(vm.MARK)]
    assert len(lines) == len(boot.scenarios), f"a guest printed no result; the console:\n{console[-4000:]}"
    done = {s: json.loads(line.removeprefix(vm.MARK)) for s, line in zip(boot.scenarios, lines, strict=True)}
    if GUIDE in done:
        status = [
            line.removeprefix(STATUS_MARK) for line in console.splitlines() if line.startswith(STATUS_MARK)
        ]
        done[GUIDE]["status"] = json.loads(status[0]) if status else None
        done[GUIDE]["console"] = console[-12000:]
    return done


@pytest.fixture(scope="module")
def results() -> dict[Scenario, dict[str, Any]]:
    if shutil.which("qemu-system-x86_64") is None:
        pytest.fail("qemu-system-x86_64 is missing: apt-get install qemu-system-x86 (tools/system_needs.py)")
    image = vm.cached_image()
    if image is None:
        if os.geteuid() != 0 or shutil.which("debootstrap") is None:
            pytest.fail(
                "no VM image, and only root with debootstrap can build it: tests/beacon/qemu/vm.py build"
            )
        image = vm.build_image()
    with ThreadPoolExecutor(max_workers=len(BOOTS)) as pool:  # two cores, two emulated VMs
        done: dict[Scenario, dict[str, Any]] = {}
        for part in pool.map(lambda b: _boot(image, b), BOOTS):
            done.update(part)
    return done


def _heard_every_rpi(result: dict[str, Any]) -> list[str]:
    rounds = result["rounds"]
    assert len(rounds) == ROUNDS and result["registrations"] == ROUNDS
    assert all(r["reports"] > 0 for r in rounds), f"the witness missed an RPI: {rounds}"
    assert result["other_rpis"] == 0
    return [address for r in rounds for address in r["addresses"]]


@pytest.mark.parametrize("scenario", [EXTENDED, EXTENDED_PLAIN, PI_LIKE], ids=lambda s: s.name)
def test_each_rpi_goes_out_from_one_fresh_address(
    results: dict[Scenario, dict[str, Any]], scenario: Scenario
) -> None:
    result = results[scenario]
    addresses = _heard_every_rpi(result)
    assert all(len(r["addresses"]) == 1 for r in result["rounds"]), "an RPI under two addresses"
    assert len(set(addresses)) == ROUNDS, "an address carried two RPIs"
    assert result["adapter_address"] not in addresses
    # non-resolvable private addresses: the two most significant bits are 00
    assert all(int(address[:2], 16) >> 6 == 0 for address in addresses)
    assert result["selftest"]["address rotation"]["status"] == "ok"


def test_a_connectable_adapter_links_every_rpi_and_selftest_fails_it(
    results: dict[Scenario, dict[str, Any]],
) -> None:
    result = results[CONNECTABLE]
    addresses = _heard_every_rpi(result)
    assert set(addresses) == {result["adapter_address"]}
    check = result["selftest"]["address rotation"]
    assert check["status"] == "fail" and "connectable" in check["detail"]


def test_where_the_controller_sets_tx_power_the_metadata_claims_what_it_applied(
    results: dict[Scenario, dict[str, Any]],
) -> None:
    result = results[EXTENDED]
    assert result["can_set_tx_power"] is True
    low, high = result["tx_power_range_dbm"]
    assert low < high
    rounds = result["rounds"]
    applied = rounds[0]["applied_tx_power_dbm"]
    assert applied is not None and applied != TX_POWER_DBM  # btvirt applies 0 dBm: a real correction
    assert rounds[0]["aem_tx_power_dbm"] == TX_POWER_DBM  # known only once registered
    assert [r["aem_tx_power_dbm"] for r in rounds[1:]] == [applied] * (ROUNDS - 1)
    check = result["selftest"]["TX power"]
    assert check["status"] == "ok" and f"{low}..{high} dBm" in check["detail"]


@pytest.mark.parametrize("scenario", [EXTENDED_PLAIN, PI_LIKE], ids=lambda s: s.name)
def test_elsewhere_the_metadata_claims_the_calibrated_tx_power(
    results: dict[Scenario, dict[str, Any]], scenario: Scenario
) -> None:
    result = results[scenario]
    assert result["can_set_tx_power"] is False
    assert [r["aem_tx_power_dbm"] for r in result["rounds"]] == [TX_POWER_DBM] * ROUNDS
    assert all(r["applied_tx_power_dbm"] is None for r in result["rounds"])
    check = result["selftest"]["TX power"]
    assert check["status"] == "ok" and "cannot set TX power" in check["detail"]
    assert f"{TX_POWER_DBM} dBm, this beacon's calibrated value" in check["detail"]


def test_the_guides_set_up_runs_the_units_command_and_advertises(
    results: dict[Scenario, dict[str, Any]],
) -> None:
    result = results[GUIDE]
    assert result["status"] is not None, f"the beacon died; the console:\n{result['console']}"
    heard = result["heard"]
    assert len(heard) == 1, result["console"]  # one RPI: rotation comes after 10-20 minutes
    ((addresses),) = heard.values()
    assert len(addresses) == 1 and int(addresses[0][:2], 16) >> 6 == 0  # one fresh NRPA
    status = result["status"]
    assert status["radio"] == "bluez" and status["adapter_state"].startswith("powered")
    assert status["advertised_tx_power_dbm"] == _guide_settings().tx_power_dbm

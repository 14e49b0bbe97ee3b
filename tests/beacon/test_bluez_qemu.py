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
* The Raspberry Pi guide, its commands run as written (but for ``ADAPTED``: no network in the
  VM) under systemd, installs the beacon, runs ``selftest`` as the unprivileged user (which
  cannot read the controller settings through btmgmt, and says so: a warning, not a pass), and
  reaches a running ``bluezone-beacon.service`` as shipped (``ProtectSystem=strict``, no
  ``AF_BLUETOOTH``) that a witness hears from one fresh address.

Software emulation: ``/dev/kvm`` exists on this machine kind but hangs a guest at boot. The image
(about 180 MB) is built once per machine by debootstrap, a few minutes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.beacon.qemu import vm
from tests.beacon.test_deploy import GUIDE as PI_GUIDE
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
    systemd: bool = False
    """systemd as PID 1: the scenarios' commands run as they are, bluetoothd is Debian's unit."""

    def script(self) -> str:
        if self.systemd:  # udev starts Debian's bluetooth.service once the controllers appear
            start = (
                f"btvirt {self.btvirt} &\n"
                "for i in $(seq 100); do [ -e /sys/class/bluetooth/hci1 ] && break; sleep 0.2; done\n"
                "systemctl start bluetooth\n"
            )
            return start + "".join(s.command for s in self.scenarios)
        start = f"mkdir -p /run/dbus /var/lib/bluetooth\ndbus-daemon --system --fork\nbtvirt {self.btvirt} &\nsleep 1\n"
        return start + f"cd {ROOT}\n" + "".join(s.script() for s in self.scenarios)


EXTENDED_PLAIN = Scenario("extended advertising, plain bluetoothd")
EXTENDED = Scenario("extended advertising, bluetoothd --experimental", "--experimental")
PI_LIKE = Scenario("LE without extended advertising (the Pi's onboard controllers)")
CONNECTABLE = Scenario("a connectable adapter", setup="export BLUEZONE_VM_CONNECTABLE=1")


UNIT_MARK = "BLUEZONE-VM-UNIT "
SELFTEST_MARK = "BLUEZONE-VM-SELFTEST "
WHEELS = Path(tempfile.gettempdir()) / f"bluezone-vm-wheels-{os.getpid()}"
"""The wheels of this checkout and its dependencies, built here, shared with the guest (which
has no network) at the same path."""
ADAPTED = {
    "sudo apt install bluez python3-venv": "dpkg -s bluez python3-venv > /dev/null",
    "sudo /opt/bluezone/venv/bin/pip install /path/to/bluezone":
        f"sudo /opt/bluezone/venv/bin/pip install --no-index --find-links {WHEELS} bluezone",
    "journalctl -u bluezone-beacon -f": "",
}  # fmt: skip
"""The guide's lines this VM cannot run literally, and what runs instead: the packages are in
the image, pip installs from wheels the host built (no network), the journal is printed at the end."""


def _guide_commands(section: str) -> list[str]:
    """The ``sh`` block of the guide's section (``"1."``, ``"4."``), one command per line."""
    text = PI_GUIDE.read_text()
    part = re.search(rf"^## {re.escape(section)} .*?(?=^## )", text, re.S | re.M)
    assert part is not None, f"the guide's section {section}"
    block = re.search(r"```sh\n(.*?)```", part.group(0), re.S)
    assert block is not None, f"the guide's section {section} has no sh block"
    lines = [line.split("  #")[0].rstrip() for line in block.group(1).splitlines() if line.strip()]
    return [ADAPTED.get(line, line) for line in lines]


def _guide_script() -> str:
    """The Raspberry Pi guide, sections 1, 3 and 4, under systemd with Debian's bluetooth.service:
    install, its beacon.toml and pinned key, ``selftest`` as its user, the unit installed and
    enabled as shipped. Then a witness listens on hci1, and the unit's state, ``status --json``
    and the unit's journal are printed."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    settings = _guide_settings()
    (pinned,) = settings.pinned_keys
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    service = _unit()["Service"]
    install, check, run = _guide_commands("1."), _guide_commands("4.")[:1], _guide_commands("4.")[1:]
    config = service["Environment"].split("=", 1)[1]
    user, bluezone = service["User"], service["ExecStart"].split()[0]
    return f"""
mkdir -p /run/bluezone-vm
cd {ROOT}
{chr(10).join(install)}
mkdir -p {Path(config).parent} {Path(pinned["pem_file"]).parent}
cat > {config} <<'TOML'
{_guide_toml()}TOML
cat > {pinned["pem_file"]} <<'PEM'
{pem}PEM
{check[0]} > /run/bluezone-vm/selftest.txt 2>&1
sed 's/^/{SELFTEST_MARK}/' /run/bluezone-vm/selftest.txt
{chr(10).join(line for line in run if line)}
{GUEST} listen {LISTEN_S}
echo "{UNIT_MARK}$(systemctl show bluezone-beacon -p ActiveState -p SubState -p NRestarts -p User | tr '\n' ' ')"
echo "{STATUS_MARK}$(sudo -u {user} {service["Environment"]} {bluezone} beacon status --json)"
journalctl -u bluezone-beacon --no-pager -o cat
"""


GUIDE = Scenario("the Raspberry Pi guide, followed under systemd", command=_guide_script())
BOOTS = (
    Boot("-l2", (EXTENDED_PLAIN, EXTENDED)),
    Boot("-L -l2", (PI_LIKE, CONNECTABLE)),
    Boot("-L -l2", (GUIDE,), systemd=True),
)


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


def _wheelhouse() -> None:
    """Wheels of this checkout and of its dependencies at this environment's versions: what
    ``pip install /path/to/bluezone`` fetches on a Pi, for a guest without network."""
    with tempfile.TemporaryDirectory(prefix="bluezone-vm-src-") as tmp:
        source = Path(tmp) / "bluezone"
        ignore = shutil.ignore_patterns(".git", ".venv*", "*.egg-info", "build", "__pycache__", ".*_cache")
        shutil.copytree(ROOT, source, ignore=ignore)
        constraints = Path(tmp) / "constraints.txt"
        freeze = [sys.executable, "-m", "pip", "freeze", "--exclude-editable"]
        constraints.write_text(subprocess.run(freeze, check=True, capture_output=True, text=True).stdout)
        wheel = [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(WHEELS)]
        subprocess.run([*wheel, "--constraint", str(constraints), str(source)], check=True)
    WHEELS.chmod(0o755)


def _systemd_unit_state(console: str) -> dict[str, str]:
    (line,) = [line for line in console.splitlines() if line.startswith(UNIT_MARK)]
    return dict(item.split("=", 1) for item in line.removeprefix(UNIT_MARK).split())


def _selftest_lines(console: str) -> dict[str, tuple[str, str]]:
    """``[ok  ] name: detail`` lines of ``selftest`` → name: (status, detail)."""
    checks = {}
    for line in console.splitlines():
        if found := re.match(rf"{SELFTEST_MARK}\[(ok  |WARN|FAIL)\] ([^:]+): (.*)", line):
            checks[found.group(2)] = (found.group(1).strip().lower(), found.group(3))
    return checks


def _boot(image: vm.Image, boot: Boot) -> dict[Scenario, dict[str, Any]]:
    shares = _shares() | ({"wheels": WHEELS} if boot.systemd else {})
    console = vm.run(image, boot.script(), shares, timeout=900, systemd=boot.systemd)
    lines = [line for line in console.splitlines() if line.startswith(vm.MARK)]
    assert len(lines) == len(boot.scenarios), f"a guest printed no result; the console:\n{console[-4000:]}"
    done = {s: json.loads(line.removeprefix(vm.MARK)) for s, line in zip(boot.scenarios, lines, strict=True)}
    if GUIDE in done:
        status = [
            line.removeprefix(STATUS_MARK) for line in console.splitlines() if line.startswith(STATUS_MARK)
        ]
        done[GUIDE]["status"] = json.loads(status[0]) if status and status[0] else None
        done[GUIDE]["unit"] = _systemd_unit_state(console)
        done[GUIDE]["selftest"] = _selftest_lines(console)
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
    _wheelhouse()
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:  # two cores, two emulated VMs at a time
            done: dict[Scenario, dict[str, Any]] = {}
            for part in pool.map(lambda b: _boot(image, b), BOOTS):
                done.update(part)
    finally:
        shutil.rmtree(WHEELS, ignore_errors=True)
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


def test_the_pi_guide_followed_under_systemd_reaches_a_running_unit_that_advertises(
    results: dict[Scenario, dict[str, Any]],
) -> None:
    result = results[GUIDE]
    console = result["console"]
    unit = result["unit"]
    assert unit["ActiveState"] == "active" and unit["SubState"] == "running", console
    assert unit["NRestarts"] == "0" and unit["User"] == _unit()["Service"]["User"], console
    assert "Traceback" not in console
    checks = result["selftest"]
    # as the guide's unprivileged user, btmgmt cannot read the controller settings: selftest
    # says so (and how to check as root) instead of guessing
    assert checks["address rotation"] == ("warn", "btmgmt info failed"), checks
    assert checks["TX power"][0] != "fail", checks
    heard = result["heard"]
    assert len(heard) == 1, console  # one RPI: rotation comes after 10-20 minutes
    ((addresses),) = heard.values()
    assert len(addresses) == 1 and int(addresses[0][:2], 16) >> 6 == 0  # one fresh NRPA
    status = result["status"]
    assert status is not None, f"status --json printed nothing; the console:\n{console}"
    assert status["radio"] == "bluez" and status["adapter_state"].startswith("powered")
    assert status["advertised_tx_power_dbm"] == _guide_settings().tx_power_dbm


def test_the_vm_runs_the_guides_commands_but_for_the_listed_adaptations() -> None:
    script = _guide_script()
    for literal, instead in ADAPTED.items():
        assert literal in PI_GUIDE.read_text(), f"the guide no longer says {literal!r}: update ADAPTED"
        assert literal not in script and instead in script
    for line in _guide_commands("1.") + _guide_commands("4."):
        assert line in script

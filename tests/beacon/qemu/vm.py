"""A small Debian VM with the real BlueZ, for the qemu tier (``tests/beacon/test_bluez_qemu.py``).

This machine has no Bluetooth and no ``/dev/vhci``; the VM has both. The image is Debian 12's own
``linux-image-amd64`` (``hci_vhci``), ``bluez`` (``bluetoothd`` 5.66, as on Raspberry Pi OS
bookworm) and ``bluez-test-tools`` (``btvirt``: virtual controllers that hear each other),
made once by ``debootstrap`` and cached as an initramfs. The host's Python, the checkout and its
virtual environment are shared read-only over 9p at the same paths, so the guest runs exactly the
code under test. A second, tiny cpio appended to the image carries the job: the kernel unpacks
both into one tmpfs, and ``/init`` runs ``/job.sh`` and powers off; or, with ``systemd=True``,
systemd boots as PID 1 (udev, the system bus, Debian's ``bluetooth.service``) and runs the job
as a unit, so the beacon's own unit can be installed and started as the Raspberry Pi guide says.

    python3 tests/beacon/qemu/vm.py build     # make the cached image (root, debootstrap)
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
PACKAGES = (
    "linux-image-amd64",
    "kmod",
    "dbus",
    "bluez",
    "bluez-test-tools",
    # what the host's CPython extension modules link to (ssl, ctypes, sqlite3, compression)
    "libssl3",
    "libffi8",
    "libsqlite3-0",
    "zlib1g",
    "libbz2-1.0",
    "liblzma5",
    # the Raspberry Pi guide's own set-up, as the systemd boot follows it (``run(systemd=True)``)
    "systemd",
    "systemd-sysv",
    "python3",
    "python3-venv",
    "adduser",
    "sudo",
)
# Only these kernel modules (and what they depend on) go into the image: the rest is 300 MB.
MODULES = (
    "hci_vhci",
    # btvirt's controllers do their LE crypto through AF_ALG (bt_crypto_new)
    "algif_skcipher",
    "algif_hash",
    "ecb",
    "cmac",
    # the 9p shares
    "virtio_pci",
    "9pnet_virtio",
    "9p",
)
_PRUNE = ("usr/share/doc", "usr/share/man", "usr/share/locale", "usr/share/info", "var/cache/apt", "boot")
MARK = "BLUEZONE-VM-RESULT "
"""The guest prints its result after this mark on the serial console."""

INIT = f"""#!/bin/sh
# PID 1 of the test VM: mount what bluetoothd and btvirt need, run the job, power off.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs run /run
mount -t tmpfs tmp /tmp
mount -t debugfs debugfs /sys/kernel/debug
for m in {" ".join(MODULES)}; do modprobe $m; done
sh /job.sh > /dev/console 2>&1
echo o > /proc/sysrq-trigger
sleep 60
"""


JOB_UNIT = f"""[Unit]
Description=The test VM's job (/job.sh), then power off
After=dbus.service systemd-udevd.service local-fs.target
ConditionPathExists=/job.sh

[Service]
Type=oneshot
ExecStartPre=/usr/sbin/modprobe -a {" ".join(MODULES)}
ExecStart=/bin/sh /job.sh
ExecStopPost=/usr/bin/systemctl --no-block poweroff
TimeoutStartSec=infinity
StandardOutput=tty
StandardError=tty
TTYPath=/dev/console

[Install]
WantedBy=multi-user.target
"""
"""Under systemd as PID 1 (``run(systemd=True)``) the job is this unit."""
_MASKED = (
    "serial-getty@ttyS0.service",
    "getty@tty1.service",
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "e2scrub_all.timer",
    "fstrim.timer",
)
"""What would only spend the emulated CPU (or write a login prompt into the console)."""


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    inputs = (SUITE, PACKAGES, MODULES, _PRUNE, INIT, JOB_UNIT, _MASKED)
    key = hashlib.sha256(repr(inputs).encode()).hexdigest()[:12]
    return Path(base) / "bluezone" / f"bluez-vm-{key}"


@dataclass(frozen=True)
class Image:
    kernel: Path
    initramfs: Path


def cached_image() -> Image | None:
    d = cache_dir()
    image = Image(d / "vmlinuz", d / "rootfs.cpio")
    return image if image.kernel.exists() and image.initramfs.exists() else None


def build_image(log: io.TextIOBase | None = None) -> Image:
    """debootstrap the image into the cache (a few minutes, once); root and network needed."""
    if (image := cached_image()) is not None:
        return image
    out = cache_dir()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bluez-vm-") as tmp:
        root = Path(tmp) / "root"
        subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(root), MIRROR],
            check=True,
            stdout=log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
        )
        (kernel,) = sorted((root / "boot").glob("vmlinuz-*"))
        shutil.copyfile(kernel, out / "vmlinuz.tmp")
        _keep_modules(root, kernel.name.removeprefix("vmlinuz-"))
        for rel in _PRUNE:
            shutil.rmtree(root / rel, ignore_errors=True)
        (root / "init").write_text(INIT)
        (root / "init").chmod(0o755)
        _install_job_unit(root / "etc" / "systemd" / "system")
        with open(out / "rootfs.cpio.tmp", "wb") as f:
            write_cpio(f, _tree(root))
    os.replace(out / "vmlinuz.tmp", out / "vmlinuz")
    os.replace(out / "rootfs.cpio.tmp", out / "rootfs.cpio")
    return Image(out / "vmlinuz", out / "rootfs.cpio")


def _install_job_unit(units: Path) -> None:
    (units / "bluezone-vm-job.service").write_text(JOB_UNIT)
    (units / "multi-user.target.wants").mkdir(parents=True, exist_ok=True)
    (units / "multi-user.target.wants" / "bluezone-vm-job.service").symlink_to("../bluezone-vm-job.service")
    for name in _MASKED:
        (units / name).unlink(missing_ok=True)
        (units / name).symlink_to("/dev/null")


def _keep_modules(root: Path, release: str) -> None:
    """Drop every kernel module but MODULES and their dependencies (as modprobe resolves them)."""
    wanted: set[str] = set()
    for name in MODULES:
        shown = subprocess.run(
            ["chroot", str(root), "modprobe", "--show-depends", "--set-version", release, name],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        wanted.update(line.split()[1] for line in shown.splitlines() if line.startswith("insmod "))
    moddir = root / "lib" / "modules" / release / "kernel"
    for path in moddir.rglob("*.ko*"):
        if "/" + str(path.relative_to(root)) not in wanted:
            path.unlink()
    subprocess.run(["chroot", str(root), "depmod", release], check=True)


def _tree(root: Path) -> list[tuple[str, os.stat_result, Path]]:
    entries = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames) + sorted(filenames):
            path = Path(dirpath) / name
            entries.append((str(path.relative_to(root)), path.lstat(), path))
    return entries


def write_cpio(f: io.BufferedWriter, entries: list[tuple[str, os.stat_result, Path]]) -> None:
    """The kernel's initramfs format ("newc"): directories, regular files and symlinks."""
    for ino, (name, st, path) in enumerate(entries, start=1):
        if stat.S_ISREG(st.st_mode):
            data = path.read_bytes()
        elif stat.S_ISLNK(st.st_mode):
            data = os.readlink(path).encode()
        elif stat.S_ISDIR(st.st_mode):
            data = b""
        else:
            continue  # device nodes and sockets: devtmpfs provides /dev
        _entry(f, name, st.st_mode, st.st_uid, st.st_gid, data, ino)
    _entry(f, "TRAILER!!!", 0, 0, 0, b"", 0)


def _entry(f: io.BufferedWriter, name: str, mode: int, uid: int, gid: int, data: bytes, ino: int) -> None:
    encoded = name.encode() + b"\0"
    fields = (ino, mode, uid, gid, 1, 0, len(data), 0, 0, 0, 0, len(encoded), 0)
    f.write(b"070701" + b"".join(b"%08X" % v for v in fields))
    f.write(encoded + b"\0" * (-(110 + len(encoded)) % 4))
    f.write(data + b"\0" * (-len(data) % 4))


def job_cpio(script: str) -> bytes:
    """A cpio holding ``/job.sh``, appended to the image: the kernel unpacks both."""
    buf = io.BytesIO()
    st = os.stat_result((stat.S_IFREG | 0o755, 0, 0, 1, 0, 0, 0, 0, 0, 0))
    with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False) as tmp:
        tmp.write(script)
    try:
        write_cpio(buf, [("job.sh", st, Path(tmp.name))])  # type: ignore[arg-type]
    finally:
        os.unlink(tmp.name)
    return buf.getvalue()


def run(
    image: Image, script: str, shares: dict[str, Path], timeout: float = 300.0, *, systemd: bool = False
) -> str:
    """Boot the VM with ``script`` as its job and ``shares`` (tag → host path, mounted read-only at
    the same path in the guest); return what the console printed. With ``systemd``, systemd is
    PID 1 (udev, the system bus, ``bluetooth.service`` as Debian ships them) and runs the job as
    ``bluezone-vm-job.service``; otherwise ``/init`` runs it alone."""
    # every user may reach the shares (the guest's /root is 0700; the beacon's user is not root)
    mounts = "".join(
        f"mkdir -p {path}\nchmod o+x {' '.join(map(str, path.parents))}\n"
        f"mount -t 9p -o trans=virtio,version=9p2000.L,ro {tag} {path}\n"
        for tag, path in shares.items()
    )
    with tempfile.TemporaryDirectory(prefix="bluez-vm-run-") as tmp:
        initrd = Path(tmp) / "initrd.cpio"
        with open(initrd, "wb") as out, open(image.initramfs, "rb") as base:
            shutil.copyfileobj(base, out)
            out.write(job_cpio(mounts + script))
        init, unit = ("/lib/systemd/systemd", " systemd.unit=multi-user.target") if systemd else ("/init", "")
        command = [
            "qemu-system-x86_64",
            # software emulation: /dev/kvm exists on this machine kind but hangs a guest at boot
            "-machine", "q35,accel=tcg",
            "-cpu", "max",
            "-smp", "2",
            "-m", "2048",
            "-nographic",
            "-no-reboot",
            "-nic", "none",
            "-kernel", str(image.kernel),
            "-initrd", str(initrd),
            "-append", f"console=ttyS0 rdinit={init} panic=-1 quiet loglevel=3{unit}",
        ]  # fmt: skip
        for tag, path in shares.items():
            command += ["-virtfs", f"local,path={path},mount_tag={tag},security_model=none,readonly=on"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, errors="replace")
        return done.stdout + done.stderr


if __name__ == "__main__":
    if sys.argv[1:] == ["build"]:
        print(build_image(sys.stderr))  # type: ignore[arg-type]
    else:
        sys.exit("usage: vm.py build")

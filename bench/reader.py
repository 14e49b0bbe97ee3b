"""The export reader against hostile files, and its memory on a big file (issue S2).

Prints

* **worst hostile file**: the slowest of the issue's hostile files (``tests/protocol/
  hostile_exports.py``: ~600 signatures over 64 MB, 10 signatures over export.bin at its
  35 MB cap in each compression method, sizes that lie, 1.4 M directory entries, ZIP64, long
  names) through ``read_export``, best of ``--repeat``; baseline in the same process: one
  SHA-256 over export.bin at the cap, the least a reader spends before it can refuse a
  signature over such a file. Goal: under 1 s each;
* **peak memory**, each reader in a fresh process (its RSS high-water mark ``VmHWM``, reset
  once the file is loaded, minus its RSS then; not ``ru_maxrss``, which Linux carries over from
  the parent process): ``read_export`` against ``iter_export_keys`` on the same file of
  ``--keys`` keys as the server writes it (500,000 by default, its ``export_max_keys_per_file``).

    python bench/reader.py                  # hostile files, then 500k keys
    python bench/reader.py --keys 1000000 --repeat 5
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, this file's folder comes first on sys.path; the hostile files live in tests/.
sys.path[:] = [str(ROOT)] + [
    p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent
]

import argparse
import hashlib
import json
import re
import subprocess
import tempfile
import time
import zipfile

from protocol.export import MAX_EXPORT_BIN_BYTES, ExportError, VerificationKey, iter_export_keys, read_export
from tests.protocol import hostile_exports as hostile

MB = 1 << 20


def hostile_files() -> dict[str, bytes]:
    cap = MAX_EXPORT_BIN_BYTES
    files = {
        "issue: 590 signatures, 64 MB export.bin": hostile.zeros_export(64 * MB, 590),
        "64 MB export.bin declared as 1000 bytes": hostile.zeros_export(64 * MB, 10, declared_size=1000),
        "issue: 1.4 M directory entries": hostile.many_entries(),
        "1.4 M entries behind a ZIP64 record": hostile.with_zip64_locator(
            hostile.many_entries(claimed_entries=2)
        ),
        "60 KB entry name": hostile.long_name(60_000),
    }
    for method, label in ((zipfile.ZIP_STORED, "stored"), (zipfile.ZIP_DEFLATED, "deflated"),
                          (zipfile.ZIP_BZIP2, "bzip2"), (zipfile.ZIP_LZMA, "lzma")):  # fmt: skip
        files[f"10 signatures, 35 MB export.bin, {label}"] = hostile.zeros_export(cap, 10, method=method)
    return files


def time_read(blob: bytes, repeat: int) -> tuple[float, str]:
    best, outcome = float("inf"), ""
    for _ in range(repeat):
        start = time.perf_counter()
        try:
            read_export(blob, hostile.VERIFIER)
            outcome = "read"
        except ExportError as exc:
            outcome = type(exc).__name__
        best = min(best, time.perf_counter() - start)
    return best, outcome


def bench_hostile(repeat: int) -> None:
    floor = hash_floor(repeat)
    print(f"baseline: SHA-256 over {MAX_EXPORT_BIN_BYTES / MB:.1f} MB (export.bin at its cap): {floor:.3f} s")
    worst = ("", 0.0)
    for name, blob in hostile_files().items():
        seconds, outcome = time_read(blob, repeat)
        print(f"  {name:45} {len(blob):>10,} bytes  {seconds:.3f} s  {outcome}")
        worst = max(worst, (name, seconds), key=lambda item: item[1])
    print(
        f"worst hostile file: {worst[1]:.3f} s ({worst[0]}), ratio to the baseline {worst[1] / floor:.2f}; goal < 1 s"
    )


def hash_floor(repeat: int) -> float:
    data, best = bytes(MAX_EXPORT_BIN_BYTES), float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        hashlib.sha256(data).digest()
        best = min(best, time.perf_counter() - start)
    return best


def child(mode: str, blob_path: str, pem_path: str) -> None:
    blob = Path(blob_path).read_bytes()
    key = VerificationKey.from_pem(Path(pem_path).read_bytes(), "452", "v1")
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    before = status_kb("VmRSS")
    start = time.perf_counter()
    count = (
        len(read_export(blob, key).keys) if mode == "read" else sum(1 for _ in iter_export_keys(blob, key))
    )
    seconds = time.perf_counter() - start
    peak = status_kb("VmHWM") - before
    print(
        json.dumps(
            {
                "keys": count,
                "seconds": seconds,
                "peak_mb": peak / 1024,
                "total_mb": before / 1024 + peak / 1024,
            }
        )
    )


def status_kb(field: str) -> int:
    match = re.search(field + r":\s+(\d+) kB", Path("/proc/self/status").read_text())
    assert match, field
    return int(match.group(1))


def bench_memory(keys: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        blob_path, pem_path = Path(tmp, "export.zip"), Path(tmp, "pinned.pem")
        start = time.perf_counter()
        blob = hostile.own_export(keys)
        blob_path.write_bytes(blob)
        pem_path.write_bytes(hostile.VERIFIER.to_pem())
        with zipfile.ZipFile(blob_path) as archive:
            inflated = archive.getinfo("export.bin").file_size
        print(f"file of {keys:,} keys: {len(blob) / MB:.1f} MB zipped, export.bin {inflated / MB:.1f} MB, "
              f"built in {time.perf_counter() - start:.1f} s")  # fmt: skip
        del blob
        results = {}
        for mode in ("iter", "read"):
            done = subprocess.run(
                [sys.executable, __file__, "--child", mode, str(blob_path), str(pem_path)],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            results[mode] = json.loads(done.stdout)
            r = results[mode]
            name = "read_export" if mode == "read" else "iter_export_keys"
            print(f"  {name:17} {r['keys']:,} keys in {r['seconds']:.1f} s, peak +{r['peak_mb']:.0f} MB "
                  f"over the loaded file (process {r['total_mb']:.0f} MB)")  # fmt: skip
        ratio = results["read"]["peak_mb"] / max(results["iter"]["peak_mb"], 1e-9)
        per_key = (results["read"]["peak_mb"] - results["iter"]["peak_mb"]) * MB / keys
        print(f"read_export / iter_export_keys peak: {ratio:.2f} ({per_key:.0f} bytes a key for the objects)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs=3, metavar=("MODE", "BLOB", "PEM"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    bench_hostile(args.repeat)
    bench_memory(args.keys)


if __name__ == "__main__":
    main()

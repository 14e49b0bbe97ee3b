"""Matching throughput: ``protocol.matching.match`` against the cryptographic floor.

For N diagnosis keys (spread over 14 days) against 20k distinct sightings, print keys/s of

* **floor**: HKDF-SHA256 with ``hmac.digest`` plus one 144-block AES-ECB call per key, the
  padding blocks precomputed per start interval, nothing else (no lookup at all);
* **match**: the real ``match()`` on one core, and with ``--workers`` on several;

and the ratio match/floor measured in the same process (the machine is noisy: compare ratios).

    python bench/matching.py                      # N = 10k, 100k
    python bench/matching.py --sizes 10000 100000 1000000 --workers 2
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import random
import time

import numpy  # noqa: F401  imported once up front, as in a running daemon: not part of any timing
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from protocol.advert import Metadata
from protocol.export import DiagnosisKey
from protocol.keys import derive_aemk, derive_rpik, encrypt_aem, padded_data, rpis
from protocol.matching import Sighting, match

DAY0 = 2_900_000 - 2_900_000 % 144  # an aligned interval in 2025
DAYS = 14
SIGHTINGS = 20_000
PLANTED = 50


def make_keys(n: int, rng: random.Random) -> list[DiagnosisKey]:
    return [
        DiagnosisKey(rng.randbytes(16), DAY0 + 144 * rng.randrange(DAYS), days_since_onset_of_symptoms=0)
        for _ in range(n)
    ]


def make_sightings(keys: list[DiagnosisKey], rng: random.Random) -> list[Sighting]:
    """20k sightings over 14 days: PLANTED of them are RPIs of published keys, the rest noise."""
    metadata = Metadata(-15).to_bytes()
    out = []
    for key in rng.sample(keys, min(PLANTED, len(keys))):
        j = rng.randrange(144)
        rpi = rpis(derive_rpik(key.key_data), key.rolling_start_interval_number)[j]
        aem = encrypt_aem(derive_aemk(key.key_data), rpi, metadata)
        out.append(Sighting(rpi, aem, -60, (key.rolling_start_interval_number + j) * 600 + 30))
    while len(out) < SIGHTINGS:
        when = (DAY0 + rng.randrange(DAYS * 144)) * 600 + rng.randrange(600)
        out.append(Sighting(rng.randbytes(16), rng.randbytes(4), -70, when))
    return out


def floor(keys: list[DiagnosisKey]) -> int:
    salt, info = bytes(32), b"EN-RPIK\x01"
    padded = {
        start: b"".join(padded_data(start + k) for k in range(144))
        for start in range(DAY0, DAY0 + DAYS * 144, 144)
    }
    total = 0
    for key in keys:
        prk = hmac.digest(salt, key.key_data, hashlib.sha256)
        rpik = hmac.digest(prk, info, hashlib.sha256)[:16]
        total += len(
            Cipher(algorithms.AES(rpik), modes.ECB())
            .encryptor()
            .update(padded[key.rolling_start_interval_number])
        )
    return total


def timed(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--workers", type=int, default=0, help="also run match(workers=N); 0 = skip")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(f"{'N':>9} {'floor keys/s':>13} {'match keys/s':>13} {'ratio':>6}", end="")
    print(f" {'workers keys/s':>15} {'ratio':>6}" if args.workers else "")
    for n in args.sizes:
        rng = random.Random(args.seed)
        keys = make_keys(n, rng)
        sightings = make_sightings(keys, rng)
        _, t_floor = timed(floor, keys)
        found, t_match = timed(match, keys, sightings)
        assert len(found) == min(PLANTED, n), f"expected {min(PLANTED, n)} matches, got {len(found)}"
        line = f"{n:>9} {n / t_floor:>13,.0f} {n / t_match:>13,.0f} {t_floor / t_match:>6.2f}"
        if args.workers:
            found_w, t_workers = timed(match, keys, sightings, workers=args.workers)
            assert found_w == found
            line += f" {n / t_workers:>15,.0f} {t_floor / t_workers:>6.2f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()

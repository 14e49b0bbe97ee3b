"""Matching published diagnosis keys against the RPIs a device heard.

Crypto spec v1.2, "Value Matching of Positive Users" (``shared/spec/gaen.md`` §1.6): for each
diagnosis key derive RPIK, then the RPIs of intervals ``i … i + rolling_period − 1``, and look
them up among the sightings. A sighting matches RPI ``j`` only when it was heard within
``tolerance_intervals`` (12, ±2 h) of interval ``j`` itself, so an RPI replayed later the same
day does not match. The AEM is decrypted only on a match and, being unauthenticated, its
metadata is validated: TX power outside −50…+20 dBm is dropped, as Google's matcher does.

The hot path is the derivation. Keys stream through in batches: each batch's RPIs are written
into one buffer by one AES-ECB call per key, and a two-stage bit-table filter over the RPIs'
first bytes (numpy, imported lazily) leaves only candidates for an exact dictionary check.
HKDF-Extract uses a constant salt, so its HMAC state is computed once. Memory stays flat
whatever the number of keys; ``workers`` spreads batches over processes for national files.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from protocol.advert import Metadata
from protocol.errors import PayloadError
from protocol.export import DiagnosisKey
from protocol.keys import EN_INTERVAL_SECONDS, KEY_LENGTH, decrypt_aem, derive_aemk, padded_run

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = [
    "DEFAULT_TOLERANCE_INTERVALS",
    "TX_POWER_MAX_DBM",
    "TX_POWER_MIN_DBM",
    "Match",
    "Sighting",
    "match",
]

DEFAULT_TOLERANCE_INTERVALS = 12
"""±2 h between an RPI's own interval and when it was heard (``tkMatchingClockDriftRollingPeriods``)."""
TX_POWER_MIN_DBM, TX_POWER_MAX_DBM = -50, 20
"""Plausible advertised TX power (``matchingTxPowerLowerBound/UpperBound``): outside, a forgery."""

_BATCH_KEYS = 2048
_FILTER_BITS = 20  # 2^20-entry tables: ~3 candidates per key from 20k sightings after stage 1
_SHIFT = 32 - _FILTER_BITS


@dataclass(frozen=True, slots=True)
class Sighting:
    """What a device heard of one RPI in one scan: ``rssi`` the mean, ``max_rssi`` the strongest,
    ``min_rssi`` the weakest.

    ``timestamp`` is unix seconds (the scan's time); ``count`` the advertisements aggregated.
    """

    rpi: bytes
    aem: bytes
    rssi: int
    timestamp: float
    max_rssi: int | None = None
    count: int = 1
    min_rssi: int | None = None

    @property
    def interval(self) -> int:
        return int(self.timestamp // EN_INTERVAL_SECONDS)

    @property
    def strongest_rssi(self) -> int:
        return self.rssi if self.max_rssi is None else self.max_rssi

    @property
    def weakest_rssi(self) -> int:
        return self.rssi if self.min_rssi is None else self.min_rssi


@dataclass(frozen=True, slots=True)
class Match:
    """One matched RPI: the key, the RPI's interval, what was heard of it, and its metadata."""

    key: DiagnosisKey
    interval: int
    sightings: tuple[Sighting, ...]
    metadata: Metadata


def match(
    diagnosis_keys: Iterable[DiagnosisKey],
    sightings: Iterable[Sighting],
    *,
    tolerance_intervals: int = DEFAULT_TOLERANCE_INTERVALS,
    workers: int = 1,
) -> list[Match]:
    """Every RPI of ``diagnosis_keys`` heard in ``sightings``, in key order then interval order.

    ``workers > 1`` (or ``0`` for every core) derives batches in that many processes; worth it
    only for large files (100k keys and up), since each process starts fresh.
    """
    if tolerance_intervals < 0:
        raise ValueError(f"tolerance_intervals must be >= 0, got {tolerance_intervals}")
    index = _SightingIndex(sightings)
    if not index.by_rpi:
        for _ in diagnosis_keys:  # consume, so a streaming source behaves the same either way
            pass
        return []
    batches = _batched(iter(diagnosis_keys), _BATCH_KEYS)
    if workers == 0:
        workers = os.cpu_count() or 1
    if workers <= 1:
        hits = (hit for batch in batches for hit in index.candidates(batch))
        return index.confirm(hits, tolerance_intervals)
    with ProcessPoolExecutor(workers, initializer=_worker_init, initargs=(index.sightings,)) as pool:
        # map() with a bounded window keeps memory flat: at most 2 batches per worker in flight.
        results = _bounded_map(pool, batches, workers * 2)
        return index.confirm((hit for batch_hits in results for hit in batch_hits), tolerance_intervals)


# ---- derivation ---------------------------------------------------------------------------

# HKDF(TEK, NULL salt, info, 16) with the salt's HMAC pads hashed once (RFC 2104 §4 "precompute").
_ZERO_KEY = bytes(64)
_EXTRACT_INNER = hashlib.sha256(bytes(b ^ 0x36 for b in _ZERO_KEY))
_EXTRACT_OUTER = hashlib.sha256(bytes(b ^ 0x5C for b in _ZERO_KEY))
_TRANS_36 = bytes(b ^ 0x36 for b in range(256))
_TRANS_5C = bytes(b ^ 0x5C for b in range(256))
_RPIK_INFO_1 = b"EN-RPIK\x01"
_PRK_PAD = bytes(32)


def _rpik(tek: bytes) -> bytes:
    inner = _EXTRACT_INNER.copy()
    inner.update(tek)
    outer = _EXTRACT_OUTER.copy()
    outer.update(inner.digest())
    key = outer.digest() + _PRK_PAD  # PRK, zero-padded to the SHA-256 block size
    expand = hashlib.sha256(key.translate(_TRANS_36) + _RPIK_INFO_1).digest()
    return hashlib.sha256(key.translate(_TRANS_5C) + expand).digest()[:KEY_LENGTH]


class _SightingIndex:
    """Sightings by RPI, plus two bit tables over RPI bytes 0–3 and 4–7 for the batch filter."""

    def __init__(self, sightings: Iterable[Sighting]) -> None:
        import numpy as np

        self.sightings: list[Sighting] = list(sightings)
        self.by_rpi: dict[bytes, list[Sighting]] = {}
        for sighting in self.sightings:
            self.by_rpi.setdefault(bytes(sighting.rpi), []).append(sighting)
        words = np.frombuffer(b"".join(self.by_rpi), dtype="<u4").reshape(-1, 4)
        self._stage1 = np.zeros(1 << _FILTER_BITS, dtype=np.bool_)
        self._stage2 = np.zeros(1 << _FILTER_BITS, dtype=np.bool_)
        self._stage1[words[:, 0] >> _SHIFT] = True
        self._stage2[words[:, 1] >> _SHIFT] = True

    def candidates(self, keys: Sequence[DiagnosisKey]) -> list[tuple[DiagnosisKey, int, bytes]]:
        """Derive every RPI of ``keys``; return ``(key, interval, rpi)`` for those heard."""
        import numpy as np

        total = sum(key.rolling_period for key in keys)
        buffer = bytearray(total * KEY_LENGTH + KEY_LENGTH)  # update_into wants a block of slack
        view = memoryview(buffer)
        starts: list[int] = []
        offset = 0
        for key in keys:
            period = key.rolling_period
            encryptor = Cipher(algorithms.AES(_rpik(key.key_data)), modes.ECB()).encryptor()
            encryptor.update_into(padded_run(key.rolling_start_interval_number, period), view[offset:])
            starts.append(offset // KEY_LENGTH)
            offset += period * KEY_LENGTH
        view.release()
        words: npt.NDArray[np.uint32] = np.frombuffer(buffer, dtype="<u4", count=total * 4)[::4]
        hits = np.flatnonzero(self._stage1[words >> _SHIFT])
        if hits.size:
            second = np.frombuffer(buffer, dtype="<u4", count=total * 4)[1::4][hits]
            hits = hits[self._stage2[second >> _SHIFT]]
        out = []
        if hits.size:
            owners = np.searchsorted(np.asarray(starts), hits, side="right") - 1
            for position, owner in zip(hits.tolist(), owners.tolist(), strict=True):
                rpi = bytes(buffer[position * KEY_LENGTH : (position + 1) * KEY_LENGTH])
                if rpi in self.by_rpi:
                    key = keys[owner]
                    out.append((key, key.rolling_start_interval_number + position - starts[owner], rpi))
        return out

    def confirm(self, hits: Iterable[tuple[DiagnosisKey, int, bytes]], tolerance: int) -> list[Match]:
        """Apply the time tolerance, decrypt AEMs of what is left, drop implausible metadata."""
        matches = []
        aemk_cache: dict[bytes, bytes] = {}
        for key, interval, rpi in hits:
            heard = [s for s in self.by_rpi[rpi] if abs(s.interval - interval) <= tolerance]
            if not heard:
                continue
            aemk = aemk_cache.get(key.key_data)
            if aemk is None:
                aemk = aemk_cache[key.key_data] = derive_aemk(key.key_data)
            found = _plausible_metadata(aemk, rpi, heard)
            if found is not None:
                metadata, kept = found
                matches.append(Match(key, interval, kept, metadata))
        return matches


def _plausible_metadata(
    aemk: bytes, rpi: bytes, heard: list[Sighting]
) -> tuple[Metadata, tuple[Sighting, ...]] | None:
    # An RPI can be replayed with a forged AEM; forged metadata decrypts to noise. Keep the
    # plausible metadata seen most often and the sightings that carried it.
    groups: dict[Metadata, list[Sighting]] = {}
    for sighting in heard:
        try:
            metadata = Metadata.from_bytes(decrypt_aem(aemk, rpi, bytes(sighting.aem)))
        except (PayloadError, ValueError):
            continue
        if TX_POWER_MIN_DBM <= metadata.tx_power_dbm <= TX_POWER_MAX_DBM:
            groups.setdefault(metadata, []).append(sighting)
    if not groups:
        return None
    metadata, kept = max(groups.items(), key=lambda item: sum(s.count for s in item[1]))  # reports heard
    return metadata, tuple(kept)


# ---- batching and processes ---------------------------------------------------------------


def _batched(keys: Iterator[DiagnosisKey], size: int) -> Iterator[list[DiagnosisKey]]:
    while batch := list(islice(keys, size)):
        yield batch


_worker_index: _SightingIndex | None = None


def _worker_init(sightings: list[Sighting]) -> None:
    global _worker_index
    _worker_index = _SightingIndex(sightings)


def _worker_candidates(batch: list[DiagnosisKey]) -> list[tuple[DiagnosisKey, int, bytes]]:
    assert _worker_index is not None
    return _worker_index.candidates(batch)


def _bounded_map(
    pool: ProcessPoolExecutor, batches: Iterator[list[DiagnosisKey]], window: int
) -> Iterator[Any]:
    pending = [pool.submit(_worker_candidates, batch) for batch in islice(batches, window)]
    while pending:
        result = pending.pop(0).result()
        for batch in islice(batches, 1):
            pending.append(pool.submit(_worker_candidates, batch))
        yield result

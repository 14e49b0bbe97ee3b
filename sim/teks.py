"""Every app user's daily Temporary Exposure Keys, from the run's seed.

A key is ``AES-128(K_run, agent ‖ UTC day)`` with ``K_run`` hashed from the seed: a
counter-mode CRNG, so any agent's key for any day is computable at once for a million agents
(one AES-ECB call) and the real path and the vectorized path draw the very same keys. Keys
released early (the day of an upload) keep the same bytes and are cut short, as the beacon does.
"""

from __future__ import annotations

import hashlib

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = ["day_of", "interval_of", "run_key", "tek", "teks"]


def run_key(seed: int) -> bytes:
    return hashlib.sha256(f"bluezone-sim/{seed}".encode()).digest()[:16]


def teks(key: bytes, agents: np.ndarray, days: np.ndarray) -> np.ndarray:
    """(n, 16) uint8: the TEK of each (agent, UTC day)."""
    blocks = np.empty((len(agents), 2), dtype="<u8")
    blocks[:, 0] = agents
    blocks[:, 1] = days
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    out = encryptor.update(blocks.tobytes()) + encryptor.finalize()
    return np.frombuffer(out, dtype=np.uint8).reshape(-1, 16)


def tek(key: bytes, agent: int, day: int) -> bytes:
    return teks(key, np.array([agent]), np.array([day]))[0].tobytes()


def interval_of(unix_seconds: np.ndarray) -> np.ndarray:
    return (unix_seconds // 600).astype(np.int64)


def day_of(unix_seconds: np.ndarray) -> np.ndarray:
    return (unix_seconds // 86_400).astype(np.int64)

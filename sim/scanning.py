"""What each phone's scans hear: the radio channel sampled once per scan of the receiver.

Every app user scans on its own schedule: scan ``k`` of agent ``r`` starts at
``phase[r] + k·interval + J(r, k)``, with ``J`` uniform in ``[0, jitter)`` from a counter-based
hash of ``(seed, r, k)`` — so any scan time can be computed without storing schedules, and
intervals spread over 210–300 s with a mean of 255 s like Google's 300 s − U(0, 90 s)
(``protocol/scans.py``). Both the real and the vectorized protocol paths read these times.

For an episode between two app users, each one's scans inside it hear the other: one
*observation* per (receiver, transmitter, scan). Its RSSI is the shared channel model
(``beacon/radio/channel.py``): log-distance with the fitted exponent (or the vehicle's),
carriage of both phones, the body term, a shadowing draw per episode and a fading draw per scan;
a scan hears a burst of adverts, so it also carries the strongest of ``ADVERTS_PER_SCAN`` RSSIs
around the scan's level (3.5 dB within a burst, ``shared/spec/sim.md`` §2.1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from beacon.radio.channel import CARRIAGE_OFFSET_DB, SURROUNDINGS, Channel, body_loss_db
from protocol.risk import MAX_SECONDS_SINCE_LAST_SCAN
from sim.config import ScenarioConfig
from sim.mobility import CARRIAGE_CODES, Episodes, Venue

__all__ = ["ADVERTS_PER_SCAN", "Observations", "ScanClock", "observe"]

ADVERTS_PER_SCAN = 8
BURST_SIGMA_DB = 3.5

VENUE_SURROUNDINGS = {
    Venue.HOUSEHOLD: SURROUNDINGS["small_room"],
    Venue.WORK: SURROUNDINGS["room"],
    Venue.SCHOOL: SURROUNDINGS["room"],
    Venue.MARKET: SURROUNDINGS["open"],
    Venue.TRANSPORT: SURROUNDINGS["vehicle"],
}
_CARRIAGE_DB = np.array([CARRIAGE_OFFSET_DB[c] for c in CARRIAGE_CODES])
_BODY_MAX = np.array([VENUE_SURROUNDINGS[v].body_loss_max_db for v in Venue])
_EXPONENT = np.array(
    [np.nan if VENUE_SURROUNDINGS[v].exponent is None else VENUE_SURROUNDINGS[v].exponent for v in Venue]
)
_EXTRA_SIGMA = np.array([VENUE_SURROUNDINGS[v].extra_sigma_db for v in Venue])


def _splitmix64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


@dataclass(frozen=True)
class ScanClock:
    """Every agent's scan times, computable on demand."""

    phase: np.ndarray  # float64 seconds in [0, interval) per agent
    interval_s: float
    jitter_s: float
    seed: int

    def jitter(self, agent: np.ndarray, k: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            x = np.uint64(self.seed) ^ (agent.astype(np.uint64) << np.uint64(40)) ^ k.astype(np.uint64)
        return (_splitmix64(x) >> np.uint64(11)).astype(np.float64) / 2.0**53 * self.jitter_s

    def time(self, agent: np.ndarray, k: np.ndarray) -> np.ndarray:
        return self.phase[agent] + k * self.interval_s + self.jitter(agent, k)

    def seconds_since_last(self, agent: np.ndarray, k: np.ndarray) -> np.ndarray:
        gap = self.time(agent, k) - self.time(agent, k - 1)
        return np.minimum(gap, MAX_SECONDS_SINCE_LAST_SCAN).astype(np.int64)

    def scans(
        self, agent: np.ndarray, start: np.ndarray, end: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every scan of ``agent[i]`` in ``[start[i], end[i])``: (i, scan number k, time), sorted
        by i then time."""
        phase = self.phase[agent]
        k0 = np.floor((start - phase - self.jitter_s) / self.interval_s).astype(np.int64)
        k1 = np.ceil((end - phase) / self.interval_s).astype(np.int64)
        count = np.maximum(k1 - k0 + 1, 0)
        row = np.repeat(np.arange(len(agent)), count)
        k = k0[row] + (np.arange(len(row)) - np.repeat(np.cumsum(count) - count, count))
        t = self.time(agent[row], k)
        inside = (t >= start[row]) & (t < end[row])
        return row[inside], k[inside], t[inside]

    def scans_between(self, agent: int, start: float, end: float) -> np.ndarray:
        """One agent's scan times in ``[start, end)``, sorted (for ``protocol.risk``)."""
        _, _, t = self.scans(np.array([agent]), np.array([start]), np.array([end]))
        return t


@dataclass(frozen=True)
class Observations:
    """One row per scan of a receiver that heard a transmitter."""

    receiver: np.ndarray  # int32
    transmitter: np.ndarray  # int32
    time: np.ndarray  # float64 scan start, Unix seconds
    seconds_since_last: np.ndarray  # int16, ≤ 300
    rssi: np.ndarray  # int16 the scan's mean RSSI (dBm)
    strongest: np.ndarray  # int16 the strongest advert of the scan (dBm)
    venue: np.ndarray  # uint8

    def __len__(self) -> int:
        return len(self.receiver)

    def take(self, mask: np.ndarray) -> Observations:
        return Observations(*(getattr(self, f)[mask] for f in self.__dataclass_fields__))

    @staticmethod
    def concat(parts: list[Observations]) -> Observations:
        return Observations(
            *(np.concatenate([getattr(p, f) for p in parts]) for f in Observations.__dataclass_fields__)
        )

    @staticmethod
    def empty() -> Observations:
        return Observations(
            np.empty(0, np.int32),
            np.empty(0, np.int32),
            np.empty(0, np.float64),
            np.empty(0, np.int16),
            np.empty(0, np.int16),
            np.empty(0, np.int16),
            np.empty(0, np.uint8),
        )


def _burst_excess(rng: np.random.Generator, n: int) -> np.ndarray:
    """Strongest minus mean of a burst of ``ADVERTS_PER_SCAN`` RSSIs, ``n`` draws (from a table
    of 4,096 simulated bursts: drawing 8 normals per scan would cost 8× the memory)."""
    table = rng.normal(0.0, BURST_SIGMA_DB, size=(4096, ADVERTS_PER_SCAN))
    excess = table.max(axis=1) - table.mean(axis=1)
    picked: np.ndarray = excess[rng.integers(0, len(excess), n)]
    return picked


def observe(
    episodes: Episodes,
    clock: ScanClock,
    config: ScenarioConfig,
    channel: Channel,
    rng: np.random.Generator,
    *,
    device_offset_db: np.ndarray,
) -> Observations:
    """Both directions of every episode (the caller passes only app–app episodes)."""
    if not len(episodes):
        return Observations.empty()
    n = len(episodes)
    shadow = rng.normal(0.0, channel.params.sigma_pair_db, n)  # one per encounter, reciprocal
    body = body_loss_db(rng.uniform(0, np.pi, n), _BODY_MAX[episodes.venue])
    parts = []
    for receiver, transmitter, c_rx, c_tx in (
        (episodes.a, episodes.b, episodes.carriage_a, episodes.carriage_b),
        (episodes.b, episodes.a, episodes.carriage_b, episodes.carriage_a),
    ):
        row, k, t = clock.scans(receiver, episodes.start, episodes.end)
        rx = receiver[row]
        venue = episodes.venue[row]
        exponent = np.where(np.isnan(_EXPONENT[venue]), channel.params.exponent, _EXPONENT[venue])
        offset = (
            _CARRIAGE_DB[c_rx[row]]
            + _CARRIAGE_DB[c_tx[row]]
            + body[row]
            + shadow[row]
            + device_offset_db[rx]
            + device_offset_db[transmitter[row]]
        )
        level = channel.rssi(
            episodes.distance[row],
            float(config.tx_power_dbm),
            rng,
            offset_db=offset,
            exponent=exponent,
            extra_sigma_db=_EXTRA_SIGMA[venue],
        )
        strongest = level + _burst_excess(rng, len(level))
        heard = channel.heard(strongest, float(config.tx_power_dbm))
        parts.append(
            Observations(
                rx[heard].astype(np.int32),
                transmitter[row][heard].astype(np.int32),
                t[heard],
                clock.seconds_since_last(rx[heard], k[heard]).astype(np.int16),
                np.rint(np.maximum(level[heard], -127)).astype(np.int16),
                np.rint(strongest[heard]).astype(np.int16),
                venue[heard],
            )
        )
    return Observations.concat(parts)

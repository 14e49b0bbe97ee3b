"""Where people meet: co-location episodes per day, each a pair, a start, a duration, a distance.

An episode is two people at a roughly constant distance for a while in one venue, with the way
each carries the phone (``shared/spec/sim.md`` §4: episode-based contacts, not positions for
everyone). Per local day (UTC+7):

* **household** — every pair of members, morning (05:30–07:00) and evening (17:30–22:00);
* **work** — each worker meets a few colleagues of the same workplace (Mon–Sat);
* **school** — each pupil meets a few classmates (Mon–Sat);
* **market** — visitors of the same district market session meet a few strangers, briefly;
* **transport** — riders of the same vehicle sit near a few others.

Who is isolated (a case from its positive test on) meets nobody: episodes end at the test. Numbers marked as
assumptions in :mod:`sim.config` shape this; they are the levers to vary, not facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from beacon.radio.channel import Carriage
from sim.config import ScenarioConfig
from sim.population import AgeGroup, Population

__all__ = ["CARRIAGE_CODES", "UTC_OFFSET_S", "Episodes", "Venue", "day_episodes"]

UTC_OFFSET_S = 7 * 3600  # Vietnam (UTC+7): local days, UTC days for keys and ground truth
CARRIAGE_CODES = tuple(Carriage)


class Venue(IntEnum):
    HOUSEHOLD = 0
    WORK = 1
    SCHOOL = 2
    MARKET = 3
    TRANSPORT = 4


@dataclass(frozen=True)
class VenueShape:
    """Per venue: partners per person per day, duration (minutes), distance (median m, log σ),
    and how phones are carried (probabilities over ``Carriage``: hand, table, shirt pocket,
    trouser pocket, bag). All assumptions of ours, stated here once."""

    partners: float
    duration_min: tuple[float, float, float]  # mean of an exponential, clipped to (lo, hi)
    distance: tuple[float, float]
    carriage: tuple[float, float, float, float, float]


SHAPES: dict[Venue, VenueShape] = {
    Venue.HOUSEHOLD: VenueShape(0, (0, 0, 0), (1.8, 0.55), (0.3, 0.45, 0.05, 0.15, 0.05)),
    Venue.WORK: VenueShape(3, (40, 5, 240), (2.5, 0.5), (0.2, 0.35, 0.1, 0.25, 0.1)),
    Venue.SCHOOL: VenueShape(5, (45, 5, 180), (1.5, 0.45), (0.1, 0.1, 0.1, 0.3, 0.4)),
    Venue.MARKET: VenueShape(4, (4, 1, 30), (1.5, 0.5), (0.4, 0.0, 0.1, 0.35, 0.15)),
    Venue.TRANSPORT: VenueShape(3, (0, 15, 60), (1.0, 0.4), (0.45, 0.0, 0.1, 0.3, 0.15)),
}
MARKET_SESSION = 40  # visitors sharing one market hour
VEHICLE_SEATS = 25


@dataclass(frozen=True)
class Episodes:
    a: np.ndarray  # int32 agent
    b: np.ndarray  # int32 agent
    start: np.ndarray  # float64 Unix seconds
    duration: np.ndarray  # float64 seconds
    distance: np.ndarray  # float32 metres
    venue: np.ndarray  # uint8 Venue
    carriage_a: np.ndarray  # uint8 index into CARRIAGE_CODES
    carriage_b: np.ndarray

    def __len__(self) -> int:
        return len(self.a)

    @property
    def end(self) -> np.ndarray:
        return self.start + self.duration

    def take(self, mask: np.ndarray) -> Episodes:
        return Episodes(*(getattr(self, f)[mask] for f in self.__dataclass_fields__))

    @staticmethod
    def concat(parts: list[Episodes]) -> Episodes:
        return Episodes(
            *(np.concatenate([getattr(p, f) for p in parts]) for f in Episodes.__dataclass_fields__)
        )


def _within_groups(
    members: np.ndarray, groups: np.ndarray, partners: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Each member draws Poisson(partners) others of its group, uniformly, never itself."""
    order = np.argsort(groups, kind="stable")
    members, groups = members[order], groups[order]
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    sizes = np.diff(np.r_[starts, len(groups)])
    group_index = np.repeat(np.arange(len(starts)), sizes)
    position = np.arange(len(members)) - starts[group_index]
    size = sizes[group_index]
    k = rng.poisson(partners, size=len(members)) * (size > 1)
    who = np.repeat(np.arange(len(members)), k)
    step = 1 + (rng.random(len(who)) * (size[who] - 1)).astype(np.int64)
    partner = starts[group_index[who]] + (position[who] + step) % size[who]
    # One meeting per pair and day: A drawing B and B drawing A is the same meeting.
    a, b = members[who].astype(np.int64), members[partner].astype(np.int64)
    pair = np.minimum(a, b) * (int(max(a.max(initial=0), b.max(initial=0))) + 1) + np.maximum(a, b)
    _, first = np.unique(pair, return_index=True)
    first.sort()
    return a[first], b[first]


def _episodes(
    venue: Venue,
    a: np.ndarray,
    b: np.ndarray,
    start: np.ndarray,
    duration_s: np.ndarray,
    rng: np.random.Generator,
) -> Episodes:
    shape = SHAPES[venue]
    n = len(a)
    median, sigma = shape.distance
    distance = (median * np.exp(rng.normal(0.0, sigma, n))).astype(np.float32)
    p = np.asarray(shape.carriage)
    carriage = rng.choice(len(p), size=(2, n), p=p).astype(np.uint8)
    return Episodes(
        a.astype(np.int32),
        b.astype(np.int32),
        start.astype(np.float64),
        duration_s.astype(np.float64),
        distance,
        np.full(n, venue, dtype=np.uint8),
        carriage[0],
        carriage[1],
    )


def _exp_minutes(shape: VenueShape, n: int, rng: np.random.Generator) -> np.ndarray:
    mean, lo, hi = shape.duration_min
    return np.clip(rng.exponential(mean, n), lo, hi) * 60.0


def day_episodes(
    population: Population,
    config: ScenarioConfig,
    day: int,
    rng: np.random.Generator,
    *,
    household_pairs: tuple[np.ndarray, np.ndarray],
    isolated_from: np.ndarray,
) -> Episodes:
    """The episodes of local day ``day`` (0 = the run's first), with isolated people removed.

    ``isolated_from`` holds, per agent, the Unix time from which it meets nobody (``inf`` if never).
    """
    midnight = (config.start_day + day) * 86_400.0 - UTC_OFFSET_S  # local midnight in Unix time
    weekday = (config.start.weekday() + day) % 7
    hour = 3600.0
    parts = []

    first, second = household_pairs
    n = len(first)
    morning = midnight + 5.5 * hour + rng.random(n) * 0.5 * hour
    parts.append(_episodes(Venue.HOUSEHOLD, first, second, morning, rng.uniform(20, 60, n) * 60, rng))
    evening = midnight + 17.5 * hour + rng.random(n) * 1.5 * hour
    parts.append(_episodes(Venue.HOUSEHOLD, first, second, evening, rng.uniform(60, 180, n) * 60, rng))

    if weekday != 6:  # Sunday: no work, no school
        for venue, groups, opens, span in (
            (Venue.WORK, population.workplace, 8.0, 8.0),
            (Venue.SCHOOL, population.school_class, 7.5, 3.5),
        ):
            members = np.flatnonzero(groups >= 0)
            a, b = _within_groups(members, groups[members], SHAPES[venue].partners, rng)
            start = midnight + (opens + rng.random(len(a)) * span) * hour
            parts.append(_episodes(venue, a, b, start, _exp_minutes(SHAPES[venue], len(a), rng), rng))

    visits = population.age >= AgeGroup.PUPIL
    for venue, probability, seats, opens, span in (
        (Venue.MARKET, config.market_visit_probability, MARKET_SESSION, 6.0, 12),
        (Venue.TRANSPORT, config.transport_probability, VEHICLE_SEATS, 6.0, 12),
    ):
        # People of one district are grouped into market sessions (or vehicles) at one hour.
        go = np.flatnonzero(visits & (rng.random(population.size) < probability))
        group = population.district[go].astype(np.int64) * 10_000_000 + rng.permutation(len(go)) // seats
        groups, group_of = np.unique(group, return_inverse=True)
        group_hour = opens + rng.integers(0, span, len(groups))
        a, b = _within_groups(go, group, SHAPES[venue].partners, rng)
        start = midnight + (group_hour[group_of[np.searchsorted(go, a)]] + rng.random(len(a)) * 0.5) * hour
        mean, lo, hi = SHAPES[venue].duration_min
        duration = _exp_minutes(SHAPES[venue], len(a), rng) if mean else rng.uniform(lo, hi, len(a)) * 60
        parts.append(_episodes(venue, a, b, start, duration, rng))

    episodes = Episodes.concat(parts)
    # Isolation cuts an episode short at the positive test.
    cut = np.minimum(isolated_from[episodes.a], isolated_from[episodes.b])
    episodes = episodes.take(episodes.start < cut)
    cut = np.minimum(isolated_from[episodes.a], isolated_from[episodes.b])
    return Episodes(
        episodes.a,
        episodes.b,
        episodes.start,
        np.minimum(episodes.duration, cut - episodes.start),
        episodes.distance,
        episodes.venue,
        episodes.carriage_a,
        episodes.carriage_b,
    )

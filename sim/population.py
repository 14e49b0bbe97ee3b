"""Who the agents are: district, age group, household, workplace or class, smartphone, app.

Arrays, one entry per agent (structure of arrays, so a million agents fit in tens of MB). App
adoption is *nested*: each agent draws a propensity ``u`` once, and at adoption level ``a``
(a share of smartphone owners) an owner runs the app when ``u < a``. So the users at 13 % are
also users at 43 %, and one run can evaluate every level of the adoption curve on the same
people. With ``household_adoption_correlation`` ρ, a household shares one propensity with
probability ρ (the whole household decides together), which keeps the marginal rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.config import District, ScenarioConfig, districts_for

__all__ = ["AGE_SHARES", "OWNERSHIP_WEIGHT", "AgeGroup", "Population", "build_population"]


class AgeGroup:
    CHILD = 0  # 0–5: at home
    PUPIL = 1  # 6–17: school
    ADULT = 2  # 18–64: work (employment_rate) or home
    ELDER = 3  # 65+


AGE_SHARES = np.array([0.10, 0.18, 0.64, 0.08])
"""Approximate shares of Vietnam's 2019 census (0–14: 24 %, 15–64: 68 %, 65+: 8 %), unverified split."""

OWNERSHIP_WEIGHT = np.array([0.0, 0.5, 0.93, 0.45])
"""Relative smartphone ownership by age group, from OpenABM-Covid19's ceilings by age (spec/sim.md §3)."""


@dataclass(frozen=True)
class Population:
    district: np.ndarray  # uint8
    age: np.ndarray  # uint8 AgeGroup
    household: np.ndarray  # int32, households numbered 0..H-1, members contiguous
    workplace: np.ndarray  # int32, -1 when none
    school_class: np.ndarray  # int32, -1 when none
    owner: np.ndarray  # bool: owns a smartphone
    propensity: np.ndarray  # float32 in [0, 1): adopts at owner-level a when < a
    app: np.ndarray  # bool: runs the app in this run's scenario
    districts: tuple[District, ...]

    @property
    def size(self) -> int:
        return len(self.age)

    def app_at(self, population_share: float) -> np.ndarray:
        """Who runs the app when ``population_share`` of everyone does (same owner share everywhere)."""
        owners = max(float(self.owner.mean()), 1e-9)
        return self.owner & (self.propensity < population_share / owners)

    def household_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """Every unordered pair of people sharing a household (i < j)."""
        starts = np.flatnonzero(np.r_[True, self.household[1:] != self.household[:-1]])
        sizes = np.diff(np.r_[starts, self.size])
        firsts, seconds = [], []
        for size in range(2, int(sizes.max(initial=1)) + 1):
            s = starts[sizes == size]
            if not len(s):
                continue
            a, b = np.triu_indices(size, k=1)
            firsts.append((s[:, None] + a[None, :]).ravel())
            seconds.append((s[:, None] + b[None, :]).ravel())
        if not firsts:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty
        return np.concatenate(firsts), np.concatenate(seconds)


def _groups(members: np.ndarray, mean_size: float, rng: np.random.Generator, *, fixed: bool) -> np.ndarray:
    """Cut shuffled members into groups; returns a group id per member (ids start at 0)."""
    if not len(members):
        return np.empty(0, dtype=np.int32)
    if fixed:
        return (np.arange(len(members)) // int(mean_size)).astype(np.int32)
    # Geometric sizes (many small workplaces, a few large ones), at least 1.
    sizes = rng.geometric(1 / mean_size, size=len(members))
    ends = np.cumsum(sizes)
    count = int(np.searchsorted(ends, len(members))) + 1
    return np.repeat(np.arange(count, dtype=np.int32), sizes[:count])[: len(members)]


def build_population(config: ScenarioConfig, rng: np.random.Generator) -> Population:
    districts = districts_for(config)
    n = config.agents
    weights = np.array([d.population for d in districts], dtype=float)
    per_district = np.floor(weights / weights.sum() * n).astype(int)
    per_district[: n - per_district.sum()] += 1

    district_parts, household_parts, age_parts = [], [], []
    next_household = 0
    sizes_p = np.asarray(config.household_sizes)
    for index, count in enumerate(per_district):
        if count == 0:
            continue
        sizes = rng.choice(np.arange(1, len(sizes_p) + 1), size=count, p=sizes_p)  # enough even if all 1
        sizes = sizes[: int(np.searchsorted(np.cumsum(sizes), count)) + 1]
        household = np.repeat(np.arange(len(sizes)), sizes)[:count] + next_household
        next_household += len(sizes)
        age = rng.choice(4, size=count, p=AGE_SHARES).astype(np.uint8)
        # The first member of every household is an adult, so no household is only children.
        first = np.r_[True, household[1:] != household[:-1]]
        age[first & (age < AgeGroup.ADULT)] = AgeGroup.ADULT
        district_parts.append(np.full(count, index, dtype=np.uint8))
        household_parts.append(household.astype(np.int32))
        age_parts.append(age)
    district = np.concatenate(district_parts)
    household = np.concatenate(household_parts)
    age = np.concatenate(age_parts)

    workplace = np.full(n, -1, dtype=np.int32)
    school_class = np.full(n, -1, dtype=np.int32)
    offset_w = offset_s = 0
    for index in range(len(districts)):
        in_district = district == index
        workers = np.flatnonzero(in_district & (age == AgeGroup.ADULT))
        workers = rng.permutation(workers[rng.random(len(workers)) < config.employment_rate])
        ids = _groups(workers, config.workplace_mean_size, rng, fixed=False)
        workplace[workers] = ids + offset_w
        offset_w += int(ids.max(initial=-1)) + 1
        pupils = rng.permutation(np.flatnonzero(in_district & (age == AgeGroup.PUPIL)))
        ids = _groups(pupils, config.class_size, rng, fixed=True)
        school_class[pupils] = ids + offset_s
        offset_s += int(ids.max(initial=-1)) + 1

    owner = np.zeros(n, dtype=bool)
    target_among_owners = np.zeros(n)
    for index, d in enumerate(districts):
        members = np.flatnonzero(district == index)
        w = OWNERSHIP_WEIGHT[age[members]]
        scale = d.ownership * len(members) / max(w.sum(), 1e-9)
        owner[members] = rng.random(len(members)) < np.minimum(w * scale, 1.0)
        target_among_owners[members] = d.adoption_among_owners

    individual = rng.random(n)
    shared = rng.random(int(household.max()) + 1)
    together = rng.random(int(household.max()) + 1) < config.household_adoption_correlation
    propensity = np.where(together[household], shared[household], individual).astype(np.float32)
    app = owner & (propensity < target_among_owners)
    return Population(district, age, household, workplace, school_class, owner, propensity, app, districts)

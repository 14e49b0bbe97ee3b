"""sim.population: sizes, households, venues, smartphones and (nested) app adoption."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from sim.config import ScenarioConfig
from sim.population import AgeGroup, Population, build_population


def _population(seed: int = 0, **settings: object) -> Population:
    return build_population(ScenarioConfig(**settings), np.random.default_rng(seed))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def uniform() -> Population:
    return _population(agents=50_000)


@pytest.fixture(scope="module")
def province() -> Population:
    return _population(agents=60_000, scenario="tuyen-quang")


def _household_starts(household: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.r_[True, household[1:] != household[:-1]])


@pytest.mark.parametrize("agents", [10, 11, 999, 12_345])
@pytest.mark.parametrize("scenario", ["uniform", "tuyen-quang"])
def test_every_array_has_one_entry_per_agent(agents: int, scenario: str) -> None:
    population = _population(agents=agents, scenario=scenario)
    assert population.size == agents
    for name in ("district", "age", "household", "workplace", "school_class", "owner", "propensity", "app"):
        assert len(getattr(population, name)) == agents, name


def test_districts_get_agents_in_proportion_to_their_population(province: Population) -> None:
    total = sum(d.population for d in province.districts)
    counts = np.bincount(province.district, minlength=len(province.districts))
    for count, district in zip(counts, province.districts, strict=True):
        assert abs(count - province.size * district.population / total) <= 1


def test_households_are_numbered_contiguously_from_zero(uniform: Population) -> None:
    h = uniform.household
    assert h[0] == 0
    assert np.all(np.diff(h) >= 0)  # members contiguous
    assert set(np.unique(h)) == set(range(int(h.max()) + 1))


def test_household_sizes_follow_the_configured_distribution(uniform: Population) -> None:
    sizes = np.bincount(uniform.household)
    assert sizes.max() <= 7
    shares = np.bincount(sizes, minlength=8)[1:] / len(sizes)
    expected = np.asarray(ScenarioConfig().household_sizes)
    assert np.abs(shares - expected).max() < 0.02


def test_every_household_has_an_adult_as_its_first_member(uniform: Population, province: Population) -> None:
    for population in (uniform, province):
        first = _household_starts(population.household)
        assert np.all(population.age[first] >= AgeGroup.ADULT)


def test_workplaces_hold_working_age_adults_and_classes_hold_pupils(uniform: Population) -> None:
    working = uniform.workplace >= 0
    assert np.all(uniform.age[working] == AgeGroup.ADULT)
    adults = uniform.age == AgeGroup.ADULT
    assert working[adults].mean() == pytest.approx(ScenarioConfig().employment_rate, abs=0.02)
    pupils = uniform.age == AgeGroup.PUPIL
    assert np.array_equal(uniform.school_class >= 0, pupils)
    assert np.bincount(uniform.school_class[pupils]).max() == ScenarioConfig().class_size


def test_venues_do_not_cross_districts(province: Population) -> None:
    for groups in (province.workplace, province.school_class):
        member = groups >= 0
        pairs = np.unique(np.stack([groups[member], province.district[member]], axis=1), axis=0)
        assert len(pairs) == len(np.unique(groups[member]))


def test_adoption_is_nested_across_levels(uniform: Population) -> None:
    levels = [0.01, 0.05, 0.1, 0.1292, 0.2, 0.4, 0.6, 0.72]
    sets = [uniform.app_at(level) for level in levels]
    for smaller, larger in itertools.pairwise(sets):
        assert np.all(larger[smaller])  # smaller ⊆ larger
        assert larger.sum() > smaller.sum()
    assert np.all(uniform.app_at(0.4)[uniform.app_at(0.1)])


def test_app_users_all_own_a_smartphone(uniform: Population, province: Population) -> None:
    for population in (uniform, province):
        assert np.all(population.owner[population.app])
        for level in (0.1, 0.5, 0.72, 1.0):
            assert np.all(population.owner[population.app_at(level)])
    assert np.array_equal(uniform.app_at(1.0), uniform.owner)  # above ownership: every owner


def test_app_at_gives_the_asked_share_of_everyone(uniform: Population) -> None:
    n = uniform.size
    for level in (0.05, 0.1292, 0.43):
        tolerance = 4 * math.sqrt(level * (1 - level) / n)
        assert uniform.app_at(level).mean() == pytest.approx(level, abs=tolerance)


def test_realised_ownership_and_adoption_are_near_the_configured_ones(uniform: Population) -> None:
    config = ScenarioConfig()
    n = uniform.size
    for realised, wanted in (
        (uniform.owner.mean(), config.smartphone_ownership),
        (uniform.app.mean(), config.adoption),
    ):
        assert realised == pytest.approx(wanted, abs=4 * math.sqrt(wanted * (1 - wanted) / n))


def test_children_under_six_own_no_smartphone(uniform: Population) -> None:
    assert not uniform.owner[uniform.age == AgeGroup.CHILD].any()
    adults = uniform.owner[uniform.age == AgeGroup.ADULT].mean()
    assert adults > uniform.owner[uniform.age == AgeGroup.PUPIL].mean()
    assert adults > uniform.owner[uniform.age == AgeGroup.ELDER].mean()


def test_tuyen_quang_adoption_among_owners_follows_each_districts_row(province: Population) -> None:
    assert len(province.districts) == 7
    for index, district in enumerate(province.districts):
        owners = province.owner & (province.district == index)
        p, k = district.adoption_among_owners, int(owners.sum())
        realised = province.app[owners].mean()
        assert realised == pytest.approx(p, abs=4 * math.sqrt(p * (1 - p) / k)), district.name
    # The city stands out: about 27 % of owners against 15–17 % elsewhere.
    city = next(i for i, d in enumerate(province.districts) if d.name == "TP Tuyên Quang")
    rates = [province.app[province.owner & (province.district == i)].mean() for i in range(7)]
    assert rates[city] == max(rates)


def _homogeneous_share(population: Population) -> float:
    """Among households with at least two owners: the share where all owners or none run the app."""
    h = population.household[population.owner]
    owners = np.bincount(h, minlength=int(population.household.max()) + 1)
    users = np.bincount(h, weights=population.app[population.owner], minlength=len(owners))
    multi = owners >= 2
    assert multi.sum() > 1000
    return float(((users[multi] == 0) | (users[multi] == owners[multi])).mean())


def test_full_household_correlation_makes_households_decide_together() -> None:
    together = _population(agents=20_000, adoption=0.3, household_adoption_correlation=1.0)
    independent = _population(agents=20_000, adoption=0.3, household_adoption_correlation=0.0)
    assert _homogeneous_share(together) == 1.0
    assert _homogeneous_share(independent) < 0.5
    # The marginal rate is kept.
    assert together.app.mean() == pytest.approx(0.3, abs=0.02)


def test_household_pairs_are_every_pair_within_each_household(uniform: Population) -> None:
    first, second = uniform.household_pairs()
    sizes = np.bincount(uniform.household)
    assert len(first) == int((sizes * (sizes - 1) // 2).sum())
    assert np.all(first < second)
    assert np.array_equal(uniform.household[first], uniform.household[second])
    pairs = first.astype(np.int64) * uniform.size + second
    assert len(np.unique(pairs)) == len(pairs)


@pytest.mark.parametrize("sizes", [(1.0, 0, 0, 0, 0, 0, 0), (0.5, 0.3, 0.2, 0, 0, 0, 0)])
def test_small_households_still_give_the_asked_number_of_agents(sizes: tuple[float, ...]) -> None:
    population = _population(agents=5000, household_sizes=sizes)
    assert population.size == 5000
    assert np.bincount(population.household).max() <= 3


def test_same_seed_gives_the_same_population() -> None:
    a, b = _population(seed=5, agents=3000), _population(seed=5, agents=3000)
    c = _population(seed=6, agents=3000)
    for name in ("district", "age", "household", "workplace", "school_class", "owner", "propensity", "app"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert not np.array_equal(a.propensity, c.propensity)


def test_household_ids_stay_contiguous_when_a_district_gets_no_agents() -> None:
    population = _population(agents=13, scenario="tuyen-quang")
    h = population.household
    assert set(np.unique(h)) == set(range(int(h.max()) + 1))

"""sim.mobility: who meets whom, where, when and how far apart."""

from __future__ import annotations

import numpy as np
import pytest

from sim.config import ScenarioConfig
from sim.mobility import UTC_OFFSET_S, Episodes, Venue, day_episodes
from sim.population import AgeGroup, Population, build_population

CONFIG = ScenarioConfig(agents=4000, days=7)
NEVER = np.full(CONFIG.agents, np.inf)


@pytest.fixture(scope="module")
def population() -> Population:
    return build_population(CONFIG, np.random.default_rng(1))


@pytest.fixture(scope="module")
def week(population: Population) -> list[Episodes]:
    pairs = population.household_pairs()
    rng = np.random.default_rng(2)
    return [
        day_episodes(population, CONFIG, day, rng, household_pairs=pairs, isolated_from=NEVER)
        for day in range(CONFIG.days)
    ]


def test_every_venue_has_episodes_on_a_weekday(week: list[Episodes]) -> None:
    counts = np.bincount(week[0].venue, minlength=len(Venue))
    assert np.all(counts > 0), counts


def test_episodes_have_positive_durations_and_distances_and_two_distinct_people(week: list[Episodes]) -> None:
    for episodes in week:
        assert len(episodes) > 0
        assert np.all(episodes.duration > 0)
        assert np.all(episodes.distance > 0)
        assert np.all(episodes.a != episodes.b)
        assert np.all(np.isfinite(episodes.start))


def test_episodes_happen_on_their_local_day(week: list[Episodes]) -> None:
    for day, episodes in enumerate(week):
        midnight = (CONFIG.start_day + day) * 86_400 - UTC_OFFSET_S
        assert np.all(episodes.start >= midnight + 5 * 3600)  # nobody meets before 05:00
        assert np.all(episodes.end <= midnight + 86_400)  # all over by midnight, local time


def test_household_episodes_are_between_members_of_one_household(
    population: Population, week: list[Episodes]
) -> None:
    pairs = population.household_pairs()
    for episodes in week:
        home = episodes.take(episodes.venue == Venue.HOUSEHOLD)
        assert np.array_equal(population.household[home.a], population.household[home.b])
        # every pair meets twice a day: morning and evening
        assert len(home) == 2 * len(pairs[0])


def test_work_episodes_are_between_colleagues_and_school_ones_between_classmates(
    population: Population, week: list[Episodes]
) -> None:
    for episodes in week[:6]:
        work = episodes.take(episodes.venue == Venue.WORK)
        school = episodes.take(episodes.venue == Venue.SCHOOL)
        assert len(work) > 0 and len(school) > 0
        assert np.all(population.workplace[work.a] >= 0)
        assert np.array_equal(population.workplace[work.a], population.workplace[work.b])
        assert np.all(population.school_class[school.a] >= 0)
        assert np.array_equal(population.school_class[school.a], population.school_class[school.b])


def test_markets_and_vehicles_hold_people_of_one_district_old_enough_to_go(
    population: Population, week: list[Episodes]
) -> None:
    for episodes in week:
        out = episodes.take((episodes.venue == Venue.MARKET) | (episodes.venue == Venue.TRANSPORT))
        assert len(out) > 0
        assert np.array_equal(population.district[out.a], population.district[out.b])
        assert np.all(population.age[out.a] >= AgeGroup.PUPIL)
        assert np.all(population.age[out.b] >= AgeGroup.PUPIL)


def test_there_is_no_work_or_school_on_sunday(week: list[Episodes]) -> None:
    assert CONFIG.start.weekday() == 0  # a Monday, so day 6 is a Sunday
    sunday = week[6]
    assert not np.isin(sunday.venue, [Venue.WORK, Venue.SCHOOL]).any()
    assert np.isin(week[5].venue, [Venue.WORK, Venue.SCHOOL]).any()  # Saturday still works
    assert (sunday.venue == Venue.HOUSEHOLD).any() and (sunday.venue == Venue.MARKET).any()


def test_sunday_follows_the_calendar_not_the_day_index(population: Population) -> None:
    pairs = population.household_pairs()
    sunday_start = ScenarioConfig(agents=CONFIG.agents, start=CONFIG.start.replace(day=2))  # 2 May 2021
    episodes = day_episodes(
        population, sunday_start, 0, np.random.default_rng(3), household_pairs=pairs, isolated_from=NEVER
    )
    assert not np.isin(episodes.venue, [Venue.WORK, Venue.SCHOOL]).any()


def test_isolated_people_meet_nobody_from_their_isolation_on(population: Population) -> None:
    pairs = population.household_pairs()
    day = 2
    midday = (CONFIG.start_day + day) * 86_400 - UTC_OFFSET_S + 12 * 3600
    isolated = np.full(population.size, np.inf)
    chosen = np.random.default_rng(4).choice(population.size, size=400, replace=False)
    isolated[chosen] = midday
    free = day_episodes(
        population, CONFIG, day, np.random.default_rng(5), household_pairs=pairs, isolated_from=NEVER
    )
    kept = day_episodes(
        population, CONFIG, day, np.random.default_rng(5), household_pairs=pairs, isolated_from=isolated
    )
    late = (free.end > isolated[free.a]) | (free.end > isolated[free.b])
    assert late.sum() > 100  # the isolation has something to remove
    assert np.all(kept.end <= isolated[kept.a])
    assert np.all(kept.end <= isolated[kept.b])
    # the same draws: episodes starting after the isolation gone, those running into it cut short
    cut = np.minimum(isolated[free.a], isolated[free.b])
    expected = free.take(free.start < cut)
    for name in Episodes.__dataclass_fields__:
        if name != "duration":
            assert np.array_equal(getattr(kept, name), getattr(expected, name)), name
    straddling = expected.end > np.minimum(isolated[expected.a], isolated[expected.b])
    assert straddling.any()
    assert np.array_equal(kept.duration[~straddling], expected.duration[~straddling])
    assert np.all(kept.duration[straddling] < expected.duration[straddling])
    # episodes that ended before the isolation stay
    involved = np.isin(kept.a, chosen) | np.isin(kept.b, chosen)
    assert involved.sum() > 0


def test_venue_distances_and_durations_have_their_shapes(week: list[Episodes]) -> None:
    episodes = Episodes.concat(week)
    for venue, (lo_min, hi_min) in {
        Venue.WORK: (5, 240),
        Venue.SCHOOL: (5, 180),
        Venue.MARKET: (1, 30),
        Venue.TRANSPORT: (15, 60),
    }.items():
        minutes = episodes.duration[episodes.venue == venue] / 60
        assert minutes.min() >= lo_min - 1e-9 and minutes.max() <= hi_min + 1e-9, venue
    home = episodes.distance[episodes.venue == Venue.HOUSEHOLD]
    vehicle = episodes.distance[episodes.venue == Venue.TRANSPORT]
    assert np.median(home) == pytest.approx(1.8, rel=0.05)
    assert np.median(vehicle) == pytest.approx(1.0, rel=0.1)


def test_same_seed_gives_the_same_episodes(population: Population) -> None:
    pairs = population.household_pairs()
    a, b = (
        day_episodes(
            population, CONFIG, 1, np.random.default_rng(9), household_pairs=pairs, isolated_from=NEVER
        )
        for _ in range(2)
    )
    for name in Episodes.__dataclass_fields__:
        assert np.array_equal(getattr(a, name), getattr(b, name)), name

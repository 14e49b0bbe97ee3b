"""Who becomes a case, when they test positive, and whether and when they upload their keys.

This is not a transmission model: the question is what the app finds, so cases are sampled at
a constant rate (``cases_per_100k_per_day``, chosen for statistical power) among all agents,
each with a symptom onset, a positive test ``onset_to_test_days`` later (isolated from then on:
no more episodes), and, if running the app and consenting, an upload
``upload_delay_hours`` (exponential mean) after the test. The infectious window whose close
contacts count runs from onset − 2 days to the positive test (Bộ Y tế, CDC; spec/sim.md §3).
Onsets fall so that tests happen inside the run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.config import ScenarioConfig
from sim.mobility import UTC_OFFSET_S

__all__ = ["DAYS_BEFORE_ONSET", "Cases", "sample_cases"]

DAY_S = 86_400.0
DAYS_BEFORE_ONSET = 2


@dataclass(frozen=True)
class Cases:
    agent: np.ndarray  # int32, distinct
    onset: np.ndarray  # float64 Unix seconds
    test: np.ndarray  # float64: positive test; isolated from then
    consents: np.ndarray  # bool: would upload if running the app
    upload: np.ndarray  # float64: when the upload happens, if it does

    def __len__(self) -> int:
        return len(self.agent)

    @property
    def infectious_from(self) -> np.ndarray:
        return self.onset - DAYS_BEFORE_ONSET * DAY_S

    def uploads(self, app: np.ndarray, run_end: float) -> np.ndarray:
        """Which cases upload when ``app`` says who runs the app."""
        return app[self.agent] & self.consents & (self.upload < run_end)

    def isolated_from(self, agents: int) -> np.ndarray:
        out = np.full(agents, np.inf)
        out[self.agent] = self.test
        return out


def run_window(config: ScenarioConfig) -> tuple[float, float]:
    """The run's first and last instants (local midnights, as Unix seconds)."""
    start = config.start_day * DAY_S - UTC_OFFSET_S
    return start, start + config.days * DAY_S


def sample_cases(config: ScenarioConfig, agents: int, rng: np.random.Generator) -> Cases:
    start, end = run_window(config)
    lo_test, hi_test = config.onset_to_test_days
    first = start + DAYS_BEFORE_ONSET * DAY_S
    last = max(first, end - (hi_test + 0.5) * DAY_S)
    span_days = max((last - first) / DAY_S, 1 / 24)
    expected = config.cases_per_100k_per_day * agents / 100_000 * span_days
    count = min(int(rng.poisson(expected)), agents)
    agent = np.sort(rng.choice(agents, size=count, replace=False)).astype(np.int32)
    onset = first + rng.random(count) * (last - first)
    test = onset + rng.uniform(lo_test, hi_test, count) * DAY_S
    consents = rng.random(count) < config.upload_consent
    upload = test + rng.exponential(config.upload_delay_hours * 3600, count)
    return Cases(agent, onset, test, consents, upload)

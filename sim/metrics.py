"""Ground truth and scores: who was a close contact of a case, and how the warnings compare.

Ground truth is per (case, person, UTC day): the minutes they spent within ``close_distance_m``
during the case's infectious window (onset − 2 days to the positive test); a person is a close
contact when some day reaches ``close_minutes``. Scores are per person:

* **precision** — of the people warned, the share warned for the right reason: they matched the
  keys of a case they were a close contact of;
* **recall** — of the close contacts the app *could* find (running the app, with at least one
  close case that uploaded), the share so warned: the radio and the thresholds at work;
* **found** — of all close contacts, the share so warned: what the officials get, where
  adoption enters twice (p² for independent adoption).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.config import ScenarioConfig
from sim.epidemic import DAY_S, Cases
from sim.mobility import Episodes

__all__ = ["CloseContacts", "TruthAccumulator", "classification"]


class TruthAccumulator:
    """Collects, day by day, the minutes within the close distance of every case's contacts."""

    def __init__(self, cases: Cases, agents: int, config: ScenarioConfig) -> None:
        self.config = config
        self.case_of = np.full(agents, -1, dtype=np.int64)
        self.case_of[cases.agent] = np.arange(len(cases))
        self.window_start = cases.infectious_from
        self.window_end = cases.test
        self.rows: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    def add(self, episodes: Episodes) -> None:
        near = episodes.distance <= self.config.close_distance_m
        for case_side, other in ((episodes.a, episodes.b), (episodes.b, episodes.a)):
            case = self.case_of[case_side]
            pick = near & (case >= 0)
            if not pick.any():
                continue
            c = case[pick]
            start = np.maximum(episodes.start[pick], self.window_start[c])
            end = np.minimum(episodes.end[pick], self.window_end[c])
            keep = end > start
            c, o, start, end = c[keep], other[pick][keep], start[keep], end[keep]
            # Split at UTC midnight (an episode spans at most two days here).
            midnight = (np.floor(start / DAY_S) + 1) * DAY_S
            first_end = np.minimum(end, midnight)
            days = np.floor(start / DAY_S).astype(np.int64)
            second = end > midnight
            self.rows.append((c, o.astype(np.int64), days, (first_end - start) / 60))
            self.rows.append(
                (c[second], o[second].astype(np.int64), days[second] + 1, (end - midnight)[second] / 60)
            )

    def close_contacts(self) -> CloseContacts:
        if not self.rows:
            empty = np.empty(0, dtype=np.int64)
            return CloseContacts(empty, empty, empty, np.empty(0))
        case, other, day, minutes = (np.concatenate(parts) for parts in zip(*self.rows, strict=True))
        key = np.stack([case, other, day], axis=1)
        unique, inverse = np.unique(key, axis=0, return_inverse=True)
        total = np.bincount(inverse.ravel(), weights=minutes)
        close = total >= self.config.close_minutes
        return CloseContacts(unique[close, 0], unique[close, 1], unique[close, 2], total[close])


@dataclass(frozen=True)
class CloseContacts:
    """(case index, person, UTC day, minutes) for every day that reached the close-contact rule."""

    case: np.ndarray
    person: np.ndarray
    day: np.ndarray
    minutes: np.ndarray

    def people(self) -> np.ndarray:
        return np.unique(self.person)

    def explained(
        self, case_agent: np.ndarray, receiver: np.ndarray, transmitter: np.ndarray, warned: np.ndarray
    ) -> np.ndarray:
        """The warned people whose matched sightings include a case they were a close contact of.

        ``receiver``/``transmitter``: the matched observations; ``case_agent``: agent of each case."""
        if not len(self.case) or not len(receiver):
            return np.empty(0, dtype=np.int64)
        stride = np.int64(max(int(receiver.max()), int(self.person.max()), int(transmitter.max())) + 1)
        close_pairs = case_agent[self.case].astype(np.int64) * stride + self.person
        heard = transmitter.astype(np.int64) * stride + receiver
        hit = np.isin(heard, close_pairs) & np.isin(receiver, warned)
        return np.unique(receiver[hit]).astype(np.int64)

    def both_run_the_app(self, case_agent: np.ndarray, app: np.ndarray) -> float:
        """The share of close (case, person) pairs where both run the app: what p² approximates."""
        pairs = np.unique(np.stack([self.case, self.person], axis=1), axis=0) if len(self.case) else None
        if pairs is None:
            return float("nan")
        return float((app[case_agent[pairs[:, 0]]] & app[pairs[:, 1]]).mean())

    def reachable(self, app: np.ndarray, uploaded: np.ndarray) -> np.ndarray:
        """People the app could warn: running it, close to a case that uploaded."""
        ok = app[self.person] & uploaded[self.case]
        return np.unique(self.person[ok])


def classification(
    warned: np.ndarray, close: np.ndarray, reachable: np.ndarray, explained: np.ndarray
) -> dict[str, float | int]:
    """Precision, recall (of the reachable), F1 and the share of all close contacts warned.

    ``explained``: the warned people who matched keys of a case they were a close contact of
    (``CloseContacts.explained``). Only they count as correct: a warning caused by a brief
    encounter is wrong even when its receiver was a close contact of someone else."""
    true_positive = len(explained)
    reached = int(np.isin(reachable, explained).sum())
    precision = true_positive / len(warned) if len(warned) else float("nan")
    recall = reached / len(reachable) if len(reachable) else float("nan")
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else float("nan")
    return {
        "warned": len(warned),
        "close_contacts": len(close),
        "reachable": len(reachable),
        "true_positives": true_positive,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "found": true_positive / len(close) if len(close) else float("nan"),
    }

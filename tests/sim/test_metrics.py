"""sim.metrics: ground-truth close contacts and the scores of the warnings."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.config import ScenarioConfig
from sim.epidemic import DAY_S, Cases
from sim.metrics import CloseContacts, TruthAccumulator, classification
from sim.mobility import Episodes, Venue

CONFIG = ScenarioConfig(agents=10)
ONSET = (CONFIG.start_day + 4) * DAY_S + 8 * 3600  # 08:00 UTC
TEST = ONSET + 2 * DAY_S
CASE, OTHER, THIRD = 3, 7, 8


def _cases() -> Cases:
    return Cases(
        np.array([CASE], np.int32), np.array([ONSET]), np.array([TEST]), np.array([True]), np.array([TEST])
    )


def _episodes(*rows: tuple[int, int, float, float, float]) -> Episodes:
    """(a, b, start, minutes, metres) per episode."""
    a, b, start, minutes, metres = (np.array(c, dtype=float) for c in zip(*rows, strict=True))
    n = len(rows)
    return Episodes(
        a.astype(np.int32),
        b.astype(np.int32),
        start,
        minutes * 60,
        metres.astype(np.float32),
        np.full(n, Venue.WORK, dtype=np.uint8),
        np.zeros(n, dtype=np.uint8),
        np.zeros(n, dtype=np.uint8),
    )


def _truth(*batches: Episodes) -> TruthAccumulator:
    truth = TruthAccumulator(_cases(), CONFIG.agents, CONFIG)
    for episodes in batches:
        truth.add(episodes)
    return truth


NOON = (CONFIG.start_day + 4) * DAY_S + 12 * 3600  # after onset, same UTC day


def test_twenty_minutes_at_one_and_a_half_metres_make_a_close_contact() -> None:
    close = _truth(_episodes((CASE, OTHER, NOON, 20, 1.5))).close_contacts()
    assert close.people().tolist() == [OTHER]
    assert close.case.tolist() == [0]  # the case's index in Cases
    assert close.day.tolist() == [int(NOON // DAY_S)]
    assert close.minutes.tolist() == pytest.approx([20.0])


def test_the_case_can_be_either_end_of_the_episode() -> None:
    close = _truth(_episodes((OTHER, CASE, NOON, 20, 1.5))).close_contacts()
    assert close.people().tolist() == [OTHER]


def test_exactly_two_metres_and_fifteen_minutes_count() -> None:
    close = _truth(_episodes((CASE, OTHER, NOON, 15, 2.0))).close_contacts()
    assert close.people().tolist() == [OTHER]


def test_three_metres_is_not_close() -> None:
    close = _truth(_episodes((CASE, OTHER, NOON, 60, 3.0))).close_contacts()
    assert len(close.people()) == 0


def test_fourteen_minutes_is_not_enough() -> None:
    close = _truth(_episodes((CASE, OTHER, NOON, 14, 1.0))).close_contacts()
    assert len(close.people()) == 0


def test_minutes_add_up_within_a_utc_day_across_batches() -> None:
    truth = _truth(
        _episodes((CASE, OTHER, NOON, 10, 1.0)), _episodes((OTHER, CASE, NOON + 3 * 3600, 10, 1.9))
    )
    close = truth.close_contacts()
    assert close.people().tolist() == [OTHER]
    assert close.minutes.tolist() == pytest.approx([20.0])


def test_minutes_on_different_utc_days_do_not_add_up() -> None:
    close = _truth(
        _episodes((CASE, OTHER, NOON, 10, 1.0), (CASE, OTHER, NOON + DAY_S, 10, 1.0))
    ).close_contacts()
    assert len(close.people()) == 0


def test_minutes_between_two_people_who_are_not_cases_do_not_count() -> None:
    close = _truth(_episodes((OTHER, THIRD, NOON, 60, 0.5))).close_contacts()
    assert len(close.people()) == 0


def test_minutes_outside_the_infectious_window_do_not_count() -> None:
    window_start = ONSET - 2 * DAY_S
    cases = [
        (CASE, OTHER, window_start - 30 * 60, 20, 1.0),  # 10 of 20 minutes inside
        (CASE, THIRD, TEST - 10 * 60, 30, 1.0),  # 10 of 30 minutes before the test
        (CASE, 1, window_start - 3 * 3600, 60, 1.0),  # all before the window
        (CASE, 2, TEST + 60, 60, 1.0),  # all after the test
        (CASE, 4, window_start - 5 * 60, 25, 1.0),  # 20 minutes inside: close
        (CASE, 5, TEST - 16 * 60, 20, 1.0),  # 16 minutes inside: close
    ]
    close = _truth(_episodes(*cases)).close_contacts()
    assert sorted(close.people().tolist()) == [4, 5]
    by_person = dict(zip(close.person.tolist(), close.minutes.tolist(), strict=True))
    assert by_person[4] == pytest.approx(20.0) and by_person[5] == pytest.approx(16.0)


def test_an_episode_over_utc_midnight_splits_its_minutes_between_the_days() -> None:
    midnight = (CONFIG.start_day + 5) * DAY_S  # inside the case's window
    truth = _truth(
        _episodes((CASE, OTHER, midnight - 20 * 60, 50, 1.0), (CASE, THIRD, midnight - 10 * 60, 24, 1.0))
    )
    close = truth.close_contacts()
    rows = sorted(zip(close.person.tolist(), close.day.tolist(), close.minutes.tolist(), strict=True))
    day = int(midnight // DAY_S)
    # OTHER: 20 minutes before midnight and 30 after, each day on its own. THIRD: 24 minutes in all,
    # but 10 + 14 split over two days, so neither day reaches 15.
    assert rows == [(OTHER, day - 1, pytest.approx(20.0)), (OTHER, day, pytest.approx(30.0))]


def test_every_case_has_its_own_window() -> None:
    second_onset = ONSET + 5 * DAY_S
    cases = Cases(
        np.array([CASE, OTHER], np.int32),
        np.array([ONSET, second_onset]),
        np.array([TEST, second_onset + DAY_S]),
        np.array([True, True]),
        np.array([TEST, second_onset + DAY_S]),
    )
    truth = TruthAccumulator(cases, CONFIG.agents, CONFIG)
    later = second_onset - DAY_S  # inside OTHER's window, after CASE's test
    truth.add(_episodes((CASE, OTHER, later, 30, 1.0)))
    close = truth.close_contacts()
    assert close.person.tolist() == [CASE] and close.case.tolist() == [1]


def test_no_episodes_no_close_contacts() -> None:
    close = TruthAccumulator(_cases(), CONFIG.agents, CONFIG).close_contacts()
    assert len(close.people()) == 0


def test_reachable_close_contacts_run_the_app_and_met_a_case_that_uploaded() -> None:
    cases = Cases(
        np.array([0, 1], np.int32),
        np.array([ONSET, ONSET]),
        np.array([TEST, TEST]),
        np.array([True, True]),
        np.array([TEST, TEST]),
    )
    truth = TruthAccumulator(cases, CONFIG.agents, CONFIG)
    truth.add(_episodes((0, 5, NOON, 30, 1.0), (1, 6, NOON, 30, 1.0), (0, 7, NOON, 30, 1.0)))
    close = truth.close_contacts()
    app = np.zeros(CONFIG.agents, dtype=bool)
    app[[0, 1, 5, 6]] = True
    uploaded = np.array([True, False])  # per case index
    assert close.people().tolist() == [5, 6, 7]
    assert close.reachable(app, uploaded).tolist() == [5]


def test_classification_counts_precision_recall_f1_and_found() -> None:
    warned = np.array([1, 2, 3, 4])
    close = np.array([2, 3, 5, 6, 7, 8])
    reachable = np.array([2, 3, 5])
    got = classification(warned, close, reachable, explained=np.array([2, 3]))
    assert got["warned"] == 4 and got["close_contacts"] == 6 and got["reachable"] == 3
    assert got["true_positives"] == 2
    assert got["precision"] == pytest.approx(0.5)
    assert got["recall"] == pytest.approx(2 / 3)
    assert got["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert got["found"] == pytest.approx(2 / 6)


def test_classification_of_a_perfect_app() -> None:
    people = np.array([4, 9])
    got = classification(people, people, people, people)
    assert (got["precision"], got["recall"], got["f1"], got["found"]) == (1.0, 1.0, 1.0, 1.0)


def test_nobody_warned_gives_undefined_precision() -> None:
    nobody = np.array([], dtype=np.int64)
    got = classification(nobody, np.array([1, 2]), np.array([1]), nobody)
    assert math.isnan(got["precision"])
    assert got["recall"] == 0.0 and got["found"] == 0.0
    assert math.isnan(got["f1"])
    assert got["warned"] == 0 and got["true_positives"] == 0


def test_no_close_contacts_gives_undefined_recall_and_found() -> None:
    nobody = np.array([], dtype=np.int64)
    got = classification(np.array([3]), nobody, nobody, nobody)
    assert got["precision"] == 0.0
    assert math.isnan(got["recall"]) and math.isnan(got["found"]) and math.isnan(got["f1"])


def test_a_warning_counts_only_when_its_keys_belong_to_a_close_case() -> None:
    """Person 7 was a close contact of case agent 100, but matched only agent 200's keys (a walk-by):
    a wrong warning, even though 7 is a close contact of someone."""
    close = CloseContacts(np.array([0]), np.array([7]), np.array([18_750]), np.array([30.0]))
    case_agent = np.array([100, 200])
    explained = close.explained(case_agent, np.array([7, 8]), np.array([200, 100]), warned=np.array([7, 8]))
    assert explained.tolist() == []
    explained = close.explained(case_agent, np.array([7]), np.array([100]), warned=np.array([7]))
    assert explained.tolist() == [7]
    got = classification(np.array([7, 8]), close.people(), np.array([7]), explained)
    assert got["precision"] == 0.5 and got["recall"] == 1.0 and got["found"] == 1.0


def test_both_run_the_app_is_the_share_of_close_case_pairs() -> None:
    close = CloseContacts(np.array([0, 0, 1]), np.array([5, 6, 5]), np.array([1, 1, 1]), np.array([20.0] * 3))
    app = np.zeros(300, dtype=bool)
    app[[100, 5]] = True
    assert close.both_run_the_app(np.array([100, 200]), app) == pytest.approx(1 / 3)

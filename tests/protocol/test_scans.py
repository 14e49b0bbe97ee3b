"""protocol.scans: the one definition of a scan the beacon, the risk tuning and the simulator share."""

from __future__ import annotations

import itertools
import random

from hypothesis import given
from hypothesis import strategies as st

from protocol.scans import SCAN_DURATION_S, SCAN_INTERVAL_S, SCAN_JITTER_S, ScanSchedule, in_window


def test_windows_open_at_googles_cadence_from_a_random_phase() -> None:
    times = ScanSchedule(random.Random(1)).between(0, 86_400)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert 0 <= times[0] < SCAN_INTERVAL_S - SCAN_JITTER_S
    assert all(SCAN_INTERVAL_S - SCAN_JITTER_S <= g <= SCAN_INTERVAL_S for g in gaps)
    assert abs(sum(gaps) / len(gaps) - (SCAN_INTERVAL_S - SCAN_JITTER_S / 2)) < 5


@given(st.floats(0, 1e9), st.floats(-100, 400))
def test_a_window_is_half_open_and_lasts_the_scan_duration(start: float, offset: float) -> None:
    assert in_window(start, start + offset) == (start <= start + offset < start + SCAN_DURATION_S)

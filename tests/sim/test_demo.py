"""The demo runs and reaches the expected outcome (README's first command must not rot)."""

from __future__ import annotations

import json
import subprocess
import sys

from sim.demo import run


def test_demo_warns_the_sitting_contact() -> None:
    outcome = run(7)
    assert outcome["warned"] is True
    assert outcome["matched_rpis"] == 4  # 6 scans over 25 minutes span 3 RPIs + the walk-by's 1


def test_bluezone_demo_command_prints_json_and_exits_zero() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bluezone", "demo", "--json"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["warned"] is True

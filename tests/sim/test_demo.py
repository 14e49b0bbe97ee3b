"""The demo runs the whole mechanism and every warning is right (README's first command)."""

from __future__ import annotations

import json
import subprocess
import sys


def test_bluezone_demo_warns_the_sitting_pair_and_nobody_else() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bluezone", "demo", "--json"], capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    assert outcome["correct"] is True
    rows = {row["person"]: row for row in outcome["rows"]}
    assert rows["Bob"]["warned"] and rows["Bob"]["margin"] > 10  # well above the threshold
    assert not rows["Chi"]["warned"] and rows["Chi"]["margin"] < -5  # the walk-by well below
    assert not rows["Dung"]["warned"]  # the wall
    events = "\n".join(outcome["events"])
    for step in ("issues a code", "keys uploaded", "export published", "Bob syncs"):
        assert step in events


def test_demo_is_deterministic_for_its_seed() -> None:
    from sim.demo import run_demo

    first, second = run_demo(), run_demo()
    assert first.rows == second.rows

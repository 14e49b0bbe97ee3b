"""The Tuyên Quang report in docs/ is what the simulator produces today (docs/sim.md quotes it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim.config import load_config
from sim.report import write_outputs
from sim.runner import run

DOCS = Path(__file__).resolve().parents[2] / "docs" / "sim-tuyen-quang"


@pytest.mark.slow
def test_docs_tuyen_quang_report_is_reproduced_byte_for_byte(tmp_path: Path) -> None:
    config = load_config(None, scenario="tuyen-quang")
    result = run(config, rng=np.random.default_rng(config.seed))
    write_outputs(result.metrics, tmp_path)
    assert result.metrics["real_path_check"]["agree"]
    for name in ("metrics.json", "report.md"):
        assert (tmp_path / name).read_text() == (DOCS / name).read_text(), (
            f"docs/sim-tuyen-quang/{name} is stale: rerun "
            "`bluezone sim run --scenario tuyen-quang --out docs/sim-tuyen-quang` and update docs/sim.md"
        )

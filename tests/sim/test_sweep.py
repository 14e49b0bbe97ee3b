"""``bluezone sim sweep``: local processes and a Dask cluster give the same combined report."""

from __future__ import annotations

import json
from pathlib import Path

import distributed
import pytest

from sim import sweep
from sim.config import ScenarioConfig

SMALL = ["--agents", "3000", "--days", "4", "--adoption", "0.2,0.5", "--seeds", "3"]


def _rows(out: Path) -> list[dict[str, object]]:
    return json.loads((out / "sweep.json").read_text())


def test_sweep_points_cover_the_grid_in_order() -> None:
    points = sweep.sweep_configs(
        ScenarioConfig(agents=1000), [0.1, 0.4], [(64, 66, 68), (55, 63, 73)], [15.0], [0, 1]
    )
    assert len(points) == 8
    assert [p["adoption"] for p in points[:4]] == [0.1] * 4
    assert points[0]["attenuation_thresholds_db"] == [64, 66, 68] and points[2][
        "attenuation_thresholds_db"
    ] == [55, 63, 73]
    assert [p["seed"] for p in points[:2]] == [0, 1]


def test_sweep_in_processes_writes_one_report_with_every_point(tmp_path: Path) -> None:
    assert (
        sweep.main([*SMALL, "--thresholds", "64,66,68", "--thresholds", "55,63,73", "--out", str(tmp_path)])
        == 0
    )
    rows = _rows(tmp_path)
    assert [(r["adoption"], r["thresholds"]) for r in rows] == [
        (0.2, [64, 66, 68]),
        (0.2, [55, 63, 73]),
        (0.5, [64, 66, 68]),
        (0.5, [55, 63, 73]),
    ]
    assert (tmp_path / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| 0.5 | 55/63/73 |" in (tmp_path / "sweep.md").read_text()


def test_sweep_varies_the_scan_cadence(tmp_path: Path) -> None:
    argv = ["--agents", "4000", "--days", "10", "--adoption", "0.5", "--scan-intervals", "120,600"]
    assert sweep.main([*argv, "--out", str(tmp_path)]) == 0
    rows = _rows(tmp_path)
    assert [r["scan_interval_s"] for r in rows] == [120.0, 600.0]
    assert rows[0]["warned"] > 0
    assert rows[0]["warned"] != rows[1]["warned"] or rows[0]["recall"] != rows[1]["recall"]


def test_a_point_is_the_same_run_whichever_worker_runs_it(tmp_path: Path) -> None:
    sweep.main([*SMALL, "--workers", "1", "--out", str(tmp_path / "one")])
    sweep.main([*SMALL, "--workers", "2", "--out", str(tmp_path / "two")])
    assert (tmp_path / "one" / "sweep.json").read_bytes() == (tmp_path / "two" / "sweep.json").read_bytes()


@pytest.mark.slow
def test_sweep_on_a_local_dask_cluster_matches_local_processes(tmp_path: Path) -> None:
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        assert (
            sweep.main([*SMALL, "--scheduler", cluster.scheduler_address, "--out", str(tmp_path / "dask")])
            == 0
        )
    sweep.main([*SMALL, "--out", str(tmp_path / "local")])
    assert (tmp_path / "dask" / "sweep.json").read_bytes() == (tmp_path / "local" / "sweep.json").read_bytes()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--agents", "5"], "agents must be"),
        (["--adoption", "0.9"], "adoption cannot exceed"),
        (["--workers", "0"], "--workers must be at least 1"),
        (["--config", "{tq}"], "use the uniform scenario"),
    ],
)
def test_bad_sweep_input_is_one_line_and_exit_2(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tq = tmp_path / "tq.toml"
    tq.write_text('scenario = "tuyen-quang"\n')
    argv = [a.replace("{tq}", str(tq)) for a in argv]
    assert sweep.main([*argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("bluezone sim sweep:") and message in err[0]

"""``bluezone sim sweep``: many runs over adoption × thresholds × scan cadence (× seeds), one
combined report.

Each point is a whole, independent simulation (``sim.runner.run`` without the real-path check)
identified by its configuration, so points are embarrassingly parallel: by default they run in
local worker processes (``--workers``, 2 here); given ``--scheduler tcp://host:8786`` they are
mapped on a Dask distributed cluster instead, with no change to the model code
(``shared/spec/sim.md`` §4: parallelise over runs, not inside a step). Points come back in the
order they were asked for whatever finished first, so a sweep's outputs repeat with its seeds.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from sim.run_cli import comma_separated

__all__ = ["DaskRunner", "ProcessRunner", "main", "run_point", "sweep_configs", "write_sweep_report"]


class Runner(Protocol):
    def map(
        self, fn: Callable[[dict[str, Any]], dict[str, Any]], items: Sequence[dict[str, Any]]
    ) -> list[dict[str, Any]]: ...


class ProcessRunner:
    """Worker processes on this machine (``workers=1`` runs in this process)."""

    def __init__(self, workers: int = 2) -> None:
        self.workers = workers

    def map(
        self, fn: Callable[[dict[str, Any]], dict[str, Any]], items: Sequence[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        if self.workers <= 1:
            return [fn(item) for item in items]
        import multiprocessing

        # forkserver: a clean interpreter per worker, never a fork of a threaded parent.
        context = multiprocessing.get_context("forkserver")
        with ProcessPoolExecutor(max_workers=self.workers, mp_context=context) as pool:
            return list(pool.map(fn, items))


class DaskRunner:
    """The points as tasks on a Dask distributed cluster (``distributed.Client(address)``)."""

    def __init__(self, address: str) -> None:
        self.address = address

    def map(
        self, fn: Callable[[dict[str, Any]], dict[str, Any]], items: Sequence[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        from distributed import Client

        with Client(self.address, timeout="30s") as client:
            futures = client.map(fn, list(items), pure=False)
            return list(client.gather(futures))


def run_point(config_json: dict[str, Any]) -> dict[str, Any]:
    """One point: a whole run of the vectorized path; returns the headline metrics."""
    import numpy as np

    from sim.config import load_config
    from sim.runner import run

    values = {k: v for k, v in config_json.items() if k != "districts"}
    config = load_config(None, **values)
    result = run(config, rng=np.random.default_rng(config.seed), real_path=False)
    m = result.metrics
    return {
        "adoption": config.adoption,
        "thresholds": list(config.attenuation_thresholds_db),
        "weights": list(config.attenuation_weights),
        "minutes": config.threshold_weighted_minutes,
        "scan_interval_s": config.scan_interval_s,
        "seed": config.seed,
        "realised": m["population"]["adoption"],
        "p_squared": m["warnings"]["p_squared"],
        **{
            k: m["warnings"][k]
            for k in ("warned", "close_contacts", "reachable", "precision", "recall", "f1", "found")
        },
        "delay_median_hours": m["delay_hours"]["test_to_warning"]["median"],
    }


def sweep_configs(
    base: Any,
    adoptions: Iterable[float],
    thresholds: Iterable[tuple[int, int, int]],
    minutes: Iterable[float],
    seeds: Iterable[int],
    scan_intervals: Iterable[float] | None = None,
) -> list[dict[str, Any]]:
    points = []
    intervals = list(scan_intervals or [base.scan_interval_s])
    for adoption, threshold, minute, interval, seed in itertools.product(
        adoptions, thresholds, minutes, intervals, seeds
    ):
        config = dataclasses.replace(
            base,
            adoption=adoption,
            attenuation_thresholds_db=tuple(threshold),
            threshold_weighted_minutes=minute,
            scan_interval_s=interval,
            scan_jitter_s=min(base.scan_jitter_s, interval * 0.45),
            seed=seed,
        )
        points.append(config.to_json())
    return points


def _label(row: dict[str, Any]) -> str:
    return (
        f"{'/'.join(str(t) for t in row['thresholds'])} dB, {row['minutes']:g} min, "
        f"scans every {row['scan_interval_s']:g} s"
    )


def write_sweep_report(rows: list[dict[str, Any]], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    data = out / "sweep.json"
    data.write_text(json.dumps(rows, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    groups: dict[str, dict[float, list[dict[str, Any]]]] = {}
    for row in rows:
        groups.setdefault(_label(row), {}).setdefault(row["adoption"], []).append(row)

    def mean(values: list[Any]) -> float:
        clean = [v for v in values if v is not None]
        return sum(clean) / len(clean) if clean else float("nan")

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    for label, by_adoption in groups.items():
        xs = sorted(by_adoption)
        for ax, metric in zip(axes, ("found", "precision", "recall"), strict=True):
            ax.plot(
                [100 * x for x in xs],
                [mean([r[metric] for r in by_adoption[x]]) for x in xs],
                "o-",
                label=label,
            )
    first = next(iter(groups.values()), {})
    xs = sorted(first)
    axes[0].plot(
        [100 * x for x in xs],
        [mean([r["p_squared"] for r in first[x]]) for x in xs],
        "--",
        color="grey",
        label="p²",
    )
    for ax, metric in zip(axes, ("close contacts warned", "precision", "recall"), strict=True):
        ax.set_xlabel("adoption (% of population)")
        ax.set_title(metric)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    plot = out / "sweep.png"
    fig.savefig(plot, format="png", metadata={"Software": None})
    plt.close(fig)

    def cell(v: Any) -> str:
        return "n/a" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)

    lines = [
        f"# Sweep: {len(rows)} runs",
        "",
        "![found, precision and recall against adoption per threshold](sweep.png)",
        "",
        "| adoption | thresholds | minutes | scan interval (s) | seed | found | p² | precision | recall | F1 | warned "
        "| median delay (h) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {r['adoption']:.4g} | {'/'.join(map(str, r['thresholds']))} | {r['minutes']:g} | "
            f"{r['scan_interval_s']:g} | {r['seed']} | "
            f"{cell(r['found'])} | {cell(r['p_squared'])} | {cell(r['precision'])} | {cell(r['recall'])} | "
            f"{cell(r['f1'])} | {r['warned']} | {cell(r['delay_median_hours'])} |"
            for r in rows
        ),
        "",
    ]
    report = out / "sweep.md"
    report.write_text("\n".join(lines), encoding="utf-8")
    return [data, report, plot]


def _thresholds(text: str) -> tuple[int, int, int]:
    values = comma_separated(int, "integers")(text)
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f"thresholds are three integers like 64,66,68, got {text!r}")
    return values  # type: ignore[return-value]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bluezone sim sweep", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, help="a TOML file for everything the sweep does not vary")
    parser.add_argument("--agents", type=int)
    parser.add_argument("--days", type=int)
    parser.add_argument(
        "--adoption", type=comma_separated(float, "numbers"), default=[0.05, 0.1292, 0.2, 0.3, 0.43, 0.6]
    )
    parser.add_argument(
        "--thresholds", type=_thresholds, action="append", help="repeat: 64,66,68 (default: the product's)"
    )
    parser.add_argument("--minutes", type=comma_separated(float, "numbers"), default=None)
    parser.add_argument(
        "--scan-intervals",
        type=comma_separated(float, "numbers"),
        default=None,
        help="mean seconds between scans",
    )
    parser.add_argument("--seeds", type=comma_separated(int, "integers"), default=[0])
    parser.add_argument("--workers", type=int, default=2, help="local worker processes (default 2)")
    parser.add_argument("--scheduler", help="a Dask scheduler address, e.g. tcp://10.0.0.5:8786")
    parser.add_argument("--out", type=Path, default=Path("sim-sweep"))
    args = parser.parse_args(argv)

    from sim.config import ConfigError, load_config

    try:
        base = load_config(args.config, agents=args.agents, days=args.days)
        if base.scenario != "uniform":
            raise ConfigError(
                f"sweeps vary adoption, which the {base.scenario} scenario fixes per district: use the "
                "uniform scenario (each run's report has that scenario's adoption curve)"
            )
        thresholds = args.thresholds or [base.attenuation_thresholds_db]
        minutes = args.minutes or [base.threshold_weighted_minutes]
        points = sweep_configs(base, args.adoption, thresholds, minutes, args.seeds, args.scan_intervals)
        for point in points:  # every point valid before any work starts
            load_config(None, **{k: v for k, v in point.items() if k != "districts"})
    except ConfigError as exc:
        print(f"bluezone sim sweep: {exc}", file=sys.stderr)
        return 2
    if args.workers < 1:
        print("bluezone sim sweep: --workers must be at least 1", file=sys.stderr)
        return 2
    runner: Runner = DaskRunner(args.scheduler) if args.scheduler else ProcessRunner(args.workers)
    try:
        rows = runner.map(run_point, points)
    except OSError as exc:
        print(f"bluezone sim sweep: cannot reach the Dask scheduler {args.scheduler}: {exc}", file=sys.stderr)
        return 1
    written = write_sweep_report(rows, args.out)
    print(f"{len(rows)} runs; wrote {', '.join(str(p) for p in written)}")
    return 0

"""``bluezone sim run``: one simulation, its ``metrics.json`` and report with plots."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.config import ScenarioConfig

__all__ = ["main", "parse_config"]


def comma_separated(kind: Callable[[str], Any], noun: str) -> Callable[[str], tuple[Any, ...]]:
    """An argparse type: ``kind`` values separated by commas, one clear error otherwise."""

    def parse(text: str) -> tuple[Any, ...]:
        try:
            return tuple(kind(part) for part in text.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {noun} separated by commas, got {text!r}") from None

    return parse


_ints = comma_separated(int, "integers")
_floats = comma_separated(float, "numbers")


def add_scenario_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="a TOML file of ScenarioConfig fields ([scenario] table)")
    parser.add_argument("--agents", type=int)
    parser.add_argument("--days", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--scenario", help="uniform (default) or tuyen-quang")
    parser.add_argument("--adoption", type=float, help="share of the population running the app (uniform)")
    parser.add_argument("--household-correlation", type=float, dest="household_adoption_correlation")
    parser.add_argument(
        "--thresholds", type=_ints, dest="attenuation_thresholds_db", help="e.g. 64,66,68 (dB)"
    )
    parser.add_argument("--weights", type=_floats, dest="attenuation_weights", help="e.g. 2,1,0,0")
    parser.add_argument(
        "--minutes", type=float, dest="threshold_weighted_minutes", help="weighted minutes to warn"
    )
    parser.add_argument(
        "--scan-interval", type=float, dest="scan_interval_s", help="mean seconds between scans"
    )


SCENARIO_FIELDS = (
    "agents",
    "days",
    "seed",
    "scenario",
    "adoption",
    "household_adoption_correlation",
    "attenuation_thresholds_db",
    "attenuation_weights",
    "threshold_weighted_minutes",
    "scan_interval_s",
)


def parse_config(args: argparse.Namespace) -> ScenarioConfig:
    from sim.config import load_config

    return load_config(args.config, **{name: getattr(args, name) for name in SCENARIO_FIELDS})


def progress_bar(enabled: bool) -> tuple[Callable[[str, int, int], None], Callable[[], None]]:
    """A rich progress bar on stderr (or nothing when not a terminal or asked to be quiet)."""
    if not enabled:
        return (lambda *_: None), (lambda: None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
    )
    bar.start()
    tasks: dict[str, int] = {}

    def update(what: str, done: int, total: int) -> None:
        if what not in tasks:
            tasks[what] = bar.add_task(what, total=total)
        bar.update(tasks[what], completed=done)

    return update, bar.stop


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bluezone sim run", description=__doc__)
    add_scenario_arguments(parser)
    parser.add_argument(
        "--out", type=Path, default=Path("sim-out"), help="folder for metrics.json, report.md, plots"
    )
    parser.add_argument("--no-real-path", action="store_true", help="skip the real server and protocol check")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)

    import numpy as np

    from sim.config import ConfigError
    from sim.report import write_outputs
    from sim.runner import run

    try:
        config = parse_config(args)
    except ConfigError as exc:
        print(f"bluezone sim run: {exc}", file=sys.stderr)
        return 2
    update, stop = progress_bar(not args.quiet and sys.stderr.isatty())
    started = time.monotonic()
    try:
        result = run(
            config, rng=np.random.default_rng(config.seed), progress=update, real_path=not args.no_real_path
        )
    finally:
        stop()
    try:
        written = write_outputs(result.metrics, args.out)
    except OSError as exc:
        print(f"bluezone sim run: cannot write to {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    w = result.metrics["warnings"]
    if not args.quiet:
        spent = ", ".join(f"{k} {v:.1f} s" for k, v in sorted(result.timings.items(), key=lambda kv: -kv[1]))
        print(
            f"{config.agents:,} agents × {config.days} days in {time.monotonic() - started:.1f} s ({spent})\n"
            f"warned {w['warned']:,}; precision {w['precision']}, recall {w['recall']}, "
            f"close contacts found {w['found']} (p² {w['p_squared']})\n"
            f"wrote {', '.join(str(p) for p in written)}"
        )
    check = result.metrics.get("real_path_check")
    if check and not check["agree"]:
        print(
            f"bluezone sim run: the real and vectorized paths disagree on {check['disagreements']} devices",
            file=sys.stderr,
        )
        return 1
    return 0

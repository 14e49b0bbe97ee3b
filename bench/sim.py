"""Simulator throughput: agent-days per second and peak memory, and where the time goes.

For each population size, in a fresh process (so peak memory is that size's own):

* **coin flip** (baseline): the same population and the same daily contact episodes, and an
  app contact decided as OpenABM-Covid19 does it — both run the app and a coin with
  ``traceable_interaction_fraction`` 0.8 says it was caught — with no radio, scans or keys;
* **full**: ``sim.runner.run`` on the vectorized path — radio per scan for every pair of app
  users, every observation's RPI derived from its transmitter's real TEK and looked up among
  the published keys, risk, warnings, the adoption curve and the threshold table.

It prints agent-days/s of both, the ratio full/coin flip, peak RSS and the time per layer.

    python bench/sim.py                          # 100k and 1M agents × 14 days
    python bench/sim.py --sizes 100000 --adoption 0.43
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

# This file is bench/sim.py: drop its folder from the path so ``import sim`` finds the package.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

TRACEABLE_INTERACTION_FRACTION = 0.8  # OpenABM-Covid19's default (spec/sim.md §3)


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def one(agents: int, days: int, adoption: float) -> dict[str, object]:
    import numpy as np

    from sim.config import ScenarioConfig
    from sim.epidemic import sample_cases
    from sim.mobility import day_episodes
    from sim.population import build_population
    from sim.runner import run

    config = ScenarioConfig(agents=agents, days=days, adoption=adoption)

    started = time.perf_counter()
    rng = np.random.default_rng(1)
    population = build_population(config, rng)
    pairs = population.household_pairs()
    cases = sample_cases(config, agents, rng)
    isolated = cases.isolated_from(agents)
    caught = 0
    for day in range(days):
        episodes = day_episodes(population, config, day, rng, household_pairs=pairs, isolated_from=isolated)
        both = population.app[episodes.a] & population.app[episodes.b]
        caught += int((both & (rng.random(len(episodes)) < TRACEABLE_INTERACTION_FRACTION)).sum())
    coin = time.perf_counter() - started

    started = time.perf_counter()
    result = run(config, rng=np.random.default_rng(config.seed), real_path=False)
    full = time.perf_counter() - started
    return {
        "agents": agents,
        "days": days,
        "adoption": adoption,
        "coin_flip_agent_days_per_s": agents * days / coin,
        "full_agent_days_per_s": agents * days / full,
        "ratio": coin / full,
        "coin_flip_s": coin,
        "full_s": full,
        "peak_rss_mb": _peak_rss_mb(),
        "layers_s": {k: round(v, 2) for k, v in sorted(result.timings.items(), key=lambda kv: -kv[1])},
        "observations_per_day": result.metrics["activity"]["observations_per_day"],
        "caught_by_coin": caught,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--adoption", type=float, default=0.1292)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.days, args.adoption)))
        return 0
    print(
        f"{'agents':>10} {'coin flip ad/s':>15} {'full ad/s':>12} {'ratio':>6} {'full s':>8} {'peak MB':>8}  layers (s)"
    )
    for size in args.sizes:
        command = [
            sys.executable,
            __file__,
            "--one",
            str(size),
            "--days",
            str(args.days),
            "--adoption",
            str(args.adoption),
        ]
        row = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
        layers = ", ".join(f"{k} {v}" for k, v in row["layers_s"].items() if v >= 0.05)
        print(
            f"{row['agents']:>10,} {row['coin_flip_agent_days_per_s']:>15,.0f} {row['full_agent_days_per_s']:>12,.0f} "
            f"{row['ratio']:>6.2f} {row['full_s']:>8.1f} {row['peak_rss_mb']:>8.0f}  {layers}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``bluezone sim``: ``run`` simulates a population; ``sweep`` runs many; ``calibrate`` fits the
channel model; ``risk`` prints the risk table."""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]

USAGE = (
    "usage: bluezone sim run|sweep [options] | bluezone sim calibrate [--json] | bluezone sim risk [--tune]"
)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "run":
        from sim import run_cli

        return run_cli.main(rest)
    if command == "sweep":
        from sim import sweep

        return sweep.main(rest)
    if command == "calibrate":
        from sim import channel_fit

        return channel_fit.main(rest)
    if command == "risk":
        from sim import calibration

        return calibration.main(rest)
    print(f"bluezone sim: unknown command {command!r}; {USAGE}", file=sys.stderr)
    return 2

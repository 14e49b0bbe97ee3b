"""``bluezone sim``: ``calibrate`` fits the channel model; ``risk`` prints the risk table."""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]

USAGE = "usage: bluezone sim calibrate [--json] | bluezone sim risk [--tune]"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "calibrate":
        from sim import channel_fit

        return channel_fit.main(rest)
    if command == "risk":
        from sim import calibration

        return calibration.main(rest)
    print(f"bluezone sim: unknown command {command!r}; {USAGE}", file=sys.stderr)
    return 2

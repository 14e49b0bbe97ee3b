"""The `bluezone` command: a dispatcher over sub-commands that packages register.

Each package names its sub-commands in the ``bluezone.commands`` entry-point group
(pyproject.toml). Only the module of the sub-command asked for is imported, so
``bluezone beacon ...`` never imports the server's web stack.
"""

from __future__ import annotations

import sys
from importlib.metadata import EntryPoint, entry_points

GROUP = "bluezone.commands"


def _commands() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def _usage(commands: dict[str, EntryPoint]) -> str:
    names = ", ".join(sorted(commands)) or "(none installed)"
    return f"usage: bluezone COMMAND [ARGS...]\ncommands: {names}\n'bluezone COMMAND --help' for more."


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    commands = _commands()
    if not args or args[0] in {"-h", "--help", "help"}:
        print(_usage(commands))
        return 0
    name, rest = args[0], args[1:]
    entry = commands.get(name)
    if entry is None:
        print(
            f"bluezone: unknown command {name!r}; try one of: {', '.join(sorted(commands))}",
            file=sys.stderr,
        )
        return 2
    run = entry.load()
    return int(run(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())

"""``bluezone server``: init, run, create-official and the officials' lifecycle (rotate-api-key,
reset-password, disable-official, enable-official), export, cleanup, signing-key."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from tracer_server.clock import utcnow

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bluezone server", description="The tracer server (GAEN verification + key server)."
    )
    parser.add_argument(
        "--config", type=Path, help="TOML settings file (else BLUEZONE_* variables and defaults)"
    )
    parser.add_argument(
        "--data-dir", type=Path, help="where the database, keys and exports live (BLUEZONE_DATA_DIR)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("init", help="create or upgrade the database (Alembic) and the signing keys")
    run = sub.add_parser("run", help="serve the API (uvicorn) with the export job scheduled inside")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)
    official = sub.add_parser("create-official", help="add an official and print their API key (shown once)")
    official.add_argument("name")
    official.add_argument("--role", choices=("admin", "official"), required=True)
    official.add_argument("--json", action="store_true", help='print {"apiKey": ...}')
    official.add_argument(
        "--password-stdin",
        action="store_true",
        help="read a console password (12+ characters) from standard input",
    )
    rotate_key = sub.add_parser(
        "rotate-api-key", help="give an official a new API key (printed once); the old one stops at once"
    )
    rotate_key.add_argument("name")
    rotate_key.add_argument("--json", action="store_true", help='print {"apiKey": ...}')
    reset = sub.add_parser(
        "reset-password", help="set an official's console password (else one is generated and printed once)"
    )
    reset.add_argument("name")
    reset.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the new password (12+ characters) from standard input",
    )
    for command, text in (
        ("disable-official", "refuse an official's sign-in and API key, and end their sessions"),
        ("enable-official", "let a disabled official sign in and use their API key again"),
    ):
        sub.add_parser(command, help=text).add_argument("name")
    export = sub.add_parser("export", help="run the export job once")
    export.add_argument(
        "--close-window",
        action="store_true",
        help="export the open window now (tests and demos: weakens the batching that protects uploaders)",
    )
    sub.add_parser("cleanup", help="apply the 14-day retention now")
    districts = sub.add_parser("load-districts", help="load districts (population, smartphones) from a CSV")
    districts.add_argument("csv", nargs="?", type=Path, help="default: the vendored Tuyên Quang table")
    sub.add_parser(
        "signing-key", help="print the export verification keys (PEM) with their key id and version"
    )
    rotate = sub.add_parser(
        "rotate-signing-key", help="add an export signing key: exports are signed by both"
    )
    rotate.add_argument("version", help="the new key's version, e.g. v2")
    retire = sub.add_parser(
        "retire-signing-key", help="stop signing with a key, once beacons pin its successor"
    )
    retire.add_argument("version")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one line, no traceback: say what was wrong
        print(f"bluezone server {args.command}: {_describe(exc)}", file=sys.stderr)
        return 1


def _describe(exc: Exception) -> str:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "settings"
        return f"invalid setting {where}: {first.get('msg')}"
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if type(exc).__module__.startswith("sqlalchemy"):
        return f"database error ({type(exc).__name__}): {text[:200]}"
    return text


def _run(args: argparse.Namespace) -> int:
    from tracer_server.settings import Settings

    overrides = {"data_dir": args.data_dir} if args.data_dir else {}
    settings = Settings.load(args.config, **overrides)

    from tracer_server import migrate

    if args.command != "init":
        migrate.require_current(settings)
    if args.command in ("signing-key", "rotate-signing-key", "retire-signing-key"):
        from tracer_server.secrets_store import load_or_create_keys, retire_signing_key, rotate_signing_key

        if args.command == "rotate-signing-key":
            rotate_signing_key(settings, args.version)
        elif args.command == "retire-signing-key":
            retire_signing_key(settings, args.version)
        for signing in load_or_create_keys(settings).signing_keys:
            key = signing.verification_key()
            print(f"# key id {key.key_id}, version {key.key_version}, sha256 {key.fingerprint()}")
            print(key.to_pem().decode(), end="")
        return 0

    if args.command == "init":
        migrate.upgrade(settings)
        from tracer_server.secrets_store import load_or_create_keys

        load_or_create_keys(settings)
        from tracer_server.db import make_engine, make_sessionmaker
        from tracer_server.services.export_job import write_index
        from tracer_server.storage import storage_for

        storage = storage_for(settings)
        if storage.get("index.txt") is None:  # devices may sync before the first export
            from tracer_server.app import clock_for

            write_index(
                make_sessionmaker(make_engine(settings)), settings, storage, utcnow(clock_for(settings))
            )
        print(f"database ready at {_safe_url(settings.sqlalchemy_url)}; keys in {settings.keys_dir}")
        return 0
    if args.command == "run":
        import uvicorn

        from tracer_server.app import create_app

        app = create_app(settings, run_jobs=settings.export_in_server)
        # access_log off: it would record client addresses. Forwarded headers are believed only
        # from the configured proxies, else a client names itself and dodges every rate limit.
        uvicorn.run(
            app,
            host=args.host,
            port=args.port,
            access_log=False,
            log_level="info",
            **settings.uvicorn_proxy_options,
        )
        return 0

    from tracer_server.app import clock_for
    from tracer_server.db import make_engine, make_sessionmaker, transaction
    from tracer_server.secrets_store import load_or_create_keys
    from tracer_server.storage import storage_for

    keys = load_or_create_keys(settings)
    factory = make_sessionmaker(make_engine(settings))
    now = utcnow(clock_for(settings))
    if args.command == "create-official":
        from tracer_server.services.officials import create_official

        with transaction(factory) as db:
            password = sys.stdin.readline().rstrip("\n") if args.password_stdin else None
            official, api_key = create_official(
                db=db, keys=keys, name=args.name, role=args.role, now=now, password=password
            )
        if args.json:
            print(json.dumps({"apiKey": api_key}))
        else:
            print(f"official {official.name!r} ({official.role}) created; API key (shown once):\n{api_key}")
        return 0
    if args.command in ("rotate-api-key", "reset-password", "disable-official", "enable-official"):
        return _lifecycle(args, factory, keys, now)
    if args.command == "load-districts":
        from tracer_server.services.adoption import load_districts

        with transaction(factory) as db:
            loaded = load_districts(db, args.csv.read_text(encoding="utf-8") if args.csv else None)
        # The code, not the name, is what a beacon sends: print them for whoever sets beacons up.
        width = max(len("code"), *(len(code) for code, _ in loaded))
        print(f"{len(loaded)} districts loaded\n\n{'code'.ljust(width)}  district")
        for code, name in loaded:
            print(f"{code.ljust(width)}  {name}")
        print(
            "\nA beacon is counted in its district (one anonymous signal a day) with, in its config file:"
            '\n  report_activity = true\n  district = "CODE"'
            "\nor BLUEZONE_BEACON_REPORT_ACTIVITY=true BLUEZONE_BEACON_DISTRICT=CODE in its environment."
        )
        return 0
    storage = storage_for(settings)
    if args.command == "export":
        from tracer_server.services.export_job import run_export

        if args.close_window:
            print(
                "warning: --close-window exports the open window now, weakening batching privacy",
                file=sys.stderr,
            )
        report = run_export(
            factory=factory,
            settings=settings,
            storage=storage,
            signing_keys=keys.signing_keys,
            now=now,
            close_window=args.close_window,
            progress=lambda line: print(line, file=sys.stderr),
        )
        print(
            f"{report.batches} batches, {report.keys} keys (+{report.padding} padding), files: {report.files}"
        )
        return 0
    if args.command == "cleanup":
        from tracer_server.services.cleanup import run_cleanup

        cleaned = run_cleanup(factory=factory, settings=settings, storage=storage, now=now)
        print(f"removed {cleaned.exposures} keys, {cleaned.files} export files, {cleaned.codes} codes")
        return 0
    raise AssertionError(args.command)


def _lifecycle(args: argparse.Namespace, factory: Any, keys: Any, now: datetime) -> int:
    """An administrator's actions from the shell: audited with no acting official (the shell's
    user is whoever may read the data directory)."""
    from tracer_server.db import transaction
    from tracer_server.services import officials

    password = sys.stdin.readline().rstrip("\n") if getattr(args, "password_stdin", False) else None
    with transaction(factory) as db:
        official = officials.find_official(db, args.name)
        if args.command == "rotate-api-key":
            api_key = officials.rotate_api_key(db=db, keys=keys, official=official, by=None, now=now)
        elif args.command == "reset-password":
            generated = officials.reset_password(
                db=db, official=official, by=None, now=now, password=password
            )
        elif args.command == "disable-official":
            officials.disable_official(db=db, official=official, by=None, now=now)
        else:
            officials.enable_official(db=db, official=official, by=None, now=now)
    if args.command == "rotate-api-key":
        if args.json:
            print(json.dumps({"apiKey": api_key}))
        else:
            print(f"official {official.name!r}: new API key (shown once; the old one is refused):\n{api_key}")
    elif args.command == "reset-password":
        print(f"official {official.name!r}: password reset; their console sessions ended")
        if generated is not None:
            print(f"new password (shown once):\n{generated}")
    else:
        state = "disabled; their sessions ended" if official.disabled else "enabled"
        print(f"official {official.name!r} {state}")
    return 0


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)

"""Create or upgrade the database with Alembic (``bluezone server init``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from tracer_server.settings import Settings

__all__ = ["NotInitialized", "alembic_config", "require_current", "upgrade"]

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    if settings.sqlalchemy_url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    command.upgrade(alembic_config(settings.sqlalchemy_url), revision)


class NotInitialized(RuntimeError):
    """The data directory has no database (or an old one), or no signing keys: a server started
    there would mint a second identity whose export key no beacon pins."""


def require_current(settings: Settings) -> None:
    """Raise NotInitialized unless the database is at the head revision and the keys exist.

    Creates nothing: a SQLite file that is missing stays missing."""
    where = f"in {settings.data_dir.resolve()}"
    hint = "run `bluezone server init`"
    url = settings.sqlalchemy_url
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    sqlite_file = make_url(url).database if url.startswith("sqlite") else None
    if sqlite_file is not None and not (sqlite_file and Path(sqlite_file).exists()):
        raise NotInitialized(f"no database {where}: {hint} (or set BLUEZONE_DATA_DIR)")

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    if current is None:
        raise NotInitialized(f"the database has no bluezone tables: {hint}")
    if current != head:
        raise NotInitialized(f"the database is at revision {current}, this code needs {head}: {hint}")
    if not any(settings.keys_dir.glob("export-signing*.pem")):  # the first key, or a rotated one
        raise NotInitialized(f"no signing keys in {settings.keys_dir.resolve()}: {hint}")

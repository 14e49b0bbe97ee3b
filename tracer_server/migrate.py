"""Create or upgrade the database with Alembic (``bluezone server init``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from tracer_server.settings import Settings

__all__ = ["alembic_config", "upgrade"]

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

"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect

from tracer_server import migrate
from tracer_server.models import Base
from tracer_server.settings import Settings


def upgraded_engine(database_url: str, tmp_path: Path) -> Engine:
    settings = Settings(database_url=database_url, data_dir=tmp_path / "data")
    migrate.upgrade(settings)
    return create_engine(settings.sqlalchemy_url)


def test_migrated_database_matches_the_models(database_url: str, tmp_path: Path) -> None:
    engine = upgraded_engine(database_url, tmp_path)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": True}
            )
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_upgrade_is_idempotent_and_stamps_the_head_revision(database_url: str, tmp_path: Path) -> None:
    settings = Settings(database_url=database_url, data_dir=tmp_path / "data")
    migrate.upgrade(settings)
    migrate.upgrade(settings)
    head = ScriptDirectory.from_config(migrate.alembic_config(settings.sqlalchemy_url)).get_current_head()
    engine = create_engine(settings.sqlalchemy_url)
    try:
        with engine.connect() as connection:
            assert MigrationContext.configure(connection).get_current_revision() == head
            tables = set(inspect(connection).get_table_names())
        assert set(Base.metadata.tables) <= tables
    finally:
        engine.dispose()

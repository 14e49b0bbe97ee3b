"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect, text

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


def test_0005_keeps_the_audit_log_and_adds_whom_an_entry_is_about(database_url: str, tmp_path: Path) -> None:
    """SQLite cannot add a foreign key in place, so 0005 rebuilds audit_log there: its rows must
    survive, and the new column starts empty (nobody knows whom an old entry was about)."""
    settings = Settings(database_url=database_url, data_dir=tmp_path / "data")
    # The fixture's database is at head: step it down to 0004 (so 0005's downgrade runs too),
    # write rows as 0004 had them, and upgrade again.
    config = migrate.alembic_config(settings.sqlalchemy_url)
    command.downgrade(config, "0004")
    engine = create_engine(settings.sqlalchemy_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO officials (name, role, api_key_hash, disabled, created_at) "
                    "VALUES ('Lan', 'admin', :key, false, :at)"
                ),
                {"key": b"k" * 32, "at": datetime(2026, 1, 1, tzinfo=UTC)},
            )
            connection.execute(
                text(
                    "INSERT INTO audit_log (at, official_id, action, detail) VALUES (:at, 1, 'code.issued', '{}')"
                ),
                {"at": datetime(2026, 1, 1, tzinfo=UTC)},
            )
        migrate.upgrade(settings)
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT official_id, action, subject_id FROM audit_log")).all()
        assert [tuple(row) for row in rows] == [(1, "code.issued", None)]
        columns = {c["name"] for c in inspect(engine).get_columns("audit_log")}
        assert "subject_id" in columns
    finally:
        engine.dispose()

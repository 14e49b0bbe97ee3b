"""Alembic environment: metadata from the models, the URL from the config ``migrate.py`` builds."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import create_engine, event, pool

from tracer_server.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata, render_as_batch=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = str(config.get_main_option("sqlalchemy.url"))
    engine = create_engine(url, poolclass=pool.NullPool)
    sqlite = url.startswith("sqlite")
    if sqlite:  # DDL in one transaction, as on PostgreSQL: a kill mid-upgrade leaves the old schema
        event.listen(engine, "connect", _sqlite_autocommit)
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=True,
            transactional_ddl=True if sqlite else None,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


def _sqlite_autocommit(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite would commit each CREATE on its own; the "begin" hook opens the one transaction.
    dbapi_connection.isolation_level = None


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

"""Engine and sessions. Built from settings by the caller; nothing at import time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from tracer_server.settings import Settings

__all__ = ["as_utc", "insert_or_ignore", "make_engine", "make_sessionmaker", "transaction"]


def make_engine(settings: Settings, **kwargs: Any) -> Engine:
    url = settings.sqlalchemy_url
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        # SQLite: take the write lock at BEGIN, so "check then update" cannot interleave.
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # let the "begin" hook issue BEGIN IMMEDIATE
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    with factory() as session, session.begin():
        yield session


def as_utc(value: datetime) -> datetime:
    """SQLite gives naive datetimes back: they were stored as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def insert_or_ignore(db: Session, model: Any, values: dict[str, Any]) -> bool:
    """``INSERT … ON CONFLICT DO NOTHING`` in one round trip; True when the row was new."""
    table = model.__table__
    if db.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    key = next(iter(table.primary_key.columns))
    # Values as parameters, not in the statement: the compiled statement is cached.
    result = db.execute(insert(table).on_conflict_do_nothing().returning(key), values)
    return result.first() is not None

"""Engine and sessions. Built from settings by the caller; nothing at import time."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Engine, Result, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from tracer_server.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy import CursorResult

__all__ = ["as_utc", "insert_new", "insert_or_ignore", "make_engine", "make_sessionmaker", "transaction"]


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
    return bool(insert_new(db, model, [values]))


def insert_new(db: Session, model: Any, rows: list[dict[str, Any]]) -> set[Any]:
    """Insert the rows whose primary key is not taken yet, in one round trip; their keys.

    ``ON CONFLICT DO NOTHING`` finds the taken keys through the primary key's index, whatever
    plan the database would pick for a lookup, and a row inserted concurrently by another
    process is skipped, not an error."""
    if not rows:
        return set()
    table = model.__table__
    dialect = db.get_bind().dialect
    if dialect.name != "postgresql":
        from sqlalchemy.dialects.sqlite import insert

        key = next(iter(table.primary_key.columns))
        statement = insert(table).on_conflict_do_nothing().returning(key)
        # Values as parameters, not in the statement: the compiled statement is cached.
        return set(db.execute(statement, rows).scalars())
    # psycopg pipelines an executemany of one short statement, parsed once and then prepared
    # on the server. SQLAlchemy would send one multi-row VALUES statement instead, new text
    # for each row count, which psycopg parses afresh every time (it caches statements of up
    # to 4 KB; 14 rows of exposures are 5 KB): a third of a publish's CPU under a profiler.
    cursor: Any = db.connection().connection.cursor()  # psycopg's, with executemany(returning=)
    try:
        sql, defaults = _postgresql_insert_new(dialect, table, tuple(rows[0]))
        cursor.executemany(sql, [{**defaults, **row} for row in rows], returning=True)
        inserted: set[Any] = set()
        while True:
            inserted.update(row[0] for row in cursor.fetchall())
            if not cursor.nextset():
                return inserted
    finally:
        cursor.close()


@functools.lru_cache(maxsize=64)  # bounded: each engine (one per app, many in tests) has its dialect
def _postgresql_insert_new(dialect: Any, table: Any, columns: tuple[str, ...]) -> tuple[str, dict[str, Any]]:
    """The statement for rows with these columns, and the values of the columns it adds for
    their Python-side defaults."""
    from sqlalchemy.dialects.postgresql import insert

    key = next(iter(table.primary_key.columns))
    compiled = (
        insert(table)
        .on_conflict_do_nothing()
        .returning(key)
        .compile(dialect=dialect, column_keys=list(columns))
    )
    defaults = {
        column.key: column.default.arg
        for column in table.columns
        if column.key not in columns and column.default is not None and column.default.is_scalar
    }
    return str(compiled), defaults


def affected(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE touched (``Session.execute`` types its result as ``Result``)."""
    return cast("CursorResult[Any]", result).rowcount

"""Schemathesis over the whole OpenAPI with every check, on SQLite and on PostgreSQL: no 500, and
each answer's status, media type and body are the ones the document states.

Bounded: a few dozen examples per operation (more with HYPOTHESIS_PROFILE=fuzz). The apps are
built at collection time (schemathesis loads the schema at import): SQLite in a temporary
directory, PostgreSQL in a database of its own on the test server (dropped at exit), as
conftest's template does per session.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi import checks as _openapi_checks  # noqa: F401  (registers them)
from sqlalchemy import text
from sqlalchemy.engine import make_url

from tests.tracer_server.conftest import POSTGRES_URL, _admin_engine
from tracer_server import migrate
from tracer_server.app import create_app
from tracer_server.settings import Settings

pytestmark = pytest.mark.slow
EXAMPLES = 400 if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz" else 40
ALL_CHECKS = CHECKS.get_all()

# Two statuses schemathesis's defaults do not expect, both deliberate:
# * 413 for any body over 64 KB: a byte cap on the whole document is not expressible in JSON
#   Schema (each field's maxLength fits; several long fields together, or escaped characters, do
#   not), so a schema-valid body can be refused with 413, and an over-long field is refused with
#   413 (the cap) rather than 400.
# * 400 for well-formed values the service does not know: a code, token, district or certificate
#   drawn at random is GAEN's code_not_found / token_invalid / unknown district / bad_request,
#   which no schema can rule out. Only on the operations that look values up.
CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "413", "429"]

[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "413", "415", "429"]

[[operations]]
include-path-regex = "^/(api/(verify|certificate|user-activity|issue)|v1/publish)$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "413", "429"]
"""


_DATA = Path(tempfile.mkdtemp(prefix="bluezone-fuzz-"))
atexit.register(shutil.rmtree, _DATA, ignore_errors=True)
_POSTGRES_DB = f"bluezone_fuzz_{os.getpid()}"
_SQLITE = Settings(data_dir=_DATA / "sqlite")
_POSTGRES = Settings(
    data_dir=_DATA / "postgresql",
    database_url=make_url(POSTGRES_URL).set(database=_POSTGRES_DB).render_as_string(hide_password=False),
)


def _schema(settings: Settings) -> Any:
    # The app opens no connection until a request: collecting (the fast tier too) needs no database.
    app = create_app(settings)
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=SchemathesisConfig.from_str(CONFIG))


sqlite_schema = _schema(_SQLITE)
postgres_schema = _schema(_POSTGRES)


@pytest.fixture(scope="module")
def sqlite_database() -> None:
    migrate.upgrade(_SQLITE)


@pytest.fixture(scope="module")
def postgres_database() -> Iterator[None]:
    """A database of its own on the test server, migrated once, dropped at the end (FORCE: the
    app's pooled connections go with it)."""
    engine = _admin_engine()
    with engine.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {_POSTGRES_DB} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {_POSTGRES_DB}"))
    migrate.upgrade(_POSTGRES)
    yield
    with engine.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {_POSTGRES_DB} WITH (FORCE)"))
    engine.dispose()


@sqlite_schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_check_passes_on_sqlite(case: Any, sqlite_database: None) -> None:
    case.call_and_validate(checks=ALL_CHECKS)


@postgres_schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_check_passes_on_postgresql(case: Any, postgres_database: None) -> None:
    case.call_and_validate(checks=ALL_CHECKS)

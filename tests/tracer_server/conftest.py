"""Fixtures: a fresh database per test on SQLite and on the PostgreSQL of this machine.

PostgreSQL tests clone a migrated template database (GENS's trick), so each test starts clean
in ~100 ms. When PostgreSQL is unreachable they fail, never skip: set BLUEZONE_TEST_POSTGRES_URL
to point elsewhere (default postgresql://postgres@127.0.0.1:5432/test).
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from protocol.export import Export, read_export
from protocol.keys import en_interval_number, rolling_start
from protocol.publish import UploadKey, tek_hmac
from tracer_server import migrate
from tracer_server.app import create_app
from tracer_server.clock import ManualClock, utcnow
from tracer_server.db import transaction
from tracer_server.models import Exposure
from tracer_server.services.export_job import ExportReport, run_export
from tracer_server.services.officials import create_official
from tracer_server.settings import Settings
from tracer_server.storage import ExportStorage

POSTGRES_URL = os.environ.get("BLUEZONE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
TEMPLATE = f"bluezone_template_{os.getpid()}"  # per session: concurrent runs do not collide
NOW = datetime(2025, 11, 22, 10, 30, tzinfo=UTC)


def _admin_engine() -> Any:
    url = make_url(POSTGRES_URL).set(drivername="postgresql+psycopg")
    return create_engine(url, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """Migrate a template database once per session; dropped at the end."""
    engine = _admin_engine()
    with engine.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {TEMPLATE}"))
    url = make_url(POSTGRES_URL).set(database=TEMPLATE).render_as_string(hide_password=False)
    migrate.upgrade(Settings(database_url=url, data_dir=Path("/nonexistent")))
    yield TEMPLATE
    with engine.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'tracer.db'}"
        migrate.upgrade(Settings(database_url=url, data_dir=tmp_path))
        yield url
        return
    template = request.getfixturevalue("postgres_template")
    name = f"bluezone_{uuid.uuid4().hex[:12]}"
    engine = _admin_engine()
    with engine.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name} TEMPLATE {template}"))
    yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    with engine.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    engine.dispose()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data", database_url=database_url, export_min_keys=20, export_padding_range=5
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@dataclass
class Server:
    client: TestClient
    settings: Settings
    clock: ManualClock
    app: Any
    api_key: str

    @property
    def state(self) -> Any:
        return self.app.state.bluezone


@pytest.fixture
def server(settings: Settings, clock: ManualClock) -> Iterator[Server]:
    app = create_app(settings, clock=clock)
    with TestClient(app) as client:
        with transaction(app.state.bluezone.factory) as db:
            _, api_key = create_official(
                db=db,
                keys=app.state.bluezone.keys,
                name="Official Nguyen",
                role="official",
                now=utcnow(clock),
            )
        yield Server(client, settings, clock, app, api_key)


# ---- the device flow, driven only through the documented JSON --------------------------------


def issue(server: Server, **body: Any) -> dict[str, Any]:
    body.setdefault("testType", "confirmed")
    response = server.client.post("/api/issue", json=body, headers={"X-API-Key": server.api_key})
    assert response.status_code == 200, response.text
    return dict(response.json())


def device_keys(now: datetime, days: int = 3, rng_seed: int = 0) -> list[UploadKey]:
    """A device's keys for the past ``days`` full days (not today's)."""
    import random

    rng = random.Random(rng_seed)
    today = rolling_start(en_interval_number(now.timestamp()))
    return [UploadKey(rng.randbytes(16), today - 144 * d, 144, 0) for d in range(days, 0, -1)]


def certificate_for(
    server: Server, code: str, keys: list[UploadKey], secret: bytes = bytes(range(32))
) -> str:
    verified = server.client.post("/api/verify", json={"code": code, "accept": ["confirmed", "likely"]})
    assert verified.status_code == 200, verified.text
    mac = base64.b64encode(tek_hmac(secret, keys)).decode()
    cert = server.client.post("/api/certificate", json={"token": verified.json()["token"], "ekeyhmac": mac})
    assert cert.status_code == 200, cert.text
    return str(cert.json()["certificate"])


def publish_body(
    certificate: str, keys: list[UploadKey], secret: bytes = bytes(range(32)), **extra: Any
) -> dict[str, Any]:
    return {
        "temporaryExposureKeys": [k.to_json() for k in keys],
        "healthAuthorityID": "vn.bluezone",
        "verificationPayload": certificate,
        "hmacKey": base64.b64encode(secret).decode(),
        "padding": base64.b64encode(os.urandom(64)).decode(),
        **extra,
    }


# ---- added for the API, export and CLI suites --------------------------------------------------

ALL_TEST_TYPES = ("confirmed", "likely", "negative", "user-report")
SECRET = bytes(range(32))


@pytest.fixture
def make_server(tmp_path: Path, database_url: str, clock: ManualClock) -> Iterator[Callable[..., Server]]:
    """Build servers with settings overrides (and an optional storage) on the test's database.

    The fixture settings' defaults (``export_min_keys=20``, ``export_padding_range=5``) apply
    unless overridden; every server gets its own official and shares the data dir (same keys).
    """
    with contextlib.ExitStack() as stack:
        numbers = itertools.count(1)

        def make(*, storage: ExportStorage | None = None, **overrides: Any) -> Server:
            options: dict[str, Any] = {
                "data_dir": tmp_path / "data",
                "database_url": database_url,
                "export_min_keys": 20,
                "export_padding_range": 5,
                **overrides,
            }
            settings = Settings(**options)
            app = create_app(settings, clock=clock, storage=storage)
            client = stack.enter_context(TestClient(app))
            with transaction(app.state.bluezone.factory) as db:
                _, api_key = create_official(
                    db=db,
                    keys=app.state.bluezone.keys,
                    name=f"Official {next(numbers)}",
                    role="official",
                    now=utcnow(clock),
                )
            return Server(client, settings, clock, app, api_key)

        yield make


def today_start(now: datetime) -> int:
    """ENIntervalNumber of the UTC day's first interval."""
    return rolling_start(en_interval_number(now.timestamp()))


def verify(server: Server, code: str, accept: Sequence[str] = ALL_TEST_TYPES) -> Any:
    return server.client.post("/api/verify", json={"code": code, "accept": list(accept)})


def certificate(
    server: Server,
    code: str,
    keys: list[UploadKey],
    *,
    secret: bytes = SECRET,
    include_risk: bool = True,
    accept: Sequence[str] = ALL_TEST_TYPES,
) -> str:
    """Verify ``code`` (accepting every test type) and mint a certificate for ``keys``."""
    verified = verify(server, code, accept)
    assert verified.status_code == 200, verified.text
    mac = base64.b64encode(tek_hmac(secret, keys, include_risk=include_risk)).decode()
    cert = server.client.post("/api/certificate", json={"token": verified.json()["token"], "ekeyhmac": mac})
    assert cert.status_code == 200, cert.text
    return str(cert.json()["certificate"])


def export_now(server: Server, **options: Any) -> ExportReport:
    """Run the export job once at the server clock's time."""
    state = server.state
    return run_export(
        factory=state.factory,
        settings=server.settings,
        storage=state.storage,
        signing_keys=state.keys.signing_keys,
        now=utcnow(server.clock),
        **options,
    )


def index_names(server: Server) -> list[str]:
    data = server.state.storage.get("index.txt")
    return data.decode("ascii").split() if data else []


def read_exports(server: Server) -> dict[str, Export]:
    """Every file the index lists, verified with the server's export verification key."""
    verification = server.state.keys.export_verification
    return {name: read_export(server.state.storage.get(name), verification) for name in index_names(server)}


def exported_keys(server: Server) -> list[bytes]:
    """Key data of every key in every file the index lists (duplicates kept)."""
    return [key.key_data for export in read_exports(server).values() for key in export.keys]


def stored_exposures(server: Server) -> dict[bytes, Exposure]:
    with server.state.factory() as db:
        return {row.key_data: row for row in db.scalars(select(Exposure))}


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database cloned from the migrated template (fails if unreachable)."""
    template_name = TEMPLATE
    engine = _admin_engine()
    name = f"bluezone_{uuid.uuid4().hex[:12]}"
    with engine.connect() as conn:
        exists = conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": template_name}
        ).scalar()
    if not exists:
        raise RuntimeError("postgres_template fixture must run first")
    with engine.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name} TEMPLATE {template_name}"))
    yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    with engine.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    engine.dispose()

"""Schemathesis over the whole OpenAPI: whatever the schema allows (and what it does not), no 500.

Bounded: a few dozen examples per operation (more with HYPOTHESIS_PROFILE=fuzz). The app is
built at collection time in a temporary directory: schemathesis loads the schema at import.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tracer_server import migrate
from tracer_server.app import create_app
from tracer_server.settings import Settings

pytestmark = pytest.mark.slow
EXAMPLES = 400 if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz" else 40

_DATA = Path(tempfile.mkdtemp(prefix="bluezone-fuzz-"))
atexit.register(shutil.rmtree, _DATA, ignore_errors=True)
_SETTINGS = Settings(data_dir=_DATA)
migrate.upgrade(_SETTINGS)
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(_SETTINGS))


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_makes_a_server_error(case: Any) -> None:
    response = case.call()
    assert response.status_code < 500, (
        f"{case.method} {case.path}: {response.status_code} {response.text[:300]}"
    )
    if response.status_code >= 400:
        assert "error" in response.json()

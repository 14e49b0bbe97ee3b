"""Fixtures and settings shared by every test package.

Hypothesis profiles: ``dev`` (the default, quick), ``ci`` (loaded when ``CI`` is set: bounded,
derandomized, prints the blob that reproduces a failure) and ``fuzz`` (long runs). The
``HYPOTHESIS_PROFILE`` environment variable picks one explicitly, e.g.
``HYPOTHESIS_PROFILE=fuzz pytest -m slow tests/protocol``.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

settings.register_profile("ci", max_examples=150, deadline=None, derandomize=True, print_blob=True)
settings.register_profile("dev", max_examples=50, deadline=None)
settings.register_profile("fuzz", max_examples=5000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts without BLUEZONE_* settings from the developer's shell."""
    for name in list(os.environ):
        if name.startswith("BLUEZONE_"):
            monkeypatch.delenv(name)

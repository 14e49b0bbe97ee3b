"""The checked-in generated protobuf code must match export.proto (STYLE.md: stale code fails the build)."""

from __future__ import annotations

from functools import cache

import pytest

from protocol._proto import regenerate

generate = cache(regenerate.generate)


@pytest.mark.parametrize("name", regenerate.OUTPUTS)
def test_checked_in_generated_code_matches_export_proto(name: str) -> None:
    checked_in = (regenerate.HERE / name).read_text()
    assert generate()[name] == checked_in, (
        f"protocol/_proto/{name} is stale: run `make proto` and commit the result"
    )

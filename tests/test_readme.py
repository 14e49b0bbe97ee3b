"""README's five-line example runs (examples run as tests, so the README can't rot)."""

from __future__ import annotations

import re
from pathlib import Path

from protocol import export, keys, matching

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_protocol_example_runs_and_warns() -> None:
    code = re.search(r"## `protocol` in five lines\n\n```python\n(.*?)```", README.read_text(), re.S)
    assert code is not None
    now = 1_763_800_000.0
    signing = export.SigningKey.generate("452", "v1")
    namespace: dict[str, object] = {"now": now, "pinned_keys": [signing.verification_key()]}

    # Run the import and the beacon's three lines, then build what the device side needs from
    # them: the key published, and the advert heard in scans over 18 minutes at about 1 m.
    lines = [line for line in code.group(1).splitlines() if line.strip()]
    exec("\n".join(lines[:4]), namespace)
    tek, rpi, aem = namespace["tek"], namespace["rpi"], namespace["aem"]
    assert isinstance(tek, bytes) and isinstance(rpi, bytes) and isinstance(aem, bytes)
    start = keys.rolling_start(keys.en_interval_number(now))
    namespace["zip_bytes"] = export.write_export(
        [export.DiagnosisKey(tek, start, days_since_onset_of_symptoms=0)],
        start_timestamp=0,
        end_timestamp=1,
        region="VN",
        signing_keys=[signing],
    )
    interval_start = keys.en_interval_number(now) * 600
    namespace["sightings"] = [matching.Sighting(rpi, aem, -75, interval_start + 120 * k) for k in range(5)]
    exec("\n".join(lines[4:]), namespace)
    assert len(namespace["found"]) == 1  # type: ignore[arg-type]
    assert namespace["warn"] is True

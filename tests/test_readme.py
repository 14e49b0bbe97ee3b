"""README's five-line example runs (examples run as tests, so the README can't rot)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

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
    namespace["sightings"] = [matching.Sighting(rpi, aem, -60, interval_start + 120 * k) for k in range(5)]
    exec("\n".join(lines[4:]), namespace)
    assert len(namespace["found"]) == 1  # type: ignore[arg-type]
    assert namespace["warn"] is True


@pytest.mark.slow
def test_readme_flow_by_hand_runs_line_by_line_without_editing_a_value(tmp_path: Path) -> None:
    """The shell block under "The flow, by hand" as a newcomer pastes it: a real server process,
    today's dates, the beacon's report and a contact's sync. Only the port is changed, so a
    developer's own server on 8000 cannot answer in its place."""
    block = re.search(r"## The flow, by hand\n.*?```sh\n(.*?)```", README.read_text(), re.S)
    assert block is not None
    port = _free_port()
    script = "set -e\ntrap 'kill $SERVER 2>/dev/null || true' EXIT\n" + block.group(1).replace(
        "8000", str(port)
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLUEZONE_")}
    # `bluezone` comes from this interpreter's environment, as from .venv-run/bin in the README.
    env.update(PATH=f"{Path(sys.executable).parent}:{env['PATH']}", HOME=str(tmp_path), TMPDIR=str(tmp_path))
    done = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "uploaded 1 of 1 keys" in done.stdout, done.stdout + done.stderr
    assert "no close-contact warning" in done.stdout
    assert "BEGIN PUBLIC KEY" in (tmp_path.glob("tmp.*/export.pem").__next__()).read_text()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])

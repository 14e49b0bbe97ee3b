"""The whole device flow through the documented JSON, then the export read back with protocol."""

from __future__ import annotations

from protocol.export import ReportType, read_export
from tracer_server.clock import utcnow
from tracer_server.services.export_job import run_export

from .conftest import Server, certificate_for, device_keys, issue, publish_body


def test_issue_verify_certificate_publish_export_round_trip(server: Server) -> None:
    issued = issue(server, symptomDate="2025-11-20")
    assert len(issued["code"]) == 8 and issued["code"].isdigit()
    assert len(issued["longCode"]) == 16
    keys = device_keys(utcnow(server.clock))
    cert = certificate_for(server, issued["code"], keys)

    published = server.client.post("/v1/publish", json=publish_body(cert, keys))
    assert published.status_code == 200, published.text
    body = published.json()
    assert body["insertedExposures"] == 3 and body["code"] == "" and body["revisionToken"]

    # Keys arrived at 10:00 (truncated); the 08:00-12:00 window closes at 12:00, exported at 14:00.
    state = server.state
    server.clock.advance(hours=3, minutes=31)
    report = run_export(
        factory=state.factory,
        settings=server.settings,
        storage=state.storage,
        signing_keys=[state.keys.export_signing],
        now=utcnow(server.clock),
    )
    assert report.keys == 3 and report.files
    index = server.client.get("/v1/exports/index.txt")
    assert index.status_code == 200 and index.headers["cache-control"].startswith("public, max-age=60")
    names = index.text.split()
    assert names == report.files
    response = server.client.get(f"/v1/exports/{names[0]}")
    assert "immutable" in response.headers["cache-control"]
    export = read_export(response.content, state.keys.export_verification)
    assert export.region == "VN" and (export.batch_num, export.batch_size) == (1, 1)
    published_keys = {k.key_data: k for k in export.keys}
    assert len(published_keys) >= server.settings.export_min_keys  # padded
    for key in keys:
        got = published_keys[key.key_data]
        assert got.report_type == ReportType.CONFIRMED_TEST
        assert got.transmission_risk_level == 2  # backfilled for confirmed
        assert got.rolling_start_interval_number == key.rolling_start_number
    # Onset 2025-11-20; keys for 11-19, 11-20, 11-21.
    assert sorted(published_keys[k.key_data].days_since_onset_of_symptoms for k in keys) == [-1, 0, 1]
    assert [k.key_data for k in export.keys] == sorted(k.key_data for k in export.keys)

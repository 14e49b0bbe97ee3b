"""Corona-Warn-App's own golden suites, unmodified (``data/cwa/``, Apache-2.0, see NOTICE.md),
through ``load_config(..., "cwa")`` and ``assess``: every case, every expected field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from protocol.risk import ExposureWindow, RiskLevel, ScanInstance, assess, load_config

DATA = Path(__file__).parent / "data" / "cwa"
SUITES = sorted(DATA.glob("*/exposure-windows-risk-calculation.json"))
TODAY = 20_000  # a UTC day number; the suites speak in ages


def _cases() -> list[Any]:
    params = []
    for suite_path in SUITES:
        suite = json.loads(suite_path.read_text(encoding="utf-8"))
        for case in suite["testCases"]:
            params.append(
                pytest.param(
                    suite["defaultRiskCalculationConfiguration"],
                    case,
                    id=f"{suite_path.parent.name}: {case['description']}",
                )
            )
    return params


def test_both_apps_suites_are_vendored() -> None:
    assert {p.parent.name for p in SUITES} == {"android", "ios"}
    assert (DATA / "NOTICE.md").read_text().count("Apache") >= 1


def _window(raw: dict[str, Any]) -> ExposureWindow:
    return ExposureWindow(
        day=TODAY - raw["ageInDays"],
        scan_instances=tuple(
            ScanInstance(s["minAttenuation"], s["typicalAttenuation"], s["secondsSinceLastScan"])
            for s in raw["scanInstances"]
        ),
        report_type=raw["reportType"],
        infectiousness=raw["infectiousness"],
        calibration_confidence=raw["calibrationConfidence"],
    )


def _age(day: int | None) -> int | None:
    return None if day is None else TODAY - day


@pytest.mark.parametrize(("parameters", "case"), _cases())
def test_cwa_case(parameters: dict[str, Any], case: dict[str, Any]) -> None:
    config = load_config(parameters, "cwa")
    result = assess([_window(w) for w in case["exposureWindows"]], config)
    got = {
        "expTotalRiskLevel": int(result.total_level),
        "expAgeOfMostRecentDateWithLowRisk": _age(result.most_recent_day_low),
        "expAgeOfMostRecentDateWithHighRisk": _age(result.most_recent_day_high),
        "expNumberOfDaysWithLowRisk": result.days_low,
        "expNumberOfDaysWithHighRisk": result.days_high,
        "expTotalMinimumDistinctEncountersWithLowRisk": result.minimum_distinct_encounters_low,
        "expTotalMinimumDistinctEncountersWithHighRisk": result.minimum_distinct_encounters_high,
    }
    expected = {key: case[key] for key in got if key in case}
    assert expected, case["description"]
    assert {k: got[k] for k in expected} == expected
    assert (result.total_level == RiskLevel.HIGH) == result.close_contact

"""sim.config: the scenario's defaults, its validation, TOML files and the built-in districts."""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from pathlib import Path

import pytest

from protocol.risk import DEFAULT_RISK_CONFIG
from sim.config import (
    SCENARIOS,
    SOURCES,
    ConfigError,
    ScenarioConfig,
    districts_for,
    load_config,
    risk_config,
)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_valid_and_use_the_products_risk_configuration() -> None:
    config = ScenarioConfig()
    assert config.scenario in SCENARIOS
    assert config.adoption <= config.smartphone_ownership
    assert risk_config(config) == DEFAULT_RISK_CONFIG
    assert config.start.weekday() == 0  # 2021-05-03, a Monday: mobility's Sunday rule relies on it
    assert config.start_day == (date(2021, 5, 3) - date(1970, 1, 1)).days


def test_every_cited_source_names_a_real_setting() -> None:
    names = {f.name for f in dataclasses.fields(ScenarioConfig)}
    assert set(SOURCES) <= names


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"agents": 5}, "agents must be"),
        ({"agents": 6_000_000}, "agents must be"),
        ({"days": 0}, "days must be"),
        ({"days": 29}, "days must be"),
        ({"scenario": "hanoi"}, "scenario must be one of uniform, tuyen-quang"),
        ({"adoption": -0.1}, "adoption must be within 0..1"),
        ({"upload_consent": 1.5}, "upload_consent must be within 0..1"),
        ({"adoption": 0.8, "smartphone_ownership": 0.72}, "adoption cannot exceed smartphone_ownership"),
        ({"adoption_curve": (0.1, 0.0)}, "adoption_curve values"),
        ({"household_sizes": (0.5, 0.4)}, "household_sizes must sum to 1"),
        ({"onset_to_test_days": (4.0, 1.0)}, "onset_to_test_days"),
        ({"scan_interval_s": 30.0}, "scan_interval_s"),
        ({"scan_jitter_s": 200.0}, "scan_jitter_s under half"),
        ({"close_distance_m": 0.0}, "close distance"),
        ({"attenuation_thresholds_db": (70, 60, 50)}, "thresholds_db: need strictly increasing values"),
        ({"attenuation_thresholds_db": (60, 60, 70)}, "thresholds_db: need strictly increasing values"),
        ({"attenuation_weights": (1.0, 0.5, 0.0)}, "need 4 weights for 3 thresholds"),
        ({"threshold_weighted_minutes": 0.0}, "threshold_weighted_minutes: must be > 0"),
        ({"bucket_attenuation": "max"}, "bucket_attenuation: must be"),
    ],
)
def test_out_of_range_settings_raise_one_clear_config_error(settings: dict[str, object], words: str) -> None:
    with pytest.raises(ConfigError) as raised:
        ScenarioConfig(**settings)  # type: ignore[arg-type]
    message = str(raised.value)
    assert words in message
    assert "\n" not in message


def test_several_problems_are_reported_together_on_one_line() -> None:
    with pytest.raises(ConfigError) as raised:
        ScenarioConfig(agents=1, days=99, scenario="nowhere")
    message = str(raised.value)
    assert "\n" not in message
    assert "agents" in message and "days" in message and "scenario" in message


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)


def test_unknown_toml_keys_are_named_in_the_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "[scenario]\nagents = 1000\nagentz = 5\ncolour = 'red'\n")
    with pytest.raises(ConfigError, match=r"unknown setting\(s\): agentz, colour"):
        load_config(path)


def test_unknown_override_is_rejected() -> None:
    with pytest.raises(ConfigError, match="unknown setting"):
        load_config(None, adoptoin=0.2)


def test_districts_cannot_be_set_from_a_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "districts = []\n")
    with pytest.raises(ConfigError, match="unknown setting"):
        load_config(path)


@pytest.mark.parametrize("start", ["2021-13-01", "yesterday", "03/05/2021"])
def test_bad_start_date_raises_config_error_quoting_it(start: str) -> None:
    with pytest.raises(ConfigError, match="start must be a date like 2021-05-03") as raised:
        load_config(None, start=start)
    assert repr(start) in str(raised.value)


def test_start_date_is_parsed_from_iso_text_and_from_a_toml_date(tmp_path: Path) -> None:
    assert load_config(None, start="2021-06-07").start == date(2021, 6, 7)
    assert load_config(_write(tmp_path, "start = 2021-06-07\n")).start == date(2021, 6, 7)
    assert load_config(_write(tmp_path, 'start = "2021-06-08"\n')).start == date(2021, 6, 8)


def test_unreadable_or_malformed_toml_raises_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(_write(tmp_path, "agents = = 3\n"))


def test_wrong_types_raise_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_config(_write(tmp_path, "agents = 'many'\n"))
    with pytest.raises(ConfigError):
        load_config(None, adoption="high")


def test_load_config_reads_a_top_level_toml_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "agents = 2500\ndays = 7\nattenuation_thresholds_db = [55, 63, 73]\n")
    config = load_config(path)
    assert (config.agents, config.days) == (2500, 7)
    assert config.attenuation_thresholds_db == (55, 63, 73)  # lists become tuples
    assert config.adoption == ScenarioConfig().adoption  # the rest stays default


def test_a_top_level_toml_file_can_choose_the_scenario(tmp_path: Path) -> None:
    path = _write(tmp_path, "agents = 2500\nscenario = 'tuyen-quang'\n")
    config = load_config(path)
    assert (config.agents, config.scenario) == (2500, "tuyen-quang")


def test_load_config_reads_the_scenario_table(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "[scenario]\nagents = 3000\nadoption = 0.3\nonset_to_test_days = [2.0, 3.0]\n\n[other]\nanything = 1\n",
    )
    config = load_config(path)
    assert (config.agents, config.adoption, config.onset_to_test_days) == (3000, 0.3, (2.0, 3.0))


def test_overrides_beat_the_file_and_none_overrides_are_ignored(tmp_path: Path) -> None:
    path = _write(tmp_path, "[scenario]\nagents = 3000\ndays = 9\nseed = 4\n")
    config = load_config(path, agents=1234, days=None, seed=None, attenuation_weights=[1, 0.5, 0, 0])
    assert config.agents == 1234  # the override wins
    assert config.days == 9 and config.seed == 4  # None means "not given": the file's value stays
    assert config.attenuation_weights == (1, 0.5, 0, 0)
    assert load_config(None, agents=None) == ScenarioConfig()


def test_to_json_names_every_field_and_round_trips_through_load_config() -> None:
    config = ScenarioConfig(
        agents=777,
        days=5,
        scenario="tuyen-quang",
        start=date(2021, 6, 1),
        attenuation_thresholds_db=(50, 60, 70),
    )
    out = json.loads(json.dumps(config.to_json()))
    assert list(out) == [f.name for f in dataclasses.fields(ScenarioConfig)]
    assert out["start"] == "2021-06-01"
    assert out["attenuation_thresholds_db"] == [50, 60, 70]
    assert out["districts"] == []
    again = load_config(None, **{k: v for k, v in out.items() if k != "districts"})
    assert again == config


def test_tuyen_quang_has_the_provinces_districts_and_population() -> None:
    # The letter's table has 7 district-level rows (6 districts and TP Tuyên Quang); they sum to the
    # province's 784,811 people and 101,000 users (the letter's own total says 101,378).
    districts = districts_for(ScenarioConfig(scenario="tuyen-quang"))
    assert len(districts) == 7
    assert len({d.name for d in districts}) == 7
    assert "TP Tuyên Quang" in {d.name for d in districts}
    assert sum(d.population for d in districts) == 784_811
    assert sum(d.app_users for d in districts) == 101_000
    assert sum(d.smartphones for d in districts) == 554_976
    for d in districts:
        assert 0 < d.adoption_among_owners < 1 and 0 < d.ownership < 1


def test_uniform_scenario_is_one_district_with_the_configured_shares() -> None:
    (district,) = districts_for(ScenarioConfig(adoption=0.3, smartphone_ownership=0.6))
    assert district.ownership == pytest.approx(0.6)
    assert district.adoption_among_owners == pytest.approx(0.5)


@pytest.mark.parametrize(
    "line",
    [
        "start = 20210503",  # an int, not a date: run() dies in start_day (TypeError)
        "agents = 1e3",  # a float: build_population dies slicing (TypeError)
        "household_sizes = 3",  # load_config's tuple(3): TypeError escapes load_config
        "adoption_curve = []",  # accepted; run() dies in max(()) (ValueError)
        "class_size = 0",  # accepted; build_population divides by zero
        "sync_interval_minutes = 0",  # accepted; sync_after divides by zero
        "upload_delay_hours = -1",  # accepted; sample_cases' exponential(scale < 0) raises
        "seed = -1",  # accepted; `bluezone sim run` dies in default_rng(-1)
        "tx_power_dbm = 30",  # outside the matcher's -50..20: the real path drops every match
    ],
)
def test_invalid_settings_in_a_file_raise_config_error(tmp_path: Path, line: str) -> None:
    with pytest.raises(ConfigError):
        load_config(_write(tmp_path, f"[scenario]\n{line}\n"))

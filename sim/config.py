"""One frozen scenario configuration, every default written out with where it comes from.

``ScenarioConfig`` is what ``bluezone sim run`` takes (flags, or a TOML file with the same field
names) and what the report prints. ``SOURCES`` says, per field, where its default comes from:
a measurement, a cited source (``shared/spec/sim.md``), the product's own settings, or an
assumption of ours. Assumptions are labelled as such, so a reader knows which numbers to vary.

Built-in scenarios: ``uniform`` (one district with the given adoption) and ``tuyen-quang``
(the province's seven districts, population, smartphones and Bluezone users on 6 May 2021,
vendored in ``sim/data``).
"""

from __future__ import annotations

import csv
import dataclasses
import tomllib
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

from protocol.risk import DEFAULT_RISK_CONFIG, RiskConfig
from protocol.scans import SCAN_INTERVAL_S, SCAN_JITTER_S

__all__ = [
    "SCENARIOS",
    "SOURCES",
    "ConfigError",
    "District",
    "ScenarioConfig",
    "districts_for",
    "load_config",
    "risk_config",
]

SCENARIOS = ("uniform", "tuyen-quang")


class ConfigError(ValueError):
    """A scenario setting a user gave is out of range or unknown; the message says which."""


@dataclass(frozen=True, slots=True)
class ScenarioConfig:
    agents: int = 100_000
    days: int = 14
    seed: int = 0
    scenario: str = "uniform"
    start: date = date(2021, 5, 3)  # the week of the Tuyên Quang letter (6 May 2021)
    adoption: float = 0.1292  # share of the whole population running the app (uniform scenario)
    smartphone_ownership: float = 0.72  # share of the population owning a smartphone
    household_adoption_correlation: float = 0.0  # 0 independent … 1 whole households decide together
    adoption_curve: tuple[float, ...] = (0.05, 0.1, 0.1292, 0.2, 0.3, 0.43, 0.5, 0.6, 0.72)
    # Population and venues.
    household_sizes: tuple[float, ...] = (0.11, 0.20, 0.22, 0.26, 0.12, 0.06, 0.03)  # 1..7 persons
    employment_rate: float = 0.75  # of adults 18–64
    workplace_mean_size: float = 12.0
    class_size: int = 35
    market_visit_probability: float = 0.3  # per person per day
    transport_probability: float = 0.05  # per person per day: a bus or shared van ride
    # Cases.
    cases_per_100k_per_day: float = 100.0
    onset_to_test_days: tuple[float, float] = (1.0, 4.0)
    upload_consent: float = 0.8
    upload_delay_hours: float = 2.0
    # Close contact (ground truth): Bộ Y tế's 2 m, the CDC's 15 cumulative minutes per day.
    close_distance_m: float = 2.0
    close_minutes: float = 15.0
    # Radio and the app.
    tx_power_dbm: int = -15
    # protocol.scans' 300 s − U(0, 90 s) as a mean interval and a jitter on each scan's time:
    # the same 210–300 s range of gaps and the same 255 s mean.
    scan_interval_s: float = SCAN_INTERVAL_S - SCAN_JITTER_S / 2
    scan_jitter_s: float = SCAN_JITTER_S / 2
    device_offset_sd_db: float = 0.0
    sync_interval_minutes: float = 240.0
    export_period_minutes: int = 240
    export_min_window_age_minutes: int = 120
    export_min_keys: int = 1000
    export_padding_range: int = 100
    # Risk (protocol.risk.RiskConfig): the product's default.
    attenuation_thresholds_db: tuple[int, int, int] = DEFAULT_RISK_CONFIG.attenuation_bucket_thresholds_db
    attenuation_weights: tuple[float, float, float, float] = DEFAULT_RISK_CONFIG.attenuation_bucket_weights
    threshold_weighted_minutes: float = DEFAULT_RISK_CONFIG.threshold_weighted_minutes
    bucket_attenuation: str = DEFAULT_RISK_CONFIG.bucket_attenuation
    minimum_window_score: float = DEFAULT_RISK_CONFIG.minimum_window_score
    # The real protocol: every app user up to this many agents, else a sampled cohort.
    real_path_max_agents: int = 10_000
    real_path_cohort: int = 2_000
    districts: tuple[District, ...] = ()  # overrides the scenario's districts (from code, not TOML)

    def __post_init__(self) -> None:
        problems = _type_problems(self)
        if problems:
            raise ConfigError("; ".join(problems))
        if not 10 <= self.agents <= 5_000_000:
            problems.append("agents must be 10..5,000,000")
        if not 1 <= self.days <= 28:
            problems.append("days must be 1..28 (the beacon keeps 14)")
        if self.scenario not in SCENARIOS:
            problems.append(f"scenario must be one of {', '.join(SCENARIOS)}")
        for name in ("adoption", "smartphone_ownership", "household_adoption_correlation", "upload_consent"):
            if not 0 <= getattr(self, name) <= 1:
                problems.append(f"{name} must be within 0..1")
        if self.adoption > self.smartphone_ownership:
            problems.append("adoption cannot exceed smartphone_ownership (the app needs a smartphone)")
        if any(not 0 < a <= 1 for a in self.adoption_curve):
            problems.append("adoption_curve values must be within 0..1")
        if abs(sum(self.household_sizes) - 1) > 1e-6:
            problems.append("household_sizes must sum to 1")
        lo, hi = self.onset_to_test_days
        if not 0 <= lo <= hi <= 10:
            problems.append("onset_to_test_days must be an interval within 0..10")
        if not 60 <= self.scan_interval_s <= 900 or not 0 <= self.scan_jitter_s < self.scan_interval_s / 2:
            problems.append("scan_interval_s must be 60..900 s and scan_jitter_s under half of it")
        if self.cases_per_100k_per_day < 0 or self.close_distance_m <= 0 or self.close_minutes <= 0:
            problems.append("case rate, close distance and close minutes must be positive")
        if not self.adoption_curve:
            problems.append("adoption_curve needs at least one level")
        if not 1 <= len(self.household_sizes) <= 12 or min(self.household_sizes) < 0:
            problems.append("household_sizes: 1..12 shares (sizes 1, 2, …), none negative")
        if self.seed < 0:
            problems.append("seed must be 0 or more")
        if self.class_size < 1 or self.workplace_mean_size < 1:
            problems.append("class_size and workplace_mean_size must be at least 1")
        if self.upload_delay_hours < 0 or self.employment_rate < 0 or self.employment_rate > 1:
            problems.append("upload_delay_hours must be >= 0 and employment_rate within 0..1")
        if self.export_period_minutes < 1 or 1440 % self.export_period_minutes:
            problems.append("export_period_minutes must divide a day (15, 30, 60, 120, 240, 480, 720, 1440)")
        if self.sync_interval_minutes < 1:
            problems.append("sync_interval_minutes must be at least 1")
        if not -50 <= self.tx_power_dbm <= 20:
            problems.append("tx_power_dbm must be -50..20 (what the metadata can carry)")
        for name in ("market_visit_probability", "transport_probability"):
            if not 0 <= getattr(self, name) <= 1:
                problems.append(f"{name} must be within 0..1")
        if problems:
            raise ConfigError("; ".join(problems))
        try:
            risk_config(self)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

    @property
    def start_day(self) -> int:
        """The first simulated UTC day, in days since 1970-01-01."""
        return (self.start - date(1970, 1, 1)).days

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "districts":
                value = [dataclasses.asdict(d) for d in value]
            elif isinstance(value, date):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out


def _type_problems(config: ScenarioConfig) -> list[str]:
    """Fields of the wrong type (TOML gives what the user wrote), each named."""
    problems = []
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        kind = str(f.type)
        if kind == "int":
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif kind == "float":
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        elif kind == "str":
            ok = isinstance(value, str)
        elif kind == "date":
            ok = isinstance(value, date)
        elif kind.startswith("tuple[int"):
            ok = isinstance(value, tuple) and all(
                isinstance(v, int) and not isinstance(v, bool) for v in value
            )
        elif kind.startswith("tuple[float"):
            ok = isinstance(value, tuple) and all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in value
            )
        else:
            ok = True
        if not ok:
            problems.append(f"{f.name} has the wrong type ({type(value).__name__}: {value!r})")
    if not problems and len(config.onset_to_test_days) != 2:
        problems.append("onset_to_test_days needs 2 values")
    return problems


@dataclass(frozen=True, slots=True)
class District:
    name: str
    population: int
    smartphones: int
    app_users: int

    @property
    def ownership(self) -> float:
        return self.smartphones / self.population

    @property
    def adoption_among_owners(self) -> float:
        return self.app_users / self.smartphones


SOURCES: dict[str, str] = {
    "adoption": "Tuyên Quang, 6 May 2021: 101,378 users of 784,811 people (sim/data/tuyen-quang-2021-05.md)",
    "smartphone_ownership": "implied by the same letter: 12.92 % / 17.89 % = 72 % (spec/sim.md)",
    "household_adoption_correlation": "assumption: independent adoption (spec/sim.md: clustering raises p²)",
    "adoption_curve": "includes the province (12.92 %) and 60 % of owners at 72 % ownership (43 %)",
    "household_sizes": "assumption shaped on Vietnam's 2019 census mean of about 3.6 persons (unverified)",
    "employment_rate": "assumption",
    "workplace_mean_size": "assumption (most workplaces in a rural province are small)",
    "class_size": "assumption (Vietnamese classes of 35–45 pupils, unverified)",
    "market_visit_probability": "assumption",
    "transport_probability": "assumption (rural province, little public transport)",
    "cases_per_100k_per_day": "assumption chosen for statistical power, not an epidemic curve",
    "onset_to_test_days": "assumption",
    "upload_consent": "assumption",
    "upload_delay_hours": "assumption (the official's code, then the upload)",
    "close_distance_m": "Bộ Y tế Decision 3638/QĐ-BYT: within 2 m (spec/sim.md §3)",
    "close_minutes": "CDC, 21 Oct 2020: 15 cumulative minutes in 24 h (spec/sim.md §3)",
    "tx_power_dbm": "beacon.schedule.DEFAULT_TX_POWER (GAEN TX_POWER_LOW)",
    "scan_interval_s": "protocol/scans.py: 300 s minus 0–90 s (Google), mean 255 s",
    "scan_jitter_s": "protocol/scans.py: the same 210–300 s range of intervals",
    "device_offset_sd_db": "assumption: phones calibrated; 6.9 dB = the uncorrected table (spec/sim.md §1)",
    "sync_interval_minutes": "beacon.settings default",
    "export_period_minutes": "tracer_server.settings default (GENS: batches every 4–24 h)",
    "export_min_window_age_minutes": "tracer_server.settings default (GENS MIN_WINDOW_AGE)",
    "export_min_keys": "tracer_server.settings default (GENS EXPORT_FILE_MIN_RECORDS)",
    "attenuation_thresholds_db": "protocol.risk.DEFAULT_RISK_CONFIG (tuned in docs/risk.md)",
    "threshold_weighted_minutes": "protocol.risk.DEFAULT_RISK_CONFIG",
    "attenuation_weights": "protocol.risk.DEFAULT_RISK_CONFIG",
    "bucket_attenuation": "protocol.risk.DEFAULT_RISK_CONFIG: the strongest advert of each scan",
    "minimum_window_score": "protocol.risk.DEFAULT_RISK_CONFIG",
    "start": "the week of the Tuyên Quang letter (6 May 2021)",
    "real_path_max_agents": "the real protocol for every app user up to this size (issue D1)",
    "real_path_cohort": "above it, this many app users, sampled",
}


def risk_config(config: ScenarioConfig) -> RiskConfig:
    return RiskConfig(
        attenuation_bucket_thresholds_db=tuple(config.attenuation_thresholds_db),  # type: ignore[arg-type]
        attenuation_bucket_weights=tuple(config.attenuation_weights),  # type: ignore[arg-type]
        threshold_weighted_minutes=config.threshold_weighted_minutes,
        bucket_attenuation=config.bucket_attenuation,  # type: ignore[arg-type]
        minimum_window_score=config.minimum_window_score,
    )


def _province() -> tuple[District, ...]:
    text = resources.files("sim").joinpath("data/tuyen-quang-2021-05.csv").read_text(encoding="utf-8")
    return tuple(
        District(
            row["district"],
            int(row["population"]),
            int(row["smartphones"]),
            int(row["app_users_with_phone_number"]),
        )
        for row in csv.DictReader(text.splitlines())
    )


def districts_for(config: ScenarioConfig) -> tuple[District, ...]:
    """The districts agents live in; their sizes are shares of the population."""
    if config.districts:
        return config.districts
    if config.scenario == "tuyen-quang":
        return _province()
    population = 1_000_000
    owners = round(population * config.smartphone_ownership)
    return (District("all", population, owners, round(population * config.adoption)),)


_TUPLE_FIELDS = {f.name for f in dataclasses.fields(ScenarioConfig) if "tuple" in str(f.type)}


def load_config(path: Path | None = None, **overrides: Any) -> ScenarioConfig:
    """Defaults, then a TOML file's ``[scenario]`` table (or top level), then explicit overrides."""
    values: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from None
        table = data.get("scenario")
        values.update(table if isinstance(table, dict) else data)
    values.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in dataclasses.fields(ScenarioConfig)} - {"districts"}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(unknown)}")
    for name in _TUPLE_FIELDS & set(values):
        if not isinstance(values[name], list | tuple):
            raise ConfigError(f"{name} must be a list, got {values[name]!r}")
        values[name] = tuple(values[name])
    if isinstance(values.get("start"), str):
        try:
            values["start"] = date.fromisoformat(values["start"])
        except ValueError:
            raise ConfigError(f"start must be a date like 2021-05-03, got {values['start']!r}") from None
    return ScenarioConfig(**values)

"""One settings object for the server, validated at start, created at the edge and passed down.

Sources, strongest first: keyword arguments, ``BLUEZONE_*`` environment variables, the TOML file
named by ``BLUEZONE_CONFIG_FILE`` (or ``--config``), then the defaults written below.
"""

from __future__ import annotations

import ipaddress
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from protocol.export import MAX_EXPORT_KEYS

__all__ = ["HealthAuthorityConfig", "Settings"]

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class HealthAuthorityConfig(BaseModel):
    """An issuer of verification certificates this key server accepts (the allow-list)."""

    id: str
    issuer: str
    audience: str
    # kid → PEM of an ES256 public key
    certificate_keys: dict[str, str] = Field(default_factory=dict)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BLUEZONE_", extra="forbid", frozen=True)

    data_dir: Path = Path("bluezone-data")
    """Database (by default), signing keys and export files live here."""
    database_url: str | None = None
    """SQLAlchemy URL; default ``sqlite:///<data_dir>/tracer.db``."""
    redis_url: str | None = None
    """Shared rate limits across server processes (e.g. ``redis://127.0.0.1:6379/0``)."""

    # Exports: region, signing key identity, batching, padding, files.
    region: str = "VN"
    export_key_id: str = "452"  # Vietnam's mobile country code, as GAEN asks
    export_key_version: str = "v1"
    export_period_minutes: int = 240  # GENS recommends batches every 4-24 h
    export_min_window_age_minutes: int = 120  # GENS MIN_WINDOW_AGE
    export_min_keys: int = 1000  # GENS EXPORT_FILE_MIN_RECORDS
    export_padding_range: int = 100  # GENS EXPORT_FILE_PADDING_RANGE
    export_max_keys_per_file: int = 500_000  # GENS EXPORT_FILE_MAX_RECORDS
    export_job_interval_seconds: float = 60.0
    export_in_server: bool = True
    """``bluezone server run`` runs the export and cleanup jobs every interval (one writer at a
    time, by the lease). False where a timer runs ``bluezone server export`` instead
    (``deploy/bluezone-export.timer``)."""
    export_bucket_url: str | None = None
    """``s3://bucket[/prefix]``: export files go to this S3-compatible bucket (prefix default
    ``v1/exports/``) for a CDN to serve; default: ``<data_dir>/exports``, served by the app."""
    s3_endpoint_url: str | None = None
    """For a bucket outside AWS (MinIO, SeaweedFS): its S3 endpoint, e.g. ``http://127.0.0.1:8333``."""
    s3_region: str | None = None
    retention_days: int = 14

    # Verification codes, tokens and certificates.
    health_authority_id: str = "vn.bluezone"
    certificate_issuer: str = "vn.bluezone.verification"
    certificate_audience: str = "vn.bluezone.keyserver"
    certificate_key_id: str = "v1"
    code_length: int = 8
    code_ttl_minutes: int = 60
    long_code_length: int = 16
    long_code_ttl_hours: int = 24
    token_ttl_hours: int = 24
    certificate_ttl_minutes: int = 15
    default_tz_offset_minutes: int = 420  # Vietnam, UTC+7
    display_time_zone: str = "Asia/Ho_Chi_Minh"
    """The IANA zone the console shows every time and day in (and names beside each time)."""
    max_symptom_age_days: int = 28
    codes_per_official_per_day: int = 500
    issue_requests_per_minute: int = 60
    """Per official, across processes when Redis is configured."""
    activity_signals_per_minute: int = 3
    """Per client (HMAC'd under a daily key): a device sends one a day."""
    verify_attempts_per_minute: int = 10
    signin_attempts_per_minute: int = 5
    """Console sign-ins per (name, client): wrong passwords from one client never lock an
    official out of another."""
    signin_client_attempts_per_minute: int = 20
    """Console sign-ins per client whatever the name (an office behind one address)."""
    signin_failures_per_minute: int = 30
    """Wrong passwords per minute across every client: past it, every sign-in waits (429 with
    Retry-After), so guessing from many addresses is no faster than from one."""
    health_authorities: list[HealthAuthorityConfig] = Field(default_factory=list)
    """Other certificate issuers; ours (``health_authority_id``) is always accepted."""

    # Clients and the proxy in front.
    forwarded_allow_ips: str = ""
    """Comma-separated addresses or networks of the reverse proxies whose ``X-Forwarded-For`` and
    ``X-Forwarded-Proto`` are believed (uvicorn's ``forwarded_allow_ips``), e.g. ``127.0.0.1``
    behind nginx on the same host. Empty: no forwarded header is believed, from anyone (a client
    could otherwise claim any address and get a fresh rate limit per request)."""
    public_base_url: str | None = None
    """``https://host[/prefix]`` of the links the console prints and shows as QR codes
    (``…/v?c=CODE&r=VN``); never taken from a request's Host header, which the client writes."""

    # Publish.
    max_keys_per_publish: int = 30
    max_same_start_keys: int = 3
    max_key_age_days: int = 15

    # The clock: the system clock unless started for a demo or simulation.
    clock_start: datetime | None = None
    clock_speed: float = 1.0

    @field_validator("region", "export_key_id", "export_key_version", "certificate_key_id")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not _NAME.fullmatch(value):
            raise ValueError(f"must be 1-64 characters of letters, digits, '_', '.', '-'; got {value!r}")
        return value

    @field_validator("display_time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ValueError, ZoneInfoNotFoundError):
            raise ValueError(f"must be an IANA time zone such as Asia/Ho_Chi_Minh; got {value!r}") from None
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxy_addresses(cls, value: str) -> str:
        entries = [entry.strip() for entry in value.split(",") if entry.strip()]
        for entry in entries:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                # "*" is refused too: it believes every client, so anyone can forge an address.
                raise ValueError(f"must be IP addresses or networks of the proxies; got {entry!r}") from None
        return ",".join(entries)

    @field_validator("public_base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.fullmatch(r"https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?", value):
            raise ValueError(f"must be https://host[:port][/path], no query; got {value!r}")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if 1440 % self.export_period_minutes:
            raise ValueError("export_period_minutes must divide a day (15, 30, 60, 120, 240, 480, 720, 1440)")
        if not 6 <= self.code_length <= 20 or not 12 <= self.long_code_length <= 32:
            raise ValueError("code_length must be 6..20 and long_code_length 12..32")
        if not 1 <= self.export_max_keys_per_file <= MAX_EXPORT_KEYS // 2:
            # File 1 of a batch also carries the window's revised keys: up to twice this many,
            # which every beacon's reader must accept (protocol.export.MAX_EXPORT_KEYS).
            raise ValueError(f"export_max_keys_per_file must be 1..{MAX_EXPORT_KEYS // 2}")
        if self.clock_speed <= 0:
            raise ValueError("clock_speed must be positive")
        if self.clock_start is not None and self.clock_start.tzinfo is None:
            raise ValueError("clock_start must carry a timezone, e.g. 2025-11-22T00:00:00Z")
        if self.export_bucket_url is not None and not re.fullmatch(
            r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[\w./-]*)?", self.export_bucket_url
        ):
            raise ValueError("export_bucket_url must be s3://bucket or s3://bucket/prefix")
        return self

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            url = self.database_url
            # The driver we ship for PostgreSQL is psycopg 3.
            return re.sub(r"^postgres(ql)?://", "postgresql+psycopg://", url)
        return f"sqlite:///{(self.data_dir / 'tracer.db').resolve()}"

    @property
    def uvicorn_proxy_options(self) -> dict[str, Any]:
        """uvicorn's ``proxy_headers`` and ``forwarded_allow_ips`` from ``forwarded_allow_ips``.

        Spelled out even when empty: uvicorn's defaults believe 127.0.0.1 (or the
        ``FORWARDED_ALLOW_IPS`` variable), our own bind address, so any local client, or
        anything a proxy passes on, could name itself in ``X-Forwarded-For``."""
        proxies = self.forwarded_allow_ips
        return {"proxy_headers": bool(proxies), "forwarded_allow_ips": proxies}

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def exports_dir(self) -> Path:
        return self.data_dir / "exports"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("BLUEZONE_CONFIG_FILE")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)

    @classmethod
    def load(cls, config_file: Path | None = None, **overrides: Any) -> Settings:
        """Settings from the environment and an optional TOML file; a bad file is a clear error."""
        if config_file is not None:
            if not config_file.is_file():
                raise FileNotFoundError(f"config file {config_file} does not exist")
            os.environ["BLUEZONE_CONFIG_FILE"] = str(config_file)
        return cls(**overrides)

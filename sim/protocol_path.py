"""The real protocol, end to end, for the app users of a run (or a sampled cohort of them).

* Every observation a device's scans made becomes a real ``protocol.matching.Sighting``: the
  transmitter's RPI for that interval and its AEM (the metadata with the TX power, encrypted
  under the key's AEMK), the scan's mean and strongest RSSI.
* Uploads go through a real tracer server (uvicorn on loopback, SQLite, its clock following
  the simulation): an official issues a code (``/api/issue``), the case's device verifies it,
  asks for a certificate over the HMAC of its keys and publishes (``/v1/publish``) — the
  requests of the beacon's ``report`` flow. Which keys it uploads (onset − 2 days to today, at
  most 14, today's cut short) is ``sim.vectorized.release_plan``, the beacon's rule, shared by
  both paths; so is the sync schedule. What the comparison checks is everything after: the
  server's validation, embargo and export batching, the files, matching and risk.
* The export job runs at every window's release time; the new files are downloaded over HTTP
  from ``/v1/exports/``, their signatures verified against the server's pinned key and read
  with ``protocol.export``.
* ``protocol.matching.match`` runs over the sightings of all devices in the cohort at once
  (matching is per sighting, so one call over the union gives each device what its own call
  would, without deriving the published RPIs once per device); ``protocol.risk`` scores each
  device's matches, batch by batch in publication order, and the device warns at its first
  sync after the batch that takes a day over the threshold.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import tempfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from protocol.advert import Metadata
from protocol.export import DiagnosisKey, VerificationKey, open_export
from protocol.keys import derive_aemk, derive_rpik, encrypt_aem, rpi
from protocol.matching import Match, Sighting, match
from protocol.publish import UploadKey, tek_hmac
from protocol.risk import RiskConfig, assess, exposure_windows
from sim.config import ScenarioConfig
from sim.epidemic import Cases
from sim.scanning import ADVERTS_PER_SCAN, Observations, ScanClock
from sim.teks import tek
from sim.vectorized import KeyRelease, Warnings, sync_after

__all__ = ["PublishedBatch", "ServerRun", "publish_through_server", "real_warnings"]


@dataclass
class PublishedBatch:
    time: float  # when the export job released it
    name: str
    size_bytes: int
    keys: list[DiagnosisKey]


@dataclass
class ServerRun:
    batches: list[PublishedBatch] = field(default_factory=list)
    upload_bytes: int = 0
    uploads: int = 0

    def published_at(self) -> dict[bytes, float]:
        out: dict[bytes, float] = {}
        for batch in self.batches:
            for key in batch.keys:
                out.setdefault(key.key_data, batch.time)
        return out


def _post(
    url: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[dict[str, Any], int]:
    data = json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json", **(headers or {})}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read()), len(data)


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return bytes(response.read())


_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _seed_server_keys(folder: Path, run_key: bytes) -> None:
    """The server's signing keys from the run's seed: signatures are deterministic (RFC 6979), so
    export files, and the bytes the report counts, repeat with the seed."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    for name in ("export-signing.pem", "certificate.pem"):
        digest = hashlib.sha256(run_key + name.encode()).digest()
        scalar = int.from_bytes(digest, "big") % (_P256_ORDER - 1) + 1
        pem = ec.derive_private_key(scalar, ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        path = folder / name
        path.write_bytes(pem)
        path.chmod(0o600)


def _upload_keys(release: KeyRelease, rows: np.ndarray, run_key: bytes) -> list[UploadKey]:
    return [
        UploadKey(
            tek(run_key, int(release.agent[i]), int(release.day[i])),
            int(release.day[i]) * 144,
            int(release.rolling_period[i]),
            0,
        )
        for i in rows
    ]


def publish_through_server(
    release: KeyRelease,
    cases: Cases,
    config: ScenarioConfig,
    run_key: bytes,
    *,
    until: float,
    progress: Callable[[str], None] = lambda _: None,
) -> ServerRun:
    """Upload every release's keys through a real tracer server and collect what it exports."""
    from beacon.clock import SimClock
    from sim.server import serve_in_thread
    from tracer_server.clock import utcnow
    from tracer_server.db import transaction
    from tracer_server.services.export_job import run_export
    from tracer_server.services.officials import create_official
    from tracer_server.settings import Settings

    # the server's clock, moved to each event below
    clock = SimClock(float(release.upload.min()) if len(release) else until)
    uploads = sorted({float(u): None for u in release.upload})
    period = config.export_period_minutes * 60.0
    age = config.export_min_window_age_minutes * 60.0
    first_tick = (np.floor(clock.now() / period) + 1) * period + age
    ticks = list(np.arange(first_tick, until + period, period)) if len(release) else []
    events = sorted([(u, 0) for u in uploads] + [(float(t), 1) for t in ticks])
    run = ServerRun()
    onsets = dict(zip(cases.agent.tolist(), cases.onset.tolist(), strict=True))
    with tempfile.TemporaryDirectory(prefix="bluezone-sim-") as workdir:
        settings = Settings(
            data_dir=Path(workdir),
            export_period_minutes=config.export_period_minutes,
            export_min_window_age_minutes=config.export_min_window_age_minutes,
            export_min_keys=config.export_min_keys,
            export_padding_range=config.export_padding_range,
            issue_requests_per_minute=100_000,
            verify_attempts_per_minute=100_000,
        )
        _seed_server_keys(settings.keys_dir, run_key)
        with serve_in_thread(settings, clock) as server:
            with transaction(server.state.factory) as db:
                _, api_key = create_official(
                    db=db,
                    keys=server.state.keys,
                    name="Simulated official",
                    role="official",
                    now=utcnow(clock),
                )
            pinned: VerificationKey = server.state.keys.export_verification
            seen: set[str] = set()
            rng = np.random.default_rng(int.from_bytes(run_key[:8], "little"))
            for when, kind in events:
                clock.set(max(clock.now(), when))
                if kind == 0:
                    rows = np.flatnonzero(release.upload == when)
                    agent = int(release.agent[rows[0]])
                    onset = datetime.fromtimestamp(onsets[agent], UTC).date().isoformat()
                    run.upload_bytes += _report(
                        server.url, api_key, _upload_keys(release, rows, run_key), onset
                    )
                    run.uploads += 1
                    continue
                run_export(
                    factory=server.state.factory,
                    settings=settings,
                    storage=server.state.storage,
                    signing_keys=[server.state.keys.export_signing],
                    now=utcnow(clock),
                    rng=lambda n: rng.bytes(n),
                )
                index = _get(server.url + "v1/exports/index.txt").decode()
                for name in (line.strip() for line in index.splitlines()):
                    if name and name not in seen:
                        seen.add(name)
                        blob = _get(server.url + "v1/exports/" + name)
                        keys = list(open_export(blob, pinned).keys())
                        run.batches.append(PublishedBatch(when, name, len(blob), keys))
                        progress(f"export {name}: {len(keys)} keys")
    return run


def _report(url: str, api_key: str, keys: list[UploadKey], onset: str) -> int:
    """The beacon's report flow, request by request; returns the bytes the device sent."""
    issued, _ = _post(
        url + "api/issue",
        {"testType": "confirmed", "symptomDate": onset, "tzOffset": 0},
        {"X-API-Key": api_key},
    )
    verified, sent = _post(url + "api/verify", {"code": issued["code"], "accept": ["confirmed"]})
    secret = secrets.token_bytes(32)
    mac = base64.b64encode(tek_hmac(secret, keys)).decode()
    certified, n = _post(url + "api/certificate", {"token": verified["token"], "ekeyhmac": mac})
    sent += n
    _, n = _post(
        url + "v1/publish",
        {
            "temporaryExposureKeys": [k.to_json() for k in keys],
            "healthAuthorityID": "vn.bluezone",
            "verificationPayload": certified["certificate"],
            "hmacKey": base64.b64encode(secret).decode(),
        },
    )
    return sent + n


def sightings_for(observations: Observations, run_key: bytes, tx_power_dbm: int) -> list[Sighting]:
    """Real sightings: RPI and AEM of the transmitter's key at the scan's interval."""
    metadata = Metadata(tx_power_dbm=tx_power_dbm).to_bytes()
    keys: dict[tuple[int, int], tuple[bytes, bytes]] = {}
    out = []
    for tx, when, level, strongest in zip(
        observations.transmitter.tolist(),
        observations.time.tolist(),
        observations.rssi.tolist(),
        observations.strongest.tolist(),
        strict=True,
    ):
        day = int(when // 86_400)
        derived = keys.get((tx, day))
        if derived is None:
            t = tek(run_key, tx, day)
            derived = keys[(tx, day)] = (derive_rpik(t), derive_aemk(t))
        rpik, aemk = derived
        identifier = rpi(rpik, int(when // 600))
        out.append(
            Sighting(
                identifier,
                encrypt_aem(aemk, identifier, metadata),
                level,
                when,
                max_rssi=strongest,
                count=ADVERTS_PER_SCAN,
            )
        )
    return out


def real_warnings(
    observations: Observations,
    server: ServerRun,
    risk: RiskConfig,
    clock: ScanClock,
    sync_phase: np.ndarray,
    config: ScenarioConfig,
    run_key: bytes,
) -> Warnings:
    """Match every device's sightings against the published keys, score, and time the warnings."""
    published = server.published_at()
    keys = [k for batch in server.batches for k in batch.keys]
    sightings = sightings_for(observations, run_key, config.tx_power_dbm)
    owner = {id(s): int(r) for s, r in zip(sightings, observations.receiver.tolist(), strict=True)}
    per_device: dict[int, list[Match]] = {}
    for found in match(keys, sightings):
        by_device: dict[int, list[Sighting]] = {}
        for s in found.sightings:
            by_device.setdefault(owner[id(s)], []).append(s)
        for device, heard in by_device.items():
            per_device.setdefault(device, []).append(
                Match(found.key, found.interval, tuple(heard), found.metadata)
            )
    devices, crossed = [], []
    for device, matches in sorted(per_device.items()):
        heard = [s.timestamp for m in matches for s in m.sightings]
        scan_times = clock.scans_between(device, min(heard) - 3600, max(heard) + 1).tolist()
        for batch_time in sorted({published[m.key.key_data] for m in matches}):
            known = [m for m in matches if published[m.key.key_data] <= batch_time]
            windows = exposure_windows(known, risk.mapping, scan_times=scan_times)
            if assess(windows, risk).close_contact:
                devices.append(device)
                crossed.append(batch_time)
                break
    device_arr = np.array(devices, dtype=np.int64)
    crossed_arr = np.array(crossed, dtype=np.float64)
    return Warnings(device_arr, crossed_arr, sync_after(crossed_arr, device_arr, sync_phase, config))

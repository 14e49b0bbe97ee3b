"""``bluezone beacon``: run, status, report, sync, selftest, calibrate, purge.

Errors are one line and a non-zero exit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import shutil
import signal
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from beacon.activity import ActivitySignal
from beacon.calibrate import ATTENUATION_AT_1M_DB
from beacon.clock import SystemClock
from beacon.errors import BeaconError
from beacon.report import Reporter, ReportError
from beacon.schedule import DEFAULT_METADATA, KeySchedule
from beacon.settings import RADIOS, BeaconSettings, SettingsError, resolve_radio, settings_help
from beacon.store import BeaconStore
from beacon.sync import Syncer
from beacon.warn import Notifier
from protocol import keyfile
from protocol.advert import Metadata
from protocol.errors import ProtocolError
from protocol.publish import UploadKey

__all__ = ["main"]

_ERRORS = (BeaconError, ProtocolError, OSError)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bluezone beacon",
        description="The proximity beacon daemon.",
        epilog=settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", type=Path, help="TOML settings (else BLUEZONE_BEACON_* variables)")
    parser.add_argument("--state-dir", type=Path, help="where the beacon keeps its state")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="advertise, scan, sync and warn, in the foreground (SIGTERM stops it)")
    run.add_argument("--radio", choices=RADIOS, help="radio backend (default: the radio setting)")
    status = sub.add_parser("status", help="keys, sightings, syncs and warnings")
    status.add_argument("--json", action="store_true")
    report = sub.add_parser("report", help="upload your own keys after a positive test (asks first)")
    report.add_argument(
        "--code", help="the code from the health official: 8 digits, 16 characters or the link"
    )
    report.add_argument("--yes", action="store_true", help="agree to the upload without asking")
    report.add_argument("--to-file", type=Path, help="write a key file for an official to upload instead")
    report.add_argument("--onset", type=date.fromisoformat, help="symptom onset (YYYY-MM-DD), with --to-file")
    sub.add_parser("sync", help="download new exports, match and warn, now")
    selftest = sub.add_parser(
        "selftest", help="check BlueZ, the adapter, permissions, the server and the keys"
    )
    selftest.add_argument("--json", action="store_true")
    calibrate = sub.add_parser(
        "calibrate", help="measure this beacon's TX power and RSSI correction against a reference at 1 m"
    )
    steps = calibrate.add_subparsers(dest="step", required=True, metavar="STEP")
    record = steps.add_parser("record", help="advertise and listen for a few minutes (run on both, at once)")
    record.add_argument("--seconds", type=float, default=180.0, help="how long (default 180)")
    record.add_argument("--out", type=Path, required=True, help="the session file to write")
    record.add_argument("--radio", choices=RADIOS, help="radio backend (default: the radio setting)")
    propose = steps.add_parser("propose", help="both values from the two session files")
    propose.add_argument("--ours", type=Path, required=True, help="this beacon's session file")
    propose.add_argument("--reference", type=Path, required=True, help="the reference's session file")
    propose.add_argument(
        "--reference-tx-power", type=float, required=True, help="its calibrated TX power, dBm"
    )
    propose.add_argument(
        "--reference-rssi-correction", type=float, required=True, help="its RSSI correction, dB"
    )
    propose.add_argument(
        "--attenuation-at-1m",
        type=float,
        default=ATTENUATION_AT_1M_DB,
        help=f"calibrated attenuation at 1 m (default {ATTENUATION_AT_1M_DB:g} dB)",
    )
    purge = sub.add_parser("purge", help="apply the 14-day retention now")
    purge.add_argument("--all", action="store_true", help="delete all of the beacon's data (needs --yes)")
    purge.add_argument("--yes", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = BeaconSettings.load(args.config)
        if args.state_dir:
            settings = settings._with({"state_dir": args.state_dir})
        return asyncio.run(_run(args, settings))
    except KeyboardInterrupt:
        return 130
    except _ERRORS as exc:
        print(f"bluezone beacon {args.command}: {exc}", file=sys.stderr)
        return 1


def _store(settings: BeaconSettings) -> BeaconStore:
    return BeaconStore(settings.state_dir, settings.key_file)


def _syncer(settings: BeaconSettings, store: BeaconStore) -> Syncer:
    if not settings.server_url:
        raise SettingsError("server_url is not set (BLUEZONE_BEACON_SERVER_URL or the config file)")
    return Syncer(
        store,
        server_url=settings.server_url,
        pinned_keys=settings.verification_keys(),
        notifier=Notifier(desktop=settings.desktop_notifications, hook=settings.warning_hook or None),
        rssi_correction_db=settings.rssi_correction_db,
        exports_url=settings.exports_url,
    )


async def _run(args: argparse.Namespace, settings: BeaconSettings) -> int:
    if args.command == "purge" and args.all:
        if not args.yes:
            raise SettingsError("purge --all deletes every key and sighting: add --yes to confirm")
        shutil.rmtree(settings.state_dir, ignore_errors=True)
        if settings.key_file:
            settings.key_file.unlink(missing_ok=True)
        print(f"deleted {settings.state_dir}")
        return 0
    if args.command == "selftest":
        from beacon import selftest

        checks = await selftest.run_selftest(settings)
        report = selftest.summary(checks)
        print(json.dumps(report) if args.json else selftest.render(checks))
        return 0 if report["ok"] else 1
    if args.command == "calibrate":
        return await _calibrate(args, settings)
    store = _store(settings)
    try:
        if args.command == "run":
            return await _daemon(settings, store, args.radio or settings.radio)
        if args.command == "status":
            return await _status(store, settings, args.json)
        if args.command == "sync":
            synced = await _syncer(settings, store).sync(SystemClock().now())
            print(f"{synced.files} new files, {synced.keys} keys, {synced.matches} matches")
            for line in synced.rejected:
                print(f"rejected {line}", file=sys.stderr)
            if synced.rejected_earlier:  # one line, not a fresh error per file every sync
                names = ", ".join(synced.rejected_earlier)
                print(f"rejected earlier, not checked again: {names}", file=sys.stderr)
            return 0
        if args.command == "purge":
            removed = store.purge(SystemClock().now())
            print("removed " + ", ".join(f"{n} {what}" for what, n in removed.items()))
            return 0
        if args.command == "report":
            return await _report(args, settings, store)
    finally:
        store.close()
    raise AssertionError(args.command)


def _consent(yes: bool) -> Any:
    def ask(past: list[UploadKey], test: dict[str, Any]) -> bool:
        print("These keys of yours will be uploaded (never the IDs you heard):")
        for key in past:
            day = datetime.fromtimestamp(key.rolling_start_number * 600, UTC).date()
            print(f"  the key of {day}")
        print("  today's key, up to now (a new key takes over at once)")
        if yes:
            return True
        if not sys.stdin.isatty():
            raise ReportError("no terminal to ask for consent: run with --yes to agree")
        return input("Upload them? [y/N] ").strip().lower() in ("y", "yes")

    return ask


def _metadata(settings: BeaconSettings) -> Metadata:
    """What this beacon's AEM carries: its calibrated TX power (confidence LOWEST: not Google's table)."""
    return replace(DEFAULT_METADATA, tx_power_dbm=settings.tx_power_dbm)


async def _report(args: argparse.Namespace, settings: BeaconSettings, store: BeaconStore) -> int:
    schedule = KeySchedule(store, rng=random.Random())
    now = SystemClock().now()
    if args.to_file:
        reporter = Reporter(store, schedule, server_url=settings.server_url or "https://localhost/")
        keys = reporter.keys_for_file(now, args.onset, _consent(args.yes))
        args.to_file.write_text(keyfile.dump(keys))
        print(f"wrote {len(keys)} keys to {args.to_file}; or show this QR code to the official:")
        try:
            import segno

            segno.make(keyfile.dump_qr(keys), error="l").terminal(compact=True)
        except ImportError:
            print(keyfile.dump_qr(keys))
        return 0
    if not settings.server_url:
        raise SettingsError("server_url is not set (BLUEZONE_BEACON_SERVER_URL or the config file)")
    reporter = Reporter(
        store, schedule, server_url=settings.server_url, health_authority_id=settings.health_authority_id
    )
    outcome = await reporter.report(args.code, consent=_consent(args.yes), now=now)
    print(f"uploaded {outcome.inserted} of {len(outcome.keys)} keys. Thank you.")
    for warning in outcome.warnings:
        print(f"server: {warning}")
    return 0


async def _adapter_state(settings: BeaconSettings) -> str:
    """What the radio is doing, for the health line; never fails the status command."""
    try:
        radio = resolve_radio(settings.radio)
    except SettingsError:
        return "no Bluetooth stack"
    if radio == "virtual":
        return "virtual"
    if radio != "bluez":
        return "unknown"
    from beacon.radio.bleak_scan import bluez_adapter_state

    try:
        state = await bluez_adapter_state(settings.adapter)
    except Exception as exc:
        return f"unreachable ({type(exc).__name__})"
    return ("powered" if state.powered else "off") + (", scanning" if state.discovering else "")


def _iso(when: float | None) -> str | None:
    return None if when is None else datetime.fromtimestamp(when, UTC).isoformat(timespec="seconds")


async def _status(store: BeaconStore, settings: BeaconSettings, as_json: bool) -> int:
    rssi_correction_db = settings.rssi_correction_db
    counts = store.counts()
    warnings = [w for w in store.warnings() if w["withdrawn"] is None]
    uploads = [{"id": i, "created": c, "state": s} for i, c, s, _ in store.uploads()]
    from beacon.sync import assess_store
    from protocol.risk import DEFAULT_RISK_CONFIG, RiskLevel

    assessment = assess_store(store, DEFAULT_RISK_CONFIG, SystemClock().now(), rssi_correction_db)
    low = [
        {"day": d.day, "normalized_minutes": round(d.normalized_minutes, 2)}
        for d in assessment.days
        if d.level == RiskLevel.LOW
    ]
    scans = store.scan_times()
    claimed = store.advertised_tx_power()  # what the daemon last put on the air, if it ran
    health = {
        "radio": settings.radio,
        "adapter": settings.adapter,
        "adapter_state": await _adapter_state(settings),
        "last_scan": _iso(scans[-1] if scans else None),
        "last_sync": _iso(store.last_sync()),
        "advertised_tx_power_dbm": settings.tx_power_dbm if claimed is None else claimed,
        "rssi_correction_db": rssi_correction_db,
    }
    info = {**health, "counts": counts, "warnings": warnings, "low_risk_days": low, "uploads": uploads}
    if as_json:
        print(json.dumps(info))
        return 0
    print(
        f"radio {health['radio']} on {health['adapter']}: {health['adapter_state']}; "
        f"advertising TX power {health['advertised_tx_power_dbm']} dBm, "
        f"RSSI correction {rssi_correction_db:+.1f} dB"
    )
    print(f"last scan: {health['last_scan'] or 'never'}; last sync: {health['last_sync'] or 'never'}")
    print(f"own keys: {counts['teks']}; scan windows: {counts['scans']}; sightings: {counts['sightings']}")
    print(f"export files processed: {counts['files']}; matched sightings: {counts['matches']}")
    if not warnings:
        print("no close-contact warning")
    for w in warnings:
        day = datetime.fromtimestamp(w["day"] * 86_400, UTC).date()
        minutes = w["weighted_minutes"]
        print(f"WARNING: close contact with a confirmed case on {day} ({minutes:.0f} weighted minutes)")
    for d in low:
        day = datetime.fromtimestamp(d["day"] * 86_400, UTC).date()
        print(f"low risk on {day} ({d['normalized_minutes']:.0f} weighted minutes): no warning")
    for u in uploads:
        print(f"upload {u['id']}: {u['state']}")
    return 0


async def _calibrate(args: argparse.Namespace, settings: BeaconSettings) -> int:
    from beacon import calibrate

    if args.step == "record":
        if not 10 <= args.seconds <= 3600:
            raise SettingsError("--seconds must be 10..3600")
        scanner, advertiser = _radio(settings, resolve_radio(args.radio or settings.radio))
        session = await calibrate.record(scanner, advertiser, SystemClock(), args.seconds)
        session.save(args.out)
        print(
            f"advertised {session.advertised.hex()[:8]}…; heard {len(session.heard)} beacons; wrote {args.out}"
        )
        return 0
    proposal = calibrate.propose(
        calibrate.Session.load(args.ours),
        calibrate.Session.load(args.reference),
        reference_tx_power_dbm=args.reference_tx_power,
        reference_rssi_correction_db=args.reference_rssi_correction,
        attenuation_at_1m_db=args.attenuation_at_1m,
    )
    print(proposal.render())
    return 0


def _radio(settings: BeaconSettings, radio: str) -> tuple[Any, Any]:
    """The Scanner and Advertiser façades over the chosen backends."""
    from beacon.radio import Advertiser, Scanner

    if radio == "virtual":  # alone on its own virtual air: for trying the daemon out
        import numpy as np

        from beacon.radio.channel import Channel
        from beacon.radio.virtual import VirtualAir

        me = VirtualAir(Channel(), np.random.default_rng()).attach("self", (0.0, 0.0))
        return Scanner(me.scanner), Advertiser(me.advertiser)
    from beacon.radio.bleak_scan import BleakOptions, BleakScanBackend

    scanner = Scanner(BleakScanBackend(BleakOptions(adapter=settings.adapter, passive=settings.passive_scan)))
    if radio == "bleak":
        from beacon.radio.base import ListenOnly

        return scanner, Advertiser(ListenOnly())
    from beacon.radio.bluez_adv import BlueZAdvertiser, BlueZOptions

    options = BlueZOptions(adapter=settings.adapter, tx_power_dbm=settings.tx_power_dbm)
    return scanner, Advertiser(BlueZAdvertiser(options))


async def _daemon(settings: BeaconSettings, store: BeaconStore, radio: str) -> int:
    from beacon.daemon import Daemon

    radio = resolve_radio(radio)
    scanner, advertiser = _radio(settings, radio)
    syncer = _syncer(settings, store) if settings.server_url else None
    rng = random.Random()
    daemon = Daemon(
        schedule=KeySchedule(store, rng=rng, metadata=_metadata(settings)),
        store=store,
        scanner=scanner,
        advertiser=advertiser,
        syncer=syncer,
        clock=SystemClock(),
        rng=rng,
        sync_interval_s=settings.sync_interval_minutes * 60,
        activity=(
            ActivitySignal(settings.server_url, settings.district, opted_in=settings.report_activity, rng=rng)
            if settings.server_url
            else None
        ),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await daemon.start()  # the radio's errors surface here, before anything is logged
    logging.getLogger("beacon").info("running on the %s radio; state in %s", radio, settings.state_dir)
    await daemon.run(stop)
    return 0

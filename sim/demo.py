"""``bluezone demo``: the protocol end to end, in one process, on a fixed seed.

Until the live demo (tracer server and beacons on the virtual air) lands, this walks the
contract every part shares: Alice's beacon derives RPIs and adverts, Bob's logs what it hears,
Alice tests positive and her keys are published in a signed export, Bob verifies the file,
matches and scores. Exit status 1 if the outcome is not the expected one.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Sequence

from protocol.advert import Metadata, advertising_data, parse_advertising_data
from protocol.export import DiagnosisKey, SigningKey, iter_export_keys, write_export
from protocol.keys import derive_aemk, derive_rpik, encrypt_aem, new_tek, rpis
from protocol.matching import Sighting, match
from protocol.risk import daily_summaries, exposure_windows, is_close_contact

DAY = 20_415  # 2025-11-22, a UTC day number
TX = Metadata(-15)


def run(seed: int) -> dict[str, object]:
    rng = random.Random(seed)
    tek = new_tek(rng.randbytes)
    start = DAY * 144
    rpi_list = rpis(derive_rpik(tek), start)
    aemk = derive_aemk(tek)

    def heard(interval: int, rssi: int, when: float) -> Sighting:
        rpi = rpi_list[interval - start]
        advert = advertising_data(rpi, encrypt_aem(aemk, rpi, TX.to_bytes()))
        got_rpi, got_aem = parse_advertising_data(advert)  # what Bob's radio hands up
        return Sighting(got_rpi, got_aem, rssi + rng.randint(-3, 3), when)

    # Day D, 12:00-12:25 UTC: Bob sits by Alice (about 1 m: -75 dBm); at 15:00 he walks past
    # Carol, who is not a case; at 17:00 he passes Alice for a single scan (-85 dBm).
    noon = DAY * 86_400 + 12 * 3600
    scans = [noon + k * 270.0 for k in range(6)] + [DAY * 86_400 + 17 * 3600.0]
    sightings = [heard(int(t // 600), -75, t) for t in scans[:6]]
    sightings.append(heard(int(scans[6] // 600), -85, scans[6]))
    sightings.append(Sighting(rng.randbytes(16), rng.randbytes(4), -70, DAY * 86_400 + 15 * 3600.0))

    signing = SigningKey.generate("452", "v1")
    export = write_export(
        [DiagnosisKey(tek, start, days_since_onset_of_symptoms=0)],
        start_timestamp=(DAY + 1) * 86_400,
        end_timestamp=(DAY + 1) * 86_400 + 3600,
        region="VN",
        signing_keys=[signing],
    )
    matches = match(iter_export_keys(export, signing.verification_key()), sightings)
    windows = exposure_windows(matches, scan_times=scans)
    summaries = daily_summaries(windows)
    return {
        "export_bytes": len(export),
        "matched_rpis": len(matches),
        "windows": len(windows),
        "weighted_minutes": [round(s.weighted_minutes, 1) for s in summaries],
        "warned": any(is_close_contact(s) for s in summaries),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bluezone demo", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    outcome = run(args.seed)
    if args.json:
        print(json.dumps(outcome))
    else:
        print(f"Alice's key published in a signed export of {outcome['export_bytes']} bytes")
        print(f"Bob matched {outcome['matched_rpis']} of her RPIs in {outcome['windows']} exposure windows")
        print(f"weighted minutes per day: {outcome['weighted_minutes']} (threshold 15)")
        print("Bob is warned of a close contact" if outcome["warned"] else "Bob is not warned")
    return 0 if outcome["warned"] else 1


if __name__ == "__main__":
    sys.exit(main())

"""beacon.radio.virtual: the channel model on the air, per-pair shadowing, rotating private addresses."""

from __future__ import annotations

import asyncio
import random
import statistics

import numpy as np

from beacon.radio.base import RawAdvert
from beacon.radio.channel import Channel, ChannelParams
from beacon.radio.virtual import VirtualAir, VirtualRadio
from protocol.advert import SERVICE_UUID, SERVICE_UUID16
from protocol.scans import SCAN_DURATION_S

from .conftest import T0

PAYLOAD = bytes(range(20))


def air(seed: int = 1, **params: float) -> VirtualAir:
    return VirtualAir(
        Channel(ChannelParams(**params)),
        np.random.default_rng(seed),
        address_rng=random.Random(seed).randbytes,
    )


def advertise(radio: VirtualRadio, data: bytes = PAYLOAD) -> None:
    asyncio.run(radio.advertiser.advertise(SERVICE_UUID16, data))


def window_means(a: VirtualAir, rx: VirtualRadio, windows: int, start: float = T0) -> list[float]:
    """The mean RSSI heard in each of ``windows`` scan windows, 300 s apart."""
    out = []
    for k in range(windows):
        heard = a.sample(rx, start + 300 * k)
        assert heard, "nothing heard in a window"
        out.append(statistics.fmean(r.rssi for r in heard))
    return out


def test_rssi_falls_with_distance_on_average() -> None:
    a = air(max_attenuation_db=1000)  # keep every sample: no truncation bias at 10 m
    rx = a.attach("rx", (0.0, 0.0))
    near, far = a.attach("near", (1.0, 0.0)), a.attach("far", (0.0, 10.0))
    samples: dict[str, list[int]] = {"near": [], "far": []}
    for k in range(300):
        for tx in (near, far):
            advertise(tx, tx.name.encode().ljust(20))
            a.new_encounter(rx, tx)  # average over pairs as well as over scans
        for report in a.sample(rx, T0 + 300 * k):
            samples[report.service_data[SERVICE_UUID].decode().strip()].append(report.rssi)
    mean_near, mean_far = statistics.fmean(samples["near"]), statistics.fmean(samples["far"])
    expected_gap = 10 * ChannelParams().exponent  # one decade of distance
    assert abs((mean_near - mean_far) - expected_gap) < 2.0
    assert abs(mean_near - Channel().mean_rssi(1.0, -15.0)) < 1.5


def test_an_obstruction_lowers_rssi_by_its_loss() -> None:
    def heard(loss: float) -> list[RawAdvert]:
        a = air(seed=4, max_attenuation_db=1000)
        rx, tx = a.attach("rx", (0.0, 0.0)), a.attach("tx", (2.0, 0.0))
        advertise(tx)
        if loss:
            a.set_obstruction(rx, tx, loss)
        return [r for k in range(40) for r in a.sample(rx, T0 + 300 * k)]

    clear, walled = heard(0.0), heard(15.0)
    assert len(clear) == len(walled) == 160
    assert [c.rssi - w.rssi for c, w in zip(clear, walled, strict=True)] == [15] * 160


def test_the_pair_offset_is_stable_across_windows_and_redrawn_by_new_encounter() -> None:
    a = air(seed=9, sigma_pair_db=12.0, sigma_scan_db=0.0, max_attenuation_db=1000)
    rx, tx = a.attach("rx", (0.0, 0.0)), a.attach("tx", (3.0, 0.0))
    advertise(tx)
    encounters = []
    for e in range(12):
        encounters.append(window_means(a, rx, 8, start=T0 + 86_400 * e))
        a.new_encounter(rx, tx)

    within = max(max(means) - min(means) for means in encounters)
    across = statistics.pstdev(statistics.fmean(means) for means in encounters)
    assert within < 4.0  # only the per-advert jitter (σ 1 dB, 4 adverts a window) and rounding
    assert across > 5.0  # a new shadowing per encounter (σ 12 dB here)


def test_each_advertise_rotates_to_a_new_non_resolvable_private_address() -> None:
    a = air(seed=2)
    rx, tx = a.attach("rx", (0.0, 0.0)), a.attach("tx", (1.0, 0.0))
    addresses = []
    for k in range(64):
        advertise(tx, bytes([k]) * 20)
        heard = {r.address for r in a.sample(rx, T0 + 300 * k)}
        assert len(heard) == 1  # one address per advertisement set
        addresses.append(heard.pop())

    assert len(set(addresses)) == 64
    for address in addresses:
        octets = address.split(":")
        assert len(octets) == 6 and all(len(o) == 2 for o in octets)
        assert int(octets[0], 16) >> 6 == 0b00, address  # non-resolvable private (Core Vol 6 B 1.3.2.2)


def test_reports_carry_the_senders_current_service_data_under_the_fd6f_uuid() -> None:
    a = air(seed=3)
    rx, tx = a.attach("rx", (0.0, 0.0)), a.attach("tx", (1.0, 0.0))
    first, second = b"\x11" * 20, b"\x22" * 20

    advertise(tx, first)
    before = a.sample(rx, T0)
    advertise(tx, second)
    after = a.sample(rx, T0 + 300)

    assert before and after
    assert all(r.service_data == {SERVICE_UUID: first} for r in before)
    assert all(r.service_data == {SERVICE_UUID: second} for r in after)
    assert f"0000{SERVICE_UUID16:04x}-0000-1000-8000-00805f9b34fb" == SERVICE_UUID
    assert all(T0 <= r.timestamp < T0 + SCAN_DURATION_S for r in before)  # inside the scan window


def test_a_radio_that_stopped_advertising_is_not_heard() -> None:
    a = air()
    rx, tx = a.attach("rx", (0.0, 0.0)), a.attach("tx", (1.0, 0.0))
    advertise(tx)
    asyncio.run(tx.advertiser.stop())
    assert a.sample(rx, T0) == []

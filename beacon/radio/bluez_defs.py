"""BlueZ D-Bus names the advertiser uses (``doc/org.bluez.LEAdvertisingManager.rst``,
``doc/org.bluez.LEAdvertisement.rst``), and what each error means for the user."""

from __future__ import annotations

__all__ = ["ADAPTER", "ADVERTISEMENT", "ADVERTISING_MANAGER", "BLUEZ", "ERROR_ADVICE", "PROPERTIES"]

BLUEZ = "org.bluez"
ADAPTER = "org.bluez.Adapter1"
ADVERTISING_MANAGER = "org.bluez.LEAdvertisingManager1"
ADVERTISEMENT = "org.bluez.LEAdvertisement1"
PROPERTIES = "org.freedesktop.DBus.Properties"

# D-Bus error name → (reason, advice). Reasons are beacon.radio.UnavailableReason values;
# "rejected" means the adapter is there but refused this advertisement.
ERROR_ADVICE: dict[str, tuple[str, str]] = {
    "org.freedesktop.DBus.Error.ServiceUnknown": (
        "no_bluez",
        "BlueZ is not running: install it (apt install bluez) and start bluetoothd",
    ),
    "org.freedesktop.DBus.Error.NameHasNoOwner": ("no_bluez", "BlueZ is not running: start bluetoothd"),
    "org.freedesktop.DBus.Error.UnknownObject": (
        "no_adapter",
        "no such Bluetooth adapter: check `bluetoothctl list`",
    ),
    "org.freedesktop.DBus.Error.UnknownMethod": (
        "unsupported",
        "this BlueZ has no LE advertising manager: upgrade BlueZ (5.48 or later)",
    ),
    "org.freedesktop.DBus.Error.AccessDenied": (
        "no_permission",
        "D-Bus refused access to BlueZ: add the user to the 'bluetooth' group and log in again",
    ),
    "org.bluez.Error.NotPermitted": (
        "no_permission",
        "BlueZ refused to advertise: add the user to the 'bluetooth' group, or too many advertisers",
    ),
    "org.bluez.Error.NotReady": (
        "powered_off",
        "the adapter is off: `bluetoothctl power on` (and check rfkill)",
    ),
    "org.bluez.Error.InvalidArguments": ("rejected", "BlueZ rejected the advertisement data"),
    "org.bluez.Error.InvalidLength": ("rejected", "the advertisement is too long for a legacy PDU"),
    "org.bluez.Error.AlreadyExists": ("rejected", "this advertisement is registered already"),
    "org.bluez.Error.Failed": ("rejected", "BlueZ could not start advertising (all instances busy?)"),
}

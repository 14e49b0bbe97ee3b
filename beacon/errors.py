"""One error tree for the beacon, rooted at :class:`BeaconError` (as ``protocol.errors`` is for
the protocol): the CLI turns any of them into one line and a non-zero exit.

    BeaconError
    ├── SettingsError   the TOML file or BLUEZONE_BEACON_* variables (also a ValueError)
    ├── StoreError      the state directory, its key, its schema
    ├── SyncError       the server or the index during a sync
    ├── ReportError     a report of one's own keys; nothing is lost, retry later
    └── RadioError      BlueZ, the adapter, advertising (RadioUnavailable, AdvertisingRejected)
"""

from __future__ import annotations

__all__ = ["BeaconError"]


class BeaconError(RuntimeError):
    """Something the beacon cannot do; the message says what to fix."""

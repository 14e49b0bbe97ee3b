"""The contract that beacon, tracer server and simulator share: pure GAEN protocol code.

Modules are the API, each named for a spec concept (``shared/spec/gaen.md``):

* :mod:`protocol.keys`     TEK → RPIK → RPI, AEMK → AEM (crypto spec v1.2)
* :mod:`protocol.advert`   the 0xFD6F advertisement and its metadata (Bluetooth spec v1.2)
* :mod:`protocol.export`   the Exposure Key Export file (zip, protobuf, ECDSA P-256)
* :mod:`protocol.publish`  the publish API's keys and their HMAC
* :mod:`protocol.keyfile`  the key file a case hands to an official
* :mod:`protocol.bluezone` the deployed Bluezone v2 ID scheme (not the default)
* :mod:`protocol.errors`   one error tree, rooted at :class:`ProtocolError`

Nothing here reads the clock, touches the network or the disk: callers pass time and randomness.
"""

from protocol.errors import ProtocolError

__all__ = ["ProtocolError"]

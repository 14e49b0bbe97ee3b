"""The beacon daemon: advertise rotating IDs, log what is heard, sync, match, warn, report.

Parts, each constructed by the caller and handed to :class:`beacon.daemon.Daemon`:
:mod:`beacon.schedule` (keys and rotation), :mod:`beacon.store` (SQLite state),
:mod:`beacon.radio` (scanner and advertiser façades over backends), :mod:`beacon.sync`
(exports → matches → warnings), :mod:`beacon.warn` and :mod:`beacon.report`.
Time is always passed in: :mod:`beacon.clock`.
"""

"""The tracer server: officials authorize cases, devices publish their keys, signed exports go out.

Behaves as Google's verification server and key server do (``shared/spec/gaen.md`` §4–5,
``shared/spec/server.md``) so GAEN clients fit unchanged. Built by :func:`tracer_server.app.create_app`
from one :class:`tracer_server.settings.Settings`; nothing is configured at import time.
"""

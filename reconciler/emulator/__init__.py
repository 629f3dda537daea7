"""An in-package emulator of the Omnidesk Channel API, implementing ``shared/api-contract.md`` exactly.

    contract the emulator's own tables of the contract (fields, regexes, defaults, POST fields, paging)
    core     Emulator: one tenant, its fault knobs, and ``handle()`` (every behaviour lives there)
    store    the tenant state and its on-disk form (atomic JSON snapshot + append-only journal)
    forms    request bodies: multipart/form-data, urlencoded, JSON
    server   the ASGI app, ``serve_in_thread`` (uvicorn in a daemon thread), ``EmulatorTransport``
"""
from __future__ import annotations

from reconciler.emulator.contract import ALL_PERMISSIONS
from reconciler.emulator.core import AUTH_MODES, GARBAGE_MODES, QUIRKS, Emulator
from reconciler.emulator.server import EmulatorTransport, serve_in_thread
from reconciler.errors import StateFileError

__all__ = [
    "ALL_PERMISSIONS",
    "AUTH_MODES",
    "GARBAGE_MODES",
    "QUIRKS",
    "Emulator",
    "EmulatorTransport",
    "StateFileError",
    "serve_in_thread",
]

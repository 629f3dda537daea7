"""An in-package emulator of the Omnidesk Channel API, implementing ``shared/api-contract.md`` exactly.

contract  the emulator's own tables of the contract (fields, regexes, defaults, POST fields, paging)
options   EmulatorOptions: the keys, the state file and the fault knobs an emulator starts with
core      Emulator: one tenant, its fault knobs, and ``handle()`` (every behaviour lives there)
routes    a request's call and channel id, its numbers, and the error answers (Refusal)
apikeys   which key a request carries, in which form, and what it may do
channels  a channel as a write is validated and as an answer shows it (quirks included)
messages  the inbound message call: a customer's message on a new or existing ticket
store     the tenant state and its on-disk form (atomic JSON snapshot + append-only journal)
forms     request bodies: multipart/form-data, urlencoded, JSON
server    the ASGI app, ``serve_in_thread`` (uvicorn in a daemon thread), ``EmulatorTransport``
outbound  agent replies delivered to the channels' endpoints (the sandbox), with their faults
sandbox   the page at / and the emulator's own calls (replies, deliveries)
"""

from __future__ import annotations

from reconciler.emulator.apikeys import AUTH_MODES
from reconciler.emulator.contract import ALL_PERMISSIONS
from reconciler.emulator.core import Emulator
from reconciler.emulator.options import GARBAGE_MODES, QUIRKS, EmulatorOptions
from reconciler.emulator.server import EmulatorTransport, serve_in_thread
from reconciler.errors import StateFileError

__all__ = [
    "ALL_PERMISSIONS",
    "AUTH_MODES",
    "GARBAGE_MODES",
    "QUIRKS",
    "Emulator",
    "EmulatorOptions",
    "EmulatorTransport",
    "StateFileError",
    "serve_in_thread",
]

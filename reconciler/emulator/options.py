"""``EmulatorOptions``: everything an emulator is started with, checked once.

The ``emulator`` command builds one from its options; Python callers pass one to ``Emulator``, or
any of its fields as keywords (``Emulator(error_rate=0.2, seed=1)``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from reconciler.emulator.apikeys import AUTH_MODES
from reconciler.emulator.contract import ALL_PERMISSIONS, MAX_ITEM_LIMIT
from reconciler.emulator.outbound import OutboundSettings

QUIRKS = (
    "no-paging",
    "create-without-id",
    "bools-as-strings",
    "bools-as-ints",
    "null-endpoint",
    "extra-fields",
    "duplicate-names",  # a server that does not enforce unique names: the planner must refuse to guess
    "no-item-total",  # list answers without itemTotal: the client reads until a short or empty page
)
GARBAGE_MODES = ("html", "truncated", "wrong-envelope", "error-200")


@dataclass(frozen=True)
class EmulatorOptions:
    """An emulator's keys, state file and fault knobs (``reconciler.emulator.core`` says what each does).

    ``api_keys``: key -> permissions; None is the key ``demo`` with every permission.
    """

    api_keys: dict[str, set[str]] | None = None
    state_path: str | os.PathLike[str] | None = None
    latency_ms: float = 0
    error_rate: float = 0.0
    rate_limit: int | None = None
    lose_create_responses: float = 0.0
    seed: int | None = None
    quirks: Iterable[str] = ()
    garbage: str | None = None
    before_request: Callable[[str, str, dict[str, str]], None] | None = None
    auth: str | None = None
    list_type: str = "list"
    max_item_limit: int = MAX_ITEM_LIMIT
    claimed_total: int | None = None
    body_padding: int = 0
    drip_ms: float = 0
    redirect_to: str | None = None
    outbound: OutboundSettings | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "quirks", frozenset(self.quirks))  # any iterable, read once
        for perms in (self.api_keys or {}).values():
            unknown = set(perms) - set(ALL_PERMISSIONS)
            if unknown:
                raise ValueError(f"unknown permission(s) {sorted(unknown)}; known: {', '.join(ALL_PERMISSIONS)}")
        quirks = set(self.quirks)
        if quirks - set(QUIRKS):
            raise ValueError(f"unknown quirk(s) {sorted(quirks - set(QUIRKS))}; known: {', '.join(QUIRKS)}")
        if self.garbage is not None and self.garbage not in GARBAGE_MODES:
            raise ValueError(f"unknown garbage mode {self.garbage!r}; known: {', '.join(GARBAGE_MODES)}")
        if self.auth is not None and self.auth not in AUTH_MODES:
            raise ValueError(f"unknown auth mode {self.auth!r}; known: {', '.join(AUTH_MODES)}")
        if self.max_item_limit < 1:
            raise ValueError("max_item_limit must be at least 1")

    def keys(self) -> dict[str, frozenset[str]]:
        """The accepted keys and their permissions."""
        keys = {"demo": set(ALL_PERMISSIONS)} if self.api_keys is None else self.api_keys
        return {key: frozenset(perms) for key, perms in keys.items()}

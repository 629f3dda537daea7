"""Field-level differences between one current and one desired channel.

Channels are matched by name first (see ``plan.py``); only then is one pair compared, so the diff
stays linear in the number of channels. DeepDiff over two whole channel lists would pair every
item with every other (quadratic); ``bench/run.py`` measures the difference.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.model import MANAGED_FIELDS


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: Any
    after: Any


def diff_fields(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[FieldChange, ...]:
    """The managed fields whose normalised values differ, in the contract's field order."""
    old = {name: before[name] for name in MANAGED_FIELDS}
    new = {name: after[name] for name in MANAGED_FIELDS}
    if old == new:  # the common case on a converged tenant: skip DeepDiff's setup cost
        return ()
    # imported here: a plan of a converged tenant never needs it, and importing it costs ~70 ms
    from deepdiff import DeepDiff

    changed = DeepDiff(old, new).affected_root_keys
    return tuple(FieldChange(n, old[n], new[n]) for n in MANAGED_FIELDS if n in changed)

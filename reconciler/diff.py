"""Field-level differences between one current and one desired channel.

Channels are matched by name first (see ``plan.py``); only then is one pair compared, so the diff
stays linear in the number of channels. DeepDiff over two whole channel lists would pair every
item with every other (quadratic); ``bench/run.py`` measures the difference. Both sides are
normalised (``model.normalize_fields``: defaults filled in, booleans parsed), so a pair's fields
compare with plain equality.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from reconciler.model import MANAGED_FIELDS


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: Any
    after: Any


def diff_fields(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[FieldChange, ...]:
    """The managed fields whose normalised values differ, in the contract's field order."""
    return tuple(FieldChange(n, before[n], after[n]) for n in MANAGED_FIELDS if before[n] != after[n])

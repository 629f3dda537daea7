"""Safety thresholds: the share of a tenant's custom channels one plan may update or delete.

The defaults (30% each, on tenants with at least ten custom channels) can be changed for the whole
file and per tenant, like octoDNS's per-zone thresholds; a tenant's value wins over the file's::

    safety: {max_update_share: 0.5, max_delete_share: 0.3}
    tenants:
      production:
        safety: {max_delete_share: 0.1}

The checks themselves live in ``checks.check_safety``; this module only says what the limits are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reconciler.model import ChannelsFile

MAX_UPDATE_SHARE = "max_update_share"
MAX_DELETE_SHARE = "max_delete_share"
KEYS = (MAX_UPDATE_SHARE, MAX_DELETE_SHARE)
MIN_CHANNELS = 10  # below this many custom channels on the tenant, no share is refused


@dataclass(frozen=True)
class Thresholds:
    """The largest share of the tenant's custom channels a plan may update, and delete."""

    max_update_share: float = 0.30
    max_delete_share: float = 0.30

    def overridden(self, overrides: Mapping[str, float] | None) -> Thresholds:
        """These thresholds with the keys ``overrides`` sets replaced (a file's, then a tenant's)."""
        if not overrides:
            return self
        return replace(self, **{k: float(v) for k, v in overrides.items() if k in KEYS})

    def to_data(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_data(cls, data: Mapping[str, Any] | None) -> Thresholds:
        return cls().overridden(safety_overrides(data))


DEFAULT_THRESHOLDS = Thresholds()


def safety_overrides(section: Any) -> dict[str, float]:
    """The thresholds a ``safety:`` mapping sets (the schema has checked it; anything else is ignored)."""
    if not isinstance(section, Mapping):
        return {}
    return {
        key: float(value)
        for key, value in section.items()
        if key in KEYS and isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1
    }


def thresholds_of(channels_file: ChannelsFile) -> Thresholds:
    """The thresholds a loaded file sets for the tenant it was loaded for: the tenant's, else the file's."""
    tenant = channels_file.tenants.get(channels_file.tenant) if channels_file.tenant else None
    return DEFAULT_THRESHOLDS.overridden(channels_file.safety).overridden(tenant.safety if tenant else None)

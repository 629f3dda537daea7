"""High-impact changes: what a plan does to agents and customers, named before its counts.

An endpoint whose host changes (replies go elsewhere), a signature turned off, a secret rotated
(the bridge must have the new one at once), a channel deleted, a channel taken out of quick
tickets. The plan's summary line, the Markdown comment and the JSON plan lead with them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reconciler.endpoints import endpoint_host

if TYPE_CHECKING:
    from reconciler.plan import Plan

ENDPOINT_HOST = "endpoint-host"
SIGNATURE_OFF = "signature-off"
SECRET_ROTATED = "secret-rotated"
DELETED = "deleted"
QUICK_TICKET_OFF = "quick-ticket-off"
SHOWN = 3  # the summary line names this many, then "and N more"


@dataclass(frozen=True)
class Impact:
    kind: str
    channel: str
    detail: str  # a phrase after the channel's name: "deleted", "endpoint host a.com -> b.com"

    def __str__(self) -> str:
        return f"{self.channel!r} {self.detail}"

    def to_data(self) -> dict[str, Any]:
        return {"kind": self.kind, "channel": self.channel, "detail": self.detail}


def impacts(plan: Plan) -> tuple[Impact, ...]:
    """The plan's high-impact changes, deletes first, in the plan's order."""
    from reconciler.plan import Delete, Update

    found: list[Impact] = []
    for change in plan.changes:
        if isinstance(change, Delete):
            found.append(Impact(DELETED, change.name, "deleted"))
            continue
        if not isinstance(change, Update):
            continue
        moved = {f.field: (f.before, f.after) for f in change.fields}
        if "custom_channel_endpoint" in moved:
            old, new = (endpoint_host(v) if isinstance(v, str) else "" for v in moved["custom_channel_endpoint"])
            if old and old != new:
                found.append(Impact(ENDPOINT_HOST, change.name, f"endpoint host {old} -> {new or '(none)'}"))
        if moved.get("include_signature") == (True, False):
            found.append(Impact(SIGNATURE_OFF, change.name, "signature turned off"))
        if change.secret is not None and change.secret.sends:
            secret = change.secret
            raised = secret.previous_version is not None and secret.version is not None
            versions = f" (secret_version {secret.previous_version} → {secret.version})" if raised else ""
            found.append(Impact(SECRET_ROTATED, change.name, "secret rotated" + versions))
        if moved.get("custom_channel_available_in_quick_ticket") == (True, False):
            found.append(Impact(QUICK_TICKET_OFF, change.name, "no longer available in quick tickets"))
    return tuple(found)


def impact_phrase(found: Sequence[Impact]) -> str:
    """'high impact: 'Old fax' deleted; 'SMS' signature turned off' ('' for none); SHOWN named, then a count."""
    if not found:
        return ""
    shown = "; ".join(str(i) for i in found[:SHOWN])
    more = len(found) - SHOWN
    return "high impact: " + shown + (f"; and {more} more" if more > 0 else "")

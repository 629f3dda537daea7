"""What every renderer shares: how one planned change reads (headline, field rows, values) and
what one tenant's outcome offers a report.

Used by ``render`` (the format table, text, JSON) and ``markdown`` (pull-request comments), so a
change is worded the same in a terminal and in a comment. Secrets show as ``(sensitive)``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

from reconciler.diff import FieldChange
from reconciler.endpoints import masked, masked_change
from reconciler.model import FIELDS, MANAGED_FIELDS, SECRET_FIELD, format_bool
from reconciler.plan import CREATE, DELETE, UPDATE, Change, Create, Delete, Plan, SecretAction, Update

SENSITIVE = "(sensitive)"
SYMBOL = {CREATE: "+", UPDATE: "~", DELETE: "-"}


class TenantOutcome(Protocol):
    """One tenant's part of a report (``multitenant.TenantPlan``): its plan, or the error that stopped it."""

    @property
    def name(self) -> str: ...
    @property
    def plan(self) -> Plan | None: ...
    @property
    def error(self) -> str | None: ...
    @property
    def warnings(self) -> tuple[str, ...]: ...
    @property
    def saved(self) -> str | None: ...
    @property
    def has_changes(self) -> bool: ...
    @property
    def failed(self) -> bool: ...


def report_summary(results: Sequence[TenantOutcome]) -> str:
    changed = sum(r.has_changes for r in results)
    failed = sum(r.failed for r in results)
    return f"{len(results)} tenant(s): {changed} with changes, {failed} failed"


def secret_of(change: Change) -> SecretAction | None:
    return change.secret if isinstance(change, (Create, Update)) else None


def show_value(value: Any) -> str:
    """A field value as the file would spell it: strings quoted, booleans lower-case."""
    if isinstance(value, bool):
        return format_bool(value)
    return json.dumps(value, ensure_ascii=False)


def shown_change(change: FieldChange) -> dict[str, str]:
    """A field change's before and after as shown: credentials in an endpoint masked, a changed one marked."""
    return {k: show_value(v) for k, v in masked_change(change.field, change.before, change.after).items()}


def describe_secret(secret: SecretAction) -> str:
    source = f" from ${{env:{secret.env_var}}}" if secret.env_var else ""
    if secret.sends:
        return f"{SENSITIVE} will be sent{source} ({secret.reason})"
    return f"{SENSITIVE} {secret.reason}"


def headline(change: Change, *, with_id: bool = True, with_calls: bool = False) -> str:
    ident = f" (id {change.channel_id})" if with_id and change.channel_id is not None else ""
    if isinstance(change, Update) and change.renamed_from:
        return f"rename {change.renamed_from!r} -> {change.name!r}{ident}"
    calls = f" ({change.describe_calls()})" if with_calls and len(change.calls()) > 1 else ""
    return f"{change.action} {change.name!r}{ident}{calls}"


def field_lines(change: Change) -> list[tuple[str, str]]:
    """(field, text) rows for one change: before -> after for updates; the values that are not
    defaults for creates, and for deletes (what is lost, so a reviewer sees it)."""
    rows: list[tuple[str, str]] = []
    if isinstance(change, Update):
        rows = [(f.field, "{before} -> {after}".format(**shown_change(f))) for f in change.fields]
    elif isinstance(change, (Create, Delete)):
        values = masked(change.before if isinstance(change, Delete) else change.after)
        rows = [
            (name, show_value(values[name]))
            for name in MANAGED_FIELDS
            if name != "name" and values[name] != FIELDS[name].default
        ]
    secret = secret_of(change)
    if secret is not None:
        rows.append((SECRET_FIELD, describe_secret(secret)))
    return rows


def calls_note(change: Change) -> str:
    """How a change goes on the wire, when that is more than one call."""
    return f" ({change.describe_calls()})" if len(change.calls()) > 1 else ""


def rotations(plan: Plan) -> list[str]:
    """One line per channel whose secret a plan sends to an existing channel: 'SMS': secret rotated: ..."""
    return [
        f"{c.name!r}: {c.secret.reason}" + (f" (sent from ${{env:{c.secret.env_var}}})" if c.secret.env_var else "")
        for c in plan.updates
        if c.secret is not None and c.secret.sends
    ]


def baselines_note(plan: Plan, shown: int = 10) -> str:
    """'' or the sentence naming the channels whose secret_version apply records without sending a secret."""
    if not plan.baselines:
        return ""
    names = ", ".join(f"{b.name!r} ({b.version})" for b in plan.baselines[:shown])
    more = len(plan.baselines) - shown
    return (
        f"No record of the secret_version last applied to {len(plan.baselines)} channel(s): apply records it "
        f"as it is and sends no secret (raise it to rotate): {names}" + (f" and {more} more" if more > 0 else "")
    )

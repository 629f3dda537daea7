"""The checks a plan must pass before apply writes anything: safety thresholds, secrets, freshness.

Each check is separate from computing the plan (``plan.py``) and raises a ``PlanError`` that
lists everything wrong at once, so one run tells the whole story.
"""
from __future__ import annotations

from typing import Iterable

from reconciler.errors import SecretMissingError, StalePlanError, UnsafePlanError
from reconciler.model import MANAGED_FIELDS, RemoteChannel
from reconciler.plan import Create, Plan

DELETE_THRESHOLD = 0.30  # share of the tenant's custom channels a plan may delete without --allow-deletes
DELETE_THRESHOLD_MIN_CHANNELS = 10


def check_secrets(plan: Plan) -> None:
    """Refuse, before any write, a plan that would send secrets whose variables are unset or empty."""
    if plan.missing_secrets:
        raise SecretMissingError({k: list(v) for k, v in plan.missing_secrets.items()})


def check_safety(plan: Plan, allow_deletes: int | None = None) -> None:
    """Refuse a plan that deletes too large a share of the tenant's custom channels.

    On tenants with at least ten custom channels, deleting more than 30% of them needs
    ``--allow-deletes N`` with N the exact number of deletes (a number, not a blanket yes).
    """
    deletes = len(plan.deletes)
    if allow_deletes is not None and deletes != allow_deletes:
        raise UnsafePlanError(
            f"--allow-deletes {allow_deletes} was given but the plan deletes {deletes} channel(s); "
            f"nothing was changed. Review the plan; if it is intended, pass --allow-deletes {deletes}"
        )
    if allow_deletes is not None or plan.custom_total < DELETE_THRESHOLD_MIN_CHANNELS:
        return
    if deletes > DELETE_THRESHOLD * plan.custom_total:
        raise UnsafePlanError(
            f"the plan deletes {deletes} of {plan.custom_total} custom channels "
            f"(more than {DELETE_THRESHOLD:.0%}); nothing was changed. If that is intended, "
            f"run again with --allow-deletes {deletes}"
        )


def check_fresh(plan: Plan, current: Iterable[RemoteChannel]) -> None:
    """Refuse a saved plan whose touched channels changed on the tenant since it was made.

    Channels the plan does not touch may change freely; a new channel taking a name the plan
    would create also makes it stale. Every stale channel is listed.
    """
    by_id = {c.id: c for c in current}
    names = {c.name: c for c in by_id.values()}
    stale: list[str] = []
    for change in plan.changes:
        if isinstance(change, Create):
            if change.name in names:
                stale.append(f"{change.name!r}: a channel with this name now exists (id {names[change.name].id})")
            continue
        now = by_id.get(change.channel_id)  # type: ignore[arg-type]
        if now is None:
            stale.append(f"{change.name!r}: channel {change.channel_id} no longer exists")
            continue
        before = change.before  # type: ignore[attr-defined]
        diffs = [
            f"{name} was {before.get(name)!r}, now {now.fields[name]!r}"
            for name in MANAGED_FIELDS
            if before.get(name) != now.fields[name]
        ]
        if diffs:
            label = getattr(change, "renamed_from", None) or change.name
            stale.append(f"{label!r} (id {now.id}) changed since the plan: " + "; ".join(diffs))
    if stale:
        raise StalePlanError("the saved plan is stale, nothing was changed; plan again", stale)

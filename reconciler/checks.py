"""The checks a plan must pass before apply writes anything: safety thresholds, secrets, freshness.

Each check is separate from computing the plan (``plan.py``) and raises a ``PlanError`` that
lists everything wrong at once, so one run tells the whole story.
"""
from __future__ import annotations

from typing import Iterable

from reconciler.endpoints import masked
from reconciler.errors import SecretMissingError, StalePlanError, UnsafePlanError
from reconciler.model import MANAGED_FIELDS, RemoteChannel
from reconciler.plan import Create, Plan
from reconciler.thresholds import DEFAULT_THRESHOLDS, MIN_CHANNELS, Thresholds


def check_secrets(plan: Plan) -> None:
    """Refuse, before any write, a plan that would send secrets whose variables are unset or empty."""
    if plan.missing_secrets:
        raise SecretMissingError({k: list(v) for k, v in plan.missing_secrets.items()})


def check_safety(plan: Plan, allow_deletes: int | None = None, *, allow_updates: int | None = None,
                 thresholds: Thresholds = DEFAULT_THRESHOLDS) -> None:
    """Refuse a plan that updates or deletes too large a share of the tenant's custom channels.

    On tenants with at least ten custom channels, updating more than ``max_update_share`` of them
    needs ``--allow-updates N``, deleting more than ``max_delete_share`` needs ``--allow-deletes N``,
    N the exact number (a number, not a blanket yes: a plan that grew since review is refused).
    Both are checked before raising, so one run names every count it needs.
    """
    found = [
        problem
        for problem in (
            _share_problem(plan, "updates", len(plan.updates), allow_updates, thresholds.max_update_share),
            _share_problem(plan, "deletes", len(plan.deletes), allow_deletes, thresholds.max_delete_share),
        )
        if problem is not None
    ]
    if not found:
        return
    reasons = " and ".join(reason for reason, _, _ in found)
    fixes = " ".join(fix for _, fix, _ in found)
    raise UnsafePlanError(reasons, fixes, exact=any(exact for _, _, exact in found))


def _share_problem(plan: Plan, option: str, count: int, allowed: int | None,
                   share: float) -> tuple[str, str, bool] | None:
    """(what is wrong, the option that allows it, whether a given count was wrong), or None."""
    flag = f"--allow-{option}"
    verb = option[:-1]
    if allowed is not None:
        if count == allowed:
            return None
        return f"{flag} {allowed} was given but the plan {option} {count} channel(s)", f"{flag} {count}", True
    if plan.custom_total < MIN_CHANNELS or count <= share * plan.custom_total:
        return None
    return (f"the plan {verb}s {count} of {plan.custom_total} custom channels (more than {share:.0%})",
            f"{flag} {count}", False)


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
        # a saved plan keeps an endpoint's credentials masked: compare (and show) both sides masked
        before, current = masked(change.before), masked(now.fields)  # type: ignore[attr-defined]
        diffs = [
            f"{name} was {before.get(name)!r}, now {current[name]!r}"
            for name in MANAGED_FIELDS
            if before.get(name) != current[name]
        ]
        if diffs:
            label = getattr(change, "renamed_from", None) or change.name
            stale.append(f"{label!r} (id {now.id}) changed since the plan: " + "; ".join(diffs))
    if stale:
        raise StalePlanError("the saved plan is stale, nothing was changed; plan again", stale)

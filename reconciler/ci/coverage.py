"""Is every change of a plan one that some reviewed plan showed?

When runs on the protected branch are cancelled or queued, the run that does go applies what the
branch says now, which may hold the changes of several merged requests. It may do so only if each
of its effects (a field of a channel set to a value, a secret sent, a channel deleted) was in the
reviewed plan of one of the requests merged since the last successful apply. Reviewed plans were
made against the tenant as it was then, so effects are compared, not whole changes: a create in a
reviewed plan covers the same field values of an update planned now, and the other way round.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from reconciler.ci.forge import Request
from reconciler.model import SECRET_FIELD
from reconciler.plan import Change, Create, Delete, Plan, Update

DELETED = "(deleted)"

Effect = tuple[str, str, str]  # channel name, field (or DELETED), the value as canonical JSON


def _value(value: object) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def effects_of(change: Change) -> Iterator[Effect]:
    """What ``change`` leaves on the tenant, field by field."""
    if isinstance(change, Delete):
        yield (change.name, DELETED, "")
        return
    if isinstance(change, Create):
        yield from ((change.name, name, _value(value)) for name, value in change.after.items())
    elif isinstance(change, Update):
        yield from ((change.name, f.field, _value(f.after)) for f in change.fields)
    secret = getattr(change, "secret", None)
    if secret is not None and secret.sends:  # a rotation to secret_version N is covered only by one to N
        sent = secret.env_var if secret.version is None else [secret.env_var, secret.version]
        yield (change.name, SECRET_FIELD, _value(sent))


def describe(effect: Effect) -> str:
    name, what, value = effect
    if what == DELETED:
        return f"delete {name!r}"
    if what == SECRET_FIELD:
        sent = json.loads(value)
        env_var, version = sent if isinstance(sent, list) else (sent, None)
        return (
            f"{name!r}: send its secret"
            + (f" (${{env:{env_var}}})" if env_var else "")
            + (f" as secret_version {version}" if version is not None else "")
        )
    return f"{name!r}: {what} = {value}"


@dataclass
class Coverage:
    """Which requests' reviewed plans cover the plan, and which effects none covers."""

    used: list[Request] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def covered(self) -> bool:
        return not self.missing


def check(plan: Plan, reviewed: Sequence[tuple[Request, Plan]]) -> Coverage:
    """Every effect of ``plan`` against the effects of the reviewed plans, in merge order: an effect is
    the change of the first request whose plan showed it (later plans show it too until it is applied)."""
    shown: dict[Effect, list[Request]] = {}
    for request, reviewed_plan in reviewed:
        for change in reviewed_plan.changes:
            for effect in effects_of(change):
                shown.setdefault(effect, []).append(request)
    coverage = Coverage()
    for change in plan.changes:
        for effect in effects_of(change):
            requests = shown.get(effect)
            if not requests:
                coverage.missing.append(describe(effect))
            elif requests[0] not in coverage.used:
                coverage.used.append(requests[0])
    coverage.used.sort(key=lambda r: r.number)
    return coverage

"""The checks a plan must pass before apply writes anything: one list, ``PLAN_CHECKS``, that ``Workflow`` runs.

A check is a small function of a ``CheckContext`` (the plan, the moment, the thresholds, the
counts allowed...) in the shape of octoDNS's ``process_plan``: it returns ``Finding``s, or raises
a ``PlanError`` leaf whose message says what is wrong and how to go on. ``Workflow`` runs the list
at four moments (``PLAN``: a plan is shown; ``SAVE``: it is saved; ``APPLY``: before asking and
writing; ``WRITE``: connected, just before the first write, with the tenant's channels at hand):

- at ``PLAN`` nothing is refused: a raised ``PlanError`` becomes a ``DENY`` finding ("apply will
  refuse this plan: ..."), and findings are shown (warnings, CI outputs, SARIF);
- at the other moments the first raised error stops the run, and a returned ``DENY`` finding is
  refused as ``PlanRefused`` (every one of them listed).

Adding a rule is one function appended to ``PLAN_CHECKS`` and a test (tests/test_registries.py shows
the shape). Each check is separate from computing the plan (``plan.py``) and lists everything it
finds wrong at once, so one run tells the whole story.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reconciler.endpoints import ENDPOINT_FIELD, masked
from reconciler.errors import PlanError, PlanRefused, SecretMissingError, StalePlanError, UnsafePlanError
from reconciler.model import MANAGED_FIELDS, RemoteChannel
from reconciler.plan import Create, Plan
from reconciler.policy import refuse_denied
from reconciler.thresholds import DEFAULT_THRESHOLDS, MIN_CHANNELS, Thresholds
from reconciler.wording import named

if TYPE_CHECKING:
    from reconciler.secrets import SecretDigests, Secrets

# The moments a check runs at (see the module's docstring).
PLAN, SAVE, APPLY, WRITE = "plan", "save", "apply", "write"
# A finding's severity: OFF (a rule switched off reports nothing), WARN (shown), DENY (apply refuses).
OFF, WARN, DENY = "off", "warn", "deny"
SEVERITIES = (OFF, WARN, DENY)
# The name of the secrets check's findings (a text plan lists unset secrets itself).
SECRETS = "secrets"


@dataclass(frozen=True)
class Finding:
    """One thing a check found: ``check`` names the check (or rule), ``channels`` the channels concerned."""

    check: str
    message: str
    severity: str = WARN
    channels: tuple[str, ...] = ()

    @property
    def denies(self) -> bool:
        return self.severity == DENY

    def warning(self) -> str:
        """The finding as a one-line warning: a denying one says that apply will refuse the plan."""
        return f"apply will refuse this plan: {self.message}" if self.denies else self.message


@dataclass(frozen=True)
class CheckContext:
    """What a check may look at. ``current`` reads the tenant's channels (only at ``WRITE``)."""

    plan: Plan
    moment: str
    thresholds: Thresholds = DEFAULT_THRESHOLDS
    secrets: Secrets | None = None  # the values apply would send (APPLY, WRITE)
    saved: bool = False  # the plan was read back from ``plan --out``
    allow_deletes: int | None = None
    allow_updates: int | None = None
    secrets_at_apply: bool = False  # SAVE: unset secrets are read from the apply's environment
    current: Callable[[], Sequence[RemoteChannel]] | None = None
    digests: SecretDigests | None = None  # a saved plan's digests (endpoint credentials planned against)
    allow_policy: Collection[str] = ()  # APPLY: the policy rules a reviewer accepted (--allow-policy RULE)


PlanCheck = Callable[[CheckContext], Sequence[Finding]]


def run_checks(context: CheckContext, checks: Sequence[PlanCheck] | None = None) -> tuple[Finding, ...]:
    """Run ``checks`` (default ``PLAN_CHECKS``) at ``context.moment``; the findings, or the first refusal.

    At ``PLAN`` a check's ``PlanError`` is turned into a ``DENY`` finding and every check runs; at
    any other moment it propagates, and ``DENY`` findings are refused together (``PlanRefused``).
    """
    found: list[Finding] = []
    for check in PLAN_CHECKS if checks is None else checks:
        try:
            found += [f for f in check(context) if f.severity != OFF]
        except PlanError as exc:
            if context.moment != PLAN:
                raise
            found.append(Finding(getattr(check, "__name__", "check"), exc.ahead(), DENY))
    denied = [f for f in found if f.denies]
    if denied and context.moment != PLAN:
        raise PlanRefused(denied)
    return tuple(found)


def policy_check(context: CheckContext) -> Sequence[Finding]:
    """The policy's findings (``policy.py``), kept in the plan: one at deny is refused (``PolicyDenied``,
    naming rule and channel) unless ``--allow-policy`` names its rule; at ``PLAN`` said ahead of time.
    The commands show every finding with its file and line themselves."""
    if context.moment in (PLAN, APPLY):
        refuse_denied(context.plan.findings, context.allow_policy)
    return []


def secrets_check(context: CheckContext) -> Sequence[Finding]:
    """Secrets the plan would send must be set: shown at ``PLAN`` (the apply may hold them), refused
    when saving (unless ``secrets_at_apply``) and applying."""
    plan = context.plan
    if context.moment == PLAN:
        return [
            Finding(
                SECRETS,
                f"${{env:{var}}} is not set here (needed by {', '.join(names)}); the apply must have it",
                WARN,
                tuple(names),
            )
            for var, names in plan.missing_secrets.items()
        ]
    if context.moment == SAVE and not context.secrets_at_apply:
        check_secrets(plan)
    if context.moment == APPLY and context.secrets is not None:
        context.secrets.require(plan)
    return []


def safety_check(context: CheckContext) -> Sequence[Finding]:
    """Updates and deletes within the thresholds the plan was made under, or exactly the counts allowed."""
    if context.moment in (PLAN, APPLY):
        check_safety(
            context.plan, context.allow_deletes, allow_updates=context.allow_updates, thresholds=context.thresholds
        )
    return []


def freshness_check(context: CheckContext) -> Sequence[Finding]:
    """A saved plan's channels must not have changed on the tenant since it was made."""
    if context.moment == WRITE and context.saved and context.current is not None:
        check_fresh(context.plan, context.current(), context.digests)
    return []


def check_secrets(plan: Plan) -> None:
    """Refuse, before any write, a plan that would send secrets whose variables are unset or empty."""
    if plan.missing_secrets:
        raise SecretMissingError({k: list(v) for k, v in plan.missing_secrets.items()})


def check_safety(
    plan: Plan,
    allow_deletes: int | None = None,
    *,
    allow_updates: int | None = None,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> None:
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


def _share_problem(
    plan: Plan, option: str, count: int, allowed: int | None, share: float
) -> tuple[str, str, bool] | None:
    """(what is wrong, the option that allows it, whether a given count was wrong), or None."""
    flag = named(f"allow_{option}")
    verb = option[:-1]
    if allowed is not None:
        if count == allowed:
            return None
        return f"{flag} {allowed} was given but the plan {option} {count} channel(s)", f"{flag} {count}", True
    if plan.custom_total < MIN_CHANNELS or count <= share * plan.custom_total:
        return None
    return (
        f"the plan {verb}s {count} of {plan.custom_total} custom channels (more than {share:.0%})",
        f"{flag} {count}",
        False,
    )


def check_fresh(plan: Plan, current: Iterable[RemoteChannel], digests: SecretDigests | None = None) -> None:
    """Refuse a saved plan whose touched channels changed on the tenant since it was made.

    Channels the plan does not touch may change freely; a new channel taking a name the plan
    would create also makes it stale. Every stale channel is listed. An endpoint's credentials
    are masked in the plan: ``digests`` tell whether one changed.
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
        before, fields_now = masked(change.before), masked(now.fields)  # type: ignore[attr-defined]
        diffs = [
            f"{name} was {before.get(name)!r}, now {fields_now[name]!r}"
            for name in MANAGED_FIELDS
            if before.get(name) != fields_now[name]
        ]
        endpoint = now.fields[ENDPOINT_FIELD]
        if not diffs and digests is not None and not digests.endpoint_unchanged(change.name, endpoint):
            diffs.append(f"a credential in {ENDPOINT_FIELD} changed (its value is not shown)")
        if diffs:
            label = getattr(change, "renamed_from", None) or change.name
            stale.append(f"{label!r} (id {now.id}) changed since the plan: " + "; ".join(diffs))
    if stale:
        raise StalePlanError("the saved plan is stale, nothing was changed; plan again", stale)


# The checks every plan goes through, in this order (the policy rules join this list).
PLAN_CHECKS: list[PlanCheck] = [policy_check, secrets_check, safety_check, freshness_check]

"""Partial plans: ``--only`` and ``--exclude`` keep the changes of some channels (OpenTofu's
-exclude, Terraform's -target).

A pattern is a case-sensitive ``fnmatch`` glob matched against the channel's name in the file or on
the tenant (a rename matches by either name). ``--only`` keeps the changes a pattern matches,
``--exclude`` then drops those one of its patterns matches. A pattern that matches no change of
the whole plan is an error naming it: a mistyped name must not look like "nothing to do". Over
every tenant (``plan --all-tenants``) each tenant's plan is cut alike, and a pattern is an error
only when it matches no change of any tenant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from reconciler.errors import UnmatchedPatternError
from reconciler.wording import named

if TYPE_CHECKING:  # plan.py imports Selection: the plan's types are only named here
    from reconciler.plan import Change, Plan

SHOWN_NAMES = 20  # a plan may hold hundreds of changes; the error names this many


@dataclass(frozen=True)
class Selection:
    """The patterns a partial plan was made with; empty ``only`` keeps every change."""

    only: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.only or self.exclude)

    def keeps(self, change: Change) -> bool:
        return self.keeps_names(_names(change))

    def keeps_names(self, names: Sequence[str]) -> bool:
        """Whether a channel known by ``names`` is selected."""
        if self.only and not any(_matches(pattern, names) for pattern in self.only):
            return False
        return not any(_matches(pattern, names) for pattern in self.exclude)

    def describe(self) -> str:
        """ "only 'web-*', 'fax'; excluding 'web-test'": how summaries name a partial plan."""
        parts = []
        if self.only:
            parts.append("only " + ", ".join(repr(p) for p in self.only))
        if self.exclude:
            parts.append("excluding " + ", ".join(repr(p) for p in self.exclude))
        return "; ".join(parts)

    def to_data(self) -> dict[str, Any]:
        return {"only": list(self.only), "exclude": list(self.exclude)}

    @classmethod
    def from_data(cls, data: Mapping[str, Any] | None) -> Selection | None:
        if data is None:
            return None
        return cls(tuple(data["only"]), tuple(data["exclude"]))


def _names(change: Change) -> tuple[str, ...]:
    renamed_from = getattr(change, "renamed_from", None)
    return (change.name,) if renamed_from is None else (change.name, renamed_from)


def _matches(pattern: str, names: Sequence[str]) -> bool:
    return any(fnmatchcase(name, pattern) for name in names)


Unmatched = tuple[tuple[str, str], ...]  # (option, pattern) pairs: ("--only", "web-*") in a command


def unmatched(plan: Plan, selection: Selection) -> Unmatched:
    """The patterns of ``selection`` that match no change of the whole ``plan``, as (option, pattern)."""
    return tuple(
        (option, pattern)
        for option, patterns in ((named("only"), selection.only), (named("exclude"), selection.exclude))
        for pattern in patterns
        if not any(_matches(pattern, _names(c)) for c in plan.changes)
    )


def select(plan: Plan, selection: Selection, *, strict: bool = True) -> Plan:
    """``plan`` cut to the changes ``selection`` keeps, marked partial; unset secrets and policy
    findings only of the channels kept (a partial apply writes no other channel, so another channel's
    finding must not block it; the whole plan still shows and enforces every finding).

    ``strict``: raise ``UnmatchedPatternError`` naming every pattern that matches no change of
    ``plan``; ``plan --all-tenants`` passes False and judges the patterns over every tenant instead.
    """
    if not selection:
        return plan
    missed = unmatched(plan, selection)
    if missed and strict:
        raise_unmatched(missed, [plan])
    kept = tuple(c for c in plan.changes if selection.keeps(c))
    kept_names = {name for c in kept for name in _names(c)}
    missing = {var: tuple(n for n in names if n in kept_names) for var, names in plan.missing_secrets.items()}
    return replace(
        plan,
        changes=kept,
        partial=selection,
        findings=tuple(f for f in plan.findings if f.channel in kept_names),
        missing_secrets=type(plan.missing_secrets)((k, v) for k, v in missing.items() if v),
        baselines=tuple(b for b in plan.baselines if selection.keeps_names((b.name,))),
    )


def raise_unmatched(missed: Unmatched, plans: Sequence[Plan]) -> None:
    """``UnmatchedPatternError`` for ``missed``, naming (some of) the changes ``plans`` do hold."""
    names = sorted({c.name for plan in plans for c in plan.changes})
    raise UnmatchedPatternError(missed, names[:SHOWN_NAMES], len(names))

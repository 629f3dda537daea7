"""``ignore:``: the tenant's custom channels a channels file does not manage, by name or glob pattern.

Patterns are ``fnmatch`` globs (``*``, ``?``, ``[seq]``), matched case-sensitively against the
channel's name, at the top of the file and per tenant (``tenants: {prod: {ignore: [...]}}``); a
view of the file for a tenant ignores both lists. An ignored channel is outside the file: it is
taken out of the tenant's channels once, right after they are read, so it is never planned, never
pruned, never exported, imported or cloned, and never listed as "not managed here". A channel of the
file that an ignore pattern matches is a config error: it cannot be both managed and ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from fnmatch import fnmatchcase
from typing import Any, Protocol

from reconciler.errors import Problem
from reconciler.model import ChannelsFile, DesiredChannel, RemoteChannel, Tenant

PathT = tuple[str | int, ...]


class _Located(Protocol):
    """What the loader knows about the parsed file: its data and where each value is written."""

    data: dict[str, Any]

    def at(self, path: PathT, *, key: bool = False) -> tuple[int | None, int | None]: ...

    def problem(self, path: PathT, message: str, *, key: bool = False) -> Problem: ...


def patterns_in(section: Any) -> tuple[str, ...]:
    """The ``ignore:`` list of a mapping (the file's top or one tenant), as written; () when absent."""
    raw = section.get("ignore") if isinstance(section, Mapping) else None
    return tuple(p for p in raw if isinstance(p, str) and p) if isinstance(raw, list) else ()


def ignore_for(top: Sequence[str], tenant: Tenant | None) -> tuple[str, ...]:
    """The patterns a view of the file ignores: the file's own, then its tenant's."""
    own = tenant.ignore if tenant is not None else ()
    return tuple(dict.fromkeys([*top, *own]))


def view_ignore(channels_file: ChannelsFile) -> tuple[str, ...]:
    """The patterns of a loaded view (for its tenant, when it was loaded for one)."""
    tenant = channels_file.tenants.get(channels_file.tenant) if channels_file.tenant else None
    return ignore_for(channels_file.ignore, tenant)


def matching_pattern(name: str, patterns: Iterable[str]) -> str | None:
    """The first pattern that ignores ``name``, or None."""
    return next((p for p in patterns if fnmatchcase(name, p)), None)


def without_ignored(channels: Iterable[RemoteChannel], patterns: Sequence[str]) -> list[RemoteChannel]:
    """The tenant's channels minus the ignored custom ones (built-in channels are never managed anyway)."""
    channels = list(channels)
    if not patterns:
        return channels
    return [c for c in channels if not c.is_custom or matching_pattern(c.name, patterns) is None]


def ignore_problems(parsed: _Located, tenant: str | None, channels: Sequence[DesiredChannel]) -> list[Problem]:
    """A channel of the view whose name or previous name an ignore pattern of the view matches."""
    top = patterns_in(parsed.data)
    section = parsed.data.get("tenants")
    own = patterns_in(section.get(tenant)) if tenant is not None and isinstance(section, Mapping) else ()
    where = {p: ("ignore", i) for i, p in enumerate(top)}
    for i, p in enumerate(own):
        where.setdefault(p, ("tenants", tenant, "ignore", i))  # type: ignore[arg-type]
    if not where:
        return []
    raw = parsed.data.get("channels")
    index_at_line = {parsed.at(("channels", i))[0]: i for i in range(len(raw) if isinstance(raw, list) else 0)}
    problems: list[Problem] = []
    for channel in channels:
        index = index_at_line.get(channel.line)
        if index is None:
            continue
        names: list[tuple[tuple[str | int, ...], str, str]] = [(("channels", index, "name"), "name", channel.name)]
        names += [
            (("channels", index, "previous_names", j), "previous name", old)
            for j, old in enumerate(channel.previous_names)
        ]
        for path, kind, name in names:
            if "${" in name:  # a ${var:...} left as is in a view without a tenant; tenant views check it
                continue
            pattern = matching_pattern(name, where)
            if pattern is not None:
                line, _ = parsed.at(where[pattern])
                source = ".".join(str(p) for p in where[pattern][:-1])
                problems.append(
                    parsed.problem(
                        path,
                        (
                            f"the {kind} {name!r} matches the ignore pattern {pattern!r} ({source}, line {line}): "
                            "a channel cannot be both managed and ignored; remove the channel or change the pattern"
                        ),
                    )
                )
    return problems

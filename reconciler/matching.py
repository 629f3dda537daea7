"""The first step of a plan: which of the tenant's channels each channel of the file is.

A file's channel is the tenant's custom channel of the same name, else the one of a previous
name (a rename); built-in channels are never matched. Every ambiguity is recorded, so that the
plan reports them all at once (``ConflictError``): two channels of one name, a name a built-in
channel holds, two previous names that both exist, a rename onto a name that exists.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from reconciler.model import DesiredChannel, RemoteChannel


@dataclass
class TenantChannels:
    """The tenant's channels by name, and the conflicts found while matching against them."""

    custom: dict[str, list[RemoteChannel]]
    builtin: dict[str, RemoteChannel]
    conflicts: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, current: Iterable[RemoteChannel]) -> TenantChannels:
        custom: dict[str, list[RemoteChannel]] = {}
        builtin: dict[str, RemoteChannel] = {}
        for channel in current:
            if channel.is_custom:
                custom.setdefault(channel.name, []).append(channel)
            else:
                builtin.setdefault(channel.name, channel)
        return cls(custom, builtin)

    @property
    def custom_total(self) -> int:
        return sum(len(channels) for channels in self.custom.values())

    def single(self, name: str) -> RemoteChannel | None:
        """The one custom channel called ``name``; several are a conflict (recorded), none is None."""
        found = self.custom.get(name, [])
        if len(found) > 1:
            ids = ", ".join(str(c.id) for c in found)
            self.conflicts.append(
                f"the tenant has {len(found)} custom channels named {name!r} (ids {ids}); "
                "rename or delete all but one in Omnidesk, then plan again"
            )
            return None
        return found[0] if found else None

    def unclaimed(self, claimed: set[int]) -> list[RemoteChannel]:
        """The custom channels no channel of the file matched, in the tenant's order."""
        return [c for channels in self.custom.values() for c in channels if c.id not in claimed]


@dataclass(frozen=True)
class Match:
    """A channel of the file and the tenant's channel it is (None: a new one), renamed from a previous name."""

    want: DesiredChannel
    have: RemoteChannel | None = None
    renamed_from: str | None = None


def match(want: DesiredChannel, tenant: TenantChannels) -> Match | None:
    """The tenant's channel ``want`` is; None when matching it is a conflict (recorded in ``tenant``)."""
    if want.name in tenant.builtin:
        tenant.conflicts.append(
            f"{want.name!r} is the name of a built-in channel "
            f"(type {tenant.builtin[want.name].type}); choose another name"
        )
        return None
    have = tenant.single(want.name)
    if have is None and want.name not in tenant.custom:
        olds = [(old, tenant.single(old)) for old in want.previous_names if old in tenant.custom]
        found = [(old, channel) for old, channel in olds if channel is not None]
        if len(found) > 1:
            names = ", ".join(repr(o) for o, _ in found)
            tenant.conflicts.append(
                f"{want.name!r}: several of its previous_names exist on the tenant ({names}); keep only one of them"
            )
            return None
        return Match(want, found[0][1], found[0][0]) if found else Match(want)
    if have is None:
        return None  # duplicate names: recorded by single()
    taken = [old for old in want.previous_names if old in tenant.custom]
    if taken:
        tenant.conflicts.append(
            f"{want.name!r} and its previous name {taken[0]!r} both exist on the tenant: "
            "a rename onto an existing name; delete one of them or drop it from previous_names"
        )
        return None
    return Match(want, have)

"""The plan: what would change on a tenant, as pure, sorted, immutable, JSON-safe data.

Computing a plan never writes. Safety checks (``check_safety``, ``check_secrets``, ``check_fresh``)
are separate functions, and rendering lives in ``render.py``.

Secret rule (documented in the README): ``custom_channel_secret`` is write-only on the server, so it
can never be compared. It is sent when a channel is created, and on an existing channel only when
``--rotate-secrets`` is given; otherwise the server's secret is kept and nothing is sent for it.
A plan holds no secret values: a saved plan stores a digest, and ``apply`` reads the value from the
environment again and checks it against that digest.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from reconciler import __version__
from reconciler.diff import FieldChange, diff_fields
from reconciler.errors import ConflictError, SecretMissingError, StalePlanError, UnsafePlanError
from reconciler.model import FIELDS, MANAGED_FIELDS, DesiredChannel, RemoteChannel

CREATE = "create"
UPDATE = "update"
DELETE = "delete"
# Deletes first so names are freed before a create or rename reuses them.
ACTION_ORDER = {DELETE: 0, UPDATE: 1, CREATE: 2}

PLAN_FORMAT_VERSION = 1
DELETE_THRESHOLD = 0.30  # share of the tenant's custom channels a plan may delete without --allow-deletes
DELETE_THRESHOLD_MIN_CHANNELS = 10

SECRET_SEND = "send"
SECRET_KEEP = "keep"


@dataclass(frozen=True)
class SecretAction:
    """What happens to a channel's secret; never holds the value."""

    action: str  # SECRET_SEND | SECRET_KEEP
    reason: str
    env_var: str | None = None
    digest: str | None = None  # of the value to send; None when it is not set (see missing_secrets)


@dataclass(frozen=True)
class Change:
    action: str
    name: str  # the channel's name after the change (for a delete: its current name)
    channel_id: int | None = None
    before: Mapping[str, Any] | None = None  # the tenant's fields this was planned against
    after: Mapping[str, Any] | None = None  # the fields wanted
    fields: tuple[FieldChange, ...] = ()
    secret: SecretAction | None = None
    renamed_from: str | None = None

    @property
    def sort_key(self) -> tuple[int, str]:
        return (ACTION_ORDER[self.action], self.name)

    def payload(self) -> dict[str, Any]:
        """The fields to send (without the secret): PUT is partial, a create leaves defaults out."""
        if self.action == UPDATE:
            return {fc.field: fc.after for fc in self.fields}
        if self.action == CREATE:
            assert self.after is not None
            return {
                name: value
                for name, value in self.after.items()
                if name == "name" or value != FIELDS[name].default
            }
        return {}


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]
    unmanaged: tuple[str, ...] = ()  # custom channels not in the file, left alone (prune off)
    custom_total: int = 0  # custom channels on the tenant when planned
    prune: bool = False
    rotate_secrets: bool = False
    target: str = ""
    missing_secrets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # env var -> channels

    @property
    def creates(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.action == CREATE)

    @property
    def updates(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.action == UPDATE)

    @property
    def deletes(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.action == DELETE)

    @property
    def is_empty(self) -> bool:
        return not self.changes

    def summary(self) -> str:
        return (
            f"Plan: {len(self.creates)} to create, {len(self.updates)} to update, "
            f"{len(self.deletes)} to delete"
        )

    def to_data(self) -> dict[str, Any]:
        """JSON-safe, deterministic, secret-free; ``from_data`` reads it back."""
        return {
            "format_version": PLAN_FORMAT_VERSION,
            "tool_version": __version__,
            "target": self.target,
            "prune": self.prune,
            "rotate_secrets": self.rotate_secrets,
            "custom_total": self.custom_total,
            "summary": {
                "create": len(self.creates),
                "update": len(self.updates),
                "delete": len(self.deletes),
            },
            "changes": [_change_to_data(c) for c in self.changes],
            "unmanaged": list(self.unmanaged),
            "missing_secrets": {k: list(v) for k, v in sorted(self.missing_secrets.items())},
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> "Plan":
        return cls(
            changes=tuple(_change_from_data(c) for c in data["changes"]),
            unmanaged=tuple(data.get("unmanaged", ())),
            custom_total=int(data.get("custom_total", 0)),
            prune=bool(data.get("prune", False)),
            rotate_secrets=bool(data.get("rotate_secrets", False)),
            target=str(data.get("target", "")),
            missing_secrets={k: tuple(v) for k, v in data.get("missing_secrets", {}).items()},
        )

    def digest(self) -> str:
        """A hash of the plan's data: a saved plan is applied only if it still hashes the same."""
        return "sha256:" + hashlib.sha256(canonical_json(self.to_data()).encode()).hexdigest()


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def secret_digest(channel: str, value: str) -> str:
    """A digest of a secret, bound to its channel, to recognise the same value at apply time."""
    return "sha256:" + hashlib.sha256(f"omnidesk-channels\0{channel}\0{value}".encode()).hexdigest()


def _change_to_data(change: Change) -> dict[str, Any]:
    data: dict[str, Any] = {"action": change.action, "name": change.name}
    if change.channel_id is not None:
        data["id"] = change.channel_id
    if change.renamed_from is not None:
        data["renamed_from"] = change.renamed_from
    if change.before is not None:
        data["before"] = dict(change.before)
    if change.after is not None:
        data["after"] = dict(change.after)
    if change.fields:
        data["fields"] = [{"field": f.field, "before": f.before, "after": f.after} for f in change.fields]
    if change.secret is not None:
        secret: dict[str, Any] = {"action": change.secret.action, "reason": change.secret.reason}
        if change.secret.env_var:
            secret["env_var"] = change.secret.env_var
        if change.secret.digest:
            secret["digest"] = change.secret.digest
        data["secret"] = secret
    return data


def _change_from_data(data: Mapping[str, Any]) -> Change:
    secret = data.get("secret")
    return Change(
        action=data["action"],
        name=data["name"],
        channel_id=data.get("id"),
        before=data.get("before"),
        after=data.get("after"),
        fields=tuple(FieldChange(f["field"], f["before"], f["after"]) for f in data.get("fields", ())),
        secret=SecretAction(
            action=secret["action"],
            reason=secret["reason"],
            env_var=secret.get("env_var"),
            digest=secret.get("digest"),
        )
        if secret
        else None,
        renamed_from=data.get("renamed_from"),
    )


def make_plan(
    desired: Iterable[DesiredChannel],
    current: Iterable[RemoteChannel],
    *,
    prune: bool = False,
    rotate_secrets: bool = False,
    target: str = "",
) -> Plan:
    """Compare the file's channels with the tenant's and say what would change. Writes nothing.

    Only ``type: custom`` channels are ever matched, updated or deleted. Raises ``ConflictError``
    when the tenant's state is ambiguous (duplicate names, a name held by a built-in channel, a
    rename onto a taken name), listing every conflict at once.
    """
    custom: dict[str, list[RemoteChannel]] = {}
    builtin: dict[str, RemoteChannel] = {}
    for channel in current:
        if channel.is_custom:
            custom.setdefault(channel.name, []).append(channel)
        else:
            builtin.setdefault(channel.name, channel)

    conflicts: list[str] = []
    changes: list[Change] = []
    missing: dict[str, list[str]] = {}
    claimed: set[int] = set()

    def single(name: str) -> RemoteChannel | None:
        found = custom.get(name, [])
        if len(found) > 1:
            ids = ", ".join(str(c.id) for c in found)
            conflicts.append(
                f"the tenant has {len(found)} custom channels named {name!r} (ids {ids}); "
                "rename or delete all but one in Omnidesk, then plan again"
            )
            return None
        return found[0] if found else None

    for want in desired:
        if want.name in builtin:
            conflicts.append(
                f"{want.name!r} is the name of a built-in channel "
                f"(type {builtin[want.name].type}); choose another name"
            )
            continue
        have = single(want.name)
        renamed_from = None
        if have is None and want.name not in custom:
            olds = [(old, single(old)) for old in want.previous_names if old in custom]
            olds = [(old, ch) for old, ch in olds if ch is not None]
            if len(olds) > 1:
                names = ", ".join(repr(o) for o, _ in olds)
                conflicts.append(
                    f"{want.name!r}: several of its previous_names exist on the tenant ({names}); "
                    "keep only one of them"
                )
                continue
            if olds:
                renamed_from, have = olds[0]
        elif have is None:
            continue  # duplicate names: reported by single()
        else:
            taken = [old for old in want.previous_names if old in custom]
            if taken:
                conflicts.append(
                    f"{want.name!r} and its previous name {taken[0]!r} both exist on the tenant: "
                    "a rename onto an existing name; delete one of them or drop it from previous_names"
                )
                continue

        if have is None:
            secret = _secret_for_send(want, "new channel", missing)
            changes.append(Change(CREATE, want.name, after=dict(want.fields), secret=secret))
            continue

        claimed.add(have.id)
        fields = diff_fields(have.fields, want.fields)
        secret = None
        if want.secret is not None:
            if rotate_secrets:
                secret = _secret_for_send(want, "rotation: --rotate-secrets", missing)
            elif fields:
                secret = SecretAction(
                    SECRET_KEEP,
                    "write-only on the server: kept as it is (pass --rotate-secrets to send it)",
                    env_var=want.secret.env_var,
                )
        if fields or (secret is not None and secret.action == SECRET_SEND):
            changes.append(
                Change(
                    UPDATE,
                    want.name,
                    channel_id=have.id,
                    before=dict(have.fields),
                    after=dict(want.fields),
                    fields=fields,
                    secret=secret,
                    renamed_from=renamed_from,
                )
            )

    if conflicts:
        raise ConflictError(
            "the tenant's channels cannot be matched to the file unambiguously (nothing was changed):\n"
            + "\n".join(f"  - {c}" for c in conflicts)
        )

    unmanaged: list[str] = []
    custom_total = 0
    for name, channels in custom.items():
        for channel in channels:
            custom_total += 1
            if channel.id in claimed:
                continue
            if prune:
                changes.append(
                    Change(DELETE, channel.name, channel_id=channel.id, before=dict(channel.fields))
                )
            else:
                unmanaged.append(name)

    changes.sort(key=lambda c: (c.sort_key, c.channel_id or 0))
    return Plan(
        changes=tuple(changes),
        unmanaged=tuple(sorted(unmanaged)),
        custom_total=custom_total,
        prune=prune,
        rotate_secrets=rotate_secrets,
        target=target,
        missing_secrets={k: tuple(sorted(v)) for k, v in sorted(missing.items())},
    )


def _secret_for_send(
    want: DesiredChannel, reason: str, missing: dict[str, list[str]]
) -> SecretAction | None:
    if want.secret is None:
        return None
    if want.secret.value is None:
        missing.setdefault(want.secret.env_var or "?", []).append(want.name)
        return SecretAction(SECRET_SEND, reason, env_var=want.secret.env_var)
    return SecretAction(
        SECRET_SEND,
        reason,
        env_var=want.secret.env_var,
        digest=secret_digest(want.name, want.secret.value),
    )


def check_secrets(plan: Plan) -> None:
    """Refuse, before any write, a plan that would send secrets whose variables are unset."""
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
    would create also makes it stale.
    """
    by_id = {c.id: c for c in current}
    names = {c.name: c for c in by_id.values()}
    stale: list[str] = []
    for change in plan.changes:
        if change.action == CREATE:
            if change.name in names:
                stale.append(f"{change.name!r}: a channel with this name now exists (id {names[change.name].id})")
            continue
        now = by_id.get(change.channel_id or -1)
        if now is None:
            stale.append(f"{change.name!r}: channel {change.channel_id} no longer exists")
            continue
        before = change.before or {}
        diffs = [
            f"{name} was {before.get(name)!r}, now {now.fields[name]!r}"
            for name in MANAGED_FIELDS
            if before.get(name) != now.fields[name]
        ]
        if diffs:
            label = change.renamed_from or change.name
            stale.append(f"{label!r} (id {now.id}) changed since the plan: " + "; ".join(diffs))
    if stale:
        raise StalePlanError(
            "the saved plan is stale, nothing was changed; plan again:\n"
            + "\n".join(f"  - {s}" for s in stale)
        )

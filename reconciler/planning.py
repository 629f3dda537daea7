"""Making a plan: the file's channels against the tenant's, in three steps. Writes nothing.

1. match (``matching.py``): which of the tenant's channels each of the file's is, or none (a create);
2. change (``change``): what changes for each match: a create, an update, or nothing;
3. prune (``prune``): what becomes of the tenant's custom channels no match claimed: deletes with
   ``prune``, else their names (unmanaged).

Secret rule (see ``plan.py``): a secret is sent to a new channel, and to an existing one only with
``rotate_secrets`` or a ``secret_version`` above the one recorded (``secretversions.py``: none recorded
is a baseline, never a rotation; a lower one is refused); a secret that would be sent but is unset is
recorded in the plan's ``missing_secrets``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from reconciler.diff import diff_fields
from reconciler.errors import ConfigError, ConflictError, Problem
from reconciler.matching import Match, TenantChannels, match
from reconciler.model import Baseline, DesiredChannel, Recorded, RemoteChannel
from reconciler.plan import (
    SECRET_KEEP,
    SECRET_SEND,
    Change,
    Create,
    Delete,
    FrozenMap,
    Plan,
    SecretAction,
    Update,
)
from reconciler.wording import named


def make_plan(
    desired: Iterable[DesiredChannel],
    current: Iterable[RemoteChannel],
    *,
    prune: bool = False,
    rotate_secrets: bool = False,
    target: str = "",
    versions: Recorded | None = None,
) -> Plan:
    """Compare the file's channels with the tenant's and say what would change. Writes nothing.

    Only ``type: custom`` channels are ever matched, updated or deleted. Raises ``ConflictError``
    when the tenant's state is ambiguous (duplicate names, a name held by a built-in channel, a
    rename onto a taken name), listing every conflict at once; ``ConfigError`` when a channel's
    ``secret_version`` is below the one ``versions`` (the tenant's record) holds.
    """
    tenant = TenantChannels.of(current)
    changes: list[Change] = []
    missing: dict[str, list[str]] = {}
    claimed: set[int] = set()
    secrets = _Versions(versions, target)
    for want in desired:
        matched = match(want, tenant)
        if matched is None:
            continue
        if matched.have is not None:
            claimed.add(matched.have.id)
        made = change(matched, rotate_secrets=rotate_secrets, missing=missing, versions=secrets)
        if made is not None:
            changes.append(made)
    if tenant.conflicts:
        raise ConflictError(tenant.conflicts)
    if secrets.lowered:
        raise ConfigError(secrets.lowered)
    deletes, unmanaged = prune_unclaimed(tenant, claimed, prune=prune)
    return Plan(
        changes=tuple(sorted(changes + deletes, key=lambda c: c.sort_key)),
        unmanaged=tuple(sorted(unmanaged)),
        custom_total=tenant.custom_total,
        prune=prune,
        rotate_secrets=rotate_secrets,
        target=target,
        missing_secrets=FrozenMap((k, tuple(sorted(v))) for k, v in sorted(missing.items())),
        baselines=tuple(sorted(secrets.baselines, key=lambda b: (b.name, b.id))),
    )


@dataclass
class _Versions:
    """The tenant's recorded secret versions, and what a plan finds against them."""

    recorded: Recorded | None
    target: str
    baselines: list[Baseline] = field(default_factory=list)
    lowered: list[Problem] = field(default_factory=list)

    def rotation(self, want: DesiredChannel, have: RemoteChannel, *, sending: bool) -> tuple[int | None, bool]:
        """The recorded version of ``have``, and whether ``want``'s secret_version is above it.
        ``sending``: the secret goes out anyway (``rotate_secrets``), so a missing record is no baseline."""
        version = want.secret_version
        if version is None or self.recorded is None:
            return None, False
        before = self.recorded.versions.get(have.id)
        if before is None:
            if not sending:
                self.baselines.append(Baseline(want.name, have.id, version))
        elif version < before:
            at = want.secret_version_at or Problem("", want.line, None, f"{want.name!r}", "")
            self.lowered.append(
                replace(
                    at,
                    message=f"{version} is below {before}, the secret_version last applied to this channel "
                    f"(id {have.id}) on {self.target}, as {self.recorded.path} records: a version only goes up. "
                    f"Write {before + 1} to send the secret again, or {before} to keep it; nothing was changed",
                )
            )
        return before, before is not None and version > before


def change(
    matched: Match, *, rotate_secrets: bool, missing: dict[str, list[str]], versions: _Versions
) -> Change | None:
    """What changes for one channel of the file: a create, an update, or nothing (it matches).
    Secrets it would send that are unset go into ``missing`` (env var -> channels)."""
    want, have = matched.want, matched.have
    if have is None:
        return Create(
            want.name,
            after=FrozenMap(want.fields),
            secret=_secret_for_send(want, "new channel", missing),
            endpoint_env=FrozenMap(want.endpoint_env),
        )
    fields = diff_fields(have.fields, want.fields)
    secret = None
    before, raised = versions.rotation(want, have, sending=rotate_secrets)
    if want.secret is not None:
        if rotate_secrets:
            secret = _secret_for_send(want, f"rotation: {named('rotate_secrets')}", missing, before)
        elif raised:
            reason = f"secret rotated: secret_version {before} → {want.secret_version}"
            secret = _secret_for_send(want, reason, missing, before)
        elif fields:
            secret = SecretAction(
                SECRET_KEEP,
                f"write-only on the server: kept as it is (pass {named('rotate_secrets')} to send it)",
                env_var=want.secret.env_var,
            )
    if not fields and (secret is None or not secret.sends):
        return None
    return Update(
        want.name,
        id=have.id,
        before=FrozenMap(have.fields),
        after=FrozenMap(want.fields),
        fields=fields,
        secret=secret,
        renamed_from=matched.renamed_from,
        endpoint_env=FrozenMap(want.endpoint_env),
    )


def prune_unclaimed(tenant: TenantChannels, claimed: set[int], *, prune: bool) -> tuple[list[Change], list[str]]:
    """The tenant's custom channels no match claimed: deletes with ``prune``, else their names (unmanaged)."""
    left = tenant.unclaimed(claimed)
    if prune:
        return [Delete(c.name, id=c.id, before=FrozenMap(c.fields)) for c in left], []
    return [], [c.name for c in left]


def _secret_for_send(
    want: DesiredChannel, reason: str, missing: dict[str, list[str]], before: int | None = None
) -> SecretAction | None:
    if want.secret is None:
        return None
    if not want.secret.value:  # empty is unset: an undefined CI secret arrives as ""
        missing.setdefault(want.secret.env_var or "?", []).append(want.name)
    return SecretAction(SECRET_SEND, reason, want.secret.env_var, want.secret_version, before)

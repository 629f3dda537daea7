"""Making a plan: the file's channels against the tenant's, in three steps. Writes nothing.

1. match (``matching.py``): which of the tenant's channels each of the file's is, or none (a create);
2. change (``change``): what changes for each match: a create, an update, or nothing;
3. prune (``prune``): what becomes of the tenant's custom channels no match claimed: deletes with
   ``prune``, else their names (unmanaged).

Secret rule (see ``plan.py``): a secret is sent to a new channel, and to an existing one only with
``rotate_secrets``; a secret that would be sent but is unset is recorded in the plan's ``missing_secrets``.
"""

from __future__ import annotations

from collections.abc import Iterable

from reconciler.diff import diff_fields
from reconciler.errors import ConflictError
from reconciler.matching import Match, TenantChannels, match
from reconciler.model import DesiredChannel, RemoteChannel
from reconciler.plan import SECRET_KEEP, SECRET_SEND, Change, Create, Delete, FrozenMap, Plan, SecretAction, Update
from reconciler.wording import named


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
    tenant = TenantChannels.of(current)
    changes: list[Change] = []
    missing: dict[str, list[str]] = {}
    claimed: set[int] = set()
    for want in desired:
        matched = match(want, tenant)
        if matched is None:
            continue
        if matched.have is not None:
            claimed.add(matched.have.id)
        made = change(matched, rotate_secrets=rotate_secrets, missing=missing)
        if made is not None:
            changes.append(made)
    if tenant.conflicts:
        raise ConflictError(tenant.conflicts)
    deletes, unmanaged = prune_unclaimed(tenant, claimed, prune=prune)
    return Plan(
        changes=tuple(sorted(changes + deletes, key=lambda c: c.sort_key)),
        unmanaged=tuple(sorted(unmanaged)),
        custom_total=tenant.custom_total,
        prune=prune,
        rotate_secrets=rotate_secrets,
        target=target,
        missing_secrets=FrozenMap((k, tuple(sorted(v))) for k, v in sorted(missing.items())),
    )


def change(matched: Match, *, rotate_secrets: bool, missing: dict[str, list[str]]) -> Change | None:
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
    if want.secret is not None:
        if rotate_secrets:
            secret = _secret_for_send(want, f"rotation: {named('rotate_secrets')}", missing)
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


def _secret_for_send(want: DesiredChannel, reason: str, missing: dict[str, list[str]]) -> SecretAction | None:
    if want.secret is None:
        return None
    if not want.secret.value:  # empty is unset: an undefined CI secret arrives as ""
        missing.setdefault(want.secret.env_var or "?", []).append(want.name)
    return SecretAction(SECRET_SEND, reason, env_var=want.secret.env_var)

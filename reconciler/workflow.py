"""The engine's one entry: load → target → read the tenant → plan → checks → apply / save / export / clone / import.

Every command of the CLI goes through ``Workflow`` (as octoDNS's commands go through its
``Manager``), so a Python user gets exactly the command line's behaviour::

    from reconciler.workflow import Workflow

    workflow = Workflow()                                  # OMNIDESK_URL, OMNIDESK_API_KEY
    planned = workflow.plan("examples/quickstart.yaml")
    print(planned.plan.summary())
    report = workflow.apply(planned)                       # checks, then writes
    print(report.summary(), report.created)

Nothing here prints or prompts: results and errors (``ReconcilerError``) go back to the caller.
A file's ``ignore:`` patterns are applied in one place, ``read``: the channels they match are gone
before anything plans, prunes, exports, imports or clones.
A ``Workflow`` holds no state between calls, so one can serve several threads (every tenant at once).
"""

from __future__ import annotations

import copy
import os
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from reconciler.config import load_all_views, load_channels_file, load_tenant_share, load_tenants
from reconciler.errors import TargetError
from reconciler.filekinds import SAVED_PLAN, check_output, require_input
from reconciler.ignore import view_ignore, without_ignored
from reconciler.inbound import Messages
from reconciler.model import ChannelsFile, DesiredChannel, RemoteChannel, Tenant
from reconciler.policy import findings
from reconciler.results import Cloned, Exported, ImportedFile, Planned, Probed, Proposal, Sent, Validated
from reconciler.secretversions import VersionRecords
from reconciler.thresholds import thresholds_of
from reconciler.transfers import Transfers
from reconciler.validation import Validation
from reconciler.wording import named

if TYPE_CHECKING:  # the HTTP, plan and write paths load where they are used: validate needs none of them
    from reconciler.apply import ApplyReport, Outcome
    from reconciler.checks import CheckContext, Finding
    from reconciler.client import OmnideskClient
    from reconciler.plan import Plan
    from reconciler.shard import Shard
    from reconciler.target import LocalServer, Target
    from reconciler.transport import HostPools

__all__ = ["Cloned", "Exported", "ImportedFile", "Planned", "Probed", "Proposal", "Sent", "Validated", "Workflow"]


class Workflow(Messages, Transfers, Validation, VersionRecords):
    """Load, read, plan, check, apply and save, with one set of rules (and, from ``Transfers``,
    export, clone and import; from ``Messages``, push messages and the sandbox's agent replies;
    from ``Validation``, validate and probe; from ``VersionRecords``, the secret versions an apply
    leaves)."""

    def __init__(
        self,
        *,
        environ: Mapping[str, str] | None = None,
        parallelism: int = 8,
        timeout: float | None = None,
        auth: str | None = None,
        pools: HostPools | None = None,
        local: LocalServer | None = None,
        local_state: str | None = None,
        secret_versions: str | None = None,
    ) -> None:
        """``timeout``: seconds for one call, body included (None: ``target.DEFAULT_TIMEOUT``); ``auth``: where
        the key goes (see ``target``); ``pools``: connection pools to share between the clients of many
        tenants (see ``sharing``). The connection is chosen here, at the top, as ``httpx.Client(transport=)``
        takes one: ``local`` opens the transport to an in-process server on a state file (the CLI passes
        ``cli.common.emulated``), ``local_state`` is the state file every call then goes to instead of a
        tenant's URL (the CLI's ``--emulator``). A saved plan made against one is applied through ``local``.
        ``secret_versions``: the secret-version record (``secretversions.record_path`` when None)."""
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.parallelism = parallelism
        self.timeout = timeout
        self.auth = auth
        self.pools = pools
        self.local = local
        self.local_state = local_state
        self.secret_versions = secret_versions

    def sharing(self, pools: HostPools) -> Workflow:
        """This workflow, its clients borrowing ``pools``' connections: one pool per host for every tenant on it."""
        shared = copy.copy(self)
        shared.pools = pools
        return shared

    # -- load and target -------------------------------------------------------------------------

    def load(self, path: str | os.PathLike[str], *, tenant: str | None = None) -> ChannelsFile:
        require_input(path)
        return load_channels_file(path, tenant=tenant, environ=self.environ)

    def tenants(self, path: str | os.PathLike[str] | None, *, required: bool = False) -> dict[str, Tenant]:
        """The file's tenants, in file order. ``required``: none is an error (``TargetError``)."""
        tenants: dict[str, Tenant] = {}
        if path is not None:
            require_input(path)
            tenants = load_tenants(path)
        if required and not tenants:
            raise _no_tenants(path)
        return tenants

    def views(
        self, path: str | os.PathLike[str], *, tenants: Collection[str] | None = None
    ) -> dict[str | None, ChannelsFile]:
        """The file as each of its tenants sees it (and as no tenant does): one parse for every tenant.
        ``tenants``: only as these see it (no view without a tenant), reading no other tenant's file."""
        keep = None if tenants is None else frozenset(tenants).__contains__
        return load_all_views(path, environ=self.environ, keep=keep)

    def tenant_names(self, path: str | os.PathLike[str], *, shard: Shard | None = None) -> list[str]:
        """Every tenant the file defines, in file order; none is an error (``TargetError``).
        ``shard``: only the tenants of that shard (``shard.py``), still in file order, reading only
        their tenant files: the others' are that shard's to check (and ``validate``'s)."""
        if shard is None:
            return list(self.tenants(path, required=True))
        require_input(path)
        mine, others = load_tenant_share(path, shard.holds)
        if not mine and not others:
            raise _no_tenants(path)
        return list(mine)

    def target(
        self, *, url: str | None = None, tenant: str | None = None, tenants: Mapping[str, Tenant] | None = None
    ) -> Target:
        from reconciler.target import resolve_target

        return resolve_target(
            url=url,
            tenant=tenant,
            local_state=self.local_state,
            tenants=tenants or {},
            environ=self.environ,
            auth=self.auth,
        )

    def read(self, target: Target, ignore: Sequence[str] = ()) -> list[RemoteChannel]:
        """The tenant's channels but the ``ignore`` ones, through the list endpoint only (CHANNEL_READ suffices)."""
        with self._client(target) as client:
            return without_ignored(client.list_channels(), ignore)

    def _client(self, target: Target) -> AbstractContextManager[OmnideskClient]:
        from reconciler.target import DEFAULT_TIMEOUT, open_client

        return open_client(
            target,
            parallelism=self.parallelism,
            timeout=self.timeout or DEFAULT_TIMEOUT,
            pools=self.pools,
            local=self.local,
        )

    # -- plan ------------------------------------------------------------------------------------

    def plan(
        self,
        path: str | os.PathLike[str],
        *,
        url: str | None = None,
        tenant: str | None = None,
        prune: bool = False,
        rotate_secrets: bool = False,
        loaded: ChannelsFile | None = None,
        probe: bool = False,
        only: Sequence[str] = (),
        exclude: Sequence[str] = (),
        strict: bool = True,
    ) -> Planned:
        """Load the file, read the tenant and compute the plan. Writes nothing.

        A file that defines tenants needs ``tenant`` (``TargetError`` otherwise, before any call).
        ``loaded``: the file as already loaded for ``tenant`` (every tenant at once parses it once).
        ``probe``: also probe every endpoint (a failing one is an ``endpoint-answers`` finding).
        ``only``/``exclude``: globs of channel names; the plan keeps only the changes they select and
        says it is partial (``selection.py``; a pattern matching no change is ``UnmatchedPatternError``).
        Checks then count the partial plan: the safety thresholds hold it to what it changes.
        ``strict=False``: an unmatched pattern is not raised but kept in ``Planned.unmatched`` (every
        tenant at once judges the patterns over all tenants).
        """
        from reconciler.secrets import Secrets
        from reconciler.selection import Selection, select, unmatched

        channels_file = loaded or self.load(path, tenant=tenant)
        target = self.target(url=url, tenant=tenant, tenants=channels_file.tenants)
        plan = self.plan_channels(
            channels_file.channels,
            target,
            prune=prune or channels_file.prune,
            rotate_secrets=rotate_secrets,
            ignore=view_ignore(channels_file),
        )
        found = self.probe(path, loaded=channels_file).findings if probe else findings(channels_file)
        selection = Selection(tuple(only), tuple(exclude))
        whole = replace(plan, findings=found)
        return Planned(
            select(whole, selection, strict=strict),
            target,
            Secrets.from_channels(channels_file.channels),
            channels_file,
            thresholds=thresholds_of(channels_file),
            unmatched=unmatched(whole, selection),
        )

    def plan_channels(
        self,
        channels: Sequence[DesiredChannel],
        target: Target,
        *,
        prune: bool = False,
        rotate_secrets: bool = False,
        ignore: Sequence[str] = (),
    ) -> Plan:
        from reconciler.planning import make_plan
        from reconciler.secretversions import recorded, uses_versions

        versions = recorded(self.record_path, target) if uses_versions(channels) else None
        current = self.read(target, ignore)
        return make_plan(
            channels, current, prune=prune, rotate_secrets=rotate_secrets, target=target.label, versions=versions
        )

    def propose(
        self,
        path: str | os.PathLike[str],
        *,
        out: str | os.PathLike[str] | None = None,
        secrets_at_apply: bool = False,
        force: bool = False,
        **options: Any,
    ) -> Proposal:
        """``plan`` (``options`` are its own), ``review`` it, and with ``out`` ``save`` it: what ``plan``
        shows, for one tenant or every one (``multitenant``). A plan that cannot be saved (a secret
        unset) raises from ``save``; call ``plan``, ``review`` and ``save`` to show it first."""
        planned = self.plan(path, **options)
        found = self.review(planned)
        if out is not None:
            self.save(planned, out, secrets_at_apply=secrets_at_apply, force=force)
        return Proposal(planned, found, os.fspath(out) if out is not None else None)

    # -- checks and apply ------------------------------------------------------------------------

    def review(self, planned: Planned) -> tuple[Finding, ...]:
        """What the plan checks (``checks.PLAN_CHECKS``) say about a plan being shown; refuses nothing.

        A ``DENY`` finding is one apply would refuse (a safety threshold passed, say); a ``WARN``
        one is worth saying (a secret variable unset here, which the apply must have).
        """
        from reconciler.checks import PLAN, run_checks

        found = run_checks(self._context(planned, PLAN))
        return tuple(sorted(found, key=lambda finding: not finding.denies))  # what apply refuses first

    def check(
        self,
        planned: Planned,
        *,
        allow_deletes: int | None = None,
        allow_updates: int | None = None,
        allow_policy: Sequence[str] = (),
    ) -> None:
        """Everything that must hold before a write: no policy finding at deny (but the rules
        ``allow_policy`` names), secrets present, updates and deletes within the planned thresholds
        (or exactly the counts allowed), and every other check of ``PLAN_CHECKS``.

        Present means in ``planned.secrets``: a saved plan's secrets come from the apply's
        environment, so one unset when it was planned (a CI plan job holds none) counts if set now.
        """
        from reconciler.checks import APPLY, run_checks

        run_checks(
            self._context(
                planned, APPLY, allow_deletes=allow_deletes, allow_updates=allow_updates, allow_policy=allow_policy
            )
        )

    def apply(
        self,
        planned: Planned,
        *,
        allow_deletes: int | None = None,
        allow_updates: int | None = None,
        allow_policy: Sequence[str] = (),
        on_outcome: Callable[[Outcome], None] | None = None,
        stop: threading.Event | None = None,
    ) -> ApplyReport:
        """Check, then carry out the plan. A saved plan is first checked against the tenant's channels."""
        from reconciler.apply import apply_plan
        from reconciler.checks import WRITE, run_checks

        self.check(planned, allow_deletes=allow_deletes, allow_updates=allow_updates, allow_policy=allow_policy)
        with self._client(planned.target) as client:
            run_checks(self._context(planned, WRITE, current=client.list_channels))
            report = apply_plan(
                planned.plan, client, planned.secrets, parallelism=self.parallelism, on_outcome=on_outcome, stop=stop
            )
        self.keep_versions(planned, report)
        return report

    @staticmethod
    def _context(planned: Planned, moment: str, **options: Any) -> CheckContext:
        from reconciler.checks import CheckContext

        return CheckContext(
            planned.plan,
            moment,
            thresholds=planned.thresholds,
            secrets=planned.secrets,
            digests=planned.digests,
            saved=planned.saved,
            **options,
        )

    # -- saved plans -----------------------------------------------------------------------------

    def save(
        self, planned: Planned, path: str | os.PathLike[str], *, secrets_at_apply: bool = False, force: bool = False
    ) -> None:
        """Write the plan for ``apply PLAN``; refuses a plan whose secrets are not all set, unless
        ``secrets_at_apply``: CI plan jobs hold no secrets on purpose, and a secret unset when
        planned is taken from the apply's environment unchecked (its digest is left out). Refuses a
        path that is the channels file or another kind of file (unless ``force``; see ``paths``)."""
        check_output(
            path, kind=SAVED_PLAN, inputs=[planned.channels_file.path if planned.channels_file else None], force=force
        )
        from reconciler.checks import SAVE, run_checks
        from reconciler.planfile import save_plan

        run_checks(self._context(planned, SAVE, secrets_at_apply=secrets_at_apply))
        save_plan(planned.plan, planned.target.connection(), path, planned.secrets, thresholds=planned.thresholds)

    def load_saved(self, path: str | os.PathLike[str], *, url: str | None = None, tenant: str | None = None) -> Planned:
        """A saved plan, ready to apply where it was made; the secrets are read from the environment
        and must be the ones it was planned with. ``url``/``tenant`` and the workflow's ``local_state``, when given,
        must name that same place."""
        from reconciler.planfile import load_plan
        from reconciler.secrets import Secrets, restore_endpoints
        from reconciler.target import target_from_connection

        saved = load_plan(path)
        connection = saved.connection
        # a plan saved by 0.2.0 names its local state "emulator_state"
        recorded = {**connection, "local_state": connection.get("local_state", connection.get("emulator_state", ""))}
        asked = {"url": url.rstrip("/") if url else None, "tenant": tenant, "local_state": self.local_state}
        for key, value in asked.items():
            if value is not None and recorded.get(key, "").rstrip("/") != value:
                what = named("local_state_path", "local state") if key == "local_state" else key
                raise TargetError(
                    f"{os.fspath(path)} was planned for {connection['label']}, not for the {what} {value!r}; "
                    "nothing was changed (a saved plan applies where it was planned)"
                )
        target = target_from_connection(connection, self.environ, auth=self.auth)
        secrets = Secrets.from_environment(saved.plan, self.environ, saved.secret_digests)
        plan = restore_endpoints(saved.plan, self.environ, saved.secret_digests)
        return Planned(plan, target, secrets, saved=True, thresholds=saved.thresholds, digests=saved.secret_digests)

    def saved_plan(self, path: str | os.PathLike[str]) -> Plan:
        """The plan a saved plan file holds, as it was saved: no target, no secret read (for review)."""
        from reconciler.planfile import load_plan

        return load_plan(path).plan

    def is_saved_plan(self, path: str | os.PathLike[str]) -> bool:
        """Whether ``path`` holds a saved plan (``plan --out``) rather than a channels file."""
        from reconciler.planfile import is_plan_file

        return is_plan_file(path)

    def check_plan_output(
        self, path: str | os.PathLike[str], *, inputs: Sequence[str | None], force: bool = False
    ) -> None:
        """Refuse, before any work, to save a plan onto an input or a file of another kind (see ``filekinds``)."""
        check_output(path, kind=SAVED_PLAN, inputs=inputs, force=force)


def _no_tenants(path: str | os.PathLike[str] | None) -> TargetError:  # a run over all tenants would do nothing
    return TargetError(
        f"{os.fspath(path or '')} defines no tenants: add a tenants: section, or use {named('url')} for one tenant"
    )

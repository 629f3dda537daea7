"""Plans for many tenants of one channels file at once: one process, one thread per tenant.

A tenant's failure (an unset key variable, a refused call, a conflict) is that tenant's result,
never the others'. Used by ``plan --all-tenants`` and by the CI integrations (``reconciler.ci``).
"""

from __future__ import annotations

import contextvars
import functools
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from reconciler.checks import Finding
from reconciler.errors import OutputFileError, ReconcilerError
from reconciler.model import ChannelsFile
from reconciler.plan import Plan
from reconciler.selection import Selection, Unmatched, raise_unmatched
from reconciler.transport import HostPools, before_fork
from reconciler.wording import named
from reconciler.workers import processes_for, split_map
from reconciler.workflow import Planned, Workflow
from reconciler.yamlread import no_cyclic_gc

# The placeholder a saved-plan path must hold when several tenants are planned at once.
TENANT_FIELD = "{tenant}"
# Tenants planned at once: each waits on the network, not the CPU; beyond this the API's rate
# limit, not the thread count, is what bounds a run.
DEFAULT_WORKERS = 64

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2


@dataclass(frozen=True)
class TenantPlan:
    """One tenant's outcome: a plan, or the error that stopped it; ``saved`` is the plan file."""

    tenant: str | None
    plan: Plan | None = None
    error: str | None = None
    warnings: tuple[str, ...] = ()
    saved: str | None = None
    findings: tuple[Finding, ...] = ()  # what the plan checks said (``warnings`` words them)
    unmatched: Unmatched = ()  # --only/--exclude patterns that match no change of this tenant
    planned: Planned | None = field(default=None, repr=False, compare=False)  # kept to save it later

    @property
    def name(self) -> str:
        return self.tenant or "default"

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def has_changes(self) -> bool:
        return self.plan is not None and not self.plan.is_empty

    def exit_code(self, detailed: bool) -> int:
        return exit_code([self], detailed)


def exit_code(results: Sequence[TenantPlan], detailed: bool) -> int:
    """The worst outcome: 1 if any tenant failed, else 2 (with ``detailed``) if any has changes."""
    if any(r.failed for r in results):
        return EXIT_ERROR
    if detailed and any(r.has_changes for r in results):
        return EXIT_CHANGES
    return EXIT_OK


def saved_path(out: str, tenant: str | None, *, many: bool) -> str:
    """Where a tenant's plan is saved: ``out`` itself, or ``out`` with ``{tenant}`` filled in."""
    if many and TENANT_FIELD not in out:
        raise OutputFileError(
            f"{named('out')} {out!r} would hold every tenant's plan in one file: put {TENANT_FIELD} in it, "
            f"e.g. {named('out')} 'plans/{{tenant}}.json'",
            path=out,
        )
    return out.replace(TENANT_FIELD, tenant or "default")


def plan_one(
    engine: Workflow,
    path: str | os.PathLike[str],
    tenant: str | None,
    *,
    url: str | None = None,
    out: str | None = None,
    prune: bool = False,
    rotate_secrets: bool = False,
    loaded: ChannelsFile | None = None,
    secrets_at_apply: bool = False,
    force: bool = False,
    probe: bool = False,
    selection: Selection = Selection(),
) -> TenantPlan:
    """Plan one tenant (or the ``--url``/``OMNIDESK_URL`` target); errors are returned, not raised.

    A secret variable that is unset here is a warning; saving such a plan is refused (as
    ``plan --out``) unless ``secrets_at_apply``: CI plan jobs hold no secrets on purpose, and the
    saved plan then reads them from the apply job's environment.
    ``loaded`` is the file as loaded for ``tenant`` already (many tenants share one parse).
    ``selection``: --only/--exclude, cutting this tenant's plan; a pattern matching none of its
    changes is kept in ``unmatched`` (the caller judges the patterns over every tenant).
    """
    try:
        proposed = engine.propose(
            path,
            url=url,
            tenant=tenant,
            prune=prune,
            rotate_secrets=rotate_secrets,
            loaded=loaded,
            probe=probe,
            out=out or None,
            secrets_at_apply=secrets_at_apply,
            force=force,
            only=selection.only,
            exclude=selection.exclude,
            strict=False,
        )
        findings = proposed.findings  # the file's and the tenant's safety: thresholds, secrets, ...
        return TenantPlan(
            tenant,
            proposed.planned.plan,
            warnings=tuple(f.warning() for f in findings),
            saved=proposed.saved,
            findings=findings,
            unmatched=proposed.planned.unmatched,
            planned=proposed.planned,
        )
    except ReconcilerError as exc:
        return TenantPlan(tenant, error=str(exc))


def plan_tenants(
    path: str | os.PathLike[str],
    tenants: Sequence[str | None],
    *,
    out: str | None = None,
    prune: bool = False,
    rotate_secrets: bool = False,
    environ: Mapping[str, str] | None = None,
    engine: Workflow | None = None,
    auth: str | None = None,
    secrets_at_apply: bool = False,
    workers: int = DEFAULT_WORKERS,
    force: bool = False,
    probe: bool = False,
    only: Sequence[str] = (),
    exclude: Sequence[str] = (),
    processes: int | None = None,
) -> list[TenantPlan]:
    """Plan every tenant in ``tenants`` concurrently; results in the order given.

    With ``out``, each plan is saved to ``out`` with ``{tenant}`` replaced by the tenant's name
    (replacing only a saved plan there unless ``force``).
    ``engine`` defaults to a ``Workflow`` over ``environ`` with ``auth`` (one serves every thread).
    ``only``/``exclude`` cut every tenant's plan (``selection.py``); ``UnmatchedPatternError``
    (before any plan is saved) for a pattern that matches no change of any tenant.
    ``processes``: worker processes the tenants are split across, ``workers`` threads in all (None:
    one per usable core for a hundred tenants or more, ``workers.processes_for``); the results are
    the same, in the same order.
    """
    selection = Selection(tuple(only), tuple(exclude))
    engine = engine or Workflow(environ=environ, auth=auth)
    outs = [saved_path(out, t, many=len(tenants) > 1) if out else None for t in tenants]
    if not tenants:
        return []
    held = bool(out and selection)  # saved only once the patterns are known to match somewhere
    results = _plan_concurrently(
        engine,
        path,
        tenants,
        [None] * len(outs) if held else outs,
        workers=workers,
        processes=processes_for(len(tenants)) if processes is None else processes,
        prune=prune,
        rotate_secrets=rotate_secrets,
        secrets_at_apply=secrets_at_apply,
        force=force,
        probe=probe,
        selection=selection,
    )
    if selection:
        _judge_patterns(results)
    if held:
        results = [
            _save(engine, r, o, secrets_at_apply=secrets_at_apply, force=force)
            for r, o in zip(results, outs, strict=True)
        ]
    return results


def _plan_concurrently(
    engine: Workflow,
    path: str | os.PathLike[str],
    tenants: Sequence[str | None],
    outs: Sequence[str | None],
    *,
    workers: int,
    processes: int,
    **options: Any,
) -> list[TenantPlan]:
    # One parse for every tenant (a problem in the file is the file's, not one tenant's): loading
    # is CPU under the GIL, and 50 separate loads would cost more than all the waiting on the network.
    # Only these tenants' views, and files: a shard's job reads a quarter of 1,000 tenant files.
    listed = [t for t in tenants if t is not None]
    views: Mapping[str | None, ChannelsFile] = engine.views(path, tenants=listed) if listed else {}
    processes = max(1, min(processes, workers))
    if processes > 1:
        before_fork(_url_of(t, views) for t in tenants)
    # Each process plans its share in threads: the waiting overlaps within one, the CPU (most of a
    # tenant's time once it does) spreads over the cores across them (``workers``).
    share = functools.partial(_plan_share, engine, path, views, workers=max(1, workers // processes), **options)
    return split_map(share, list(zip(tenants, outs, strict=True)), processes)


def _url_of(tenant: str | None, views: Mapping[str | None, ChannelsFile]) -> str | None:
    """The URL the file gives ``tenant``; None when it gives none (the environment's is used)."""
    view = views.get(tenant)
    chosen = view.tenants.get(tenant) if view is not None and tenant is not None else None
    return chosen.url if chosen is not None else None


def _plan_share(
    engine: Workflow,
    path: str | os.PathLike[str],
    views: Mapping[str | None, ChannelsFile],
    share: Sequence[tuple[str | None, str | None]],
    *,
    workers: int,
    **options: Any,
) -> list[TenantPlan]:
    """The plans of ``share``'s tenants (each with where to save it), in threads; in ``share``'s order."""
    threads = min(workers, len(share))
    # tenants on one host share its connections instead of each opening (and handshaking) its own;
    # the plans kept hold no cycles to collect, and each collection would walk them all again (#27)
    with (
        no_cyclic_gc(),
        HostPools(max_connections=threads * engine.parallelism) as pools,
        ThreadPoolExecutor(max_workers=threads, thread_name_prefix="plan") as pool,
    ):
        shared = engine.sharing(pools)
        futures = [
            # each thread in a copy of this context: its messages worded as the command's (``wording``)
            pool.submit(
                contextvars.copy_context().run,
                functools.partial(plan_one, shared, path, t, out=o, loaded=views.get(t), **options),
            )
            for t, o in share
        ]
        return [f.result() for f in futures]


def _judge_patterns(results: Sequence[TenantPlan]) -> None:
    """A pattern is wrong when no planned tenant has a change it matches (a typo, not an empty plan)."""
    planned = [r for r in results if r.plan is not None]
    if planned:
        everywhere = [p for p in planned[0].unmatched if all(p in r.unmatched for r in planned)]
        if everywhere:
            raise_unmatched(tuple(everywhere), [r.plan for r in planned if r.plan])


def _save(engine: Workflow, result: TenantPlan, out: str | None, *, secrets_at_apply: bool, force: bool) -> TenantPlan:
    if result.planned is None or out is None:
        return result
    try:
        engine.save(result.planned, out, secrets_at_apply=secrets_at_apply, force=force)
    except ReconcilerError as exc:
        return replace(result, error=str(exc), plan=None)
    return replace(result, saved=out)

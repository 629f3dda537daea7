"""Plans for many tenants of one channels file at once: one process, one thread per tenant.

A tenant's failure (an unset key variable, a refused call, a conflict) is that tenant's result,
never the others'. Used by ``plan --all-tenants`` and by the CI integrations (``reconciler.ci``).
"""
from __future__ import annotations

import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Mapping, Sequence

from reconciler.config import load_all_views, load_tenants
from reconciler.policy import DENY
from reconciler.errors import ReconcilerError, UnsafePlanError
from reconciler.model import ChannelsFile
from reconciler.plan import Plan
from reconciler.render import MARKDOWN_LIMIT, render_markdown, render_text
from reconciler.workflow import Workflow

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


def tenants_of(path: str | os.PathLike[str]) -> list[str]:
    """Every tenant the file defines, in file order; a file without tenants is an error."""
    names = list(load_tenants(path))
    if not names:
        raise ReconcilerError(f"{os.fspath(path)} defines no tenants: add a tenants: section, or plan one --url")
    return names


def saved_path(out: str, tenant: str | None, *, many: bool) -> str:
    """Where a tenant's plan is saved: ``out`` itself, or ``out`` with ``{tenant}`` filled in."""
    if many and TENANT_FIELD not in out:
        raise ReconcilerError(
            f"--out {out!r} would hold every tenant's plan in one file: put {TENANT_FIELD} in it, "
            "e.g. --out 'plans/{tenant}.json'"
        )
    return out.replace(TENANT_FIELD, tenant or "default")


def plan_one(
    engine: Workflow, path: str | os.PathLike[str], tenant: str | None, *, url: str | None = None,
    out: str | None = None, prune: bool = False, rotate_secrets: bool = False, loaded: ChannelsFile | None = None,
    secrets_at_apply: bool = False, force: bool = False,
) -> TenantPlan:
    """Plan one tenant (or the ``--url``/``OMNIDESK_URL`` target); errors are returned, not raised.

    A secret variable that is unset here is a warning; saving such a plan is refused (as
    ``plan --out``) unless ``secrets_at_apply``: CI plan jobs hold no secrets on purpose, and the
    saved plan then reads them from the apply job's environment.
    ``loaded`` is the file as loaded for ``tenant`` already (many tenants share one parse).
    """
    try:
        planned = engine.plan(path, url=url, tenant=tenant, prune=prune, rotate_secrets=rotate_secrets, loaded=loaded)
        warnings: list[str] = []
        try:
            engine.check_safety(planned)  # the file's and the tenant's safety: thresholds
        except UnsafePlanError as exc:
            warnings.append(exc.warning())
        for var, names in planned.plan.missing_secrets.items():
            warnings.append(f"${{env:{var}}} is not set here (needed by {', '.join(names)}); the apply must have it")
        denied = sorted({f.rule for f in planned.plan.findings if f.level == DENY})
        if denied:
            warnings.append("the policy denies this plan: apply refuses it unless "
                            + " ".join(f"--allow-policy {r}" for r in denied))
        if out:
            engine.save(planned, out, secrets_at_apply=secrets_at_apply, force=force)
        return TenantPlan(tenant, planned.plan, warnings=tuple(warnings), saved=out)
    except ReconcilerError as exc:
        return TenantPlan(tenant, error=str(exc))


def plan_tenants(
    path: str | os.PathLike[str], tenants: Sequence[str | None], *, out: str | None = None,
    prune: bool = False, rotate_secrets: bool = False, environ: Mapping[str, str] | None = None,
    engine: Workflow | None = None, auth: str | None = None, secrets_at_apply: bool = False,
    workers: int = DEFAULT_WORKERS, force: bool = False,
) -> list[TenantPlan]:
    """Plan every tenant in ``tenants`` concurrently; results in the order given.

    With ``out``, each plan is saved to ``out`` with ``{tenant}`` replaced by the tenant's name
    (replacing only a saved plan there unless ``force``).
    ``engine`` defaults to a ``Workflow`` over ``environ`` with ``auth`` (one serves every thread).
    """
    engine = engine or Workflow(environ=environ, auth=auth)
    many = len(tenants) > 1
    outs = [saved_path(out, t, many=many) if out else None for t in tenants]
    if not tenants:
        return []
    # One parse for every tenant (a problem in the file is the file's, not one tenant's): loading
    # is CPU under the GIL, and 50 separate loads would cost more than all the waiting on the network.
    views: Mapping[str | None, ChannelsFile] = load_all_views(path, environ=engine.environ) if many else {}
    with ThreadPoolExecutor(max_workers=min(workers, len(tenants)), thread_name_prefix="plan") as pool:
        futures = [
            pool.submit(plan_one, engine, path, t, out=o, prune=prune, rotate_secrets=rotate_secrets,
                        loaded=views.get(t), secrets_at_apply=secrets_at_apply, force=force)
            for t, o in zip(tenants, outs)
        ]
        return [f.result() for f in futures]


# -- one report for many tenants ---------------------------------------------------------------


def fenced(text: str) -> str:
    """``text`` in a Markdown code block whose fence no line of ``text`` can close."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{text.rstrip()}\n{fence}"


def tenant_markdown(result: TenantPlan, *, limit: int = MARKDOWN_LIMIT) -> str:
    """One tenant's plan (or failure) as Markdown, warnings last; fits ``limit``."""
    notes = "".join(f"> ⚠️ {w}\n" for w in result.warnings)
    if result.plan is None:
        return f"**The plan failed.**\n\n{fenced(result.error or '')}\n"
    return render_markdown(result.plan, limit=limit - len(notes) - 2) + (f"\n{notes}" if notes else "")


def report_summary(results: Sequence[TenantPlan]) -> str:
    changed = sum(r.has_changes for r in results)
    failed = sum(r.failed for r in results)
    return f"{len(results)} tenant(s): {changed} with changes, {failed} failed"


def render_report(results: Sequence[TenantPlan], fmt: str, *, color: bool = False) -> str:
    """Every tenant's plan in one report: text, Markdown (a section per tenant), one JSON document, or
    one SARIF log of every tenant's policy findings (a finding several tenants share, once)."""
    if fmt == "sarif":
        from reconciler.sarif import render_sarif

        return render_sarif(list(dict.fromkeys(f for r in results if r.plan for f in r.plan.findings)))
    if fmt == "json":
        tenants = []
        for r in results:
            entry: dict[str, object] = {"tenant": r.name, "warnings": list(r.warnings)}
            entry.update({"plan": r.plan.to_data()} if r.plan is not None else {"error": r.error})
            if r.saved:
                entry["saved"] = r.saved
            tenants.append(entry)
        document = {"summary": {"tenants": len(results), "with_changes": sum(r.has_changes for r in results),
                                "failed": sum(r.failed for r in results)}, "tenants": tenants}
        return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if fmt == "markdown":
        budget = MARKDOWN_LIMIT // max(1, len(results))
        sections = [f"### {r.name}\n\n{tenant_markdown(r, limit=budget)}" for r in results]
        return f"**{report_summary(results)}**\n\n" + "\n".join(sections)
    parts = []
    for r in results:
        body = render_text(r.plan, color=color) if r.plan is not None else f"Error: {r.error}\n"
        parts.append(f"== {r.name} ==\n{body}")
    return "\n".join(parts) + f"\n{report_summary(results)}.\n"

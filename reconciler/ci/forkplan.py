"""The plan of a request from a fork: against each tenant's committed snapshot, with no key and no call.

A fork's pull request runs with no secrets and a read-only token (GitHub gives it nothing more, and
a request's author controls the file it plans). So instead of reading the tenant, each tenant is
planned against its snapshot on the target branch (``reconciler.snapshot``), and every output
says "planned against the snapshot of DATE, not the live tenant". The plan is not saved: a
reviewed plan is one made against the live tenant, so after such a request is merged the apply
still checks main against live plans (``reconciler.ci.coverage``) and refuses what none showed.

A tenant without a snapshot is one notice line and a neutral outcome (exit 0): the contributor
cannot fix it, and nothing is applied from a fork's run anyway. A tenant whose snapshot or file
cannot be planned fails, as any plan does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from reconciler.ci import Log
from reconciler.ci.flow import report, summary_markdown
from reconciler.ci.forge import Forge
from reconciler.errors import ReconcilerError
from reconciler.multitenant import TenantPlan, exit_code
from reconciler.snapshot import plan_against_snapshot, snapshot_file
from reconciler.workflow import Workflow

TITLE = "omnidesk-channels plan (fork)"


def plan(forge: Forge, engine: Workflow, file: str, tenants: Sequence[str | None], fmt: str, log: Log) -> int:
    """Plan each tenant against its snapshot; job log and summary only (the token cannot comment)."""
    results: list[TenantPlan] = []
    missing: list[str] = []
    for tenant in tenants:
        name, path = tenant or "default", snapshot_file(file, tenant)
        try:
            snapshot = forge.snapshot(path)
            if snapshot is None:
                missing.append(name)
                log(
                    forge.annotation(
                        "notice",
                        f"{name}: no snapshot {path} on the target branch: a fork's {forge.request_word} holds no "
                        "key, so there is nothing to plan it against; nothing planned",
                        TITLE,
                    )
                )
                continue
            results.append(TenantPlan(tenant, plan_against_snapshot(engine, file, tenant, snapshot)))
        except ReconcilerError as exc:
            results.append(TenantPlan(tenant, error=str(exc)))
    report(forge, results, fmt, log)
    forge.summary(
        summary_markdown(results, "Omnidesk channels plan of a fork's " + forge.request_word)
        + "".join(f"\n\n### {n}\n\nNo snapshot to plan against: nothing planned." for n in missing)
    )
    forge.outputs(
        exitcode=str(exit_code(results, detailed=True)),
        has_changes=json.dumps(any(r.has_changes for r in results)),
        plan_path="",
        changed_tenants=json.dumps([r.name for r in results if r.has_changes]),
    )
    log(f"A fork's {forge.request_word} run has a read-only token: the plan is in the job summary, not a comment.")
    return 1 if any(r.failed for r in results) else 0

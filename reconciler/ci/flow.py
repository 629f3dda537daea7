"""The one CI flow every forge runs: plan (comment per tenant), drift (issue per tenant), apply.

Everything goes through ``Workflow`` in-process (through ``reconciler.multitenant`` for many
tenants); the forge (``reconciler.ci.forge.Forge``) only carries the results to the pull request,
the run's summary and outputs, and the issues. Returns the exit code; never prints, it logs
through ``log``.

Apply runs only on the protected branch (``Forge.protected_commit``). With no saved plan given it
applies what the branch says now, provided every effect of that plan was in the reviewed plan of
a request merged since the last successful apply (``reconciler.ci.coverage``): runs that were
cancelled or queued behind it lose nothing, and nothing unreviewed reaches the tenant.
"""

from __future__ import annotations

import functools
import json
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from reconciler.apply import Outcome
from reconciler.ci import (
    Log,
    apply_marker,
    coverage,
    drift_body,
    drift_marker,
    driftcount,
    make_folder,
    plan_comment,
    plan_marker,
    render_plan,
    secretrecord,
)
from reconciler.ci.forge import Forge, Issue, Request
from reconciler.errors import CiError, ReconcilerError
from reconciler.markdown import tenant_markdown
from reconciler.model import ChannelsFile
from reconciler.multitenant import TenantPlan, exit_code, plan_tenants
from reconciler.plan import Plan
from reconciler.workflow import Planned, Workflow

# A job summary may hold 1 MiB; the tenants share it.
SUMMARY_LIMIT = 1_000_000
DEFAULT = "default"
Loaded = ChannelsFile | ReconcilerError  # a tenant's view of the file, or why there is none


def report(forge: Forge, results: Sequence[TenantPlan], fmt: str, log: Log) -> None:
    """Each tenant's plan in a collapsible log section; warnings and failures as annotations."""
    for result in results:
        log(forge.group(f"Plan for {result.name}", render_plan(result, fmt).rstrip("\n")))
        for warning in result.warnings:
            log(forge.annotation("warning", warning, f"omnidesk-channels ({result.name})"))
        if result.error:
            log(forge.annotation("error", result.error, f"omnidesk-channels plan failed ({result.name})"))


def summary_markdown(results: Sequence[TenantPlan], title: str) -> str:
    budget = min(65_000, SUMMARY_LIMIT // max(1, len(results)))
    parts = [f"## {title}"]
    parts += [f"### {r.name}\n\n{tenant_markdown(r, limit=budget)}" for r in results]
    return "\n\n".join(parts)


def plan(
    forge: Forge,
    engine: Workflow,
    file: str,
    tenants: Sequence[str | None],
    out: str,
    fmt: str,
    comment: bool,
    log: Log,
) -> int:
    """Plan each tenant, save its plan (``out`` holds ``{tenant}``), report, comment on the request."""
    number = forge.request_number() if comment else None
    make_folder(Path(out).parent)
    with secretrecord.reading(forge, engine, file, log) as engine:  # the rotations the apply will make
        results = plan_tenants(file, tenants, out=out, engine=engine, secrets_at_apply=True)
    report(forge, results, fmt, log)
    forge.summary(summary_markdown(results, "Omnidesk channels plan"))
    forge.outputs(
        exitcode=str(exit_code(results, detailed=True)),
        has_changes=json.dumps(any(r.has_changes for r in results)),
        plan_path=str(Path(out).parent) if any(r.saved for r in results) else "",
        changed_tenants=json.dumps([r.name for r in results if r.has_changes]),
    )
    if number is not None:
        for result in results:
            done = forge.upsert_comment(number, plan_marker(result.name), plan_comment(result))
            log(f"{result.name}: {forge.request_word} comment {done}")
    return 1 if any(r.failed for r in results) else 0


# -- drift -------------------------------------------------------------------------------------


def drift(
    forge: Forge,
    engine: Workflow,
    file: str,
    tenants: Sequence[str | None],
    fmt: str,
    log: Log,
    run_url: str = "",
    *,
    drift_after: int = 1,
    detailed_exitcode: bool = False,
    state_dir: str = driftcount.STATE_DIR,
) -> int:
    """Plan each tenant; one open issue per drifted tenant (opened once it drifted in ``drift_after``
    checks in a row, then updated), closed once it matches. With ``drift_after`` above 1 the counts
    go from the previous job's state (``Forge.drift_state``) to this job's, in ``state_dir``.
    ``detailed_exitcode``: 2 when some tenant's issue is open after this check (and none failed)."""
    results = plan_tenants(file, tenants, engine=engine)
    report(forge, results, fmt, log)
    counts = _drift_counts(forge, results, drift_after, state_dir, log)
    issues = forge.drift_issues()
    rows = ["| tenant | state | issue |", "|---|---|---|"]
    reported: list[str] = []
    for result in results:
        issue = next((i for i in issues if i.body.startswith(drift_marker(result.name))), None)
        row, is_open = _drift_row(forge, result, issue, file, run_url, log, counts.get(result.name, 0), drift_after)
        rows.append(row)
        reported += [result.name] if is_open else []
    notable = [r for r in results if r.has_changes or r.failed]
    forge.summary(
        "## Omnidesk channels drift\n\n"
        + "\n".join(rows)
        + ("\n\n" + summary_markdown(notable, "Plans") if notable else "")
    )
    forge.outputs(
        exitcode=str(exit_code(results, detailed=True)),
        has_changes=json.dumps(any(r.has_changes for r in results)),
        drifted_tenants=json.dumps([r.name for r in results if r.has_changes]),
        reported_tenants=json.dumps(reported),
        state_path=state_dir if drift_after > 1 else "",
    )
    if any(r.failed for r in results):
        return 1
    return 2 if detailed_exitcode and reported else 0


def _drift_counts(
    forge: Forge, results: Sequence[TenantPlan], drift_after: int, state_dir: str, log: Log
) -> dict[str, int]:
    """Each tenant's drifted checks in a row, this one included; saved for the next job."""
    if drift_after <= 1:
        return {r.name: 1 for r in results if r.has_changes}  # no state: every drift reports at once
    with tempfile.TemporaryDirectory(prefix="omnidesk-drift-") as folder:
        previous, warning = driftcount.read_counts(forge.drift_state(Path(folder)))
    if warning:
        log(forge.annotation("warning", warning, "omnidesk-channels drift"))
    counts = driftcount.next_counts(results, previous)
    driftcount.write_counts(state_dir, counts)
    return counts


def _drift_row(
    forge: Forge,
    result: TenantPlan,
    issue: Issue | None,
    file: str,
    run_url: str,
    log: Log,
    count: int,
    drift_after: int,
) -> tuple[str, bool]:
    """The tenant's summary row, and whether its drift issue is open after this check."""
    link = f"#{issue.number}" if issue else ""
    if result.failed:
        return f"| {result.name} | ❌ plan failed | {link} |", issue is not None
    if result.has_changes and issue is None and count < drift_after:
        log(f"{result.name}: drifted in {count} of {drift_after} checks in a row; no issue yet")
        return f"| {result.name} | ⏳ drifted ({count} of {drift_after} checks in a row) | |", False
    if result.has_changes:
        body = drift_body(result, file)
        if issue is None:
            issue, done = forge.open_issue(f"Omnidesk channels: {result.name} drifted from {file}", body), "opened"
        elif issue.body == body:
            done = "unchanged"
        else:
            forge.update_issue(issue, body)
            done = "updated"
        log(f"{result.name}: drifted; issue #{issue.number} {done}")
        return f"| {result.name} | ⚠️ drifted | #{issue.number} ({done}) |", True
    if issue is not None:
        forge.close_issue(
            issue, f"The tenant matches the channels file again{f' ({run_url})' if run_url else ''}: closing."
        )
        log(f"{result.name}: matches the file again; closed issue #{issue.number}")
        return f"| {result.name} | ✅ matches again | {link} (closed) |", False
    return f"| {result.name} | ✅ matches | |", False


# -- apply -------------------------------------------------------------------------------------


def apply_saved(forge: Forge, engine: Workflow, plans: Sequence[Path], tenant: str | None, log: Log) -> int:
    """Apply each saved plan exactly (``apply PLAN``'s checks: fresh, same secrets, thresholds)."""
    forge.protected_commit()
    rows = ["| saved plan | result |", "|---|---|"]
    worst = 0
    engine = secretrecord.keeping(forge, engine, log, plans=secretrecord.readable(engine, plans))
    for path in plans:
        log(f"omnidesk-channels apply {path}")
        code = _apply_one(engine, functools.partial(engine.load_saved, path, tenant=tenant), log)
        rows.append(f"| `{path.name}` | {'✅ applied' if code == 0 else f'❌ exit {code}'} |")
        worst = max(worst, code)
    forge.summary("## Omnidesk channels apply\n\n" + "\n".join(rows))
    forge.outputs(exitcode=str(worst), applied_requests="[]")  # saved plans name no request
    return worst


def _apply_one(engine: Workflow, load: Callable[[], Planned], log: Log) -> int:
    """Load (plan or saved plan), check and apply one tenant in-process; log each outcome."""
    try:
        planned = load()
        log(planned.plan.summary() + ".")
        if planned.plan.is_empty:
            engine.keep_versions(planned)  # its baselines: no call is made
            return 0
        result = engine.apply(planned, on_outcome=lambda o: log(_outcome_line(o)))
        log(result.summary())
        error = result.error(planned.target.api_key_env)
        if error is not None:
            raise error
    except ReconcilerError as exc:
        log(f"Error: {exc}")
        return 1
    return 0


def _outcome_line(outcome: Outcome) -> str:
    return f"{outcome.change.action} {outcome.change.name!r}: {outcome.status}" + (
        f": {outcome.detail}" if outcome.detail else ""
    )


def apply_reviewed(
    forge: Forge, engine: Workflow, file: str, tenants: Sequence[str | None], *, allow_unreviewed: bool, log: Log
) -> int:
    """Apply what the protected branch says now, if reviewed plans cover all of it (see module doc)."""
    head = forge.protected_commit()
    last = forge.last_applied()
    commits = forge.commits_since(last, head)
    if commits is None:
        log(
            f"{head[:12]} is older than the last applied commit {str(last)[:12]}: a newer run applied it; nothing to do"
        )
        forge.summary(
            f"## Omnidesk channels apply\n\nNothing to do: {head[:12]} is older than the last "
            f"applied commit {str(last)[:12]}."
        )
        forge.outputs(exitcode="0", applied_requests="[]")
        return 0
    requests = _merged(forge, commits)
    with tempfile.TemporaryDirectory(prefix="omnidesk-reviewed-") as folder:
        reviewed = _reviewed_plans(forge, requests, Path(folder), log)
    engine = secretrecord.keeping(forge, engine, log, file=file)
    rows = ["| tenant | result | changes of |", "|---|---|---|"]
    applied: list[Request] = []
    worst = 0
    views = _views(engine, file, tenants)
    for tenant in tenants:
        name = tenant or DEFAULT
        code, used, row = _apply_tenant(
            forge,
            engine,
            (file, tenant, views.get(tenant)),
            head,
            last,
            requests,
            [(r, p[name]) for r, p in reviewed if name in p],
            allow_unreviewed,
            log,
        )
        rows.append(f"| {name} | {row} | {', '.join(map(str, used))} |")
        applied += [r for r in used if r not in applied]
        worst = max(worst, code)
    names = ", ".join(f"[{r}]({r.url})" if r.url else str(r) for r in sorted(applied, key=lambda r: r.number))
    forge.summary(
        f"## Omnidesk channels apply of {head[:12]}\n\n"
        + (f"Applied the changes of {names}.\n\n" if names else "")
        + "\n".join(rows)
    )
    forge.outputs(exitcode=str(worst), applied_requests=json.dumps([r.number for r in applied]))
    return worst


def _merged(forge: Forge, commits: Sequence[str]) -> list[Request]:
    found: dict[int, Request] = {}
    for commit in commits:
        for request in forge.merged_requests(commit):
            found.setdefault(request.number, request)
    return list(found.values())


def _reviewed_plans(
    forge: Forge, requests: Sequence[Request], folder: Path, log: Log
) -> list[tuple[Request, dict[str, Plan]]]:
    """Each merged request's reviewed plans by tenant, in merge order."""
    reviewed = []
    for request in requests:
        paths = forge.reviewed_plans(request, folder / str(request.number))
        plans = {p.stem: Workflow().saved_plan(p) for p in paths}
        log(
            f"{forge.request_word} {request}: "
            + (
                f"reviewed plan(s) for {', '.join(sorted(plans))} at {request.head[:12]}"
                if plans
                else "no successful plan"
            )
        )
        reviewed.append((request, plans))
    return reviewed


def _views(engine: Workflow, file: str, tenants: Sequence[str | None]) -> dict[str | None, Loaded]:
    """Every tenant's view of the file from one parse (a shard's job reads only its tenant files),
    not one parse of every file per tenant; a problem in the file is then each tenant's error."""
    named = [t for t in tenants if t is not None]
    if not named:
        return {}
    try:
        return dict(engine.views(file, tenants=named))
    except ReconcilerError as exc:
        return dict.fromkeys(named, exc)


def _apply_tenant(
    forge: Forge,
    engine: Workflow,
    source: tuple[str, str | None, Loaded | None],
    head: str,
    last: str | None,
    requests: Sequence[Request],
    reviewed: Sequence[tuple[Request, Plan]],
    allow_unreviewed: bool,
    log: Log,
) -> tuple[int, list[Request], str]:
    """Plan the tenant from the branch; apply it when covered (or allowed); (exit code, requests, result).
    ``source``: the file, the tenant, and its view of the file if already loaded (``_views``)."""
    file, tenant, loaded = source
    name = tenant or DEFAULT
    try:
        if isinstance(loaded, ReconcilerError):
            raise loaded
        planned = engine.plan(file, tenant=tenant, loaded=loaded)
    except ReconcilerError as exc:
        log(f"{name}: Error: {exc}")
        return 1, [], "❌ plan failed"
    if planned.plan.is_empty:
        log(f"{name}: matches {head[:12]}; nothing to apply")
        engine.keep_versions(planned)  # its baselines: no call is made
        return 0, [], "✅ matches"
    covered = coverage.check(planned.plan, reviewed)
    if not covered.covered and not allow_unreviewed:
        _refuse(forge, name, head, last, requests, covered.missing, log)
        return 1, [], "❌ refused: not all reviewed"
    if not covered.covered:
        log(f"{name}: applying what no reviewed plan showed ({len(covered.missing)} value(s)), as allowed")
    code = _apply_one(engine, lambda: planned, log)
    done = "✅ applied" + ("" if covered.covered else ", unreviewed changes included as allowed")
    return code, covered.used, done if code == 0 else f"❌ exit {code}"


def _refuse(
    forge: Forge, name: str, head: str, last: str | None, requests: Sequence[Request], missing: Sequence[str], log: Log
) -> None:
    since = f"since the last apply ({last[:12]})" if last else "in this run"
    if not requests:
        raise CiError(
            f"{name}: refused: no reviewed plan covers {head[:12]} (no {forge.request_word} was merged "
            f"{since}); nothing was applied. To plan and apply it anyway, allow unreviewed changes."
        )
    body = (
        f"{apply_marker(name)}\n**Not applied to `{name}`.** The protected branch at `{head[:12]}` holds "
        f"changes that no reviewed plan of the {forge.request_word}s merged {since} "
        f"({', '.join(map(str, requests))}) showed, so nothing was applied:\n\n"
        + "\n".join(f"- {m}" for m in missing[:50])
        + ("\n- …" if len(missing) > 50 else "")
        + f"\n\nPlan them in a new {forge.request_word}, or apply by hand once reviewed."
    )
    for request in requests:
        done = forge.upsert_comment(request.number, apply_marker(name), body)
        log(f"{name}: refused; {forge.request_word} {request} comment {done}")
    log(
        forge.annotation(
            "error",
            f"{name}: not applied: {len(missing)} change(s) in no reviewed plan ({'; '.join(missing[:3])})",
            f"omnidesk-channels apply ({name})",
        )
    )

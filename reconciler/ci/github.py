"""GitHub Actions: what this repository's ``action.yml`` runs (validate, plan, apply, drift).

Everything it touches comes from the runner's environment: ``GITHUB_OUTPUT`` and
``GITHUB_STEP_SUMMARY`` (files it appends to), ``GITHUB_EVENT_PATH`` (the event as JSON),
``GITHUB_REPOSITORY``, ``GITHUB_API_URL`` and the token in ``GITHUB_TOKEN``. Workflow commands
(annotations, log groups) go to stdout, where the runner reads them.
"""
from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from reconciler.ci import (
    Log, RestApi, apply_saved_plans, drift_marker, extract_zip, make_folder, need, plan_comment, plan_marker,
    plan_template, render_plan, saved_plans, with_api_key,
)
from reconciler.policy import DENY, Finding, findings
from reconciler.diagnostics import github_annotations, workflow_command
from reconciler.config import load_all_views, load_channels_file
from reconciler.errors import CiError, ConfigError, Problem
from reconciler.markdown import tenant_markdown
from reconciler.multitenant import TenantPlan, exit_code, plan_tenants, tenants_of

PULL_REQUEST_EVENTS = ("pull_request", "pull_request_target")
DRIFT_LABEL = "omnidesk-drift"
DEFAULT_API_URL = "https://api.github.com"
# A job summary may hold 1 MiB; the tenants share it.
SUMMARY_LIMIT = 1_000_000


@dataclass
class Runner:
    """The runner's environment as the action sees it."""

    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    def _file(self, variable: str) -> Path:
        return Path(need(self.environ, [variable], "GitHub Actions")[variable])

    def output(self, **values: str) -> None:
        """Set step outputs; every value in the multi-line form with a delimiter no value contains."""
        with self._file("GITHUB_OUTPUT").open("a", encoding="utf-8") as fh:
            for name, value in values.items():
                delimiter = f"ghadelimiter_{uuid.uuid4()}"
                fh.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")

    def summary(self, markdown: str) -> None:
        with self._file("GITHUB_STEP_SUMMARY").open("a", encoding="utf-8") as fh:
            fh.write(markdown.rstrip("\n") + "\n\n")

    @property
    def event_name(self) -> str:
        return self.environ.get("GITHUB_EVENT_NAME", "")

    def event(self) -> dict[str, Any]:
        path = self._file("GITHUB_EVENT_PATH")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CiError(f"GITHUB_EVENT_PATH {path}: cannot read the event: {exc}") from None
        return data if isinstance(data, dict) else {}

    @property
    def repository(self) -> str:
        return need(self.environ, ["GITHUB_REPOSITORY"], "GitHub Actions")["GITHUB_REPOSITORY"]

    def api(self) -> RestApi:
        token = need(self.environ, ["GITHUB_TOKEN"], "GitHub Actions (pass github-token to the action)")
        return RestApi(
            self.environ.get("GITHUB_API_URL") or DEFAULT_API_URL,
            {"Authorization": f"Bearer {token['GITHUB_TOKEN']}", "Accept": "application/vnd.github+json",
             "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "omnidesk-channels"},
            "GitHub",
        )

    def in_workspace(self, path: str) -> str:
        """``path`` relative to the repository root, as annotations and the contents API want it."""
        workspace = self.environ.get("GITHUB_WORKSPACE")
        full = Path(path).resolve()
        if workspace and full.is_relative_to(Path(workspace).resolve()):
            return full.relative_to(Path(workspace).resolve()).as_posix()
        return Path(path).as_posix()


# -- validate --------------------------------------------------------------------------------


def validate(runner: Runner, file: str, tenant: str | None, strict: bool, log: Log) -> int:
    """Check the file offline; every problem (and warning) becomes an annotation on its line."""
    found: list[Finding] = []
    try:
        views = {tenant: load_channels_file(file, tenant=tenant)} if tenant else load_all_views(file)
        warnings = list(dict.fromkeys(w for view in views.values() for w in view.warnings))
        found = list(dict.fromkeys(f for view in views.values() for f in findings(view)))
        errors: list[Problem] = []
    except ConfigError as exc:
        errors, warnings = exc.problems, exc.warnings
    if strict:
        errors, warnings = errors + warnings, []
    # the policy's findings at the level it gives them: deny an error, warn a warning
    errors += [f.as_problem() for f in found if f.level == DENY]
    warnings += [f.as_problem() for f in found if f.level != DENY]
    located = [replace(p, file=runner.in_workspace(p.file)) for p in errors + warnings]
    annotations = github_annotations(located[:len(errors)], located[len(errors):])
    if annotations:
        log(annotations.rstrip("\n"))
    if errors:
        runner.summary("### Omnidesk channels: the channels file is not valid\n\n"
                       + "\n".join(f"- `{p}`" for p in errors))
    else:
        log(f"{file}: valid" + (f" for tenant {tenant}" if tenant else "")
            + (f" ({len(warnings)} warning(s))" if warnings else ""))
    runner.output(exitcode="1" if errors else "0")
    return 1 if errors else 0


# -- plan ------------------------------------------------------------------------------------


def chosen_tenants(file: str, tenant: str | None, all_tenants: bool) -> list[str | None]:
    if all_tenants and tenant:
        raise CiError("choose one: a tenant, or all tenants")
    return list(tenants_of(file)) if all_tenants else [tenant]


def report(results: Sequence[TenantPlan], fmt: str, log: Log) -> None:
    """Each tenant's plan in a collapsible log group; warnings and failures as annotations."""
    for result in results:
        log(f"::group::Plan for {result.name}")
        log(render_plan(result, fmt).rstrip("\n"))
        log("::endgroup::")
        for warning in result.warnings:
            log(workflow_command("warning", warning, title=f"omnidesk-channels ({result.name})"))
        if result.error:
            log(workflow_command("error", result.error, title=f"omnidesk-channels plan failed ({result.name})"))


def summary_markdown(results: Sequence[TenantPlan], title: str) -> str:
    budget = min(65_000, SUMMARY_LIMIT // max(1, len(results)))
    parts = [f"## {title}"]
    parts += [f"### {r.name}\n\n{tenant_markdown(r, limit=budget)}" for r in results]
    return "\n\n".join(parts)


def plan(runner: Runner, file: str, tenant: str | None, all_tenants: bool, out_dir: str, fmt: str,
         comment: bool, log: Log, auth: str | None = None) -> int:
    """Plan, save each tenant's plan into ``out_dir``, report, and comment on the pull request."""
    tenants = chosen_tenants(file, tenant, all_tenants)
    environ = with_api_key(runner.environ, file, tenants)
    make_folder(out_dir)
    results = plan_tenants(file, tenants, out=plan_template(out_dir), environ=environ, auth=auth,
                           secrets_at_apply=True)
    report(results, fmt, log)
    runner.summary(summary_markdown(results, "Omnidesk channels plan"))
    runner.output(
        exitcode=str(exit_code(results, detailed=True)),
        has_changes=json.dumps(any(r.has_changes for r in results)),
        plan_path=out_dir if any(r.saved for r in results) else "",
        changed_tenants=json.dumps([r.name for r in results if r.has_changes]),
    )
    if comment and runner.event_name in PULL_REQUEST_EVENTS:
        number = runner.event().get("pull_request", {}).get("number")
        if not isinstance(number, int):
            raise CiError(f"the {runner.event_name} event in GITHUB_EVENT_PATH has no pull_request.number")
        with runner.api() as api:
            for result in results:
                done, url = upsert_comment(api, runner.repository, number, plan_marker(result.name),
                                           plan_comment(result))
                log(f"{result.name}: plan comment {done}: {url}")
    return 1 if any(r.failed for r in results) else 0


def upsert_comment(api: RestApi, repo: str, number: int, marker: str, body: str) -> tuple[str, str]:
    """Create the comment that starts with ``marker``, or update it in place; ("created"|..., its URL)."""
    mine = next((c for c in api.pages(f"repos/{repo}/issues/{number}/comments")
                 if str(c.get("body") or "").startswith(marker)), None)
    if mine is None:
        made = api.json("POST", f"repos/{repo}/issues/{number}/comments", json={"body": body})
        return "created", str(made.get("html_url", ""))
    if mine.get("body") == body:
        return "unchanged", str(mine.get("html_url", ""))
    api.json("PATCH", f"repos/{repo}/issues/comments/{mine['id']}", json={"body": body})
    return "updated", str(mine.get("html_url", ""))


# -- drift -----------------------------------------------------------------------------------


def drift(runner: Runner, file: str, tenant: str | None, all_tenants: bool, fmt: str, log: Log,
          auth: str | None = None) -> int:
    """Plan each tenant; one open issue per drifted tenant (opened, updated), closed once it matches."""
    tenants = chosen_tenants(file, tenant, all_tenants)
    results = plan_tenants(file, tenants, environ=with_api_key(runner.environ, file, tenants), auth=auth)
    report(results, fmt, log)
    repo = runner.repository
    rows = ["| tenant | state | issue |", "|---|---|---|"]
    with runner.api() as api:
        issues = [i for i in api.pages(f"repos/{repo}/issues", {"state": "open", "labels": DRIFT_LABEL})
                  if "pull_request" not in i]
        for result in results:
            marker = drift_marker(result.name)
            issue = next((i for i in issues if str(i.get("body") or "").startswith(marker)), None)
            if result.failed:
                rows.append(f"| {result.name} | ❌ plan failed | {_link(issue)} |")
                continue
            if result.has_changes:
                issue, done = open_or_update(api, repo, issue, result, file)
                rows.append(f"| {result.name} | ⚠️ drifted | {_link(issue)} ({done}) |")
                log(f"{result.name}: drifted; issue #{issue['number']} {done}")
            elif issue is not None:
                close(api, repo, issue, runner)
                rows.append(f"| {result.name} | ✅ matches again | {_link(issue)} (closed) |")
                log(f"{result.name}: matches the file again; closed issue #{issue['number']}")
            else:
                rows.append(f"| {result.name} | ✅ matches | |")
    notable = [r for r in results if r.has_changes or r.failed]
    runner.summary("## Omnidesk channels drift\n\n" + "\n".join(rows)
                   + ("\n\n" + summary_markdown(notable, "Plans") if notable else ""))
    runner.output(
        exitcode=str(exit_code(results, detailed=True)),
        has_changes=json.dumps(any(r.has_changes for r in results)),
        drifted_tenants=json.dumps([r.name for r in results if r.has_changes]),
    )
    return 1 if any(r.failed for r in results) else 0


def _link(issue: Mapping[str, Any] | None) -> str:
    return f"#{issue['number']}" if issue else ""


def drift_body(result: TenantPlan, file: str) -> str:
    return (
        f"{drift_marker(result.name)}\n"
        f"The tenant `{result.name}` no longer matches `{file}`: someone changed channels outside the "
        f"pipeline (in the admin UI, or by hand). Either change `{file}` in a pull request to keep what "
        "the tenant has now, or apply the file to undo it. This issue is updated while the drift lasts "
        "and closed by the drift check once the tenant matches again.\n\n"
        + tenant_markdown(result)
    )


def open_or_update(api: RestApi, repo: str, issue: Mapping[str, Any] | None, result: TenantPlan,
                   file: str) -> tuple[Mapping[str, Any], str]:
    body = drift_body(result, file)
    if issue is None:
        made = api.json("POST", f"repos/{repo}/issues", json={
            "title": f"Omnidesk channels: {result.name} drifted from {file}", "body": body, "labels": [DRIFT_LABEL],
        })
        return made, "opened"
    if issue.get("body") == body:
        return issue, "unchanged"
    api.json("PATCH", f"repos/{repo}/issues/{issue['number']}", json={"body": body})
    return issue, "updated"


def close(api: RestApi, repo: str, issue: Mapping[str, Any], runner: Runner) -> None:
    run = _run_url(runner.environ)
    note = f"The tenant matches the channels file again{f' ({run})' if run else ''}: closing."
    api.json("POST", f"repos/{repo}/issues/{issue['number']}/comments", json={"body": note})
    api.json("PATCH", f"repos/{repo}/issues/{issue['number']}", json={"state": "closed", "state_reason": "completed"})


def _run_url(environ: Mapping[str, str]) -> str:
    parts = [environ.get(n) for n in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")]
    return f"{parts[0]}/{parts[1]}/actions/runs/{parts[2]}" if all(parts) else ""


# -- apply -----------------------------------------------------------------------------------


def apply(runner: Runner, file: str, plan_path: str | None, tenant: str | None, artifact: str,
          download_dir: str, extra: Sequence[str], log: Log) -> int:
    """Apply saved plans: ``plan_path``, or the reviewed plan of the merged pull request."""
    environ = with_api_key(runner.environ, file, [tenant])
    if not plan_path:
        plan_path = fetch_reviewed_plan(runner, file, artifact, download_dir, log)
    outcomes = apply_saved_plans(saved_plans(plan_path), tenant=tenant, extra=extra, log=log, environ=environ)
    worst = max((code for _, code in outcomes), default=0)
    rows = ["| saved plan | result |", "|---|---|"]
    rows += [f"| `{p.name}` | {'✅ applied' if code == 0 else f'❌ exit {code}'} |" for p, code in outcomes]
    runner.summary("## Omnidesk channels apply\n\n" + "\n".join(rows))
    runner.output(exitcode=str(worst))
    return worst


def fetch_reviewed_plan(runner: Runner, file: str, artifact: str, folder: str, log: Log) -> str:
    """Download the plan artifact of the merged pull request's last successful run of this workflow.

    Refuses when the channels file that was merged differs from the one the plan was made from
    (the base moved on after the plan): that plan would not be what the branch now says.
    """
    event = runner.event()
    pull = event.get("pull_request") or {}
    if runner.event_name not in PULL_REQUEST_EVENTS or not pull.get("merged"):
        raise CiError("no saved plan given and this is not a merged pull request: pass the plan "
                      "(plan: in the action, --plan here) or run on the pull request's closed event")
    head = str(pull.get("head", {}).get("sha", ""))
    repo = runner.repository
    workflow = need(runner.environ, ["GITHUB_WORKFLOW"], "GitHub Actions")["GITHUB_WORKFLOW"]
    with runner.api() as api:
        remote = api.call("GET", f"repos/{repo}/contents/{runner.in_workspace(file)}", params={"ref": head},
                          headers={"Accept": "application/vnd.github.raw+json"}).content
        if remote != Path(file).read_bytes():
            raise CiError(f"{file} as merged differs from the reviewed pull request head {head[:12]}: the "
                          "reviewed plan is not for this file; nothing was applied. Plan again (a new pull "
                          "request, or require branches to be up to date before merging).")
        runs = api.json("GET", f"repos/{repo}/actions/runs",
                        params={"head_sha": head, "status": "success", "per_page": 100}).get("workflow_runs", [])
        runs = sorted((r for r in runs if r.get("name") == workflow and r.get("event") in PULL_REQUEST_EVENTS),
                      key=lambda r: (r.get("run_number", 0), r.get("run_attempt", 0)), reverse=True)
        for run in runs:
            found = api.json("GET", f"repos/{repo}/actions/runs/{run['id']}/artifacts",
                             params={"name": artifact}).get("artifacts", [])
            art = next((a for a in found if a.get("name") == artifact and not a.get("expired")), None)
            if art is None:
                continue
            content = api.call("GET", str(art["archive_download_url"])).content
            extract_zip(content, folder, f"artifact {artifact} of run {run['id']}")
            log(f"Downloaded the reviewed plan: artifact {artifact} of run {run['id']} (head {head[:12]}) to {folder}")
            return folder
    raise CiError(f"no successful run of {workflow!r} for the pull request head {head[:12]} has an artifact "
                  f"{artifact!r}: nothing reviewed to apply")

"""GitLab CI: what the template ``examples/gitlab/omnidesk-channels.gitlab-ci.yml`` runs.

``plan`` writes one note per tenant on the merge request (found again by its marker, updated in
place); ``fetch`` downloads, on the default branch after the merge, the plans that were reviewed.
Uses the predefined ``CI_*`` variables and ``GITLAB_API_TOKEN`` (a project access token with the
``api`` scope); outside GitLab it stops with the names of the variables it misses. Needs no git.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from reconciler.ci import (
    Log, RestApi, extract_zip, make_folder, need, plan_comment, plan_marker, plan_template, render_plan, saved_plans,
)
from reconciler.errors import CiError
from reconciler.multitenant import plan_tenants, tenants_of

WHERE = "GitLab CI"
API = ("CI_API_V4_URL", "CI_PROJECT_ID", "GITLAB_API_TOKEN")


@dataclass
class Job:
    """The job's environment."""

    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    def need(self, *names: str) -> dict[str, str]:
        return need(self.environ, [*API, *names], WHERE)

    def api(self) -> RestApi:
        env = self.need()
        return RestApi(env["CI_API_V4_URL"], {"PRIVATE-TOKEN": env["GITLAB_API_TOKEN"],
                                              "User-Agent": "omnidesk-channels"}, "GitLab")

    @property
    def project(self) -> str:
        return "projects/" + urllib.parse.quote(self.need()["CI_PROJECT_ID"], safe="")


def plan(job: Job, file: str, tenant: str | None, all_tenants: bool, out_dir: str, fmt: str, note: bool,
         log: Log, auth: str | None = None) -> int:
    """Plan each tenant, save the plans into ``out_dir``, and keep the merge request's notes current."""
    if all_tenants and tenant:
        raise CiError("choose one: --tenant, or --all-tenants")
    iid = job.need("CI_MERGE_REQUEST_IID")["CI_MERGE_REQUEST_IID"] if note else ""
    make_folder(out_dir)
    results = plan_tenants(file, tenants_of(file) if all_tenants else [tenant], out=plan_template(out_dir),
                           environ=job.environ, auth=auth, secrets_at_apply=True)
    for result in results:
        log(f"--- Plan for {result.name}")
        log(render_plan(result, fmt).rstrip("\n"))
        log("".join(f"Warning: {w}\n" for w in result.warnings).rstrip("\n"))
    if note:
        with job.api() as api:
            for result in results:
                done = upsert_note(api, job.project, iid, plan_marker(result.name), plan_comment(result))
                log(f"{result.name}: merge request note {done}")
    return 1 if any(r.failed for r in results) else 0


def upsert_note(api: RestApi, project: str, iid: str, marker: str, body: str) -> str:
    """Create the merge request note that starts with ``marker``, or update it in place."""
    notes = f"{project}/merge_requests/{iid}/notes"
    mine = next((n for n in api.pages(notes, {"sort": "asc", "order_by": "created_at"})
                 if str(n.get("body") or "").startswith(marker)), None)
    if mine is None:
        api.json("POST", notes, json={"body": body})
        return "created"
    if mine.get("body") == body:
        return "unchanged"
    api.json("PUT", f"{notes}/{mine['id']}", json={"body": body})
    return "updated"


def fetch_reviewed_plan(job: Job, file: str, job_name: str, out_dir: str, log: Log) -> list[Path]:
    """The plans of the merged request's last successful pipeline at its head, into ``out_dir``.

    Refuses when the merged channels file differs from the one at the request's head (what was
    planned and reviewed), compared through the API, so the job needs no git.
    """
    sha = job.need("CI_COMMIT_SHA")["CI_COMMIT_SHA"]
    with job.api() as api:
        project = job.project
        requests: list[dict[str, Any]] = api.json("GET", f"{project}/repository/commits/{sha}/merge_requests") or []
        request = next((r for r in requests if r.get("state") == "merged"), None)
        if request is None:
            raise CiError(f"commit {sha[:12]} did not come from a merged merge request: nothing reviewed to apply")
        head = str(request.get("sha", ""))
        path = urllib.parse.quote(Path(file).as_posix(), safe="")
        planned = api.call("GET", f"{project}/repository/files/{path}/raw", params={"ref": head}).content
        if planned != Path(file).read_bytes():
            raise CiError(f"{file} as merged differs from the reviewed merge request head {head[:12]}: the "
                          "reviewed plan is not for this file; nothing was applied. Plan again (fast-forward "
                          "or semi-linear merges keep them equal).")
        pipelines = api.json("GET", f"{project}/merge_requests/{request['iid']}/pipelines") or []
        pipeline = next((p for p in pipelines if p.get("sha") == head and p.get("status") == "success"), None)
        if pipeline is None:
            raise CiError(f"no successful pipeline of !{request['iid']} at {head[:12]}: nothing reviewed to apply")
        jobs = api.pages(f"{project}/pipelines/{pipeline['id']}/jobs", {"scope[]": "success"})
        plan_job = next((j for j in jobs if j.get("name") == job_name), None)
        if plan_job is None:
            raise CiError(f"pipeline {pipeline['id']} has no successful job {job_name!r}: nothing reviewed to apply")
        archive = api.call("GET", f"{project}/jobs/{plan_job['id']}/artifacts").content
    with tempfile.TemporaryDirectory() as unpacked:
        extract_zip(archive, unpacked, f"the artifacts of job {plan_job['id']}")
        found = saved_plans(Path(unpacked) / out_dir)
        make_folder(out_dir)
        copied = [Path(shutil.copy(p, Path(out_dir) / p.name)) for p in found]
    log(f"Fetched {len(copied)} reviewed plan(s) of !{request['iid']} (job {plan_job['id']}) into {out_dir}")
    return copied

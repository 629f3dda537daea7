"""GitLab CI: the ``Forge`` that the template ``examples/gitlab/omnidesk-channels.gitlab-ci.yml`` runs.

Uses the predefined ``CI_*`` variables and ``GITLAB_API_TOKEN`` (a project access token, role
Reporter, scope ``api``; protected, so merge request pipelines never see it: their plan note uses
a token of its own, mapped in the project's ``.gitlab-ci.yml``). Outside GitLab it stops with the
names of the variables it misses. Needs no git: files, commits and artifacts come through the API.
GitLab has no job summary: the summary goes to the job log; outputs go to the dotenv report named
by ``OMNIDESK_CI_DOTENV`` when it is set.
"""

from __future__ import annotations

import os
import re
import tempfile
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.ci import Log, RestApi, driftcount, extract_zip, need, saved_plans, secretrecord
from reconciler.ci.forge import Issue, Request
from reconciler.errors import CiError
from reconciler.snapshot import Snapshot

WHERE = "GitLab CI"
API = ("CI_API_V4_URL", "CI_PROJECT_ID", "GITLAB_API_TOKEN")
DRIFT_LABEL = "omnidesk-drift"
# How many earlier pipelines the drift state or the secret-version record is looked for in.
DRIFT_PIPELINES_SEARCHED = 10


@dataclass
class GitLab:
    """The job's environment, and the project's API (opened on first use)."""

    log: Log
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    plan_job: str = "omnidesk-plan"
    plan_dir: str = "omnidesk-plan"
    applying: bool = False  # this is the apply job (whose earlier runs kept the secret-version record)
    name: str = "GitLab"
    request_word: str = "merge request"
    _api: RestApi | None = field(default=None, init=False, repr=False)

    def need(self, *names: str) -> dict[str, str]:
        return need(self.environ, [*API, *names], WHERE)

    def close(self) -> None:
        if self._api is not None:
            self._api.close()

    @property
    def api(self) -> RestApi:
        if self._api is None:
            env = self.need()
            self._api = RestApi(
                env["CI_API_V4_URL"],
                {"PRIVATE-TOKEN": env["GITLAB_API_TOKEN"], "User-Agent": "omnidesk-channels"},
                "GitLab",
            )
        return self._api

    @property
    def project(self) -> str:
        return "projects/" + urllib.parse.quote(self.need()["CI_PROJECT_ID"], safe="")

    # -- what the job reports --------------------------------------------------------------------

    def request_number(self) -> int | None:
        return int(self.need("CI_MERGE_REQUEST_IID")["CI_MERGE_REQUEST_IID"])

    def upsert_comment(self, number: int, marker: str, body: str) -> str:
        notes = f"{self.project}/merge_requests/{number}/notes"
        mine = next(
            (
                n
                for n in self.api.pages(notes, {"sort": "asc", "order_by": "created_at"})
                if str(n.get("body") or "").startswith(marker)
            ),
            None,
        )
        if mine is None:
            self.api.json("POST", notes, json={"body": body})
            return "created"
        if mine.get("body") == body:
            return "unchanged"
        self.api.json("PUT", f"{notes}/{mine['id']}", json={"body": body})
        return "updated"

    def summary(self, markdown: str) -> None:
        self.log(markdown.rstrip("\n"))

    def outputs(self, **values: str) -> None:
        dotenv = self.environ.get("OMNIDESK_CI_DOTENV")
        if dotenv:
            with open(dotenv, "a", encoding="utf-8") as fh:
                fh.writelines(f"OMNIDESK_{name.upper()}={' '.join(value.split())}\n" for name, value in values.items())

    def group(self, title: str, text: str) -> str:
        return f"--- {title}\n{text}"

    def annotation(self, level: str, message: str, title: str) -> str:
        return f"{level.capitalize()}: {title}: {message}"

    # -- a fork's merge request ---------------------------------------------------------------------

    def from_fork(self) -> bool:
        """A merge request whose source project is not this one (GitLab's fork merge requests)."""
        source = self.environ.get("CI_MERGE_REQUEST_SOURCE_PROJECT_ID")
        return bool(source) and source != self.environ.get("CI_MERGE_REQUEST_PROJECT_ID", source)

    def snapshot(self, path: str) -> Snapshot | None:
        """``path`` on the merge request's target branch, and the date of the last commit there that changed it."""
        ref = self.need("CI_MERGE_REQUEST_TARGET_BRANCH_NAME")["CI_MERGE_REQUEST_TARGET_BRANCH_NAME"]
        quoted = urllib.parse.quote(path, safe="")
        try:
            text = self.api.call("GET", f"{self.project}/repository/files/{quoted}/raw", params={"ref": ref}).text
        except CiError as exc:
            if exc.status == 404:
                return None
            raise
        commits = (
            self.api.json(
                "GET", f"{self.project}/repository/commits", params={"path": path, "ref_name": ref, "per_page": 1}
            )
            or []
        )
        date = str(commits[0].get("committed_date") or "") if commits else ""
        return Snapshot(path, date[:10] or "an unknown date", text)

    # -- drift issues ----------------------------------------------------------------------------

    def drift_issues(self) -> list[Issue]:
        found = self.api.pages(f"{self.project}/issues", {"state": "opened", "labels": DRIFT_LABEL})
        return [Issue(int(i["iid"]), str(i.get("description") or ""), str(i.get("web_url", ""))) for i in found]

    def open_issue(self, title: str, body: str) -> Issue:
        made = self.api.json(
            "POST", f"{self.project}/issues", json={"title": title, "description": body, "labels": DRIFT_LABEL}
        )
        return Issue(int(made["iid"]), body, str(made.get("web_url", "")))

    def update_issue(self, issue: Issue, body: str) -> None:
        self.api.json("PUT", f"{self.project}/issues/{issue.number}", json={"description": body})

    def close_issue(self, issue: Issue, note: str) -> None:
        self.api.json("POST", f"{self.project}/issues/{issue.number}/notes", json={"body": note})
        self.api.json("PUT", f"{self.project}/issues/{issue.number}", json={"state_event": "close"})

    def drift_state(self, folder: Path) -> Path | None:
        """The state in the artifacts of this job's newest earlier run (same name, branch and source).

        A drift job that exits 2 under ``allow_failure`` ends "failed" and still keeps its
        artifacts (``when: always``), so finished jobs of either outcome count.
        """
        env = self.need("CI_JOB_NAME", "CI_COMMIT_REF_NAME")
        source = self.environ.get("CI_PIPELINE_SOURCE")
        if not self._newest_artifacts(env["CI_COMMIT_REF_NAME"], env["CI_JOB_NAME"], source, folder):
            return None
        state = folder / driftcount.STATE_DIR / driftcount.STATE_FILE
        return state if state.is_file() else None

    @property
    def apply_job(self) -> str:
        """The apply job, whose artifacts hold the record: this one when it is running, else the
        template's ``omnidesk-apply`` of this job's shard (``omnidesk-apply 2/4`` for a plan job of
        ``parallel: 4``); ``OMNIDESK_CI_APPLY_JOB`` names another."""
        if self.applying and self.environ.get("CI_JOB_NAME"):
            return self.environ["CI_JOB_NAME"]
        index, total = self.environ.get("CI_NODE_INDEX"), self.environ.get("CI_NODE_TOTAL", "1")
        shard = f" {index}/{total}" if index and total != "1" else ""
        return self.environ.get("OMNIDESK_CI_APPLY_JOB") or f"omnidesk-apply{shard}"

    def secret_versions(self, folder: Path) -> Path | None:
        """The record in the artifacts of the newest earlier apply job (``apply_job``) on the default
        branch, pushed or run by hand, failed or not (a failed apply records the writes that succeeded)."""
        default = self.need("CI_DEFAULT_BRANCH")["CI_DEFAULT_BRANCH"]
        if not self._newest_artifacts(default, self.apply_job, None, folder):
            return None
        record = folder / secretrecord.STATE_DIR / secretrecord.RECORD
        return record if record.is_file() else None

    def _newest_artifacts(self, ref: str, job_name: str, source: str | None, folder: Path) -> bool:
        """Unpack into ``folder`` the artifacts of the newest finished job ``job_name`` of an earlier
        pipeline on ``ref`` (of ``source`` when given) that kept some; whether one was found."""
        params = {
            "ref": ref,
            "order_by": "id",
            "sort": "desc",
            "per_page": 20,
            **({"source": source} if source else {}),
        }
        pipelines = self.api.json("GET", f"{self.project}/pipelines", params=params) or []
        current = self.environ.get("CI_PIPELINE_ID", "")
        for pipeline in [p for p in pipelines if str(p.get("id")) != current][:DRIFT_PIPELINES_SEARCHED]:
            jobs = self.api.pages(f"{self.project}/pipelines/{pipeline['id']}/jobs", {"scope[]": ["success", "failed"]})
            job = next((j for j in jobs if j.get("name") == job_name and j.get("artifacts_file")), None)
            if job is None:
                continue
            archive = self.api.call("GET", f"{self.project}/jobs/{job['id']}/artifacts").content
            extract_zip(archive, folder, f"the artifacts of job {job['id']}")
            return True
        return False

    # -- applying on the protected branch --------------------------------------------------------

    def protected_commit(self) -> str:
        """Only a pipeline of the default branch, protected, and not a merge request's, applies."""
        self.need("CI_COMMIT_SHA")
        env = self.environ
        source, branch = env.get("CI_PIPELINE_SOURCE", ""), env.get("CI_COMMIT_BRANCH", "")
        default, protected = env.get("CI_DEFAULT_BRANCH", ""), env.get("CI_COMMIT_REF_PROTECTED") == "true"
        if source == "merge_request_event" or not branch or branch != default or not protected:
            raise CiError(
                f"apply runs only in pipelines of the protected default branch {default or '(unknown)'}; "
                f"this {source or 'unknown'} pipeline's branch is {branch or 'none'}"
                f"{'' if protected else ' (not protected)'}: nothing was applied",
                variables=("CI_COMMIT_BRANCH", "CI_COMMIT_REF_PROTECTED"),
            )
        return self.need("CI_COMMIT_SHA")["CI_COMMIT_SHA"]

    def last_applied(self) -> str | None:
        """The commit of the environment's last successful deployment (the apply job declares one)."""
        environment = self.need("CI_ENVIRONMENT_NAME")["CI_ENVIRONMENT_NAME"]
        done: list[dict[str, Any]] = (
            self.api.json(
                "GET",
                f"{self.project}/deployments",
                params={
                    "environment": environment,
                    "status": "success",
                    "order_by": "id",
                    "sort": "desc",
                    "per_page": 1,
                },
            )
            or []
        )
        return str(done[0]["sha"]) if done else None

    def commits_since(self, base: str | None, head: str) -> list[str] | None:
        if base is None:
            return [head]
        commits = self._compare(base, head)
        if commits or base == head:
            return commits
        return None if self._compare(head, base) else []

    def _compare(self, base: str, head: str) -> list[str]:
        compared = self.api.json("GET", f"{self.project}/repository/compare", params={"from": base, "to": head}) or {}
        return [str(c["id"]) for c in compared.get("commits", [])]

    def merged_requests(self, commit: str) -> list[Request]:
        default = self.need("CI_DEFAULT_BRANCH")["CI_DEFAULT_BRANCH"]
        found = self.api.json("GET", f"{self.project}/repository/commits/{commit}/merge_requests") or []
        return [
            Request(int(r["iid"]), str(r.get("sha", "")), str(r.get("web_url", "")), "!")
            for r in found
            if r.get("state") == "merged" and r.get("target_branch", default) == default
        ]

    def reviewed_plans(self, request: Request, folder: Path) -> list[Path]:
        """The plan job's artifacts of the request's last successful pipeline at its head: of every
        job of a plan job with ``parallel: N`` (``omnidesk-plan 2/4``), whatever this job's shard."""
        pipelines = self.api.json("GET", f"{self.project}/merge_requests/{request.number}/pipelines") or []
        pipeline = next((p for p in pipelines if p.get("sha") == request.head and p.get("status") == "success"), None)
        if pipeline is None:
            return []
        jobs = self.api.pages(f"{self.project}/pipelines/{pipeline['id']}/jobs", {"scope[]": "success"})
        named = re.compile(re.escape(self.plan_job) + r"( \d+/\d+)?")
        for job in [j for j in jobs if named.fullmatch(str(j.get("name", "")))]:
            self._unpack_plans(int(job["id"]), folder)
        return saved_plans(folder) if folder.is_dir() else []

    def _unpack_plans(self, job: int, folder: Path) -> None:
        """Copy the saved plans of ``job``'s artifacts into ``folder``; a shard that planned no tenant
        saved none, and GitLab keeps no artifacts for an empty folder (404)."""
        try:
            archive = self.api.call("GET", f"{self.project}/jobs/{job}/artifacts").content
        except CiError as exc:
            if exc.status == 404:
                return
            raise
        with tempfile.TemporaryDirectory() as unpacked:
            extract_zip(archive, unpacked, f"the artifacts of job {job}")
            inside = Path(unpacked) / self.plan_dir
            if not inside.is_dir():
                raise CiError(f"the artifacts of job {job} hold no folder {self.plan_dir}/")
            folder.mkdir(parents=True, exist_ok=True)
            for path in saved_plans(inside):
                (folder / path.name).write_bytes(path.read_bytes())

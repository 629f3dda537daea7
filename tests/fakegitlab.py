"""GitLab's rules around a pipeline, for the template's jobs (``examples/gitlab/``), on ``FakeGitLab``.

``Project`` keeps the default branch's history (one commit per merged merge request, or a direct
push), the merge requests with their plan pipelines, the environment's deployments (what the
apply job records), drift issues, and answers the API calls that read them (compare, a commit's
merge requests, deployments, issues). ``variables`` gives a pipeline what GitLab gives it: the
protected variables only in pipelines of a protected branch, never in a merge request's.
A resource group in its default process mode (unordered) may start a newer pipeline's job
before an older one's: tests run them in that order.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.fakeforge import FakeGitLab, Reply, Request, zip_of

FILE = "channels.yaml"
TEMPLATE = Path(__file__).resolve().parent.parent / "examples" / "gitlab" / "omnidesk-channels.gitlab-ci.yml"


def expand(value: str, env: Mapping[str, str]) -> str:
    """``$NAME`` and ``${NAME}`` as GitLab expands them in ``variables:`` (unset: empty)."""
    return re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), ""), value)


@dataclass
class Job:
    """One job as GitLab makes it of the template's job and the project's ``.gitlab-ci.yml``: the
    included template's keys with the project's merged over them, ``variables:`` hash by hash, and
    ``parallel: N`` made into N jobs named ``NAME K/N`` with CI_NODE_INDEX and CI_NODE_TOTAL (a job
    without parallel: gets CI_NODE_TOTAL 1 and no CI_NODE_INDEX, as GitLab gives it)."""

    name: str
    spec: dict[str, Any]
    scopes: list[dict[str, Any]]  # variables: of the template, the project, the template's job, the project's job
    predefined: dict[str, str]

    def run(
        self, project: Mapping[str, str], workdir: Path, overrides: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """The script, run by bash as a runner would (the image's pip install aside: the tool is this
        checkout's). ``project``: CI/CD variables and predefined ones; ``overrides`` win over the YAML's."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CI_", "GITLAB_", "OMNIDESK_"))}
        env.update(self.predefined)
        env.update(project)
        for scope in self.scopes:
            env.update({k: expand(str(v), env) for k, v in scope.items()})
        env.update(overrides or {})
        if "environment" in self.spec:
            env["CI_ENVIRONMENT_NAME"] = self.environment(env)
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        return subprocess.run(
            ["bash", "-e", "-c", "\n".join(self.spec["script"])],
            env=env,
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def environment(self, env: Mapping[str, str]) -> str:
        return expand(str(self.spec["environment"]["name"]), {**self.predefined, **env})

    def resource_group(self) -> str:
        return expand(str(self.spec.get("resource_group", "")), self.predefined)


def jobs_of(name: str, example: Path) -> list[Job]:
    """The jobs GitLab makes of the template's job ``name`` in a project whose file is ``example``."""
    template, project = yaml.safe_load(TEMPLATE.read_text()), yaml.safe_load(example.read_text())
    mine = project.get(name) or {}
    spec = {**template[name], **mine}
    scopes = [template["variables"], project.get("variables", {}), template[name].get("variables", {})]
    scopes.append(mine.get("variables", {}))
    total = int(spec.get("parallel", 0))
    if not total:
        return [Job(name, spec, scopes, {"CI_JOB_NAME": name, "CI_NODE_TOTAL": "1"})]
    return [
        Job(
            f"{name} {k}/{total}",
            spec,
            scopes,
            {"CI_JOB_NAME": f"{name} {k}/{total}", "CI_NODE_INDEX": str(k), "CI_NODE_TOTAL": str(total)},
        )
        for k in range(1, total + 1)
    ]


class Project:
    def __init__(
        self, gitlab: FakeGitLab, text: str, *, protected: dict[str, str], unprotected: dict[str, str]
    ) -> None:
        self.gitlab, self.protected, self.unprotected = gitlab, protected, unprotected
        self.files: dict[str, str] = {}
        self.main: list[str] = []
        self.deployments: list[dict[str, Any]] = []
        self.issues: list[dict[str, Any]] = []
        self.branch_pipelines: list[dict[str, Any]] = []  # pipelines of branches (schedules, pushes)
        self.count = 0
        self.push(text)
        base = f"/api/v4/projects/{gitlab.project}"
        gitlab.route("GET", rf"{base}/repository/compare", self.compare)
        gitlab.route("GET", rf"{base}/deployments", self.list_deployments)
        gitlab.route("GET", rf"{base}/pipelines", self.list_pipelines)
        gitlab.route("GET", rf"{base}/issues", self.list_issues)
        gitlab.route("POST", rf"{base}/issues", self.create_issue)
        gitlab.route("PUT", rf"{base}/issues/(\d+)", self.update_issue)
        gitlab.route("POST", rf"{base}/issues/(\d+)/notes", self.issue_note)

    def new_sha(self) -> str:
        """A new commit's id (on no branch yet: a merge request's head)."""
        self.count += 1
        return f"{self.count:040x}"

    @property
    def head(self) -> str:
        return self.main[-1]

    def push(self, text: str) -> str:
        """A commit on the default branch (a direct push)."""
        sha = self.new_sha()
        self.files[sha] = text
        self.main.append(sha)
        return sha

    def variables(self, source: str, branch: str | None) -> dict[str, str]:
        """What a pipeline gets: protected variables only on the protected default branch."""
        protected = source != "merge_request_event" and branch == "main"
        return {**self.unprotected, **(self.protected if protected else {})}

    def request_pipeline(self, iid: int, head: str) -> dict[str, Any]:
        """A merge request pipeline at the request's ``head`` starts: running, its jobs still to come."""
        pipeline = {"id": self.gitlab._id(), "sha": head, "status": "running"}
        self.gitlab.pipelines.setdefault(iid, []).insert(0, pipeline)
        self.gitlab.jobs[pipeline["id"]] = []
        return pipeline

    def merge(
        self, iid: int, change: Callable[[str], str], plans: dict[str, str] | None, head: str | None = None
    ) -> str:
        """Merge request ``iid`` (its plan job's artifacts ``plans``, None: no successful plan) lands;
        ``head``: its last commit (default: a new one)."""
        head = head or self.new_sha()
        sha = self.push(change(self.files[self.head]))
        self.gitlab.merge_requests[sha] = [
            {
                "iid": iid,
                "state": "merged",
                "sha": head,
                "target_branch": "main",
                "web_url": f"https://gitlab.example.com/acme/x/-/merge_requests/{iid}",
            }
        ]
        if plans is not None:
            pipeline = {"id": self.gitlab._id(), "sha": head, "status": "success"}
            self.gitlab.pipelines.setdefault(iid, []).insert(0, pipeline)
            job = {"id": self.gitlab._id(), "name": "omnidesk-plan", "status": "success"}
            self.gitlab.jobs[pipeline["id"]] = [job]
            self.gitlab.job_artifacts[job["id"]] = zip_of(plans)
        return sha

    def deploy(self, sha: str, environment: str) -> dict[str, Any]:
        """The apply job starts: GitLab records a running deployment of its commit."""
        deployment = {"id": self.gitlab._id(), "sha": sha, "status": "running", "environment": environment}
        self.deployments.append(deployment)
        return deployment

    def pipeline(self, source: str, ref: str = "main") -> dict[str, Any]:
        """A pipeline starts: listed at once, running, its jobs still to come."""
        pipeline = {"id": self.gitlab._id(), "ref": ref, "source": source, "sha": self.head, "status": "running"}
        self.branch_pipelines.append(pipeline)
        self.gitlab.jobs[pipeline["id"]] = []
        return pipeline

    def finish_job(
        self,
        pipeline: dict[str, Any],
        name: str,
        exit_code: int,
        allowed: tuple[int, ...],
        artifacts: dict[str, str] | None,
    ) -> dict[str, Any]:
        """A job ends: "failed" for any exit code but 0 (``allow_failure`` only keeps the pipeline
        green); its artifacts, when it kept any, downloadable as one archive."""
        job: dict[str, Any] = {
            "id": self.gitlab._id(),
            "name": name,
            "status": "success" if exit_code == 0 else "failed",
            "allow_failure": exit_code in allowed,
        }
        if artifacts:
            job["artifacts_file"] = {"filename": "artifacts.zip", "size": 1}
            self.gitlab.job_artifacts[job["id"]] = zip_of(artifacts)
        self.gitlab.jobs[pipeline["id"]].append(job)
        pipeline["status"] = (
            "success"
            if all(j["status"] == "success" or j["allow_failure"] for j in self.gitlab.jobs[pipeline["id"]])
            else "failed"
        )
        return job

    def list_pipelines(self, r: Request) -> Reply:
        """As GitLab filters (``ref``, ``source``) and orders (``order_by=id``, ``sort``: desc by default)."""
        found = [
            p
            for p in self.branch_pipelines
            if p["ref"] == r.query.get("ref", p["ref"]) and p["source"] == r.query.get("source", p["source"])
        ]
        found.sort(key=lambda p: p["id"], reverse=r.query.get("sort", "desc") == "desc")
        return self.gitlab.paged(r, found)

    def compare(self, r: Request) -> Reply:
        base, head = self.main.index(r.query["from"]), self.main.index(r.query["to"])
        return Reply(200, {"commits": [{"id": s} for s in self.main[base + 1 : head + 1]]})

    def list_deployments(self, r: Request) -> Reply:
        found = [
            d
            for d in reversed(self.deployments)
            if d["environment"] == r.query.get("environment") and d["status"] == r.query.get("status", d["status"])
        ]
        return Reply(200, found[: int(r.query.get("per_page", 20))])

    def list_issues(self, r: Request) -> Reply:
        labels = set(filter(None, r.query.get("labels", "").split(",")))
        return self.gitlab.paged(
            r, [i for i in self.issues if i["state"] == r.query.get("state", i["state"]) and labels <= set(i["labels"])]
        )

    def create_issue(self, r: Request) -> Reply:
        issue = {
            "iid": len(self.issues) + 1,
            "title": r.body["title"],
            "description": r.body["description"],
            "labels": r.body["labels"].split(","),
            "state": "opened",
            "notes": [],
        }
        self.issues.append(issue)
        return Reply(201, issue)

    def update_issue(self, r: Request) -> Reply:
        issue = self.issues[int(r.match.group(1)) - 1]
        if "description" in r.body:
            issue["description"] = r.body["description"]
        if r.body.get("state_event") == "close":
            issue["state"] = "closed"
        return Reply(200, issue)

    def issue_note(self, r: Request) -> Reply:
        self.issues[int(r.match.group(1)) - 1]["notes"].append(r.body["body"])
        return Reply(201, {"body": r.body["body"]})

    def run_in(
        self,
        pipeline: dict[str, Any],
        job: Job,
        env: Mapping[str, str],
        workdir: Path,
        overrides: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """``job`` in ``pipeline`` as GitLab runs it: a fresh checkout (nothing the last job left in
        its ``artifacts:`` paths), a deployment of its environment if it has one, then its outcome
        and its artifacts kept as ``artifacts:`` says (``when: on_success`` unless it says otherwise)."""
        kept = job.spec.get("artifacts", {})
        for path in kept.get("paths", []):
            shutil.rmtree(workdir / path, ignore_errors=True)
        deployment = None
        if "environment" in job.spec:
            deployment = self.deploy(pipeline["sha"], job.environment({**env, **(overrides or {})}))
        result = job.run({**env, "CI_COMMIT_SHA": pipeline["sha"]}, workdir, overrides)
        if deployment is not None:
            deployment["status"] = "success" if result.returncode == 0 else "failed"
        artifacts = None
        if kept and (result.returncode == 0 or kept.get("when") == "always"):
            artifacts = {
                f.relative_to(workdir).as_posix(): f.read_text()
                for path in kept["paths"]
                for f in sorted((workdir / path).rglob("*"))
                if f.is_file()
            }
        allowed = tuple(job.spec.get("allow_failure", {}).get("exit_codes", ()))
        self.finish_job(pipeline, job.name, result.returncode, allowed, artifacts or None)
        return result

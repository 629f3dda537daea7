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

from typing import Any, Callable

from tests.fakeforge import FakeGitLab, Reply, Request, zip_of

FILE = "channels.yaml"


class Project:
    def __init__(
        self, gitlab: FakeGitLab, text: str, *, protected: dict[str, str], unprotected: dict[str, str]
    ) -> None:
        self.gitlab, self.protected, self.unprotected = gitlab, protected, unprotected
        self.files: dict[str, str] = {}
        self.main: list[str] = []
        self.deployments: list[dict[str, Any]] = []
        self.issues: list[dict[str, Any]] = []
        self.count = 0
        self.push(text)
        base = f"/api/v4/projects/{gitlab.project}"
        gitlab.route("GET", rf"{base}/repository/compare", self.compare)
        gitlab.route("GET", rf"{base}/deployments", self.list_deployments)
        gitlab.route("GET", rf"{base}/issues", self.list_issues)
        gitlab.route("POST", rf"{base}/issues", self.create_issue)
        gitlab.route("PUT", rf"{base}/issues/(\d+)", self.update_issue)
        gitlab.route("POST", rf"{base}/issues/(\d+)/notes", self.issue_note)

    def _sha(self) -> str:
        self.count += 1
        return f"{self.count:040x}"

    @property
    def head(self) -> str:
        return self.main[-1]

    def push(self, text: str) -> str:
        """A commit on the default branch (a direct push)."""
        sha = self._sha()
        self.files[sha] = text
        self.main.append(sha)
        return sha

    def variables(self, source: str, branch: str | None) -> dict[str, str]:
        """What a pipeline gets: protected variables only on the protected default branch."""
        protected = source != "merge_request_event" and branch == "main"
        return {**self.unprotected, **(self.protected if protected else {})}

    def merge(self, iid: int, change: Callable[[str], str], plans: dict[str, str] | None) -> str:
        """Merge request ``iid`` (its plan job's artifacts ``plans``, None: no successful plan) lands."""
        head = self._sha()
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

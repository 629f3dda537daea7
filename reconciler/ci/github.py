"""GitHub Actions: the ``Forge`` that this repository's ``action.yml`` runs the shared flow with.

Everything it touches comes from the runner's environment: ``GITHUB_OUTPUT`` and
``GITHUB_STEP_SUMMARY`` (files it appends to), ``GITHUB_EVENT_PATH`` (the event as JSON),
``GITHUB_REF``, ``GITHUB_SHA``, ``GITHUB_REPOSITORY``, ``GITHUB_WORKFLOW``, ``GITHUB_API_URL`` and
the token in ``GITHUB_TOKEN``. Workflow commands (annotations, log groups) go to stdout, where the
runner reads them. ``validate`` (annotations on the file's lines) is GitHub's own.
"""

from __future__ import annotations

import json
import os
import urllib.parse
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from reconciler.ci import Log, RestApi, driftcount, extract_zip, need, saved_plans, secretrecord
from reconciler.ci.forge import Issue, Request
from reconciler.diagnostics import github_annotations, inert, workflow_command
from reconciler.errors import SHOWN_PROBLEMS, CiError, ConfigError, Problem, fold, left_out, repeats
from reconciler.policy import DENY, Finding
from reconciler.snapshot import Snapshot
from reconciler.workflow import Workflow

PULL_REQUEST_EVENTS = ("pull_request", "pull_request_target")
DRIFT_LABEL = "omnidesk-drift"
DEFAULT_API_URL = "https://api.github.com"
WHERE = "GitHub Actions"
# How many earlier runs the drift state or the secret-version record is looked for in (runs that
# stopped before saving one have none).
DRIFT_RUNS_SEARCHED = 10


@dataclass
class GitHub:
    """The run as the action sees it, and the repository's API (opened on first use)."""

    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    artifact: str = "omnidesk-plan"
    branch: str | None = None  # the protected branch; default: the repository's default branch, else main
    state_artifact: str = driftcount.ARTIFACT  # the drift count's artifact (one per shard of a matrix)
    name: str = "GitHub"
    request_word: str = "pull request"
    _api: RestApi | None = field(default=None, init=False, repr=False)

    @property
    def versions_artifact(self) -> str:
        """The secret-version record's artifact: named after the plan's, which each job of a matrix
        (a tenant, a shard) has of its own and shares between its plan and its apply."""
        return f"{self.artifact}-{secretrecord.ARTIFACT_SUFFIX}"

    def close(self) -> None:
        if self._api is not None:
            self._api.close()

    def _file(self, variable: str) -> Path:
        return Path(need(self.environ, [variable], WHERE)[variable])

    def _var(self, variable: str) -> str:
        return need(self.environ, [variable], WHERE)[variable]

    @property
    def api(self) -> RestApi:
        if self._api is None:
            token = need(self.environ, ["GITHUB_TOKEN"], "GitHub Actions (pass github-token to the action)")
            self._api = RestApi(
                self.environ.get("GITHUB_API_URL") or DEFAULT_API_URL,
                {
                    "Authorization": f"Bearer {token['GITHUB_TOKEN']}",
                    "Accept": "application/vnd.github+json",
                    "X-GitHub-Api-Version": "2022-11-28",
                    "User-Agent": "omnidesk-channels",
                },
                "GitHub",
            )
        return self._api

    @property
    def repo(self) -> str:
        return f"repos/{self._var('GITHUB_REPOSITORY')}"

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

    def in_workspace(self, path: str) -> str:
        """``path`` relative to the repository root, as annotations want it."""
        workspace = self.environ.get("GITHUB_WORKSPACE")
        full = Path(path).resolve()
        if workspace and full.is_relative_to(Path(workspace).resolve()):
            return full.relative_to(Path(workspace).resolve()).as_posix()
        return Path(path).as_posix()

    def run_url(self) -> str:
        parts = [self.environ.get(n) for n in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")]
        return f"{parts[0]}/{parts[1]}/actions/runs/{parts[2]}" if all(parts) else ""

    # -- what the run reports --------------------------------------------------------------------

    def request_number(self) -> int | None:
        if self.event_name not in PULL_REQUEST_EVENTS:
            return None
        number = self.event().get("pull_request", {}).get("number")
        if not isinstance(number, int):
            raise CiError(f"the {self.event_name} event in GITHUB_EVENT_PATH has no pull_request.number")
        return number

    def upsert_comment(self, number: int, marker: str, body: str) -> str:
        comments = f"{self.repo}/issues/{number}/comments"
        mine = next((c for c in self.api.pages(comments) if str(c.get("body") or "").startswith(marker)), None)
        if mine is None:
            made = self.api.json("POST", comments, json={"body": body})
            return f"created: {made.get('html_url', '')}"
        if mine.get("body") == body:
            return f"unchanged: {mine.get('html_url', '')}"
        self.api.json("PATCH", f"{self.repo}/issues/comments/{mine['id']}", json={"body": body})
        return f"updated: {mine.get('html_url', '')}"

    def summary(self, markdown: str) -> None:
        with self._file("GITHUB_STEP_SUMMARY").open("a", encoding="utf-8") as fh:
            fh.write(markdown.rstrip("\n") + "\n\n")

    def outputs(self, **values: str) -> None:
        """Step outputs, each in the multi-line form with a delimiter no value contains."""
        with self._file("GITHUB_OUTPUT").open("a", encoding="utf-8") as fh:
            for name, value in values.items():
                delimiter = f"ghadelimiter_{uuid.uuid4()}"
                fh.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")

    def group(self, title: str, text: str) -> str:
        return f"{workflow_command('group', title)}\n{inert(text)}\n::endgroup::"

    def annotation(self, level: str, message: str, title: str) -> str:
        return workflow_command(level, message, title=title)

    # -- a fork's pull request ----------------------------------------------------------------------

    def from_fork(self) -> bool:
        """The pull request's head is another repository (a deleted fork's head repo is null)."""
        if self.event_name not in PULL_REQUEST_EVENTS:
            return False
        head = self.event().get("pull_request", {}).get("head", {})
        if "repo" not in head:
            return False
        repo = head["repo"]
        return not isinstance(repo, dict) or repo.get("full_name") != self._var("GITHUB_REPOSITORY")

    def snapshot(self, path: str) -> Snapshot | None:
        """``path`` at the pull request's base commit, and the date of the last commit there that changed it."""
        path = self.in_workspace(path)
        base = self.event().get("pull_request", {}).get("base", {})
        ref = str(base.get("sha") or base.get("ref") or self.protected_branch)
        quoted = urllib.parse.quote(path)
        try:
            text = self.api.call(
                "GET",
                f"{self.repo}/contents/{quoted}",
                params={"ref": ref},
                headers={"Accept": "application/vnd.github.raw+json"},
            ).text
        except CiError as exc:
            if exc.status == 404:
                return None
            raise
        commits = self.api.json("GET", f"{self.repo}/commits", params={"path": path, "sha": ref, "per_page": 1}) or []
        date = str(((commits[0].get("commit") or {}).get("committer") or {}).get("date") or "") if commits else ""
        return Snapshot(path, date[:10] or "an unknown date", text)

    # -- drift issues ----------------------------------------------------------------------------

    def drift_issues(self) -> list[Issue]:
        found = self.api.pages(f"{self.repo}/issues", {"state": "open", "labels": DRIFT_LABEL})
        return [
            Issue(int(i["number"]), str(i.get("body") or ""), str(i.get("html_url", "")))
            for i in found
            if "pull_request" not in i
        ]

    def open_issue(self, title: str, body: str) -> Issue:
        made = self.api.json(
            "POST", f"{self.repo}/issues", json={"title": title, "body": body, "labels": [DRIFT_LABEL]}
        )
        return Issue(int(made["number"]), body, str(made.get("html_url", "")))

    def update_issue(self, issue: Issue, body: str) -> None:
        self.api.json("PATCH", f"{self.repo}/issues/{issue.number}", json={"body": body})

    def close_issue(self, issue: Issue, note: str) -> None:
        self.api.json("POST", f"{self.repo}/issues/{issue.number}/comments", json={"body": note})
        self.api.json(
            "PATCH", f"{self.repo}/issues/{issue.number}", json={"state": "closed", "state_reason": "completed"}
        )

    def drift_state(self, folder: Path) -> Path | None:
        """The state artifact of this workflow's newest earlier run on this branch that has one.

        Any conclusion counts: a drift workflow may fail its run on purpose once an issue is open.
        Needs ``actions: read``. Also says (output ``state_artifact``) the name action.yml keeps
        this run's count under: one per shard of a matrix.
        """
        self.outputs(state_artifact=self.state_artifact)
        branch = self._var("GITHUB_REF").removeprefix("refs/heads/")
        if not self._newest_artifact(branch, self.state_artifact, folder):
            return None
        state = folder / driftcount.STATE_FILE
        return state if state.is_file() else None

    def secret_versions(self, folder: Path) -> Path | None:
        """The record the newest earlier apply run of this workflow on the protected branch kept (any
        conclusion: a failed apply records the writes that succeeded). Needs ``actions: read``. Also
        says (output ``versions_artifact``) the name action.yml keeps this run's record under."""
        self.outputs(versions_artifact=self.versions_artifact)
        if not self._newest_artifact(self.protected_branch, self.versions_artifact, folder):
            return None
        record = folder / secretrecord.RECORD
        return record if record.is_file() else None

    def _newest_artifact(self, branch: str, name: str, folder: Path) -> bool:
        """Unpack into ``folder`` the artifact ``name`` of this workflow's newest earlier completed
        run on ``branch`` that has it (pull request runs aside); whether one was found."""
        workflow, current = self._var("GITHUB_WORKFLOW"), self.environ.get("GITHUB_RUN_ID", "")
        runs = self.api.json(
            "GET", f"{self.repo}/actions/runs", params={"branch": branch, "status": "completed", "per_page": 100}
        )
        earlier = sorted(
            (
                r
                for r in (runs or {}).get("workflow_runs", [])
                if r.get("name") == workflow
                and r.get("event") not in PULL_REQUEST_EVENTS
                and str(r.get("id")) != current
            ),
            key=lambda r: (r.get("run_number", 0), r.get("run_attempt", 0)),
            reverse=True,
        )
        for run in earlier[:DRIFT_RUNS_SEARCHED]:
            found = self.api.json("GET", f"{self.repo}/actions/runs/{run['id']}/artifacts", params={"name": name}).get(
                "artifacts", []
            )
            art = next((a for a in found if a.get("name") == name and not a.get("expired")), None)
            if art is not None:
                content = self.api.call("GET", str(art["archive_download_url"])).content
                extract_zip(content, folder, f"artifact {name} of run {run['id']}")
                return True
        return False

    # -- applying on the protected branch --------------------------------------------------------

    @property
    def protected_branch(self) -> str:
        if self.branch:
            return self.branch
        repository = self.event().get("repository") or {}
        return str(repository.get("default_branch") or "main")

    def protected_commit(self) -> str:
        """A ``pull_request`` run (ref ``refs/pull/N/merge``, the request's own workflow) never applies."""
        event, ref = self.event_name, self.environ.get("GITHUB_REF", "")
        wanted = f"refs/heads/{self.protected_branch}"
        if event in PULL_REQUEST_EVENTS or ref != wanted:
            raise CiError(
                f"apply runs only on the protected branch {self.protected_branch} (a push, or a run "
                f"started on it by hand or by a comment); this {event or 'unknown'} run's ref is "
                f"{ref or 'not set'}: nothing was applied",
                variables=("GITHUB_REF",),
            )
        return self._var("GITHUB_SHA")

    def last_applied(self) -> str | None:
        workflow, current = self._var("GITHUB_WORKFLOW"), self.environ.get("GITHUB_RUN_ID", "")
        runs = self.api.json(
            "GET",
            f"{self.repo}/actions/runs",
            params={"branch": self.protected_branch, "status": "success", "per_page": 100},
        )
        done = [
            r
            for r in (runs or {}).get("workflow_runs", [])
            if r.get("name") == workflow and r.get("event") not in PULL_REQUEST_EVENTS and str(r.get("id")) != current
        ]
        newest = max(done, key=lambda r: (r.get("run_number", 0), r.get("run_attempt", 0)), default=None)
        return str(newest["head_sha"]) if newest else None

    def commits_since(self, base: str | None, head: str) -> list[str] | None:
        if base is None:
            return [head]
        compared = self.api.json("GET", f"{self.repo}/compare/{base}...{head}") or {}
        if compared.get("status") == "behind":
            return None
        return [str(c["sha"]) for c in compared.get("commits", [])]

    def merged_requests(self, commit: str) -> list[Request]:
        pulls = self.api.json("GET", f"{self.repo}/commits/{commit}/pulls") or []
        return [
            Request(int(p["number"]), str(p["head"]["sha"]), str(p.get("html_url", "")))
            for p in pulls
            if p.get("merged_at") and p.get("base", {}).get("ref") == self.protected_branch
        ]

    def reviewed_plans(self, request: Request, folder: Path) -> list[Path]:
        """The artifact of this workflow's last successful ``pull_request`` run at the request's head."""
        workflow = self._var("GITHUB_WORKFLOW")
        runs = (
            self.api.json(
                "GET",
                f"{self.repo}/actions/runs",
                params={"head_sha": request.head, "status": "success", "per_page": 100},
            )
            or {}
        )
        planned = sorted(
            (
                r
                for r in runs.get("workflow_runs", [])
                if r.get("name") == workflow and r.get("event") in PULL_REQUEST_EVENTS
            ),
            key=lambda r: (r.get("run_number", 0), r.get("run_attempt", 0)),
            reverse=True,
        )
        for run in planned:
            found = self.api.json(
                "GET", f"{self.repo}/actions/runs/{run['id']}/artifacts", params={"name": self.artifact}
            ).get("artifacts", [])
            art = next((a for a in found if a.get("name") == self.artifact and not a.get("expired")), None)
            if art is not None:
                content = self.api.call("GET", str(art["archive_download_url"])).content
                extract_zip(content, folder, f"artifact {self.artifact} of run {run['id']}")
                return saved_plans(folder)
        return []


# -- validate ----------------------------------------------------------------------------------


def validate(github: GitHub, file: str, tenant: str | None, strict: bool, log: Log) -> int:
    """Check the file offline; every problem (and warning) becomes an annotation on its line."""
    found: list[Finding] = []
    try:
        validated = Workflow().validate(file, tenant=tenant)
        warnings, found = list(validated.warnings), list(validated.findings)
        errors: list[Problem] = []
    except ConfigError as exc:
        errors, warnings = exc.problems, exc.warnings
    if strict:
        errors, warnings = errors + warnings, []
    # the policy's findings at the level it gives them: deny an error, warn a warning
    errors += [f.as_problem() for f in found if f.level == DENY]
    warnings += [f.as_problem() for f in found if f.level != DENY]
    located = [replace(p, file=github.in_workspace(p.file)) for p in errors + warnings]
    annotations = github_annotations(located[: len(errors)], located[len(errors) :])
    if annotations:
        log(annotations.rstrip("\n"))
    if errors:
        github.summary("### Omnidesk channels: the channels file is not valid\n\n" + "\n".join(_listed(errors)))
    else:
        log(
            f"{file}: valid"
            + (f" for tenant {tenant}" if tenant else "")
            + (f" ({len(warnings)} warning(s))" if warnings else "")
        )
    github.outputs(exitcode="1" if errors else "0")
    return 1 if errors else 0


def _listed(problems: list[Problem]) -> list[str]:
    """A file's problems as Markdown list items: each once with its count, at most SHOWN_PROBLEMS."""
    folded = fold(problems)
    rows = [f"- `{p}`{repeats(n)}" for p, n in folded[:SHOWN_PROBLEMS]]
    return rows + ([f"- {left_out(folded[SHOWN_PROBLEMS:])} not shown"] if len(folded) > SHOWN_PROBLEMS else [])

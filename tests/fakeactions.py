"""GitHub's rules around a workflow run, enforced for the shipped workflows (``examples/github/``).

``Repo`` is a repository's history on the fake GitHub: main's commits, pull requests and their
squash merges, and the API calls that read them (compare, the pull requests of a commit).
``Actions`` turns events into workflow runs the way GitHub does, then runs the workflow file's jobs:

- the run's ref and commit: ``refs/pull/N/merge`` for ``pull_request`` (the request's own copy
  of the workflow), ``refs/heads/main`` for a push to main or a run started on it;
- a pull request from a fork (``head.repo`` another repository) runs with no secrets at all and a
  read-only ``GITHUB_TOKEN`` (the fake GitHub answers its writes 403);
- a job's ``if:`` decides whether it runs (the expressions the examples use);
- a literal ``strategy.matrix`` makes one job per combination, named ``NAME (VALUES)``, with
  ``matrix.*`` in its expressions;
- an ``environment:`` with deployment branches lets a job start only from a ref its rule allows,
  and only such a job gets the environment's secrets;
- a ``concurrency:`` group holds one running and one pending job; a newer job cancels the
  pending one (``cancel-in-progress: false`` never cancels the running one).

Steps: ``actions/checkout`` writes the run's files into a fresh workspace; this repository's
action runs ``omnidesk-channels ci github COMMAND`` in-process with the env its ``action.yml``
step gives (inputs filled in), and its upload step stores the plan folder as the run's artifact.
Other ``run:`` steps are shell the tests do not need (a smoke test) and are recorded, not run.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.clihelp import Result, run_cli
from tests.fakeforge import READ_ONLY_TOKEN, FakeGitHub, Reply, Request, zip_of

ROOT = Path(__file__).resolve().parent.parent
ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
SELF = re.compile(r"^[\w.-]+/omnidesk-channels@")
FILE = "channels.yaml"


class Repo:
    """main's history (one squash commit per merge), pull requests, and the API that reads them."""

    def __init__(self, github: FakeGitHub, files: dict[str, str]) -> None:
        self.github = github
        self.files: dict[str, dict[str, str]] = {}
        self.parent: dict[str, str | None] = {}
        self.main: list[str] = []
        self.pulls: dict[int, dict[str, Any]] = {}
        self.pulls_of: dict[str, list[int]] = {}
        self.changes: dict[int, Callable[[str], str]] = {}
        self.dates: dict[str, str] = {}
        self.count = 0
        self.commit(files, None)
        base = f"/repos/{github.repo}"
        github.route("GET", rf"{base}/compare/(\w+)\.\.\.(\w+)", self.compare)
        github.route("GET", rf"{base}/commits/(\w+)/pulls", self.commit_pulls)
        github.route("GET", rf"{base}/commits", self.list_commits)

    def _sha(self) -> str:
        self.count += 1
        return f"{self.count:040x}"

    def commit(self, files: dict[str, str], pull: int | None) -> str:
        """A commit on main (a direct push when ``pull`` is None): ``files`` on top of main's, one day
        after the last; the contents API serves every file at it."""
        sha = self._sha()
        before = self.files[self.main[-1]] if self.main else {}
        self.files[sha], self.parent[sha] = {**before, **files}, self.main[-1] if self.main else None
        self.dates[sha] = f"2026-11-{len(self.main) + 1:02d}T04:47:00Z"
        self.main.append(sha)
        for name, text in self.files[sha].items():
            self.github.contents[(name, sha)] = text.encode()
        if pull is not None:
            self.pulls_of[sha] = [pull]
        return sha

    @property
    def head(self) -> str:
        return self.main[-1]

    def open(self, number: int, change: Callable[[str], str], fork: str | None = None) -> dict[str, Any]:
        """A pull request whose head changes main's channels file (as it is now) with ``change``;
        ``fork``: the other repository (owner/name) it comes from."""
        head = self._sha()
        self.files[head] = {**self.files[self.head], FILE: change(self.files[self.head][FILE])}
        self.changes[number] = change
        self.pulls[number] = {
            "number": number,
            "head": {"sha": head, "repo": {"full_name": fork or self.github.repo, "fork": fork is not None}},
            "base": {"ref": "main", "sha": self.head, "repo": {"full_name": self.github.repo, "fork": False}},
            "merged_at": None,
            "html_url": f"https://github.com/{self.github.repo}/pull/{number}",
        }
        return self.pulls[number]

    def merge(self, number: int) -> str:
        """Squash-merge: the request's change on top of what main has now (no conflicts here)."""
        pull = self.pulls[number]
        sha = self.commit({FILE: self.changes[number](self.files[self.head][FILE])}, number)
        pull["merged_at"], pull["merge_commit_sha"] = "2026-12-03T10:00:00Z", sha
        return sha

    def compare(self, r: Request) -> Reply:
        base, head = r.match.group(1), r.match.group(2)
        if base == head:
            return Reply(200, {"status": "identical", "commits": []})
        a, b = self.main.index(base), self.main.index(head)
        if b < a:
            return Reply(200, {"status": "behind", "behind_by": a - b, "commits": []})
        return Reply(
            200, {"status": "ahead", "ahead_by": b - a, "commits": [{"sha": s} for s in self.main[a + 1 : b + 1]]}
        )

    def list_commits(self, r: Request) -> Reply:
        """As GitHub lists them: from ``sha`` back, newest first; with ``path``, those that changed it."""
        upto = self.main[: self.main.index(r.query.get("sha", self.head)) + 1]
        path = r.query.get("path")
        changed = [
            s
            for s in upto
            if path is None or self.files[s].get(path) != (self.files[p].get(path) if (p := self.parent[s]) else None)
        ]
        listed = [{"sha": s, "commit": {"committer": {"date": self.dates[s]}}} for s in reversed(changed)]
        return self.github.paged(r, listed)

    def commit_pulls(self, r: Request) -> Reply:
        return Reply(200, [self.pulls[n] for n in self.pulls_of.get(r.match.group(1), [])])


@dataclass
class Environment:
    name: str
    branches: tuple[str, ...] | None  # deployment branches allowed (refs/heads/NAME); None: no restriction
    secrets: dict[str, str]


# The one-tenant channels file the shipped examples are run with under protection (``{url}``: the tenant).
PRODUCTION_FILE = """\
version: 1
tenants:
  production:
    url: {url}
    api_key_env: OMNIDESK_PRODUCTION_KEY
channels:
  - name: SMS gateway
    icon: phone
    custom_channel_endpoint: https://bridge.example.com/sms
    custom_channel_secret: ${{env:SMS_BRIDGE_SECRET}}
"""


def protected_setup(
    github: FakeGitHub, repo: Repo, workflow: Path, root: Path, *, read_key: str, write_key: str, secret: str
) -> Actions:
    """The shipped examples as their comments ask: the write key and the bridge secret in a
    ``production`` environment limited to ``main``, the read key as a repository secret."""
    production = Environment(
        "production", ("main",), {"OMNIDESK_PRODUCTION_KEY": write_key, "SMS_BRIDGE_SECRET": secret}
    )
    return Actions(
        github,
        repo,
        workflow,
        root,
        environments={"production": production},
        secrets={"OMNIDESK_PRODUCTION_KEY_READ": read_key},
    )


@dataclass
class Job:
    run: Run
    name: str
    spec: dict[str, Any]
    status: str = "queued"  # queued | pending | in_progress | completed
    conclusion: str | None = None  # success | failure | cancelled | skipped
    result: Result | None = None
    log: list[str] = field(default_factory=list)
    matrix: dict[str, Any] = field(default_factory=dict)  # this job's values of strategy.matrix


@dataclass
class Run:
    id: int
    number: int
    event: str
    ref: str
    sha: str  # GITHUB_SHA: what the checkout gets
    head_sha: str  # what the runs API lists it by (a pull request's head)
    payload: dict[str, Any]
    jobs: list[Job] = field(default_factory=list)

    def job(self, name: str) -> Job:
        return next(j for j in self.jobs if j.name == name)

    @property
    def fork(self) -> bool:
        """A pull request from another repository: GitHub gives its run no secrets, a read-only token."""
        pull = self.payload.get("pull_request") or {}
        head, base = pull.get("head", {}).get("repo") or {}, pull.get("base", {}).get("repo") or {}
        return bool(pull) and head.get("full_name") != base.get("full_name")


class Actions:
    """Runs one workflow file of the repository under GitHub's rules (see the module docstring)."""

    def __init__(
        self,
        github: FakeGitHub,
        repo: Repo,
        workflow: Path,
        root: Path,
        *,
        environments: dict[str, Environment],
        secrets: dict[str, str],
    ) -> None:
        self.github, self.repo, self.root = github, repo, root
        self.workflow = yaml.safe_load(workflow.read_text())
        self.environments, self.secrets = environments, secrets
        self.runs: list[Run] = []
        self.groups: dict[str, list[Job]] = {}  # concurrency group -> [running, pending]

    # -- events --------------------------------------------------------------------------------
    def pull_request(self, number: int) -> Run:
        pull = self.repo.pulls[number]
        payload = {
            "action": "synchronize",
            "number": number,
            "pull_request": pull,
            "repository": {"default_branch": "main"},
        }
        return self._start(
            "pull_request", f"refs/pull/{number}/merge", pull["head"]["sha"], pull["head"]["sha"], payload
        )

    def push(self, sha: str) -> Run:
        return self._start(
            "push",
            "refs/heads/main",
            sha,
            sha,
            {"ref": "refs/heads/main", "after": sha, "repository": {"default_branch": "main"}},
        )

    def schedule(self) -> Run:
        """A scheduled run: on the default branch's newest commit (its payload names only the cron)."""
        sha = self.repo.head
        return self._start("schedule", "refs/heads/main", sha, sha, {"schedule": self.on["schedule"][0]["cron"]})

    @property
    def on(self) -> dict[str, Any]:
        """The workflow's triggers (PyYAML reads the key ``on`` as the boolean True, as YAML 1.1 says)."""
        return dict(self.workflow.get("on") or self.workflow[True])

    def dispatch(self, ref: str = "refs/heads/main") -> Run:
        sha = self.repo.head
        return self._start("workflow_dispatch", ref, sha, sha, {"ref": ref, "repository": {"default_branch": "main"}})

    def _start(self, event: str, ref: str, sha: str, head_sha: str, payload: dict[str, Any]) -> Run:
        run = Run(self.github._id(), len(self.runs) + 1, event, ref, sha, head_sha, payload)
        self.runs.append(run)
        self.github.runs.append(self._listed(run))
        for name, spec in self.workflow["jobs"].items():
            for matrix in self._matrix(spec):
                job = Job(
                    run, f"{name} ({', '.join(map(str, matrix.values()))})" if matrix else name, spec, matrix=matrix
                )
                run.jobs.append(job)
                if not self.evaluate(spec.get("if", "true"), run, scope={"matrix": matrix}):
                    job.status, job.conclusion = "completed", "skipped"
                elif "concurrency" in spec:
                    self._queue(job, self.expand(str(spec["concurrency"]["group"]), run, {}, {"matrix": matrix}))
                else:
                    self._execute(job)
        self._settle(run)
        return run

    @staticmethod
    def _matrix(spec: dict[str, Any]) -> list[dict[str, Any]]:
        """One job per combination of a literal ``strategy.matrix``, as GitHub expands it ([{}]: none)."""
        matrix = (spec.get("strategy") or {}).get("matrix")
        if not isinstance(matrix, dict):  # none, or computed (fromJSON): one job, as before
            return [{}]
        combinations: list[dict[str, Any]] = [{}]
        for key, values in matrix.items():
            combinations = [{**c, key: v} for c in combinations for v in values]
        return combinations

    # -- concurrency -----------------------------------------------------------------------------
    def _queue(self, job: Job, group: str) -> None:
        slots = self.groups.setdefault(group, [])
        if not slots:
            job.status = "in_progress"
            slots.append(job)
            return
        if len(slots) == 2:  # the older pending job is cancelled by the newer one
            older = slots.pop()
            older.status, older.conclusion = "completed", "cancelled"
            self._settle(older.run)
        job.status = "pending"
        slots.append(job)

    def finish(self, group: str) -> Job:
        """The group's running job runs its steps now; the pending one (if any) starts after it."""
        slots = self.groups[group]
        job = slots.pop(0)
        self._execute(job)
        self._settle(job.run)
        if slots:
            slots[0].status = "in_progress"
        else:
            del self.groups[group]
        return job

    # -- jobs ------------------------------------------------------------------------------------
    def _execute(self, job: Job) -> None:
        job.status = "in_progress"
        run, environment = job.run, self.environments.get(str(job.spec.get("environment", "")))
        if "environment" in job.spec:
            allowed = environment is not None and (
                environment.branches is None or run.ref in {f"refs/heads/{b}" for b in environment.branches}
            )
            if not allowed:
                job.log.append(
                    f'Branch "{run.ref}" is not allowed to deploy to {job.spec["environment"]} due to '
                    "environment protection rules."
                )
                job.status, job.conclusion = "completed", "failure"
                return
        secrets = {} if run.fork else {**self.secrets, **(environment.secrets if environment else {})}
        workspace = self.root / f"run{run.id}-{job.name}"
        if workspace.exists():
            shutil.rmtree(workspace)
        workspace.mkdir(parents=True)
        env = self._base_env(run, workspace)
        env.update(
            {k: self.expand(str(v), run, secrets, {"matrix": job.matrix}) for k, v in job.spec.get("env", {}).items()}
        )
        job.conclusion = "success"
        with contextlib.chdir(workspace):
            for step in job.spec["steps"]:
                if not self._step(job, step, env, secrets, workspace):
                    job.conclusion = "failure"
                    break
        job.status = "completed"

    def _step(
        self, job: Job, step: dict[str, Any], env: dict[str, Any], secrets: dict[str, str], workspace: Path
    ) -> bool:
        uses = str(step.get("uses", ""))
        if uses.startswith("actions/checkout@"):
            for name, text in self.repo.files[job.run.sha].items():
                (workspace / name).parent.mkdir(parents=True, exist_ok=True)
                (workspace / name).write_text(text)
            return True
        if not SELF.match(uses):
            job.log.append(f"not run here: {step.get('name') or step.get('run', '')[:40]}")
            return True
        inputs = {name: str(spec.get("default", "")) for name, spec in ACTION["inputs"].items()}
        inputs.update(
            {k: self.expand(str(v), job.run, secrets, {"matrix": job.matrix}) for k, v in step.get("with", {}).items()}
        )
        inputs["github-token"] = READ_ONLY_TOKEN if job.run.fork else self.github.token
        (run_step,) = [s for s in ACTION["runs"]["steps"] if s.get("id") == "run"]
        step_env = {
            k: re.sub(r"\$\{\{ inputs\.([\w-]+) \}\}", lambda m: inputs[m.group(1)], v)
            for k, v in run_step["env"].items()
        }
        full = {**env, **{k: v for k, v in step_env.items() if v or k not in env}}
        (workspace / "github_output").write_text("")
        result = run_cli(["ci", "github", inputs["command"]], full)
        job.result = result
        job.log.append(result.stdout + result.stderr)
        outputs = {
            m.group(1): m.group(3)
            for m in re.finditer(r"^(\w+)<<(\S+)\n(.*?)\n\2$", (workspace / "github_output").read_text(), re.S | re.M)
        }
        self._uploads(job.run, {"inputs": inputs, "steps": {"run": {"outputs": outputs}}}, result.exit_code == 0)
        return result.exit_code == 0

    def _uploads(self, run: Run, scope: dict[str, Any], ok: bool) -> None:
        """The action's upload-artifact steps whose ``if:`` holds, as GitHub runs a composite action's steps."""
        for spec in ACTION["runs"]["steps"]:
            if not str(spec.get("uses", "")).startswith("actions/upload-artifact@"):
                continue
            if not self.evaluate(spec.get("if", "success()"), run, scope=scope, ok=ok):
                continue
            name, path = (self.expand(str(spec["with"][k]), run, {}, scope) for k in ("name", "path"))
            if any(a["name"] == name for a in self.github.artifacts.get(run.id, [])):
                raise AssertionError(f"artifact {name} uploaded twice in run {run.id}: GitHub refuses that")
            folder = Path(path)
            self._upload(run, name, {p.name: p.read_text() for p in folder.iterdir()})

    def _upload(self, run: Run, name: str, files: dict[str, str]) -> None:
        aid = self.github._id()
        self.github.blobs[aid] = zip_of(files)
        self.github.artifacts.setdefault(run.id, []).append(
            {
                "id": aid,
                "name": name,
                "expired": False,
                "archive_download_url": f"{self.github.url}/repos/{self.github.repo}/actions/artifacts/{aid}/zip",
            }
        )

    def _base_env(self, run: Run, workspace: Path) -> dict[str, Any]:
        (workspace / "event.json").write_text(json.dumps(run.payload))
        (workspace / "step_summary").write_text("")
        env: dict[str, Any] = {k: None for k in os.environ if k.startswith(("GITHUB_", "RUNNER_", "OMNIDESK_"))}
        env.update(
            {
                "GITHUB_ACTIONS": "true",
                "GITHUB_EVENT_NAME": run.event,
                "GITHUB_REF": run.ref,
                "GITHUB_SHA": run.sha,
                "GITHUB_EVENT_PATH": str(workspace / "event.json"),
                "GITHUB_OUTPUT": str(workspace / "github_output"),
                "GITHUB_STEP_SUMMARY": str(workspace / "step_summary"),
                "GITHUB_WORKSPACE": str(workspace),
                "GITHUB_REPOSITORY": self.github.repo,
                "GITHUB_API_URL": self.github.url,
                "GITHUB_WORKFLOW": self.workflow["name"],
                "GITHUB_RUN_ID": str(run.id),
                "GITHUB_SERVER_URL": "https://github.com",
            }
        )
        return env

    def _listed(self, run: Run) -> dict[str, Any]:
        return {
            "id": run.id,
            "name": self.workflow["name"],
            "event": run.event,
            "head_sha": run.head_sha,
            "head_branch": run.ref.removeprefix("refs/heads/") if run.ref.startswith("refs/heads/") else "",
            "status": "queued",
            "conclusion": None,
            "run_number": run.number,
            "run_attempt": 1,
        }

    def _settle(self, run: Run) -> None:
        """The run as the runs API lists it: completed once every job is, failed if one failed."""
        listed = next(r for r in self.github.runs if r["id"] == run.id)
        if any(j.status != "completed" for j in run.jobs):
            listed["status"] = "in_progress"
            return
        conclusions = {j.conclusion for j in run.jobs}
        listed["status"] = "completed"
        listed["conclusion"] = next((c for c in ("failure", "cancelled") if c in conclusions), "success")

    # -- expressions -----------------------------------------------------------------------------
    def context(self, run: Run) -> dict[str, Any]:
        return {"github": {"event_name": run.event, "ref": run.ref, "sha": run.sha, "event": run.payload}}

    def evaluate(
        self,
        expression: Any,
        run: Run,
        secrets: dict[str, str] | None = None,
        scope: dict[str, Any] | None = None,
        ok: bool = True,
    ) -> Any:
        """The subset of GitHub's expressions the examples use: contexts, literals, == != && || !, and the
        status functions (``ok``: every earlier step succeeded; nothing here is ever cancelled)."""
        text = str(expression).strip()
        text = text[3:-2].strip() if text.startswith("${{") else text
        status = {"success()": ok, "failure()": not ok, "always()": True, "cancelled()": False}
        scope = {**self.context(run), "secrets": secrets or {}, **(scope or {})}
        python = []
        for token in re.findall(r"'[^']*'|==|!=|&&|\|\||!|\w+\(\)|\(|\)|[\w.-]+", text):
            if token in status:
                python.append(repr(status[token]))
            elif token[0] == "'" or token in ("==", "!=", "(", ")"):
                python.append(token)
            elif token in ("&&", "||", "!"):
                python.append({"&&": " and ", "||": " or ", "!": " not "}[token])
            elif token in ("true", "false", "null"):
                python.append({"true": "True", "false": "False", "null": "None"}[token])
            else:
                value: Any = scope
                for part in token.split("."):
                    value = value.get(part) if isinstance(value, dict) else None
                python.append(repr(value))
        return eval(" ".join(python), {"__builtins__": {}})

    def expand(self, value: str, run: Run, secrets: dict[str, str], scope: dict[str, Any] | None = None) -> str:
        def one(match: re.Match[str]) -> str:
            found = self.evaluate(match.group(1), run, secrets, scope)
            return "" if found is None else str(found)

        return re.sub(r"\$\{\{\s*(.+?)\s*\}\}", one, value)

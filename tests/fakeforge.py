"""Small fake GitHub and GitLab REST APIs: real HTTP servers on 127.0.0.1, in-memory state.

Only what ``reconciler.ci`` calls is implemented, the way the real APIs answer it (status codes,
pagination by ``Link: rel="next"``, token headers, artifact downloads that redirect to a blob
store which must not see the token). Every request is recorded in ``calls``.
"""

from __future__ import annotations

import io
import json
import os
import re
import threading
import urllib.parse
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from quietserver import QuietServer

TOKEN = "ghs_fake_token_0123456789"
READ_ONLY_TOKEN = "ghs_fork_read_only_token_987"  # what a fork's pull_request run gets


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None


Route = Callable[["Request"], Reply]


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    match: re.Match[str]


def zip_of(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


class FakeApi:
    """A threaded HTTP server dispatching to ``routes`` (method, path regex) -> handler."""

    per_page_max = 100

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.routes: list[tuple[str, re.Pattern[str], Route]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                parsed = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw and "json" in (self.headers.get("Content-Type") or "") else None
                query: dict[str, str] = {}
                for key, value in urllib.parse.parse_qsl(parsed.query):
                    # GitLab's repeated key[] parameters: every value, comma-separated
                    query[key] = f"{query[key]},{value}" if key.endswith("[]") and key in query else value
                reply = api.dispatch(self.command, parsed.path, query, dict(self.headers), body)
                payload = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> FakeApi:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def route(self, method: str, pattern: str, handler: Route) -> None:
        self.routes.append((method, re.compile(pattern + "$"), handler))

    def authorized(self, headers: dict[str, str]) -> bool:
        raise NotImplementedError

    def refused(self, method: str, headers: dict[str, str]) -> Reply | None:
        """A known token that may not do this (a read-only one writing): the answer, else None."""
        return None

    def dispatch(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: Any) -> Reply:
        with self.lock:
            self.calls.append((method, path))
            for m, pattern, handler in self.routes:
                match = pattern.match(path)
                if m == method and match:
                    if not self.authorized({k.lower(): v for k, v in headers.items()}):
                        return Reply(401, {"message": "Bad credentials"})
                    refused = self.refused(method, {k.lower(): v for k, v in headers.items()})
                    if refused is not None:
                        return refused
                    lowered = {k.lower(): v for k, v in headers.items()}
                    return handler(Request(method, path, query, lowered, body, match))
            return Reply(404, {"message": "Not Found"})

    def paged(self, request: Request, items: list[Any]) -> Reply:
        """A list page as both APIs give it, with a ``Link`` header to the next page."""
        per_page = min(int(request.query.get("per_page", 30)), self.per_page_max)
        page = int(request.query.get("page", 1))
        chunk = items[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(items):
            query = urllib.parse.urlencode({**request.query, "page": page + 1, "per_page": per_page})
            headers["Link"] = f'<{self.url}{request.path}?{query}>; rel="next"'
        return Reply(200, chunk, headers)


class FakeGitHub(FakeApi):
    """Issues, issue comments, contents, workflow runs and artifacts of one repository."""

    def __init__(self, repo: str = "acme/helpdesk-config", token: str = TOKEN) -> None:
        super().__init__()
        self.repo, self.token = repo, token
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.issues: list[dict[str, Any]] = []
        self.contents: dict[tuple[str, str], bytes] = {}
        self.runs: list[dict[str, Any]] = []
        self.artifacts: dict[int, list[dict[str, Any]]] = {}
        self.blobs: dict[int, bytes] = {}
        self.blob_auth: list[str | None] = []
        self.blob_store = BlobStore(self)
        self.next_id = 1000
        base = f"/repos/{repo}"
        self.route("GET", rf"{base}/issues/(\d+)/comments", self.list_comments)
        self.route("POST", rf"{base}/issues/(\d+)/comments", self.create_comment)
        self.route("PATCH", rf"{base}/issues/comments/(\d+)", self.update_comment)
        self.route("GET", rf"{base}/issues", self.list_issues)
        self.route("POST", rf"{base}/issues", self.create_issue)
        self.route("PATCH", rf"{base}/issues/(\d+)", self.update_issue)
        self.route("GET", rf"{base}/contents/(.+)", self.get_contents)
        self.route("GET", rf"{base}/actions/runs", self.list_runs)
        self.route("GET", rf"{base}/actions/runs/(\d+)/artifacts", self.list_artifacts)
        self.route("GET", rf"{base}/actions/artifacts/(\d+)/zip", self.download_artifact)

    def start(self) -> FakeGitHub:
        self.blob_store.start()
        super().start()
        return self

    def stop(self) -> None:
        super().stop()
        self.blob_store.stop()

    def authorized(self, headers: dict[str, str]) -> bool:
        return headers.get("authorization") in (f"Bearer {self.token}", f"Bearer {READ_ONLY_TOKEN}")

    def refused(self, method: str, headers: dict[str, str]) -> Reply | None:
        """A fork's pull_request run gets a read-only GITHUB_TOKEN: GitHub refuses its writes so."""
        if method != "GET" and headers.get("authorization") == f"Bearer {READ_ONLY_TOKEN}":
            return Reply(403, {"message": "Resource not accessible by integration"})
        return None

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id

    # issue comments
    def add_comment(self, number: int, body: str, user_type: str = "Bot") -> dict[str, Any]:
        cid = self._id()
        comment = {
            "id": cid,
            "body": body,
            "user": {"login": "someone", "type": user_type},
            "html_url": f"https://github.com/{self.repo}/pull/{number}#issuecomment-{cid}",
        }
        self.comments.setdefault(number, []).append(comment)
        return comment

    def list_comments(self, r: Request) -> Reply:
        return self.paged(r, self.comments.get(int(r.match.group(1)), []))

    def create_comment(self, r: Request) -> Reply:
        return Reply(201, self.add_comment(int(r.match.group(1)), r.body["body"]))

    def update_comment(self, r: Request) -> Reply:
        for comment in (c for cs in self.comments.values() for c in cs):
            if comment["id"] == int(r.match.group(1)):
                comment["body"] = r.body["body"]
                return Reply(200, comment)
        return Reply(404, {"message": "Not Found"})

    # issues
    def list_issues(self, r: Request) -> Reply:
        state = r.query.get("state", "open")
        labels = set(filter(None, r.query.get("labels", "").split(",")))
        found = [
            i
            for i in self.issues
            if (state == "all" or i["state"] == state) and labels <= {lab["name"] for lab in i["labels"]}
        ]
        return self.paged(r, found)

    def create_issue(self, r: Request) -> Reply:
        number = len(self.issues) + len(self.comments) + 1
        issue = {
            "number": number,
            "title": r.body["title"],
            "body": r.body.get("body", ""),
            "state": "open",
            "state_reason": None,
            "labels": [{"name": n} for n in r.body.get("labels", [])],
        }
        self.issues.append(issue)
        return Reply(201, issue)

    def update_issue(self, r: Request) -> Reply:
        for issue in self.issues:
            if issue["number"] == int(r.match.group(1)):
                issue.update(r.body)
                return Reply(200, issue)
        return Reply(404, {"message": "Not Found"})

    def issue_comments(self, number: int) -> list[str]:
        return [c["body"] for c in self.comments.get(number, [])]

    # contents, runs, artifacts
    def get_contents(self, r: Request) -> Reply:
        content = self.contents.get((urllib.parse.unquote(r.match.group(1)), r.query.get("ref", "")))
        if content is None:
            return Reply(404, {"message": "Not Found"})
        assert "raw" in r.headers.get("accept", ""), "the contents API is asked for the raw file"
        return Reply(200, raw=content)

    def add_run(
        self, head_sha: str, name: str, artifacts: dict[str, dict[str, str]], status: str = "success"
    ) -> dict[str, Any]:
        run = {
            "id": self._id(),
            "name": name,
            "event": "pull_request",
            "head_sha": head_sha,
            "status": "completed",
            "conclusion": status,
            "run_number": len(self.runs) + 1,
            "run_attempt": 1,
        }
        self.runs.append(run)
        listed = []
        for art_name, files in artifacts.items():
            aid = self._id()
            self.blobs[aid] = zip_of(files)
            listed.append(
                {
                    "id": aid,
                    "name": art_name,
                    "expired": False,
                    "archive_download_url": f"{self.url}/repos/{self.repo}/actions/artifacts/{aid}/zip",
                }
            )
        self.artifacts[run["id"]] = listed
        return run

    def list_runs(self, r: Request) -> Reply:
        """As GitHub filters: ``status`` is a status or a conclusion; ``branch`` the run's head branch."""
        runs = [
            run
            for run in self.runs
            if run["head_sha"] == r.query.get("head_sha", run["head_sha"])
            and r.query.get("branch", run.get("head_branch")) == run.get("head_branch")
            and r.query.get("event", run["event"]) == run["event"]
            and (r.query.get("status") in (None, run["conclusion"], run["status"]))
        ]
        runs.sort(key=lambda run: -run["id"])  # newest first
        return Reply(200, {"total_count": len(runs), "workflow_runs": runs})

    def list_artifacts(self, r: Request) -> Reply:
        found = [
            a for a in self.artifacts.get(int(r.match.group(1)), []) if a["name"] == r.query.get("name", a["name"])
        ]
        return Reply(200, {"total_count": len(found), "artifacts": found})

    def download_artifact(self, r: Request) -> Reply:
        return Reply(302, raw=b"", headers={"Location": f"{self.blob_store.url}/blob/{r.match.group(1)}"})


class BlobStore(FakeApi):
    """Where GitHub redirects artifact downloads: another origin, which must not get the token."""

    def __init__(self, github: FakeGitHub) -> None:
        super().__init__()
        self.github = github
        self.route("GET", r"/blob/(\d+)", self.blob)

    def authorized(self, headers: dict[str, str]) -> bool:
        return True

    def blob(self, r: Request) -> Reply:
        self.github.blob_auth.append(r.headers.get("authorization"))
        return Reply(200, raw=self.github.blobs[int(r.match.group(1))], headers={"Content-Type": "application/zip"})


class FakeGitLab(FakeApi):
    """Merge request notes, commits' merge requests, raw files, pipelines, jobs and job artifacts."""

    def __init__(self, project: str = "42", token: str = "glpat-fake-0123456789") -> None:
        super().__init__()
        self.project, self.token = project, token
        self.notes: dict[int, list[dict[str, Any]]] = {}
        self.merge_requests: dict[str, list[dict[str, Any]]] = {}  # commit sha -> requests
        self.files: dict[tuple[str, str], bytes] = {}
        self.file_commits: dict[tuple[str, str], list[dict[str, Any]]] = {}  # (path, ref) -> commits, newest first
        self.pipelines: dict[int, list[dict[str, Any]]] = {}  # request iid -> pipelines
        self.jobs: dict[int, list[dict[str, Any]]] = {}  # pipeline id -> jobs
        self.job_artifacts: dict[int, bytes] = {}
        self.next_id = 500
        base = f"/api/v4/projects/{project}"
        self.route("GET", rf"{base}/merge_requests/(\d+)/notes", self.list_notes)
        self.route("POST", rf"{base}/merge_requests/(\d+)/notes", self.create_note)
        self.route("PUT", rf"{base}/merge_requests/(\d+)/notes/(\d+)", self.update_note)
        self.route("GET", rf"{base}/repository/commits/(\w+)/merge_requests", self.commit_requests)
        self.route("GET", rf"{base}/repository/files/([^/]+)/raw", self.raw_file)
        self.route("GET", rf"{base}/repository/commits", self.list_commits)
        self.route("GET", rf"{base}/merge_requests/(\d+)/pipelines", self.list_pipelines)
        self.route("GET", rf"{base}/pipelines/(\d+)/jobs", self.list_jobs)
        self.route("GET", rf"{base}/jobs/(\d+)/artifacts", self.artifacts)

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/v4"

    def authorized(self, headers: dict[str, str]) -> bool:
        return headers.get("private-token") == self.token

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id

    def add_note(self, iid: int, body: str) -> dict[str, Any]:
        note = {"id": self._id(), "body": body, "author": {"username": "someone"}}
        self.notes.setdefault(iid, []).append(note)
        return note

    def list_notes(self, r: Request) -> Reply:
        return self.paged(r, self.notes.get(int(r.match.group(1)), []))

    def create_note(self, r: Request) -> Reply:
        return Reply(201, self.add_note(int(r.match.group(1)), r.body["body"]))

    def update_note(self, r: Request) -> Reply:
        for note in self.notes.get(int(r.match.group(1)), []):
            if note["id"] == int(r.match.group(2)):
                note["body"] = r.body["body"]
                return Reply(200, note)
        return Reply(404, {"message": "404 Not found"})

    def add_merged_request(
        self, merge_sha: str, head_sha: str, iid: int, plan_files: dict[str, str], job_name: str = "omnidesk-plan"
    ) -> None:
        self.merge_requests[merge_sha] = [{"iid": iid, "state": "merged", "sha": head_sha}]
        pipeline = {"id": self._id(), "sha": head_sha, "status": "success"}
        self.pipelines.setdefault(iid, []).insert(0, pipeline)
        job = {"id": self._id(), "name": job_name, "status": "success"}
        self.jobs[pipeline["id"]] = [{"id": self._id(), "name": "validate", "status": "success"}, job]
        self.job_artifacts[job["id"]] = zip_of(plan_files)

    def commit_requests(self, r: Request) -> Reply:
        return Reply(200, self.merge_requests.get(r.match.group(1), []))

    def raw_file(self, r: Request) -> Reply:
        content = self.files.get((urllib.parse.unquote(r.match.group(1)), r.query.get("ref", "")))
        return Reply(200, raw=content) if content is not None else Reply(404, {"message": "404 File Not Found"})

    def list_commits(self, r: Request) -> Reply:
        """A ref's commits that changed ``path``, newest first (``ref_name``, ``path`` as GitLab takes them)."""
        return self.paged(r, self.file_commits.get((r.query.get("path", ""), r.query.get("ref_name", "")), []))

    def list_pipelines(self, r: Request) -> Reply:
        return Reply(200, self.pipelines.get(int(r.match.group(1)), []))

    def list_jobs(self, r: Request) -> Reply:
        """As GitLab filters: ``scope[]`` names the statuses to list (all when absent)."""
        scopes = set(r.query["scope[]"].split(",")) if "scope[]" in r.query else None
        jobs = self.jobs.get(int(r.match.group(1)), [])
        return self.paged(r, [j for j in jobs if scopes is None or j["status"] in scopes])

    def artifacts(self, r: Request) -> Reply:
        content = self.job_artifacts.get(int(r.match.group(1)))
        return Reply(200, raw=content) if content is not None else Reply(404, {"message": "404 Not found"})


class GitHubJob:
    """One step of a GitHub Actions job: its working copy, its files, event and environment.

    ``file`` is the channels file's text with ``{staging}`` and ``{production}`` for the tenants'
    URLs; plan and drift steps get ``read_key``, apply steps ``write_key`` and the bridge secret.
    """

    repo = "acme/helpdesk-config"
    workflow = "Omnidesk channels"

    def __init__(
        self,
        root: Path,
        github: FakeGitHub,
        tenants: dict[str, Any],
        file: str,
        *,
        read_key: str,
        write_key: str,
        secret: str,
    ) -> None:
        self.root, self.github, self.tenants = root, github, tenants
        self.read_key, self.write_key, self.secret = read_key, write_key, secret
        self.file = root / "channels.yaml"
        self.file.write_text(file.format(staging=tenants["staging"].url, production=tenants["production"].url))
        self.output = root / "github_output"
        self.summary_file = root / "step_summary"

    def env(self, event_name: str, event: dict[str, Any], write: bool = False, **extra: str | None) -> dict[str, Any]:
        (self.root / "event.json").write_text(json.dumps(event))
        self.output.write_text("")
        self.summary_file.write_text("")
        key = self.write_key if write else self.read_key
        env: dict[str, Any] = {k: None for k in os.environ if k.startswith(("GITHUB_", "RUNNER_", "OMNIDESK_"))}
        env.update(
            {
                "GITHUB_ACTIONS": "true",
                "GITHUB_OUTPUT": str(self.output),
                "GITHUB_STEP_SUMMARY": str(self.summary_file),
                "GITHUB_EVENT_PATH": str(self.root / "event.json"),
                "GITHUB_EVENT_NAME": event_name,
                "GITHUB_REPOSITORY": self.repo,
                "GITHUB_API_URL": self.github.url,
                "GITHUB_TOKEN": self.github.token,
                "GITHUB_WORKSPACE": str(self.root),
                "GITHUB_WORKFLOW": self.workflow,
                "GITHUB_SERVER_URL": "https://github.com",
                "GITHUB_RUN_ID": "4242",
                "OMNIDESK_STAGING_KEY": key,
                "OMNIDESK_PRODUCTION_KEY": key,
                "SMS_BRIDGE_SECRET": self.secret if write else None,
            }
        )
        env.update(extra)
        return env

    def outputs(self) -> dict[str, str]:
        """The step outputs written to GITHUB_OUTPUT (the ``name<<DELIMITER`` form)."""
        text = self.output.read_text()
        return {m.group(1): m.group(3) for m in re.finditer(r"^(\w+)<<(\S+)\n(.*?)\n\2$", text, re.S | re.M)}

    def summary(self) -> str:
        return self.summary_file.read_text()

"""``examples/github/channels-import.yml`` run for real: its shell steps, as GitHub's runner runs them.

The tenant is an emulator over HTTP with a read-only key, ``origin`` is a local bare Git
repository, and GitHub's pull-request API is a small HTTP server in this test (the one thing
that cannot run here). Night one opens a pull request with the drift; night two, with more drift,
force-pushes the branch and updates the same pull request; a night without drift calls nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from clihelp import RunningEmulator
from quietserver import QuietServer

from tests.eco_tools import require_tool

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
WORKFLOW = EXAMPLES / "github" / "channels-import.yml"
TOKEN = "ghs_test_token"


@pytest.fixture(autouse=True)
def _runner_tools() -> None:
    """git, curl, jq and bash, as on GitHub's runners: skipped without them, failed under CI=true."""
    for tool in ("git", "curl", "jq", "bash"):
        require_tool(tool, shutil.which(tool) is not None)


class FakeGitHub:
    """The pull-request endpoints the workflow calls, for one repository; every call is recorded."""

    def __init__(self) -> None:
        self.pulls: list[dict[str, Any]] = []
        self.calls: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, data: Any) -> None:
                body = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _route(self) -> tuple[str, dict[str, list[str]]] | None:
                url = urlsplit(self.path)
                outer.calls.append(f"{self.command} {url.path}")
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    self._answer(401, {"message": "Bad credentials"})
                    return None
                return url.path, parse_qs(url.query)

            def _body(self) -> dict[str, Any]:
                return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

            def do_GET(self) -> None:
                routed = self._route()
                if routed and routed[0] == "/repos/acme/shop/pulls":
                    owner, _, branch = routed[1]["head"][0].partition(":")
                    found = [p for p in outer.pulls if p["state"] == "open" and p["head"] == branch and owner == "acme"]
                    self._answer(200, found)
                elif routed:
                    self._answer(404, {"message": "Not Found"})

            def do_POST(self) -> None:
                routed = self._route()
                if routed and routed[0] == "/repos/acme/shop/pulls":
                    pull = {**self._body(), "number": len(outer.pulls) + 1, "state": "open"}
                    outer.pulls.append(pull)
                    self._answer(201, pull)
                elif routed:
                    self._answer(404, {"message": "Not Found"})

            def do_PATCH(self) -> None:
                routed = self._route()
                if routed and routed[0].startswith("/repos/acme/shop/pulls/"):
                    pull = outer.pulls[int(routed[0].rsplit("/", 1)[1]) - 1]
                    pull.update(self._body())
                    self._answer(200, pull)
                elif routed:
                    self._answer(404, {"message": "Not Found"})

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub()
    yield fake
    fake.stop()


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def steps() -> tuple[dict[str, str], list[str]]:
    """The job's env and the shell of its steps, minus the install (the tool is installed here)."""
    job = yaml.safe_load(WORKFLOW.read_text())["jobs"]["import"]
    scripts = [s["run"] for s in job["steps"] if "run" in s and not s["run"].startswith("pip install")]
    return {k: v for k, v in job["env"].items() if "${{" not in str(v)}, scripts


def night(workdir: Path, remote: Path, env: dict[str, str]) -> str:
    """One run of the job: a fresh checkout of main, then each step with GitHub's bash options."""
    if workdir.exists():
        shutil.rmtree(workdir)
    subprocess.run(["git", "clone", "--quiet", "--branch", "main", str(remote), str(workdir)], check=True)
    job_env, scripts = steps()
    out = []
    for script in scripts:
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
            cwd=workdir,
            env={**env, **job_env},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        out.append(done.stdout)
    return "".join(out)


def test_drift_becomes_one_pull_request_updated_night_after_night(
    make_emulator: Callable[..., RunningEmulator], github: FakeGitHub, tmp_path: Path
) -> None:
    tenant = make_emulator(api_keys={"readkey": {"CHANNEL_READ"}})
    text = (EXAMPLES / "webshop" / "channels.yaml").read_text(encoding="utf-8")
    text = text.replace("https://tulipandco.omnidesk.com", tenant.url)
    tenant.emu.seed_channels(
        [
            {
                "name": "SMS gateway",
                "icon": "phone",
                "custom_channel_available_in_quick_ticket": "true",
                "custom_channel_endpoint": "https://bridges.tulipandco.nl/sms/omnidesk?number=3197010000099",
                "custom_channel_warning_en": "Replies over 160 characters are sent as several messages.",
                "custom_channel_warning_nl": "Antwoorden van meer dan 160 tekens worden in delen verstuurd.",
            },
            {
                "name": "Instagram DM",
                "icon": "camera",
                "include_signature": "true",  # icon changed in the UI
                "custom_channel_endpoint": "https://bridges.tulipandco.nl/instagram/omnidesk",
                "custom_channel_warning_en": (
                    "Instagram closes the conversation 7 days after the last customer message."
                ),
                "custom_channel_warning_nl": "Instagram sluit het gesprek 7 dagen na het laatste bericht van de klant.",
            },
            {
                "name": "Marketplace inbox",
                "icon": "shop",
                "include_signature": "true",
                "custom_channel_endpoint": "https://bridges.tulipandco.nl/marketplace/omnidesk",
            },
        ]
    )
    remote, seed = tmp_path / "origin.git", tmp_path / "seed"
    subprocess.run(["git", "init", "--quiet", "--bare", "--initial-branch=main", str(remote)], check=True)
    subprocess.run(["git", "init", "--quiet", "--initial-branch=main", str(seed)], check=True)
    (seed / "channels.yaml").write_text(text, encoding="utf-8")
    git(seed, "add", "channels.yaml")
    git(seed, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet", "-m", "channels")
    git(seed, "push", "--quiet", str(remote), "main")
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "GITHUB_API_URL": github.url,
        "GITHUB_REPOSITORY": "acme/shop",
        "GITHUB_REPOSITORY_OWNER": "acme",
        "GITHUB_REF_NAME": "main",
        "GH_TOKEN": TOKEN,
        "OMNIDESK_PRODUCTION_KEY": "readkey",
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
    }
    workdir = tmp_path / "work"

    first = night(workdir, remote, env)
    assert "~ updated 'Instagram DM': icon 'instagram' -> 'camera'" in first
    assert "Opened pull request #1." in first
    branch = git(remote, "show", "omnidesk-import/production:channels.yaml")
    assert branch == text.replace("    icon: instagram\n", "    icon: camera\n")
    assert [(p["number"], p["head"], p["base"], p["title"]) for p in github.pulls] == [
        (1, "omnidesk-import/production", "main", "Channels changed in the production admin UI")
    ]
    assert "icon 'instagram' -> 'camera'" in github.pulls[0]["body"]
    # the snapshot a fork's pull request is planned against rides along (#22)
    snapshot = git(remote, "show", "omnidesk-import/production:omnidesk-snapshots/production.yaml")
    assert snapshot.startswith("# yaml-language-server") and "# Exported by omnidesk-channels." in snapshot
    assert "- name: Instagram DM\n" in snapshot and "  icon: camera\n" in snapshot

    tenant.emu.seed_channels([{"name": "Gift cards", "icon": "gift"}])  # someone clicks once more
    second = night(workdir, remote, env)
    assert "+ added 'Gift cards' (tenants: [production]); its secret: ${env:GIFT_CARDS_SECRET}" in second
    assert "Updated pull request #1." in second
    assert len(github.pulls) == 1 and "Gift cards" in github.pulls[0]["body"]
    assert "  - name: Gift cards\n    tenants: [production]\n    icon: gift\n" in git(
        remote, "show", "omnidesk-import/production:channels.yaml"
    )
    assert git(remote, "show", "main:channels.yaml") == text, "main itself is never pushed to"

    git(remote, "update-ref", "refs/heads/main", "refs/heads/omnidesk-import/production")  # the merge
    github.calls.clear()
    quiet = night(workdir, remote, env)
    assert "channels.yaml already matches production." in quiet
    assert github.calls == []

"""``omnidesk-channels ci gitlab ...`` (what the GitLab template runs) against a fake GitLab API.

The API is ``tests.fakeforge.FakeGitLab`` (a real HTTP server), the tenant an emulator over HTTP.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator

import pytest

from reconciler.ci import plan_marker
from tests.clihelp import run_cli
from tests.fakeforge import FakeGitLab

READ_KEY, WRITE_KEY, SECRET = "gl-read-canary-31", "gl-write-canary-32", "gl-secret-canary-33"

FILE = """\
version: 1
tenants:
  production:
    url: {url}
    api_key_env: OMNIDESK_PRODUCTION_KEY
channels:
  - name: SMS gateway
    icon: phone
    custom_channel_secret: ${{env:SMS_BRIDGE_SECRET}}
"""


@pytest.fixture
def gitlab() -> Iterator[FakeGitLab]:
    fake = FakeGitLab().start()
    yield fake
    fake.stop()


@pytest.fixture
def tenant(make_emulator):
    return make_emulator(api_keys={READ_KEY: {"CHANNEL_READ"}, WRITE_KEY: {"CHANNEL_READ", "CHANNEL_CUD"}})


@pytest.fixture
def workdir(tmp_path: Path, tenant, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "channels.yaml").write_text(FILE.format(url=tenant.url))
    return tmp_path


def job_env(gitlab: FakeGitLab, **extra: str | None) -> dict[str, Any]:
    env: dict[str, Any] = {k: None for k in os.environ if k.startswith(("CI_", "GITLAB_"))}
    env.update({"CI": "true", "GITLAB_CI": "true", "CI_API_V4_URL": gitlab.api_url, "CI_PROJECT_ID": gitlab.project,
                "GITLAB_API_TOKEN": gitlab.token, "OMNIDESK_PRODUCTION_KEY": READ_KEY})
    env.update(extra)
    return env


def custom(tenant: Any) -> list[dict[str, Any]]:
    return [c for c in tenant.emu.channels() if c["type"] == "custom"]


def test_plan_writes_one_note_and_updates_it_in_place(workdir: Path, gitlab: FakeGitLab):
    for i in range(130):
        gitlab.add_note(3, f"review note {i}")
    env = job_env(gitlab, CI_MERGE_REQUEST_IID="3")
    result = run_cli(["ci", "gitlab", "plan", "--tenant", "production"], env)
    assert result.exit_code == 0, result.output
    (note,) = gitlab.notes[3][130:]
    assert note["body"].startswith(plan_marker("production")) and "Plan: 1 to create" in note["body"]
    assert (workdir / "omnidesk-plan" / "production.json").is_file()

    (workdir / "channels.yaml").write_text((workdir / "channels.yaml").read_text().replace("phone", "sms"))
    result = run_cli(["ci", "gitlab", "plan", "--tenant", "production"], env)
    assert result.exit_code == 0 and "merge request note updated" in result.stdout
    assert len(gitlab.notes[3]) == 131 and gitlab.notes[3][130]["id"] == note["id"]
    assert 'icon: "sms"' in gitlab.notes[3][130]["body"]
    assert all(READ_KEY not in n["body"] for n in gitlab.notes[3])


def test_fetch_then_apply_the_reviewed_plan(workdir: Path, gitlab: FakeGitLab, tenant):
    plan_env = job_env(gitlab, CI_MERGE_REQUEST_IID="3")
    assert run_cli(["ci", "gitlab", "plan", "--tenant", "production"], plan_env).exit_code == 0
    saved = (workdir / "omnidesk-plan" / "production.json").read_text()
    gitlab.add_merged_request("m" * 40, "h" * 40, 3, {"omnidesk-plan/production.json": saved})
    gitlab.files[("channels.yaml", "h" * 40)] = (workdir / "channels.yaml").read_bytes()
    (workdir / "omnidesk-plan" / "production.json").unlink()

    env = job_env(gitlab, CI_COMMIT_SHA="m" * 40, OMNIDESK_PRODUCTION_KEY=WRITE_KEY, SMS_BRIDGE_SECRET=SECRET)
    result = run_cli(["ci", "gitlab", "fetch"], env)
    assert result.exit_code == 0, result.output
    assert "Fetched 1 reviewed plan(s) of !3" in result.stdout
    applied = run_cli(["apply", "omnidesk-plan/production.json"], env)
    assert applied.exit_code == 0, applied.output
    assert [(c["name"], c["custom_channel_secret"]) for c in custom(tenant)] == [("SMS gateway", SECRET)]


def test_fetch_refuses_when_the_merged_file_is_not_the_reviewed_one(workdir: Path, gitlab: FakeGitLab):
    gitlab.add_merged_request("m" * 40, "h" * 40, 3, {"omnidesk-plan/production.json": "{}"})
    gitlab.files[("channels.yaml", "h" * 40)] = b"version: 1\nchannels: []\n"
    result = run_cli(["ci", "gitlab", "fetch"], job_env(gitlab, CI_COMMIT_SHA="m" * 40))
    assert result.exit_code == 1 and "differs from the reviewed merge request head" in result.stderr
    assert not (workdir / "omnidesk-plan").exists()


def test_fetch_without_a_merged_request_applies_nothing(workdir: Path, gitlab: FakeGitLab):
    result = run_cli(["ci", "gitlab", "fetch"], job_env(gitlab, CI_COMMIT_SHA="f" * 40))
    assert result.exit_code == 1 and "did not come from a merged merge request" in result.stderr


@pytest.mark.parametrize("command", [["plan", "--tenant", "production"], ["fetch"]])
def test_outside_gitlab_it_names_the_missing_variables(workdir: Path, command: list[str]):
    env: dict[str, Any] = {k: None for k in os.environ if k.startswith(("CI_", "GITLAB_"))}
    result = run_cli(["ci", "gitlab", *command], env)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "not running in GitLab CI" in result.stderr
    for name in ("CI_API_V4_URL", "CI_PROJECT_ID", "GITLAB_API_TOKEN"):
        assert name in result.stderr
    assert not (workdir / "omnidesk-plan").exists()  # it stopped before planning


def test_plan_without_notes_runs_anywhere(workdir: Path):
    result = run_cli(["ci", "gitlab", "plan", "--tenant", "production", "--no-note"],
                     {"OMNIDESK_PRODUCTION_KEY": READ_KEY})
    assert result.exit_code == 0 and "Plan: 1 to create" in result.stdout

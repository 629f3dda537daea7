"""``omnidesk-channels ci gitlab ...`` (what the GitLab template runs) against a fake GitLab API.

The API is ``tests.fakeforge.FakeGitLab`` (a real HTTP server), the tenant an emulator over HTTP.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

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


TEMPLATE = Path(__file__).resolve().parent.parent / "examples" / "gitlab" / "omnidesk-channels.gitlab-ci.yml"
EXAMPLE = TEMPLATE.with_name("gitlab-ci.yml")
TWO_TENANTS = """\
version: 1
tenants:
  staging:
    url: {staging}
    api_key_env: OMNIDESK_STAGING_KEY
  production:
    url: {production}
    api_key_env: OMNIDESK_PRODUCTION_KEY
channels:
  - name: SMS gateway
    icon: phone
    custom_channel_secret: ${{env:SMS_BRIDGE_SECRET}}
"""


def expand(value: str, env: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), ""), value)


def run_job(name: str, project: dict[str, str], workdir: Path) -> subprocess.CompletedProcess[str]:
    """A job of the template, as the example .gitlab-ci.yml configures it, run by bash as a runner would
    (the image's pip install aside: the tool is this checkout's)."""
    template, example = yaml.safe_load(TEMPLATE.read_text()), yaml.safe_load(EXAMPLE.read_text())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CI_", "GITLAB_", "OMNIDESK_"))}
    env.update(project)
    for scope in (template["variables"], example["variables"], template[name].get("variables", {}),
                  example.get(name, {}).get("variables", {})):
        env.update({k: expand(str(v), env) for k, v in scope.items()})
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    script = "\n".join(template[name]["script"])
    return subprocess.run(["bash", "-e", "-c", script], env=env, cwd=workdir, capture_output=True, text=True,
                          timeout=120)


def test_the_template_plans_applies_and_checks_drift_with_least_privilege(tmp_path: Path, gitlab: FakeGitLab,
                                                                          make_emulator):
    """Merge request: validate and plan with the read-only key, no secret. Main: fetch and apply with
    the protected write key and secrets. Schedule: drift of every tenant with read-only keys."""
    keys = {READ_KEY: {"CHANNEL_READ"}, WRITE_KEY: {"CHANNEL_READ", "CHANNEL_CUD"}}
    tenants = {"staging": make_emulator(api_keys=keys), "production": make_emulator(api_keys=keys)}
    (tmp_path / "channels.yaml").write_text(TWO_TENANTS.format(**{n: t.url for n, t in tenants.items()}))
    api = {"CI_API_V4_URL": gitlab.api_url, "CI_PROJECT_ID": gitlab.project, "GITLAB_API_TOKEN": gitlab.token,
           "OMNIDESK_PRODUCTION_KEY_READ": READ_KEY, "OMNIDESK_STAGING_KEY_READ": READ_KEY}
    # GITLAB_API_TOKEN is a protected variable: a merge request pipeline has only the note token
    merge_request = {**{k: v for k, v in api.items() if k != "GITLAB_API_TOKEN"}, "OMNIDESK_NOTE_TOKEN": gitlab.token,
                     "CI_PIPELINE_SOURCE": "merge_request_event", "CI_MERGE_REQUEST_IID": "5"}
    for job in ("omnidesk-validate", "omnidesk-plan"):
        result = run_job(job, merge_request, tmp_path)
        assert result.returncode == 0, job + result.stdout + result.stderr
    (note,) = gitlab.notes[5]
    assert note["body"].startswith(plan_marker("production")) and "Plan: 1 to create" in note["body"]

    saved = (tmp_path / "omnidesk-plan" / "production.json").read_text()
    gitlab.add_merged_request("a" * 40, "b" * 40, 5, {"omnidesk-plan/production.json": saved})
    gitlab.files[("channels.yaml", "b" * 40)] = (tmp_path / "channels.yaml").read_bytes()
    shutil.rmtree(tmp_path / "omnidesk-plan")  # another job, another machine
    main = {**api, "CI_PIPELINE_SOURCE": "push", "CI_COMMIT_SHA": "a" * 40,
            "OMNIDESK_PRODUCTION_KEY_WRITE": WRITE_KEY, "SMS_BRIDGE_SECRET": SECRET}
    result = run_job("omnidesk-apply", main, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert [(c["name"], c["custom_channel_secret"]) for c in custom(tenants["production"])] == [("SMS gateway", SECRET)]
    assert custom(tenants["staging"]) == []

    schedule = {**api, "CI_PIPELINE_SOURCE": "schedule", "OMNIDESK_DRIFT": "1"}
    drift = run_job("omnidesk-drift", schedule, tmp_path)
    assert drift.returncode == 2, drift.stdout + drift.stderr  # staging never got the channel: drift
    assert "2 tenant(s): 1 with changes, 0 failed." in drift.stdout
    for text in (note["body"], result.stdout, result.stderr, drift.stdout, drift.stderr):
        assert READ_KEY not in text and WRITE_KEY not in text and SECRET not in text

"""``secret_version`` in the shipped pipelines (#22): the record of the versions last applied lives
in the apply job's artifact, read back by the next apply and by the plans of pull/merge requests.

GitHub: ``examples/github/channels.yml`` run by ``tests.fakeactions`` (fresh checkouts, the
production environment, action.yml's upload steps). GitLab: the template's jobs run by bash as a
runner would, their ``artifacts:`` kept as the template says. The tenant is an emulator over HTTP,
whose store says which secret each channel holds. Each pipeline: a first merge records the
version the tenant already has (no rotation), a raise is shown in the request's plan and applied
once; an apply whose write fails records nothing for that channel, and the next run applies it.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.ci import plan_marker
from tests.fakeactions import PRODUCTION_FILE, Repo, protected_setup
from tests.fakeforge import FakeGitHub, FakeGitLab
from tests.fakegitlab import Project
from tests.test_ci_gitlab import TEMPLATE, run_job

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / "examples" / "github" / "channels.yml"
GROUP = "omnidesk-channels-production"
READ_KEY, WRITE_KEY = "versions-read-canary-21", "versions-write-canary-22"
CLICKED, FIRST, SECOND, THIRD = "clicked-canary-30", "secret-canary-31", "secret-canary-32", "secret-canary-33"
ALL = frozenset({"CHANNEL_READ", "CHANNEL_CUD"})

FILE = PRODUCTION_FILE


def versioned(version: int):
    """A change to the file: the channel's secret_version set to ``version``."""

    def change(text: str) -> str:
        lines = [line for line in text.splitlines() if "secret_version" not in line]
        return "\n".join(lines) + f"\n    secret_version: {version}\n"

    return change


@pytest.fixture
def tenant(make_emulator: Any) -> Any:
    """The tenant already has the channel, its secret clicked in the admin UI: no record of it anywhere."""
    tenant = make_emulator(api_keys={READ_KEY: {"CHANNEL_READ"}, WRITE_KEY: set(ALL)})
    tenant.emu.seed_channels(
        [
            {
                "name": "SMS gateway",
                "icon": "phone",
                "custom_channel_endpoint": "https://bridge.example.com/sms",
                "custom_channel_secret": CLICKED,
            }
        ]
    )
    return tenant


def held(tenant: Any) -> str:
    (sms,) = [c for c in tenant.emu.channels() if c["type"] == "custom"]
    return str(sms["custom_channel_secret"])


def refuse_writes(tenant: Any) -> None:
    """Every write of the next apply is refused (403), as if the key had lost CHANNEL_CUD."""

    def refuse(method: str, path: str, query: dict[str, str]) -> None:
        write = frozenset({"CHANNEL_READ"}) if method == "PUT" else ALL
        tenant.emu.api_keys = {READ_KEY: frozenset({"CHANNEL_READ"}), WRITE_KEY: write}

    tenant.emu.before_request = refuse


def allow_writes(tenant: Any) -> None:
    tenant.emu.before_request = None
    tenant.emu.api_keys = {READ_KEY: frozenset({"CHANNEL_READ"}), WRITE_KEY: ALL}


# -- GitHub ------------------------------------------------------------------------------------


def recorded_on_github(github: FakeGitHub, run: Any) -> dict[str, int]:
    """The record the run's apply kept, from the artifact action.yml uploaded."""
    (artifact,) = [a for a in github.artifacts[run.id] if a["name"] == "omnidesk-plan-secret-versions"]
    with zipfile.ZipFile(io.BytesIO(github.blobs[artifact["id"]])) as archive:
        data = json.loads(archive.read("secret-versions.json"))
    return {e["name"]: e["secret_version"] for tenant in data["tenants"].values() for e in tenant.values()}


def comment(github: FakeGitHub, number: int) -> str:
    (body,) = [c["body"] for c in github.comments[number] if c["body"].startswith(plan_marker("production"))]
    return str(body)


def test_github_records_rotates_once_and_retries_a_failed_write(tmp_path: Path, github: FakeGitHub, tenant: Any):
    repo = Repo(github, {"channels.yaml": FILE.format(url=tenant.url)})
    actions = protected_setup(
        github, repo, WORKFLOW, tmp_path / "runs", read_key=READ_KEY, write_key=WRITE_KEY, secret=FIRST
    )
    secrets = actions.environments["production"].secrets

    repo.open(1, versioned(1))  # the first secret_version: recorded as it is, nothing sent
    planned = actions.pull_request(1)
    assert planned.job("plan").conclusion == "success", planned.job("plan").log
    assert "No changes" in comment(github, 1)
    assert "No record of the secret_version last applied to 1 channel(s)" in comment(github, 1)
    first = actions.push(repo.merge(1))
    done = actions.finish(GROUP)
    assert done.conclusion == "success", done.log
    assert held(tenant) == CLICKED
    assert recorded_on_github(github, first) == {"SMS gateway": 1}

    repo.open(2, versioned(2))  # the plan job reads the record the last apply kept
    assert actions.pull_request(2).job("plan").conclusion == "success"
    assert "secret rotated (secret_version 1 → 2)" in comment(github, 2)
    secrets["SMS_BRIDGE_SECRET"] = SECOND
    refuse_writes(tenant)
    second = actions.push(repo.merge(2))
    failed = actions.finish(GROUP)
    assert failed.conclusion == "failure", failed.log
    assert held(tenant) == CLICKED
    assert recorded_on_github(github, second) == {"SMS gateway": 1}  # kept, and unchanged

    allow_writes(tenant)
    again = actions.dispatch()  # "Run workflow" on main: the rotation is planned again
    retried = actions.finish(GROUP)
    assert retried.conclusion == "success", retried.log
    assert held(tenant) == SECOND
    assert recorded_on_github(github, again) == {"SMS gateway": 2}
    assert "Applied the changes of [#2](" in (tmp_path / "runs" / f"run{again.id}-apply" / "step_summary").read_text()

    repo.open(3, lambda text: text.replace("icon: phone", "icon: sms"))
    assert actions.pull_request(3).job("plan").conclusion == "success"
    assert "secret rotated" not in comment(github, 3) and "icon" in comment(github, 3)
    secrets["SMS_BRIDGE_SECRET"] = THIRD
    third = actions.push(repo.merge(3))
    assert actions.finish(GROUP).conclusion == "success"
    assert held(tenant) == SECOND  # no second rotation
    assert recorded_on_github(github, third) == {"SMS gateway": 2}
    for run in actions.runs:
        for job in run.jobs:
            assert all(s not in "".join(job.log) for s in (FIRST, SECOND, THIRD, CLICKED, WRITE_KEY))


# -- GitLab ------------------------------------------------------------------------------------


def api(gitlab: FakeGitLab) -> dict[str, str]:
    return {"CI_API_V4_URL": gitlab.api_url, "CI_PROJECT_ID": gitlab.project, "CI_DEFAULT_BRANCH": "main"}


def mr_plan(gitlab: FakeGitLab, project: Project, workdir: Path, iid: int, text: str) -> dict[str, str]:
    """The template's plan job in merge request !iid (read key, the note token): its artifacts."""
    (workdir / "channels.yaml").write_text(text)
    shutil.rmtree(workdir / "omnidesk-plan", ignore_errors=True)
    merge_request = {
        **api(gitlab),
        "OMNIDESK_NOTE_TOKEN": gitlab.token,
        "OMNIDESK_PRODUCTION_KEY_READ": READ_KEY,
        "CI_PIPELINE_SOURCE": "merge_request_event",
        "CI_MERGE_REQUEST_IID": str(iid),
        "CI_JOB_NAME": "omnidesk-plan",
    }
    result = run_job("omnidesk-plan", merge_request, workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    return {"omnidesk-plan/production.json": (workdir / "omnidesk-plan" / "production.json").read_text()}


def main_apply(
    gitlab: FakeGitLab, project: Project, workdir: Path, source: str, secret: str
) -> subprocess.CompletedProcess[str]:
    """The template's apply job in a new pipeline of main: a fresh checkout of main's head, a
    deployment, then its artifacts kept as the template says (``when: always``)."""
    spec = yaml.safe_load(TEMPLATE.read_text())["omnidesk-apply"]
    for path in spec["artifacts"]["paths"]:
        shutil.rmtree(workdir / path, ignore_errors=True)
    (workdir / "channels.yaml").write_text(project.files[project.head])
    pipeline = project.pipeline(source)
    deployment = project.deploy(project.head, "omnidesk-production")
    main = {
        **api(gitlab),
        "GITLAB_API_TOKEN": gitlab.token,
        "OMNIDESK_PRODUCTION_KEY_WRITE": WRITE_KEY,
        "SMS_BRIDGE_SECRET": secret,
        "CI_PIPELINE_SOURCE": source,
        "CI_PIPELINE_ID": str(pipeline["id"]),
        "CI_JOB_NAME": "omnidesk-apply",
        "CI_COMMIT_SHA": project.head,
        "CI_COMMIT_BRANCH": "main",
        "CI_COMMIT_REF_NAME": "main",
        "CI_COMMIT_REF_PROTECTED": "true",
        "CI_ENVIRONMENT_NAME": "omnidesk-production",
    }
    result = run_job("omnidesk-apply", main, workdir)
    deployment["status"] = "success" if result.returncode == 0 else "failed"
    assert spec["artifacts"]["when"] == "always"
    kept = {
        f.relative_to(workdir).as_posix(): f.read_text()
        for path in spec["artifacts"]["paths"]
        for f in sorted((workdir / path).rglob("*"))
        if f.is_file()
    }
    project.finish_job(pipeline, "omnidesk-apply", result.returncode, (), kept)
    return result


def recorded_in(workdir: Path) -> dict[str, int]:
    data = json.loads((workdir / "omnidesk-secret-versions" / "secret-versions.json").read_text())
    return {e["name"]: e["secret_version"] for tenant in data["tenants"].values() for e in tenant.values()}


def test_gitlab_records_rotates_once_and_retries_a_failed_write(tmp_path: Path, gitlab: FakeGitLab, tenant: Any):
    text = FILE.format(url=tenant.url)
    project = Project(gitlab, text, protected={}, unprotected={})
    project.deploy(project.head, "omnidesk-production")["status"] = "success"  # the tenant is at main's start

    one = versioned(1)(text)
    project.merge(1, lambda _: one, mr_plan(gitlab, project, tmp_path, 1, one))
    assert "No record of the secret_version last applied to 1 channel(s)" in gitlab.notes[1][0]["body"]
    first = main_apply(gitlab, project, tmp_path, "push", FIRST)
    assert first.returncode == 0, first.stdout + first.stderr
    assert held(tenant) == CLICKED and recorded_in(tmp_path) == {"SMS gateway": 1}

    two = versioned(2)(one)
    project.merge(2, lambda _: two, mr_plan(gitlab, project, tmp_path, 2, two))
    assert "secret rotated (secret_version 1 → 2)" in gitlab.notes[2][0]["body"]
    refuse_writes(tenant)
    failed = main_apply(gitlab, project, tmp_path, "push", SECOND)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert held(tenant) == CLICKED and recorded_in(tmp_path) == {"SMS gateway": 1}

    allow_writes(tenant)
    retried = main_apply(gitlab, project, tmp_path, "web", SECOND)  # "Run pipeline" by hand
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert "Applied the changes of [!2](" in retried.stdout
    assert held(tenant) == SECOND and recorded_in(tmp_path) == {"SMS gateway": 2}

    three = two.replace("icon: phone", "icon: sms")
    project.merge(3, lambda _: three, mr_plan(gitlab, project, tmp_path, 3, three))
    assert "secret rotated" not in gitlab.notes[3][0]["body"]
    last = main_apply(gitlab, project, tmp_path, "push", THIRD)
    assert last.returncode == 0, last.stdout + last.stderr
    assert held(tenant) == SECOND and recorded_in(tmp_path) == {"SMS gateway": 2}
    for result in (first, failed, retried, last):
        assert all(s not in result.stdout + result.stderr for s in (FIRST, SECOND, THIRD, CLICKED, WRITE_KEY))

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
from typing import Any

import pytest
import yaml

from reconciler.ci import apply_marker, drift_marker, plan_marker
from tests.clihelp import run_cli
from tests.fakeforge import FakeGitLab
from tests.fakegitlab import Project

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
def tenant(make_emulator):
    return make_emulator(api_keys={READ_KEY: {"CHANNEL_READ"}, WRITE_KEY: {"CHANNEL_READ", "CHANNEL_CUD"}})


@pytest.fixture
def workdir(tmp_path: Path, tenant, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "channels.yaml").write_text(FILE.format(url=tenant.url))
    return tmp_path


def job_env(gitlab: FakeGitLab, **extra: str | None) -> dict[str, Any]:
    env: dict[str, Any] = {k: None for k in os.environ if k.startswith(("CI_", "GITLAB_"))}
    env.update(
        {
            "CI": "true",
            "GITLAB_CI": "true",
            "CI_API_V4_URL": gitlab.api_url,
            "CI_PROJECT_ID": gitlab.project,
            "GITLAB_API_TOKEN": gitlab.token,
            "OMNIDESK_PRODUCTION_KEY": READ_KEY,
        }
    )
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
    assert result.exit_code == 0 and "merge request comment updated" in result.stdout
    assert len(gitlab.notes[3]) == 131 and gitlab.notes[3][130]["id"] == note["id"]
    assert 'icon: "sms"' in gitlab.notes[3][130]["body"]
    assert all(READ_KEY not in n["body"] for n in gitlab.notes[3])


def on_main(
    gitlab: FakeGitLab, project: Project, sha: str, source: str = "push", branch: str | None = "main", **extra: str
) -> dict[str, Any]:
    """A pipeline of ``sha``: GitLab's predefined variables and the project variables it gets."""
    env = job_env(
        gitlab,
        CI_PIPELINE_SOURCE=source,
        CI_COMMIT_SHA=sha,
        CI_COMMIT_BRANCH=branch,
        CI_DEFAULT_BRANCH="main",
        CI_COMMIT_REF_PROTECTED="true" if branch == "main" else "false",
        CI_ENVIRONMENT_NAME="omnidesk-production",
        OMNIDESK_PRODUCTION_KEY=None,
        GITLAB_API_TOKEN=None,
    )
    env.update(project.variables(source, branch))
    env.update(extra)
    return env


def apply_job(gitlab: FakeGitLab, project: Project, sha: str, **extra: str):
    """The template's apply job as GitLab runs it: a deployment is recorded, then its outcome."""
    deployment = project.deploy(sha, "omnidesk-production")
    result = run_cli(["ci", "gitlab", "apply", "--tenant", "production"], on_main(gitlab, project, sha, **extra))
    deployment["status"] = "success" if result.exit_code == 0 else "failed"
    return result


@pytest.fixture
def project(workdir: Path, gitlab: FakeGitLab) -> Project:
    return Project(
        gitlab,
        (workdir / "channels.yaml").read_text(),
        protected={"GITLAB_API_TOKEN": gitlab.token, "OMNIDESK_PRODUCTION_KEY": WRITE_KEY, "SMS_BRIDGE_SECRET": SECRET},
        unprotected={"OMNIDESK_NOTE_TOKEN": gitlab.token, "OMNIDESK_PRODUCTION_KEY_READ": READ_KEY},
    )


def reviewed_plan(workdir: Path, text: str) -> dict[str, str]:
    """What the merge request's plan job leaves as artifacts for ``text``: read key, no secret."""
    (workdir / "channels.yaml").write_text(text)
    result = run_cli(
        ["ci", "gitlab", "plan", "--tenant", "production", "--no-note"], {"OMNIDESK_PRODUCTION_KEY": READ_KEY}
    )
    assert result.exit_code == 0, result.output
    return {"omnidesk-plan/production.json": (workdir / "omnidesk-plan" / "production.json").read_text()}


def checkout(workdir: Path, project: Project, sha: str) -> None:
    (workdir / "channels.yaml").write_text(project.files[sha])


def test_apply_in_any_order_applies_each_reviewed_merge_request_once(
    workdir: Path, gitlab: FakeGitLab, project: Project, tenant
):
    """resource_group unordered: the newer pipeline's apply starts first; the older one then has nothing to do."""
    project.deploy(project.head, "omnidesk-production")["status"] = "success"  # the tenant is at main's start
    first = project.merge(
        3,
        lambda t: t.replace("icon: phone", "icon: sms"),
        reviewed_plan(workdir, project.files[project.head].replace("icon: phone", "icon: sms")),
    )
    second_text = project.files[first].replace("    icon: sms\n", "    icon: sms\n    include_signature: true\n")
    second = project.merge(4, lambda t: second_text, reviewed_plan(workdir, second_text))

    checkout(workdir, project, second)
    newer = apply_job(gitlab, project, second)
    assert newer.exit_code == 0, newer.output
    assert "Applied the changes of [!3](" in newer.stdout and ", [!4](" in newer.stdout
    assert [(c["icon"], c["include_signature"], c["custom_channel_secret"]) for c in custom(tenant)] == [
        ("sms", True, SECRET)
    ]
    checkout(workdir, project, first)
    older = apply_job(gitlab, project, first)
    assert older.exit_code == 0 and "is older than the last applied commit" in older.stdout
    assert custom(tenant)[0]["icon"] == "sms"
    for text in (newer.output, older.output):
        assert WRITE_KEY not in text and SECRET not in text


def test_apply_refuses_what_no_reviewed_plan_showed_and_notes_it(
    workdir: Path, gitlab: FakeGitLab, project: Project, tenant
):
    unreviewed = project.merge(6, lambda t: t.replace("icon: phone", "icon: sms"), None)  # its plan job failed
    checkout(workdir, project, unreviewed)
    result = apply_job(gitlab, project, unreviewed)
    assert result.exit_code == 1 and custom(tenant) == []
    (note,) = gitlab.notes[6]
    assert note["body"].startswith(apply_marker("production")) and "'SMS gateway': icon = \"sms\"" in note["body"]

    direct = project.push(project.files[project.head].replace("icon: sms", "icon: chat"))
    checkout(workdir, project, direct)
    result = apply_job(gitlab, project, direct)
    assert result.exit_code == 1 and "refused: no reviewed plan covers" in result.stderr
    dotenv = workdir / "omnidesk.env"  # GitLab's dotenv report carries the outputs to later jobs
    allowed = apply_job(gitlab, project, direct, OMNIDESK_CI_APPLY_UNREVIEWED="true", OMNIDESK_CI_DOTENV=str(dotenv))
    assert allowed.exit_code == 0 and custom(tenant)[0]["icon"] == "chat"  # the user opted in
    assert "| production | ✅ applied, unreviewed changes included as allowed |" in allowed.stdout
    assert dotenv.read_text() == "OMNIDESK_EXITCODE=0\nOMNIDESK_APPLIED_REQUESTS=[]\n"


@pytest.mark.parametrize("source, branch", [("merge_request_event", None), ("push", "feature")])
def test_apply_never_runs_outside_the_protected_default_branch(
    workdir: Path, gitlab: FakeGitLab, project: Project, tenant, source: str, branch: str | None
):
    sha = project.merge(7, lambda t: t, reviewed_plan(workdir, project.files[project.head]))
    env = on_main(
        gitlab,
        project,
        sha,
        source=source,
        branch=branch,
        OMNIDESK_PRODUCTION_KEY=WRITE_KEY,
        GITLAB_API_TOKEN=gitlab.token,
    )
    result = run_cli(["ci", "gitlab", "apply", "--tenant", "production"], env)
    assert (
        result.exit_code == 1 and "apply runs only in pipelines of the protected default branch main" in result.stderr
    )
    assert custom(tenant) == [] and not [c for c in gitlab.calls if "deployments" in c[1]]


def test_drift_keeps_one_issue_per_tenant(workdir: Path, gitlab: FakeGitLab, project: Project, tenant):
    env = on_main(gitlab, project, project.head, source="schedule", OMNIDESK_PRODUCTION_KEY=READ_KEY)
    result = run_cli(["ci", "gitlab", "drift", "--tenant", "production"], env)
    assert result.exit_code == 0, result.output
    (issue,) = project.issues
    assert issue["description"].startswith(drift_marker("production")) and issue["labels"] == ["omnidesk-drift"]
    assert (
        run_cli(
            ["apply", "channels.yaml", "--tenant", "production", "--yes"],
            {"OMNIDESK_PRODUCTION_KEY": WRITE_KEY, "SMS_BRIDGE_SECRET": SECRET},
        ).exit_code
        == 0
    )
    result = run_cli(["ci", "gitlab", "drift", "--tenant", "production"], env)
    assert (
        result.exit_code == 0 and issue["state"] == "closed" and "matches the channels file again" in issue["notes"][0]
    )


@pytest.mark.parametrize("command", [["plan", "--tenant", "production"], ["apply"], ["drift"]])
def test_outside_gitlab_it_names_the_missing_variables(workdir: Path, command: list[str]):
    env: dict[str, Any] = {k: None for k in os.environ if k.startswith(("CI_", "GITLAB_"))}
    result = run_cli(["ci", "gitlab", *command], env)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "not running in GitLab CI" in result.stderr
    for name in ("CI_API_V4_URL", "CI_PROJECT_ID", "GITLAB_API_TOKEN"):
        assert name in result.stderr
    assert not (workdir / "omnidesk-plan").exists()  # it stopped before planning


def test_plan_without_notes_runs_anywhere(workdir: Path):
    result = run_cli(
        ["ci", "gitlab", "plan", "--tenant", "production", "--no-note"], {"OMNIDESK_PRODUCTION_KEY": READ_KEY}
    )
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


def run_job(
    name: str, project: dict[str, str], workdir: Path, overrides: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """A job of the template, as the example .gitlab-ci.yml configures it, run by bash as a runner would
    (the image's pip install aside: the tool is this checkout's). ``overrides``: project CI/CD
    variables, which win over the YAML's."""
    template, example = yaml.safe_load(TEMPLATE.read_text()), yaml.safe_load(EXAMPLE.read_text())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CI_", "GITLAB_", "OMNIDESK_"))}
    env.update(project)
    for scope in (
        template["variables"],
        example["variables"],
        template[name].get("variables", {}),
        example.get(name, {}).get("variables", {}),
    ):
        env.update({k: expand(str(v), env) for k, v in scope.items()})
    env.update(overrides or {})
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    script = "\n".join(template[name]["script"])
    return subprocess.run(
        ["bash", "-e", "-c", script], env=env, cwd=workdir, capture_output=True, text=True, timeout=120
    )


def scheduled_job(
    name: str, project: Project, env: dict[str, str], workdir: Path, overrides: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """A job of a new scheduled pipeline on main, as GitLab runs it: a fresh checkout (nothing left
    by the last job), the predefined variables, then its artifacts kept as the template's
    ``artifacts:`` says (``when: on_success`` unless it says otherwise)."""
    spec = yaml.safe_load(TEMPLATE.read_text())[name]
    kept = spec.get("artifacts", {})
    for path in kept.get("paths", []):
        shutil.rmtree(workdir / path, ignore_errors=True)
    pipeline = project.pipeline("schedule")
    predefined = {
        "CI_PIPELINE_SOURCE": "schedule",
        "CI_PIPELINE_ID": str(pipeline["id"]),
        "CI_JOB_NAME": name,
        "CI_COMMIT_REF_NAME": "main",
        "CI_COMMIT_BRANCH": "main",
        "CI_DEFAULT_BRANCH": "main",
    }
    result = run_job(name, {**env, **predefined}, workdir, overrides)
    artifacts = None
    if kept and (result.returncode == 0 or kept.get("when") == "always"):
        artifacts = {
            f.relative_to(workdir).as_posix(): f.read_text()
            for path in kept["paths"]
            for f in sorted((workdir / path).rglob("*"))
            if f.is_file()
        }
    allowed = tuple(spec.get("allow_failure", {}).get("exit_codes", ()))
    project.finish_job(pipeline, name, result.returncode, allowed, artifacts)
    return result


def test_the_template_plans_applies_and_checks_drift_with_least_privilege(
    tmp_path: Path, gitlab: FakeGitLab, make_emulator
):
    """Merge request: validate and plan with the read-only key, no secret. Main: apply what the
    reviewed plan showed, with the protected write key and secrets. Schedule: drift of every tenant
    with read-only keys."""
    keys = {READ_KEY: {"CHANNEL_READ"}, WRITE_KEY: {"CHANNEL_READ", "CHANNEL_CUD"}}
    tenants = {"staging": make_emulator(api_keys=keys), "production": make_emulator(api_keys=keys)}
    (tmp_path / "channels.yaml").write_text(TWO_TENANTS.format(**{n: t.url for n, t in tenants.items()}))
    api = {
        "CI_API_V4_URL": gitlab.api_url,
        "CI_PROJECT_ID": gitlab.project,
        "GITLAB_API_TOKEN": gitlab.token,
        "OMNIDESK_PRODUCTION_KEY_READ": READ_KEY,
        "OMNIDESK_STAGING_KEY_READ": READ_KEY,
    }
    # GITLAB_API_TOKEN is a protected variable: a merge request pipeline has only the note token
    merge_request = {
        **{k: v for k, v in api.items() if k != "GITLAB_API_TOKEN"},
        "OMNIDESK_NOTE_TOKEN": gitlab.token,
        "CI_PIPELINE_SOURCE": "merge_request_event",
        "CI_MERGE_REQUEST_IID": "5",
    }
    for job in ("omnidesk-validate", "omnidesk-plan"):
        result = run_job(job, merge_request, tmp_path)
        assert result.returncode == 0, job + result.stdout + result.stderr
    (note,) = gitlab.notes[5]
    assert note["body"].startswith(plan_marker("production")) and "Plan: 1 to create" in note["body"]

    saved = (tmp_path / "omnidesk-plan" / "production.json").read_text()
    gitlab.add_merged_request("a" * 40, "b" * 40, 5, {"omnidesk-plan/production.json": saved})
    gitlab.files[("channels.yaml", "b" * 40)] = (tmp_path / "channels.yaml").read_bytes()
    shutil.rmtree(tmp_path / "omnidesk-plan")  # another job, another machine
    project = Project(gitlab, "", protected={}, unprotected={})  # deployments: none yet, this is the first apply
    main = {
        **api,
        "CI_PIPELINE_SOURCE": "push",
        "CI_COMMIT_SHA": "a" * 40,
        "CI_COMMIT_BRANCH": "main",
        "CI_DEFAULT_BRANCH": "main",
        "CI_COMMIT_REF_PROTECTED": "true",
        "CI_ENVIRONMENT_NAME": "omnidesk-production",
        "OMNIDESK_PRODUCTION_KEY_WRITE": WRITE_KEY,
        "SMS_BRIDGE_SECRET": SECRET,
    }
    result = run_job("omnidesk-apply", main, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert [(c["name"], c["custom_channel_secret"]) for c in custom(tenants["production"])] == [("SMS gateway", SECRET)]
    assert custom(tenants["staging"]) == []

    schedule = {**api, "OMNIDESK_DRIFT": "1"}  # the example says drift-after 2: the first drift pages nobody
    first = scheduled_job("omnidesk-drift", project, schedule, tmp_path)
    assert first.returncode == 0 and project.issues == [], first.stdout + first.stderr
    assert "| staging | ⏳ drifted (1 of 2 checks in a row) |" in first.stdout
    drift = scheduled_job("omnidesk-drift", project, schedule, tmp_path)
    assert drift.returncode == 2, drift.stdout + drift.stderr  # staging never got the channel: drift
    (issue,) = project.issues
    assert issue["description"].startswith(drift_marker("staging")) and "| production | ✅ matches |" in drift.stdout
    for text in (
        note["body"],
        result.stdout,
        result.stderr,
        drift.stdout,
        drift.stderr,
        first.stdout,
        *(f.read_text() for f in (tmp_path / "omnidesk-drift").iterdir()),
    ):
        assert READ_KEY not in text and WRITE_KEY not in text and SECRET not in text

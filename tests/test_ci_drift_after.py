"""``drift-after: N``: a drift issue opens only after N drift checks in a row, on both forges.

GitHub: the shipped ``examples/github/channels-drift.yml`` run by ``tests.fakeactions`` on
schedule, the count carried from run to run as the action's artifact and read back through the
fake GitHub's runs and artifacts API. GitLab: the template's drift job as the example configures
it, run by bash in scheduled pipelines of ``tests.fakegitlab``, its ``artifacts:`` kept as GitLab
keeps them. The tenant is an emulator over HTTP; someone clicks in its admin UI between checks.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from reconciler.ci import drift_marker, driftcount
from reconciler.client import OmnideskClient
from tests.clihelp import run_cli
from tests.fakeactions import Actions, Repo, Run
from tests.fakeforge import FakeGitHub, FakeGitLab, zip_of
from tests.fakegitlab import Project
from tests.test_ci_gitlab import EXAMPLE, TEMPLATE, scheduled_job

ROOT = Path(__file__).resolve().parent.parent
DRIFT_WORKFLOW = ROOT / "examples" / "github" / "channels-drift.yml"
READ_KEY, WRITE_KEY = "drift-read-canary-41", "drift-write-canary-42"

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
    icon: phone
    custom_channel_endpoint: https://bridge.example.com/sms
"""


@pytest.fixture
def tenants(make_emulator, tmp_path: Path) -> dict[str, Any]:
    """Two tenants that match the file (applied before the schedule started)."""
    keys = {READ_KEY: {"CHANNEL_READ"}, WRITE_KEY: {"CHANNEL_READ", "CHANNEL_CUD"}}
    found = {"staging": make_emulator(api_keys=keys), "production": make_emulator(api_keys=keys)}
    (tmp_path / "seed.yaml").write_text(FILE.format(**{n: t.url for n, t in found.items()}))
    for name in found:
        env = {"OMNIDESK_STAGING_KEY": WRITE_KEY, "OMNIDESK_PRODUCTION_KEY": WRITE_KEY}
        assert run_cli(["apply", str(tmp_path / "seed.yaml"), "--tenant", name, "--yes"], env).exit_code == 0
    return found


def click_in_admin_ui(tenant: Any, icon: str) -> None:
    (channel,) = [c for c in tenant.emu.channels() if c["type"] == "custom"]
    with OmnideskClient(tenant.url, WRITE_KEY) as client:
        client.update_channel(channel["id"], {"icon": icon})


# -- GitHub ------------------------------------------------------------------------------------


def drift_actions(tmp_path: Path, github: FakeGitHub, tenants: dict[str, Any], after: str) -> Actions:
    """The shipped drift workflow, with its drift-after set to ``after``."""
    text = DRIFT_WORKFLOW.read_text()
    assert 'drift-after: "2"' in text
    workflow = tmp_path / "channels-drift.yml"
    workflow.write_text(text.replace('drift-after: "2"', f'drift-after: "{after}"'))
    repo = Repo(github, {"channels.yaml": FILE.format(**{n: t.url for n, t in tenants.items()})})
    secrets = {"OMNIDESK_STAGING_KEY_READ": READ_KEY, "OMNIDESK_PRODUCTION_KEY_READ": READ_KEY}
    return Actions(github, repo, workflow, tmp_path / "runs", environments={}, secrets=secrets)


def checked(actions: Actions) -> Run:
    run = actions.schedule()
    job = run.job("drift")
    assert job.conclusion == "success", job.log
    return run


def out(run: Run) -> str:
    """What the drift step printed (the job's log of the action's run step)."""
    result = run.job("drift").result
    assert result is not None
    return result.stdout + result.stderr


def open_issues(github: FakeGitHub) -> list[dict[str, Any]]:
    return [i for i in github.issues if i["state"] == "open"]


def test_github_drift_undone_before_the_next_check_pages_nobody(tmp_path: Path, github: FakeGitHub, tenants):
    actions = drift_actions(tmp_path, github, tenants, "2")
    click_in_admin_ui(tenants["staging"], "mail")
    first = checked(actions)
    assert github.issues == [] and "1 of 2 checks in a row" in out(first)
    assert len(github.artifacts[first.id]) == 1  # the count, for the next run
    click_in_admin_ui(tenants["staging"], "phone")  # undone: the count resets
    checked(actions)
    click_in_admin_ui(tenants["staging"], "chat")  # a new change: one check so far
    third = checked(actions)
    assert github.issues == [], third.job("drift").log
    assert "staging: drifted in 1 of 2 checks in a row; no issue yet" in out(third)


def test_github_drift_in_two_checks_in_a_row_opens_the_issue(tmp_path: Path, github: FakeGitHub, tenants):
    actions = drift_actions(tmp_path, github, tenants, "2")
    click_in_admin_ui(tenants["production"], "mail")
    checked(actions)
    assert github.issues == []
    second = checked(actions)
    (issue,) = open_issues(github)
    assert issue["body"].startswith(drift_marker("production")) and 'icon: "mail"' in issue["body"]
    assert "production: drifted; issue" in out(second)
    third = checked(actions)  # still drifted: the same issue, nothing new
    assert len(github.issues) == 1 and "issue #" in out(third)
    click_in_admin_ui(tenants["production"], "phone")
    checked(actions)
    assert open_issues(github) == []
    for run in actions.runs:
        for job in run.jobs:
            assert READ_KEY not in "".join(job.log)


def test_github_drift_after_1_opens_at_the_first_drift_and_keeps_no_state(tmp_path: Path, github: FakeGitHub, tenants):
    actions = drift_actions(tmp_path, github, tenants, "1")
    click_in_admin_ui(tenants["staging"], "mail")
    run = checked(actions)
    (issue,) = open_issues(github)
    assert issue["body"].startswith(drift_marker("staging"))
    assert github.artifacts.get(run.id) is None  # nothing to carry
    assert not [c for c in github.calls if "/actions/" in c[1]]  # and nothing read: no actions: read needed


def test_github_a_state_that_is_not_ours_counts_from_zero(tmp_path: Path, github: FakeGitHub, tenants):
    actions = drift_actions(tmp_path, github, tenants, "2")
    click_in_admin_ui(tenants["staging"], "mail")
    first = checked(actions)
    (artifact,) = github.artifacts[first.id]
    forged = {"format_version": 1, "drifted_runs": {"staging": "9", "production": -1}}
    github.blobs[artifact["id"]] = zip_of({driftcount.STATE_FILE: json.dumps(forged)})
    second = checked(actions)
    log = out(second)
    assert github.issues == [] and "is not one this tool wrote; counting from zero" in log
    assert re.search(r"^::warning title=omnidesk-channels drift::", log, re.M)
    third = checked(actions)
    assert len(open_issues(github)) == 1, third.job("drift").log


# -- GitLab ------------------------------------------------------------------------------------


def gitlab_drift(tmp_path: Path, gitlab: FakeGitLab, tenants: dict[str, Any], after: str):
    """Scheduled drift pipelines of the template, as the example maps the keys; ``after`` set as a
    project variable would set it."""
    (tmp_path / "channels.yaml").write_text(FILE.format(**{n: t.url for n, t in tenants.items()}))
    assert 'OMNIDESK_CI_DRIFT_AFTER: "2"' in EXAMPLE.read_text() and "OMNIDESK_CI_DRIFT_AFTER" in TEMPLATE.read_text()
    project = Project(gitlab, "", protected={}, unprotected={})
    env = {
        "CI_API_V4_URL": gitlab.api_url,
        "CI_PROJECT_ID": gitlab.project,
        "GITLAB_API_TOKEN": gitlab.token,
        "OMNIDESK_PRODUCTION_KEY_READ": READ_KEY,
        "OMNIDESK_STAGING_KEY_READ": READ_KEY,
        "OMNIDESK_DRIFT": "1",
    }

    def check(expected: int = 0) -> str:
        result = scheduled_job("omnidesk-drift", project, env, tmp_path, overrides={"OMNIDESK_CI_DRIFT_AFTER": after})
        assert result.returncode == expected, result.stdout + result.stderr
        assert READ_KEY not in result.stdout + result.stderr
        return result.stdout

    return project, check


def test_gitlab_drift_undone_before_the_next_check_pages_nobody(tmp_path: Path, gitlab: FakeGitLab, tenants):
    project, check = gitlab_drift(tmp_path, gitlab, tenants, "2")
    click_in_admin_ui(tenants["staging"], "mail")
    assert "| staging | ⏳ drifted (1 of 2 checks in a row) |" in check()
    click_in_admin_ui(tenants["staging"], "phone")
    assert "| staging | ✅ matches |" in check()
    click_in_admin_ui(tenants["staging"], "chat")
    assert "| staging | ⏳ drifted (1 of 2 checks in a row) |" in check()
    assert project.issues == []


def test_gitlab_drift_in_two_checks_in_a_row_opens_the_issue(tmp_path: Path, gitlab: FakeGitLab, tenants):
    project, check = gitlab_drift(tmp_path, gitlab, tenants, "2")
    click_in_admin_ui(tenants["staging"], "mail")
    check()
    assert project.issues == []
    assert "staging: drifted; issue #1 opened" in check(2)  # exit 2: a warning while the issue is open
    (issue,) = project.issues
    assert issue["description"].startswith(drift_marker("staging")) and issue["state"] == "opened"
    click_in_admin_ui(tenants["staging"], "phone")
    assert "closed issue #1" in check()
    assert issue["state"] == "closed"


def test_gitlab_drift_after_1_opens_at_the_first_drift(tmp_path: Path, gitlab: FakeGitLab, tenants):
    project, check = gitlab_drift(tmp_path, gitlab, tenants, "1")
    click_in_admin_ui(tenants["production"], "mail")
    assert "production: drifted; issue #1 opened" in check(2)
    assert [i["state"] for i in project.issues] == ["opened"]
    assert not [c for c in gitlab.calls if c[1].endswith("/pipelines")]  # no state read
    assert not (tmp_path / driftcount.STATE_DIR).exists()


def test_drift_after_must_be_a_positive_whole_number(tmp_path: Path):
    result = run_cli(["ci", "github", "drift", "--drift-after", "0"], {})
    assert (
        result.exit_code == 1
        and "'--drift-after'" in result.stderr
        and "0 is not in the range" in result.stderr
        and "Traceback" not in result.output
    )

"""A pull request from a fork: no secrets, a read-only token; planned against the committed snapshot.

``tests.fakeactions`` runs the shipped ``examples/github/channels.yml`` as GitHub runs a fork's
``pull_request``: no secret reaches the job (the read key neither), and its token is read-only.
main holds the tenant's export under ``omnidesk-snapshots/`` (what the nightly import job
commits). The tenant is an emulator over HTTP that counts every request it gets: a fork's run must
send it none.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.clihelp import run_cli
from tests.fakeactions import PRODUCTION_FILE, Actions, Repo, Run, protected_setup
from tests.fakeforge import READ_ONLY_TOKEN, TOKEN, FakeGitHub, GitHubJob

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / "examples" / "github" / "channels.yml"
SNAPSHOT = "omnidesk-snapshots/production.yaml"
READ_KEY, WRITE_KEY, SECRET = "fork-read-canary-51", "fork-write-canary-52", "fork-secret-canary-53"
MARK = f"Planned against the snapshot of 2026-11-02 ({SNAPSHOT}), not the live tenant"

FILE = PRODUCTION_FILE


@pytest.fixture
def requests() -> list[tuple[str, str]]:
    return []


@pytest.fixture
def tenant(make_emulator, requests: list[tuple[str, str]]):
    keys = {READ_KEY: {"CHANNEL_READ"}, WRITE_KEY: {"CHANNEL_READ", "CHANNEL_CUD"}}
    return make_emulator(api_keys=keys, before_request=lambda method, path, query: requests.append((method, path)))


def setup(tmp_path: Path, github: FakeGitHub, tenant: Any, snapshot: bool = True) -> tuple[Repo, Actions]:
    """main's channels file, applied to the tenant; the import job's export of it committed the next day."""
    text = FILE.format(url=tenant.url)
    (tmp_path / "channels.yaml").write_text(text)
    applied = run_cli(
        ["apply", str(tmp_path / "channels.yaml"), "--tenant", "production", "--yes"],
        {"OMNIDESK_PRODUCTION_KEY": WRITE_KEY, "SMS_BRIDGE_SECRET": SECRET},
    )
    assert applied.exit_code == 0, applied.output
    repo = Repo(github, {"channels.yaml": text})
    if snapshot:
        out = tmp_path / "snapshot.yaml"
        exported = run_cli(
            ["export", str(tmp_path / "channels.yaml"), "--tenant", "production", "--out", str(out)],
            {"OMNIDESK_PRODUCTION_KEY": READ_KEY},
        )
        assert exported.exit_code == 0, exported.output
        repo.commit({SNAPSHOT: out.read_text()}, None)
    actions = protected_setup(
        github, repo, WORKFLOW, tmp_path / "runs", read_key=READ_KEY, write_key=WRITE_KEY, secret=SECRET
    )
    return repo, actions


def plan_output(run: Run) -> str:
    results = [r for r in run.job("plan").log if "omnidesk-channels" in r or "Plan" in r]
    return "\n".join(results)


def summary(actions: Actions, run: Run) -> str:
    return (actions.root / f"run{run.id}-plan" / "step_summary").read_text()


def test_a_fork_is_planned_against_the_snapshot_with_no_key_and_no_call(
    tmp_path: Path, github: FakeGitHub, tenant, requests: list[tuple[str, str]]
):
    repo, actions = setup(tmp_path, github, tenant)
    repo.open(9, lambda text: text.replace("icon: phone", "icon: sms"), fork="someone/helpdesk-config")
    requests.clear()
    run = actions.pull_request(9)
    job = run.job("plan")
    assert job.conclusion == "success", job.log
    assert requests == []  # not one call reached the tenant
    log = plan_output(run)
    assert MARK + "." in log and "~ update 'SMS gateway'\n" in log  # no id: a snapshot has none
    assert re.search(r'^    icon +"phone" -> "sms"$', log, re.M)
    assert f"> ⚠️ **{MARK}.**" in summary(actions, run)
    assert github.comments == {} and github.artifacts.get(run.id) is None  # read-only token; no reviewed plan
    assert "read-only token: the plan is in the job summary" in log
    for text in (log, summary(actions, run)):
        for canary in (READ_KEY, WRITE_KEY, SECRET):
            assert canary not in text


def test_the_snapshot_comes_from_the_base_branch_not_from_the_fork(tmp_path: Path, github: FakeGitHub, tenant):
    """A fork that also edits the snapshot (to make its change look like none) is planned against main's."""
    repo, actions = setup(tmp_path, github, tenant)

    def sneaky(text: str) -> str:
        return text.replace("icon: phone", "icon: sms")

    pull = repo.open(10, sneaky, fork="someone/helpdesk-config")
    head = pull["head"]["sha"]
    repo.files[head][SNAPSHOT] = sneaky(repo.files[head][SNAPSHOT])
    run = actions.pull_request(10)
    assert run.job("plan").conclusion == "success", run.job("plan").log
    assert "0 to create, 1 to update" in plan_output(run)


def test_without_a_snapshot_one_line_and_a_neutral_outcome(
    tmp_path: Path, github: FakeGitHub, tenant, requests: list[tuple[str, str]]
):
    repo, actions = setup(tmp_path, github, tenant, snapshot=False)
    repo.open(11, lambda text: text.replace("icon: phone", "icon: sms"), fork="someone/helpdesk-config")
    requests.clear()
    run = actions.pull_request(11)
    assert run.job("plan").conclusion == "success", run.job("plan").log
    log = plan_output(run)
    notices = [line for line in log.splitlines() if line.startswith("::notice")]
    assert notices == [
        "::notice title=omnidesk-channels plan (fork)::production: no snapshot omnidesk-snapshots/production.yaml "
        "on the target branch: a fork's pull request holds no key, so there is nothing to plan it against; "
        "nothing planned"
    ]
    assert requests == [] and "No snapshot to plan against: nothing planned." in summary(actions, run)


def test_a_fork_run_never_reads_a_key_even_when_one_is_there(
    tmp_path: Path, github: FakeGitHub, tenant, requests: list[tuple[str, str]], monkeypatch
):
    """Even a misconfigured workflow that hands a fork the key: the plan reads neither it nor the tenant;
    the JSON plan says what it was planned against."""
    repo, _ = setup(tmp_path, github, tenant)
    pull = repo.open(12, lambda text: text.replace("icon: phone", "icon: sms"), fork="someone/helpdesk-config")
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    monkeypatch.chdir(job_dir)
    job = GitHubJob(
        job_dir,
        github,
        {"staging": tenant, "production": tenant},
        "",
        read_key=READ_KEY,
        write_key=WRITE_KEY,
        secret=SECRET,
    )
    job.file.write_text(repo.files[pull["head"]["sha"]]["channels.yaml"])
    event = {"action": "synchronize", "number": 12, "pull_request": pull}
    env = job.env("pull_request", event, write=True, GITHUB_TOKEN=READ_ONLY_TOKEN)
    requests.clear()
    result = run_cli(["ci", "github", "plan", "--tenant", "production", "--format", "json"], env)
    assert result.exit_code == 0, result.output
    assert requests == []
    body = result.stdout[result.stdout.index("{") : result.stdout.rindex("}") + 1]
    data = json.loads(body)
    assert data["snapshot"] == {"date": "2026-11-02", "file": SNAPSHOT}
    assert data["summary"] == {"create": 0, "update": 1, "delete": 0}
    assert not (job_dir / "omnidesk-plan").exists() and job.outputs()["plan_path"] == ""
    for canary in (READ_KEY, WRITE_KEY, SECRET, TOKEN, READ_ONLY_TOKEN):
        assert canary not in result.output


def test_a_same_repository_pull_request_still_plans_the_live_tenant(
    tmp_path: Path, github: FakeGitHub, tenant, requests: list[tuple[str, str]]
):
    repo, actions = setup(tmp_path, github, tenant)
    repo.open(13, lambda text: text.replace("icon: phone", "icon: sms"))
    run = actions.pull_request(13)
    assert run.job("plan").conclusion == "success", run.job("plan").log
    assert requests and "snapshot" not in plan_output(run)
    assert len(github.comments[13]) == 1


def test_gitlab_a_fork_merge_request_is_planned_against_the_target_branch_snapshot(
    tmp_path: Path, tenant, requests: list[tuple[str, str]], monkeypatch
):
    """GitLab: a merge request whose source project is a fork; the snapshot and its date come from the
    target branch through the API, the note is not written, no key is read, no call reaches the tenant."""
    from tests.fakeforge import FakeGitLab

    text = FILE.format(url=tenant.url)
    (tmp_path / "channels.yaml").write_text(text)
    assert (
        run_cli(
            ["apply", str(tmp_path / "channels.yaml"), "--tenant", "production", "--yes"],
            {"OMNIDESK_PRODUCTION_KEY": WRITE_KEY, "SMS_BRIDGE_SECRET": SECRET},
        ).exit_code
        == 0
    )
    out = tmp_path / "snapshot.yaml"
    assert (
        run_cli(
            ["export", str(tmp_path / "channels.yaml"), "--tenant", "production", "--out", str(out)],
            {"OMNIDESK_PRODUCTION_KEY": READ_KEY},
        ).exit_code
        == 0
    )
    gitlab = FakeGitLab().start()
    try:
        gitlab.files[(SNAPSHOT, "main")] = out.read_bytes()
        gitlab.file_commits[(SNAPSHOT, "main")] = [{"id": "c" * 40, "committed_date": "2026-11-02T04:47:00.000+00:00"}]
        monkeypatch.chdir(tmp_path)
        (tmp_path / "channels.yaml").write_text(text.replace("icon: phone", "icon: sms"))
        env = {
            "CI_API_V4_URL": gitlab.api_url,
            "CI_PROJECT_ID": gitlab.project,
            "GITLAB_API_TOKEN": gitlab.token,
            "CI_PIPELINE_SOURCE": "merge_request_event",
            "CI_MERGE_REQUEST_IID": "4",
            "CI_MERGE_REQUEST_PROJECT_ID": gitlab.project,
            "CI_MERGE_REQUEST_SOURCE_PROJECT_ID": "77",
            "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main",
            "OMNIDESK_PRODUCTION_KEY": READ_KEY,
        }
        requests.clear()
        result = run_cli(["ci", "gitlab", "plan", "--tenant", "production"], env)
        assert result.exit_code == 0, result.output
        assert requests == [] and gitlab.notes == {}
        assert MARK + "." in result.stdout and "0 to create, 1 to update" in result.stdout
        assert READ_KEY not in result.output
    finally:
        gitlab.stop()

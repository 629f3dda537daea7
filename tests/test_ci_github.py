"""``omnidesk-channels ci github ...`` (what action.yml runs) in a simulated GitHub Actions job.

The job's files (GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, the event file) are real files, GitHub's REST
API is ``tests.fakeforge.FakeGitHub`` (a real HTTP server), and the tenants are emulators over HTTP.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.ci import drift_marker, plan_marker
from reconciler.client import OmnideskClient
from tests.clihelp import run_cli
from tests.fakeactions import Repo
from tests.fakeforge import TOKEN, FakeGitHub, GitHubJob

REPO, WORKFLOW = GitHubJob.repo, GitHubJob.workflow
READ_KEY, WRITE_KEY = "read-key-canary-5f1e", "write-key-canary-9a7c"
SECRET = "bridge-secret-canary-77d3"

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
    custom_channel_secret: ${{env:SMS_BRIDGE_SECRET}}
"""


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub(REPO).start()
    yield fake
    fake.stop()


@pytest.fixture
def tenants(make_emulator):
    """Two tenants; each has a read-only key (plan, drift) and a write key (apply)."""
    keys = {READ_KEY: {"CHANNEL_READ"}, WRITE_KEY: {"CHANNEL_READ", "CHANNEL_CUD"}}
    return {"staging": make_emulator(api_keys=keys), "production": make_emulator(api_keys=keys)}


@pytest.fixture
def job(tmp_path: Path, github: FakeGitHub, tenants, monkeypatch: pytest.MonkeyPatch) -> GitHubJob:
    monkeypatch.chdir(tmp_path)
    return GitHubJob(tmp_path, github, tenants, FILE, read_key=READ_KEY, write_key=WRITE_KEY, secret=SECRET)


def custom(tenant: Any) -> list[dict[str, Any]]:
    return [c for c in tenant.emu.channels() if c["type"] == "custom"]


def pull_request(number: int = 7, action: str = "synchronize", merged: bool = False, head: str = "a1" * 20) -> dict:
    return {
        "action": action,
        "number": number,
        "pull_request": {"number": number, "merged": merged, "head": {"sha": head}, "base": {"ref": "main"}},
    }


def run(args: list[str], env: dict[str, Any]):
    return run_cli(["ci", "github", *args], env)


def test_plan_on_a_pull_request_comments_per_tenant_then_updates_in_place(job: GitHubJob, github: FakeGitHub):
    for i in range(120):  # the plan comments land on the second page of the comments list
        github.add_comment(7, f"a human review comment {i}", user_type="User")
    env = job.env("pull_request", pull_request())
    result = run(["plan", "--all-tenants"], env)
    assert result.exit_code == 0, result.output
    mine = {c["body"].split("\n")[0]: c for c in github.comments[7][120:]}
    assert set(mine) == {plan_marker("staging"), plan_marker("production")}
    first = {k: (c["id"], c["body"]) for k, c in mine.items()}
    assert "Plan: 1 to create, 0 to update, 0 to delete" in first[plan_marker("staging")][1]
    assert "### Omnidesk channels: staging" in first[plan_marker("staging")][1]
    outputs = job.outputs()
    assert outputs["exitcode"] == "2" and outputs["has_changes"] == "true"
    assert outputs["plan_path"] == "omnidesk-plan"
    assert sorted(p.name for p in (job.root / "omnidesk-plan").iterdir()) == ["production.json", "staging.json"]
    assert json.loads(outputs["changed_tenants"]) == ["staging", "production"]
    assert "## Omnidesk channels plan" in job.summary() and "### production" in job.summary()

    # the next push changes the file: the same two comments change, none is added
    job.file.write_text(job.file.read_text().replace("icon: phone", "icon: sms"))
    assert run(["plan", "--all-tenants"], env).exit_code == 0
    assert len(github.comments[7]) == 122
    after = {c["body"].split("\n")[0]: (c["id"], c["body"]) for c in github.comments[7][120:]}
    for marker, (cid, body) in after.items():
        assert cid == first[marker][0] and body != first[marker][1] and 'icon: "sms"' in body

    # an unchanged plan leaves the comments alone (no PATCH at all)
    patches = sum(1 for m, _ in github.calls if m == "PATCH")
    result = run(["plan", "--all-tenants"], env)
    assert "pull request comment unchanged" in result.stdout
    assert sum(1 for m, _ in github.calls if m == "PATCH") == patches


def test_plan_of_one_tenant_outside_a_pull_request_only_reports(job: GitHubJob, github: FakeGitHub):
    result = run(["plan", "--tenant", "staging", "--format", "json"], job.env("push", {}))
    assert result.exit_code == 0, result.output
    assert "::group::Plan for staging" in result.stdout and '"create": 1' in result.stdout
    assert github.calls == [] and job.outputs()["exitcode"] == "2"
    assert (job.root / "omnidesk-plan" / "staging.json").is_file()


def test_a_tenant_that_fails_fails_alone_and_its_comment_says_why(job: GitHubJob, github: FakeGitHub):
    env = job.env("pull_request", pull_request(), OMNIDESK_PRODUCTION_KEY=None)
    result = run(["plan", "--all-tenants"], env)
    assert result.exit_code == 1
    assert re.search(
        r"^::error title=omnidesk-channels plan failed \(production\)::.*OMNIDESK_PRODUCTION_KEY", result.stdout, re.M
    )
    bodies = {c["body"].split("\n")[0]: c["body"] for c in github.comments[7]}
    assert "**The plan failed.**" in bodies[plan_marker("production")]
    assert "Plan: 1 to create" in bodies[plan_marker("staging")]
    assert job.outputs()["exitcode"] == "1"
    assert [p.name for p in (job.root / "omnidesk-plan").iterdir()] == ["staging.json"]


def test_validation_problems_become_annotations_on_their_lines(job: GitHubJob):
    job.file.write_text(job.file.read_text().replace("icon: phone", "icon: 42\n    colour: red"))
    result = run(["validate"], job.env("pull_request", pull_request()))
    assert result.exit_code == 1
    annotations = [line for line in result.stdout.splitlines() if line.startswith("::error ")]
    assert annotations and all(a.startswith("::error file=channels.yaml,line=") for a in annotations)
    assert any(re.match(r"::error file=channels.yaml,line=11,col=\d+::channels\[0\].icon: ", a) for a in annotations), (
        annotations
    )
    assert any(
        re.match(r"::error file=channels.yaml,line=12,col=\d+::channels\[0\].*colour", a) for a in annotations
    ), annotations
    assert "is not valid" in job.summary() and job.outputs()["exitcode"] == "1"


def test_validate_passes_a_good_file(job: GitHubJob):
    result = run(["validate"], job.env("push", {}))
    assert (result.exit_code, job.outputs()["exitcode"]) == (0, "0"), result.output


def test_a_literal_secret_is_a_warning_and_with_strict_an_error(job: GitHubJob):
    job.file.write_text(job.file.read_text().replace("${env:SMS_BRIDGE_SECRET}", "hunter2-literal"))
    result = run(["validate"], job.env("push", {}))
    assert result.exit_code == 0 and re.search(r"^::warning file=channels.yaml,line=13,", result.stdout, re.M)
    strict = run(["validate", "--strict"], job.env("push", {}))
    assert strict.exit_code == 1 and re.search(r"^::error file=channels.yaml,line=13,", strict.stdout, re.M)
    assert "hunter2-literal" not in result.output + strict.output + job.summary()


def test_policy_findings_are_annotations_on_their_channels_lines(job: GitHubJob):
    text = job.file.read_text()
    job.file.write_text(text.replace("version: 1\n", "version: 1\npolicy: {rules: {signature-with-secret: deny}}\n", 1))
    result = run(["validate"], job.env("push", {}))
    assert result.exit_code == 1
    assert re.search(r"^::error file=channels.yaml,line=\d+::deny \[signature-with-secret\] ", result.stdout, re.M)
    job.file.write_text(text.replace("version: 1\n", "version: 1\npolicy: {rules: {signature-with-secret: warn}}\n", 1))
    warned = run(["validate"], job.env("push", {}))
    assert warned.exit_code == 0
    assert re.search(r"^::warning file=channels.yaml,line=\d+::warn \[signature-with-secret\] ", warned.stdout, re.M)


def test_drift_opens_updates_and_closes_one_issue_per_tenant(job: GitHubJob, github: FakeGitHub, tenants):
    staging = tenants["staging"]
    run_cli(
        ["apply", str(job.file), "--tenant", "staging", "--yes"],
        {"OMNIDESK_STAGING_KEY": WRITE_KEY, "SMS_BRIDGE_SECRET": SECRET},
    )
    run_cli(
        ["apply", str(job.file), "--tenant", "production", "--yes"],
        {"OMNIDESK_PRODUCTION_KEY": WRITE_KEY, "SMS_BRIDGE_SECRET": SECRET},
    )
    env = job.env("schedule", {})
    assert run(["drift", "--all-tenants"], env).exit_code == 0
    assert github.issues == [] and job.outputs()["has_changes"] == "false"

    (channel,) = custom(staging)

    def click_in_admin_ui(icon: str) -> None:
        with OmnideskClient(staging.url, WRITE_KEY) as client:
            client.update_channel(channel["id"], {"icon": icon})

    click_in_admin_ui("mail")
    result = run(["drift", "--all-tenants"], env)
    assert result.exit_code == 0, result.output
    (issue,) = github.issues
    assert issue["body"].startswith(drift_marker("staging")) and issue["state"] == "open"
    assert [lab["name"] for lab in issue["labels"]] == ["omnidesk-drift"] and 'icon: "mail"' in issue["body"]
    assert json.loads(job.outputs()["drifted_tenants"]) == ["staging"] and "⚠️ drifted" in job.summary()

    click_in_admin_ui("chat")  # drifts further: the same issue follows
    assert run(["drift", "--all-tenants"], env).exit_code == 0
    assert len(github.issues) == 1 and 'icon: "chat"' in github.issues[0]["body"]

    click_in_admin_ui("phone")  # put back: the issue closes
    result = run(["drift", "--all-tenants"], env)
    assert result.exit_code == 0 and "closed issue" in result.stdout
    assert (issue["state"], issue["state_reason"]) == ("closed", "completed")
    assert "matches the channels file again" in github.issue_comments(issue["number"])[-1]

    run(["drift", "--all-tenants"], env)  # nothing open, nothing drifted: nothing happens
    assert len(github.issues) == 1 and github.issues[0]["state"] == "closed"


def test_outside_github_actions_it_names_what_is_missing(tmp_path: Path, job: GitHubJob):
    env = {k: None for k in os.environ if k.startswith("GITHUB_")}
    env["OMNIDESK_STAGING_KEY"] = READ_KEY
    result = run(["plan", "--tenant", "staging"], env)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "GITHUB_STEP_SUMMARY is not set" in result.stderr


def test_a_refused_token_is_a_clear_error_without_the_token(job: GitHubJob):
    result = run(["plan", "--tenant", "staging"], job.env("pull_request", pull_request(), GITHUB_TOKEN="wrong-token"))
    assert result.exit_code == 1
    assert "GitHub API: GET /repos/acme/helpdesk-config/issues/7/comments: HTTP 401: Bad credentials" in result.stderr
    assert "wrong-token" not in result.output


def test_no_key_or_secret_reaches_comments_summary_outputs_or_plans(job: GitHubJob, github: FakeGitHub):
    env = job.env("pull_request", pull_request(), SMS_BRIDGE_SECRET=SECRET)
    result = run(["plan", "--all-tenants", "--format", "json"], env)
    assert result.exit_code == 0
    texts = [
        result.output,
        job.summary(),
        job.output.read_text(),
        *(c["body"] for c in github.comments[7]),
        *(p.read_text() for p in (job.root / "omnidesk-plan").iterdir()),
    ]
    for text in texts:
        for canary in (READ_KEY, WRITE_KEY, SECRET, TOKEN):
            assert canary not in text


def test_artifact_members_outside_the_folder_are_refused(job: GitHubJob, github: FakeGitHub, tenants):
    repo = Repo(github, {"channels.yaml": job.file.read_text()})
    pull = repo.open(7, lambda text: text.replace("icon: phone", "icon: sms"))
    github.add_run(pull["head"]["sha"], WORKFLOW, {"omnidesk-plan": {"../evil.json": "{}"}})
    env = job.env("push", {}, write=True, GITHUB_REF="refs/heads/main", GITHUB_SHA=repo.merge(7))
    result = run(["apply", "--all-tenants"], env)
    assert result.exit_code == 1 and "outside the folder" in result.stderr
    assert not (job.root / "evil.json").exists() and all(custom(t) == [] for t in tenants.values())


def test_apply_downloads_the_artifact_without_sending_the_token_to_the_blob_store(
    job: GitHubJob, github: FakeGitHub, tenants
):
    repo = Repo(github, {"channels.yaml": job.file.read_text()})
    pull = repo.open(8, lambda text: text)
    assert (
        run(["plan", "--all-tenants"], job.env("pull_request", pull_request(8, head=pull["head"]["sha"]))).exit_code
        == 0
    )
    github.add_run(
        pull["head"]["sha"],
        WORKFLOW,
        {"omnidesk-plan": {p.name: p.read_text() for p in (job.root / "omnidesk-plan").iterdir()}},
    )
    shutil.rmtree(job.root / "omnidesk-plan")  # the apply job is another machine
    env = job.env("push", {}, write=True, GITHUB_REF="refs/heads/main", GITHUB_SHA=repo.merge(8))
    result = run(["apply", "--all-tenants"], env)
    assert result.exit_code == 0, result.output
    assert github.blob_auth == [None]
    for tenant in tenants.values():
        assert [(c["name"], c["custom_channel_secret"]) for c in custom(tenant)] == [("SMS gateway", SECRET)]
    assert json.loads(job.outputs()["applied_requests"]) == [8] and "Applied the changes of [#8](" in job.summary()


def test_a_huge_plan_still_fits_one_comment(job: GitHubJob, github: FakeGitHub):
    channels = "".join(
        f"  - name: Channel {i:04d}\n    custom_channel_endpoint: https://bridge.example.com/{i}\n" for i in range(1500)
    )
    job.file.write_text(job.file.read_text().split("channels:\n")[0] + "channels:\n" + channels)
    result = run(["plan", "--tenant", "staging"], job.env("pull_request", pull_request()))
    assert result.exit_code == 0, result.output
    (comment,) = github.comments[7]
    assert len(comment["body"]) <= 65_536 and comment["body"].startswith(plan_marker("staging"))
    assert "Plan: 1500 to create" in comment["body"] and "Shortened to fit one comment" in comment["body"]

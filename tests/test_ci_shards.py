"""The sharded workflow (examples/github/channels-shards.yml) under GitHub's rules: a matrix of 4 jobs (#22).

Five tenants from tenant files, each an emulator over HTTP. ``tests.fakeactions`` expands the
matrix into one job per shard, refuses two artifacts of one name in a run (as GitHub does), and
runs the action in each job. Every tenant is planned, commented, applied and drift-checked by
exactly one shard's job, and ends equal to main.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.ci import drift_marker, plan_marker
from reconciler.client import OmnideskClient
from reconciler.shard import Shard
from tests.clihelp import run_cli
from tests.fakeactions import Actions, Environment, Repo
from tests.fakeforge import FakeGitHub
from tests.shardexample import BASE, SMS, TENANTS, key_env

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / "examples" / "github" / "channels-shards.yml"
READ_KEY, WRITE_KEY, SECRET = "shards-read-canary-21", "shards-write-canary-22", "shards-secret-canary-23"


@pytest.fixture
def tenants(make_emulator) -> dict[str, Any]:
    keys = {READ_KEY: {"CHANNEL_READ"}, WRITE_KEY: {"CHANNEL_READ", "CHANNEL_CUD"}}
    return {name: make_emulator(api_keys=keys) for name in TENANTS}


def setup(tmp_path: Path, github: FakeGitHub, tenants: dict[str, Any]) -> tuple[Repo, Actions]:
    """main holds BASE and one tenant file per tenant; every tenant already has BASE's channel."""
    files = {"channels.yaml": BASE}
    files.update({f"tenants/{n}.yaml": f"url: {t.url}\napi_key_env: {key_env(n)}\n" for n, t in tenants.items()})
    for name, text in files.items():
        (tmp_path / "seed" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "seed" / name).write_text(text)
    for name in tenants:
        seeded = run_cli(
            ["apply", str(tmp_path / "seed" / "channels.yaml"), "--tenant", name, "--yes"], {key_env(name): WRITE_KEY}
        )
        assert seeded.exit_code == 0, seeded.output
    repo = Repo(github, files)
    written = {**{key_env(n): WRITE_KEY for n in TENANTS}, "SMS_BRIDGE_SECRET": SECRET}
    omnidesk = Environment("omnidesk", ("main",), written)
    actions = Actions(
        github,
        repo,
        WORKFLOW,
        tmp_path / "runs",
        environments={"omnidesk": omnidesk},
        secrets={f"{key_env(n)}_READ": READ_KEY for n in TENANTS},
    )
    return repo, actions


def channels(tenant: Any) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in tenant.emu.channels() if c["type"] == "custom"}


def test_a_matrix_of_four_shards_plans_applies_and_checks_each_tenant_once(tmp_path, github, tenants):
    repo, actions = setup(tmp_path, github, tenants)
    repo.open(1, lambda text: text + SMS)
    run = actions.pull_request(1)
    plans = [j for j in run.jobs if j.name.startswith("plan")]
    assert [j.name for j in plans] == ["plan (1)", "plan (2)", "plan (3)", "plan (4)"]
    assert all(j.conclusion == "success" for j in plans), [j.log for j in plans]
    for index, job in enumerate(plans, 1):
        assert (
            job.result is not None
            and f"shard {index} of 4: {len(Shard(index, 4).pick(TENANTS))} tenant" in job.result.stdout
        )
    markers = [c["body"].split("\n")[0] for c in github.comments[1]]
    assert sorted(markers) == sorted(plan_marker(n) for n in TENANTS)  # each tenant once, by one shard
    assert sorted(a["name"] for a in github.artifacts[run.id]) == [f"omnidesk-plan-{k}-of-4" for k in range(1, 5)]

    merged = actions.push(repo.merge(1))
    assert {j.name for j in merged.jobs if j.status == "in_progress"} == {f"apply ({k})" for k in range(1, 5)}
    for k in range(1, 5):
        done = actions.finish(f"omnidesk-channels-shard-{k}-of-4")
        assert done.conclusion == "success", done.log
    for name, tenant in tenants.items():
        now = channels(tenant)
        assert set(now) == {"Web chat bridge", "SMS gateway"}, name
        assert now["SMS gateway"]["custom_channel_secret"] == SECRET
    logs = "".join("".join(j.log) for r in (run, merged) for j in r.jobs)
    assert READ_KEY not in logs and WRITE_KEY not in logs and SECRET not in logs

    # drift-after 2 per shard: each shard keeps its own count under its own artifact name
    with OmnideskClient(tenants["iris"].url, WRITE_KEY) as client:
        sms = next(c for c in client.list_channels() if c.name == "SMS gateway")
        client.update_channel(sms.id, {"icon": "mail"})
    first = actions.schedule()
    assert all(j.conclusion == "success" for j in first.jobs if j.name.startswith("drift")), [j.log for j in first.jobs]
    assert github.issues == []  # drifted once: no page yet
    states = sorted(a["name"] for a in github.artifacts[first.id])
    assert states == [f"omnidesk-drift-state-{k}-of-4" for k in range(1, 5)]
    actions.schedule()
    (issue,) = github.issues
    assert issue["body"].startswith(drift_marker("iris"))


@pytest.mark.parametrize("forge", ["github", "gitlab"])
@pytest.mark.parametrize("command", ["plan", "drift", "apply"])
def test_a_ci_shard_needs_all_tenants_and_a_bad_one_is_a_usage_error(tmp_path, forge, command):
    (tmp_path / "channels.yaml").write_text(BASE.replace("tenants/", "{a: {url: 'https://a.omnidesk.com'}}"))
    file = str(tmp_path / "channels.yaml")
    alone = run_cli(["ci", forge, command, "--file", file, "--tenant", "a", "--shard", "1/2"], {})
    assert alone.exit_code == 1 and "--shard splits all tenants among the jobs of a matrix" in alone.output, (
        alone.output
    )
    bad = run_cli(["ci", forge, command, "--file", file, "--all-tenants"], {"OMNIDESK_CI_SHARD": "3/2"})
    assert bad.exit_code == 1 and "Invalid value for '--shard'" in bad.stderr and "'3/2'" in bad.stderr


def test_gitlab_parallel_drift_jobs_each_check_their_shard(tmp_path, make_emulator):
    """The template's drift job under the example's ``parallel: 2``: GitLab gives each job
    CI_NODE_INDEX and CI_NODE_TOTAL, and each job checks (and opens issues for) its own tenants."""
    from tests.fakeforge import FakeGitLab
    from tests.fakegitlab import Project
    from tests.test_ci_gitlab import run_job

    assert [Shard(k, 2).pick(["rose", "tulip"]) for k in (1, 2)] == [["rose"], ["tulip"]]
    keys = {READ_KEY: {"CHANNEL_READ"}}
    emulators = {"rose": make_emulator(api_keys=keys), "tulip": make_emulator(api_keys=keys)}
    (tmp_path / "channels.yaml").write_text(
        "version: 1\ntenants:\n"
        f"  rose: {{url: '{emulators['rose'].url}', api_key_env: OMNIDESK_STAGING_KEY}}\n"
        f"  tulip: {{url: '{emulators['tulip'].url}', api_key_env: OMNIDESK_PRODUCTION_KEY}}\n"
        "channels:\n  - name: SMS gateway\n"
    )
    gitlab = FakeGitLab().start()
    try:
        project = Project(gitlab, "", protected={}, unprotected={})  # its issues
        env = {
            "CI_API_V4_URL": gitlab.api_url,
            "CI_PROJECT_ID": gitlab.project,
            "GITLAB_API_TOKEN": gitlab.token,
            "OMNIDESK_STAGING_KEY_READ": READ_KEY,
            "OMNIDESK_PRODUCTION_KEY_READ": READ_KEY,
            "CI_PIPELINE_SOURCE": "schedule",
            "OMNIDESK_DRIFT": "1",
            "CI_COMMIT_REF_NAME": "main",
            "CI_NODE_TOTAL": "2",
        }
        jobs = {
            k: run_job(
                "omnidesk-drift",
                {**env, "CI_NODE_INDEX": str(k), "CI_JOB_NAME": f"omnidesk-drift {k}/2"},
                tmp_path,
                {"OMNIDESK_CI_DRIFT_AFTER": "1"},
            )
            for k in (1, 2)
        }
        for k, mine, other in ((1, "rose", "tulip"), (2, "tulip", "rose")):
            job = jobs[k]
            assert job.returncode == 2, job.stdout + job.stderr  # drifted: a warning under allow_failure
            assert f"shard {k} of 2: 1 tenant" in job.stdout
            assert f"| {mine} |" in job.stdout and f"| {other} |" not in job.stdout
        assert sorted(i["description"].split("\n")[0] for i in project.issues) == sorted(
            drift_marker(n) for n in ("rose", "tulip")
        )
    finally:
        gitlab.stop()

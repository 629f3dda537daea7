"""The sharded GitLab pipeline (examples/gitlab/gitlab-ci-shards.yml): plan, apply, drift, each ``parallel: 4`` (#22).

Five tenants from tenant files, each an emulator over HTTP; the GitLab API is ``FakeGitLab``.
``tests.fakegitlab`` makes the jobs as GitLab does (the template's job with the project's file
merged over it; ``parallel: 4`` as four jobs ``NAME K/4`` with CI_NODE_INDEX and CI_NODE_TOTAL; a
job without it gets CI_NODE_TOTAL 1) and runs each script in bash, keeping its artifacts, its
environment's deployment and the pipeline's status. Every tenant is planned, applied and checked by
exactly one job, and a failed job fails its pipeline.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.ci import apply_marker, plan_marker
from reconciler.shard import Shard
from tests.fakeforge import FakeGitLab
from tests.fakegitlab import Project, jobs_of
from tests.shardexample import BASE, SMS, TENANTS, key_env

SHARDS = Path(__file__).resolve().parent.parent / "examples" / "gitlab" / "gitlab-ci-shards.yml"
READ_KEY, WRITE_KEY, SECRET = "gls-read-canary-41", "gls-write-canary-42", "gls-secret-canary-43"
ROW = re.compile(r"^\| (\w+) \| (.+?) \|", re.MULTILINE)


@pytest.fixture
def tenants(make_emulator) -> dict[str, Any]:
    keys = {READ_KEY: {"CHANNEL_READ"}, WRITE_KEY: {"CHANNEL_READ", "CHANNEL_CUD"}}
    return {name: make_emulator(api_keys=keys) for name in TENANTS}


@pytest.fixture
def workdir(tmp_path: Path, tenants: dict[str, Any]) -> Path:
    """The project's checkout: channels.yaml and one tenant file per tenant."""
    (tmp_path / "tenants").mkdir()
    for name, tenant in tenants.items():
        (tmp_path / "tenants" / f"{name}.yaml").write_text(f"url: {tenant.url}\napi_key_env: {key_env(name)}\n")
    (tmp_path / "channels.yaml").write_text(BASE)
    return tmp_path


@pytest.fixture
def project(gitlab: FakeGitLab) -> Project:
    """The CI/CD variables as the example's header asks: write keys and secrets protected."""
    protected = {f"{key_env(n)}_WRITE": WRITE_KEY for n in TENANTS}
    protected.update({"GITLAB_API_TOKEN": gitlab.token, "SMS_BRIDGE_SECRET": SECRET})
    unprotected = {f"{key_env(n)}_READ": READ_KEY for n in TENANTS}
    unprotected["OMNIDESK_NOTE_TOKEN"] = gitlab.token
    return Project(gitlab, BASE, protected=protected, unprotected=unprotected)


def api(gitlab: FakeGitLab, project: Project, source: str, branch: str | None, **extra: str) -> dict[str, str]:
    """What a pipeline's jobs get: the predefined variables and the project's, as GitLab gives them."""
    env = {"CI_API_V4_URL": gitlab.api_url, "CI_PROJECT_ID": gitlab.project, "CI_PIPELINE_SOURCE": source}
    if branch:
        env.update(CI_COMMIT_BRANCH=branch, CI_COMMIT_REF_NAME=branch, CI_DEFAULT_BRANCH="main")
        env["CI_COMMIT_REF_PROTECTED"] = "true" if branch == "main" else "false"
    env.update(project.variables(source, branch))
    env.update(extra)
    return env


def merge_request(gitlab: FakeGitLab, project: Project, workdir: Path, iid: int, text: str) -> tuple[str, dict, dict]:
    """Merge request ``iid`` proposing ``text``: its pipeline's validate and plan jobs, at its head."""
    head = project.new_sha()
    (workdir / "channels.yaml").write_text(text)
    pipeline = project.request_pipeline(iid, head)
    env = api(gitlab, project, "merge_request_event", None, CI_MERGE_REQUEST_IID=str(iid))
    results = {
        job.name: project.run_in(pipeline, job, env, workdir)
        for job in jobs_of("omnidesk-validate", SHARDS) + jobs_of("omnidesk-plan", SHARDS)
    }
    return head, pipeline, results


def rows(results: dict[str, Any]) -> dict[str, list[tuple[str, str]]]:
    """Each tenant's rows in the summary tables of ``results``' jobs: (job, result)."""
    found: dict[str, list[tuple[str, str]]] = {}
    for name, result in results.items():
        for tenant, outcome in ROW.findall(result.stdout):
            if tenant in TENANTS:
                found.setdefault(tenant, []).append((name, outcome))
    return found


def custom(tenant: Any) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in tenant.emu.channels() if c["type"] == "custom"}


def test_each_tenant_is_planned_applied_and_checked_by_exactly_one_of_four_jobs(
    gitlab: FakeGitLab, project: Project, workdir: Path, tenants: dict[str, Any]
):
    assert all(Shard(k, 4).pick(TENANTS) for k in range(1, 5))
    head, pipeline, planned = merge_request(gitlab, project, workdir, 5, BASE + SMS)
    assert list(planned) == ["omnidesk-validate", *(f"omnidesk-plan {k}/4" for k in range(1, 5))]
    assert pipeline["status"] == "success", {n: r.stdout + r.stderr for n, r in planned.items()}
    for k in range(1, 5):
        mine = Shard(k, 4).pick(TENANTS)
        out = planned[f"omnidesk-plan {k}/4"].stdout
        assert out.startswith(f"shard {k} of 4: {len(mine)} tenant")
        assert sorted(re.findall(r"^(\w+): merge request comment created$", out, re.MULTILINE)) == sorted(mine)
    assert sorted(n["body"].split("\n")[0] for n in gitlab.notes[5]) == sorted(plan_marker(n) for n in TENANTS)

    project.merge(5, lambda text: BASE + SMS, None, head=head)
    main = project.pipeline("push")
    env = api(gitlab, project, "push", "main")
    withheld = {k: v for k, v in env.items() if k != f"{key_env('iris')}_WRITE"}  # that shard's job fails
    applies = jobs_of("omnidesk-apply", SHARDS)
    assert len({job.resource_group() for job in applies}) == 4  # one apply at a time per shard, not for all
    applied = {job.name: project.run_in(main, job, withheld, workdir) for job in applies}
    failing = f"omnidesk-apply {next(k for k in range(1, 5) if Shard(k, 4).holds('iris'))}/4"
    assert [n for n, r in applied.items() if r.returncode] == [failing], {
        n: r.stdout + r.stderr for n, r in applied.items()
    }
    assert main["status"] == "failed"  # a failed shard fails the pipeline
    assert custom(tenants["iris"]) == {}
    assert {d["environment"]: d["status"] for d in project.deployments} == {
        f"omnidesk-shard-{k}-of-4": "failed" if failing.endswith(f" {k}/4") else "success" for k in range(1, 5)
    }

    retried = next(job for job in applies if job.name == failing)  # "Retry" on that job alone
    applied[f"{failing} (retry)"] = project.run_in(main, retried, env, workdir)
    assert applied[f"{failing} (retry)"].returncode == 0, applied[f"{failing} (retry)"].stderr
    done = {t: [(job, row) for job, row in found if row.startswith("✅ applied")] for t, found in rows(applied).items()}
    assert {t: len(jobs) for t, jobs in done.items()} == dict.fromkeys(TENANTS, 1)
    for name, tenant in tenants.items():
        assert set(custom(tenant)) == {"Web chat bridge", "SMS gateway"}, name
        assert custom(tenant)["SMS gateway"]["custom_channel_secret"] == SECRET

    schedule = project.pipeline("schedule")
    env = api(gitlab, project, "schedule", "main", OMNIDESK_DRIFT="1")
    checked = {job.name: project.run_in(schedule, job, env, workdir) for job in jobs_of("omnidesk-drift", SHARDS)}
    assert schedule["status"] == "success" and project.issues == []
    assert {t: [row for _, row in found] for t, found in rows(checked).items()} == {t: ["✅ matches"] for t in TENANTS}
    outputs = [r.stdout + r.stderr for results in (planned, applied, checked) for r in results.values()]
    assert not [o for o in outputs if READ_KEY in o or WRITE_KEY in o or SECRET in o]


def test_a_broken_tenant_file_fails_its_shards_plan_job_and_the_pipeline_and_nothing_is_applied(
    gitlab: FakeGitLab, project: Project, workdir: Path, tenants: dict[str, Any]
):
    (workdir / "tenants" / "lily.yaml").write_text("url: [unclosed\n")
    head, pipeline, planned = merge_request(gitlab, project, workdir, 6, BASE + SMS)
    lily = f"omnidesk-plan {next(k for k in range(1, 5) if Shard(k, 4).holds('lily'))}/4"
    failed = sorted(n for n, r in planned.items() if r.returncode)
    assert failed == sorted(["omnidesk-validate", lily]), {n: r.stdout + r.stderr for n, r in planned.items()}
    for name in failed:  # the unsharded validate and lily's shard name the file; no other shard reads it
        assert "tenants/lily.yaml:2:1: YAML syntax error" in planned[name].stdout + planned[name].stderr
    assert pipeline["status"] == "failed"

    project.merge(6, lambda text: BASE + SMS, None, head=head)
    main = project.pipeline("push")
    env = api(gitlab, project, "push", "main")
    (workdir / "tenants" / "lily.yaml").write_text(f"url: {tenants['lily'].url}\napi_key_env: {key_env('lily')}\n")
    applied = [project.run_in(main, job, env, workdir) for job in jobs_of("omnidesk-apply", SHARDS)]
    assert all(r.returncode == 1 for r in applied)  # no successful plan pipeline: refused everywhere
    assert all(custom(t) == {} for t in tenants.values()) and main["status"] == "failed"
    refusals = [
        n["body"].split("\n")[0] for n in gitlab.notes[6] if n["body"].startswith("<!-- omnidesk-channels-apply")
    ]
    assert sorted(refusals) == sorted(apply_marker(n) for n in TENANTS)  # each tenant's, said once on the request


def test_without_parallel_gitlab_gives_total_1_and_the_job_takes_every_tenant(tmp_path: Path, make_emulator):
    """A job without parallel: gets CI_NODE_TOTAL 1 and no CI_NODE_INDEX, so the template's
    $CI_NODE_INDEX/$CI_NODE_TOTAL is "/1": no shard (the example gitlab-ci.yml's plan and apply)."""
    tenant = make_emulator(api_keys={READ_KEY: {"CHANNEL_READ"}})
    (tmp_path / "channels.yaml").write_text(
        f"version: 1\ntenants:\n  production: {{url: '{tenant.url}', api_key_env: OMNIDESK_PRODUCTION_KEY}}\n"
        "channels:\n  - name: SMS gateway\n"
    )
    template = yaml.safe_load(SHARDS.with_name("omnidesk-channels.gitlab-ci.yml").read_text())
    for name in ("omnidesk-plan", "omnidesk-apply", "omnidesk-drift"):
        assert template[name]["variables"]["OMNIDESK_CI_SHARD"] == "$CI_NODE_INDEX/$CI_NODE_TOTAL"
    (job,) = jobs_of("omnidesk-plan", SHARDS.with_name("gitlab-ci.yml"))
    assert job.predefined == {"CI_JOB_NAME": "omnidesk-plan", "CI_NODE_TOTAL": "1"}
    result = job.run({"OMNIDESK_PRODUCTION_KEY_READ": READ_KEY}, tmp_path, {"OMNIDESK_CI_COMMENT": "false"})
    assert result.returncode == 0 and "Plan: 1 to create" in result.stdout, result.stdout + result.stderr
    assert "shard" not in result.stdout

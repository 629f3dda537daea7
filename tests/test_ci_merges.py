"""The shipped workflow (examples/github/channels.yml) under GitHub's rules, as a team meets them.

``tests.fakeactions`` runs the workflow file itself: refs per event, the production environment's
"deployment branches: main" rule, the concurrency group that cancels a pending run. Merges come
in quick succession; the tenant (an emulator over HTTP) must end equal to main, every change in
it from some reviewed plan, and nothing unreviewed applied.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.ci import apply_marker
from tests.clihelp import run_cli
from tests.fakeactions import Actions, Repo, protected_setup
from tests.fakeforge import FakeGitHub

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / "examples" / "github" / "channels.yml"
GROUP = "omnidesk-channels-production"
READ_KEY, WRITE_KEY, SECRET = "merges-read-canary-11", "merges-write-canary-12", "merges-secret-canary-13"

BASE = """\
version: 1
tenants:
  production:
    url: {url}
    api_key_env: OMNIDESK_PRODUCTION_KEY
channels:
  - name: Web chat bridge
    icon: chat
    custom_channel_endpoint: https://bridge.example.com/chat
"""
SMS = """\
  - name: SMS gateway
    icon: phone
    custom_channel_endpoint: https://bridge.example.com/sms
    custom_channel_secret: ${env:SMS_BRIDGE_SECRET}
"""
INSTAGRAM = """\
  - name: Instagram DM
    icon: instagram
    custom_channel_endpoint: https://bridge.example.com/ig
"""


def add(block: str):
    return lambda text: text + block


def replace(old: str, new: str):
    return lambda text: text.replace(old, new)


@pytest.fixture
def tenant(make_emulator):
    return make_emulator(api_keys={READ_KEY: {"CHANNEL_READ"}, WRITE_KEY: {"CHANNEL_READ", "CHANNEL_CUD"}})


def setup(tmp_path: Path, github: FakeGitHub, tenant: Any, workflow: Path = WORKFLOW) -> tuple[Repo, Actions]:
    """main holds BASE, which the tenant already has (applied by hand before the pipeline existed)."""
    repo = Repo(github, {"channels.yaml": BASE.format(url=tenant.url)})
    (tmp_path / "seed.yaml").write_text(BASE.format(url=tenant.url))
    seeded = run_cli(
        ["apply", str(tmp_path / "seed.yaml"), "--tenant", "production", "--yes"],
        {"OMNIDESK_PRODUCTION_KEY": WRITE_KEY},
    )
    assert seeded.exit_code == 0, seeded.output
    actions = protected_setup(
        github, repo, workflow, tmp_path / "runs", read_key=READ_KEY, write_key=WRITE_KEY, secret=SECRET
    )
    return repo, actions


def reviewed(actions: Actions, repo: Repo, number: int, change) -> None:
    """Open a pull request and let its plan run (read key, no secret) upload the reviewed plan."""
    repo.open(number, change)
    run = actions.pull_request(number)
    assert run.job("plan").conclusion == "success", run.job("plan").log
    assert run.job("apply").conclusion == "skipped"


def channels(tenant: Any) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in tenant.emu.channels() if c["type"] == "custom"}


def matches_main(repo: Repo, tmp_path: Path) -> bool:
    (tmp_path / "main.yaml").write_text(repo.files[repo.head]["channels.yaml"])
    planned = run_cli(
        ["plan", str(tmp_path / "main.yaml"), "--tenant", "production", "--detailed-exitcode"],
        {"OMNIDESK_PRODUCTION_KEY": READ_KEY},
    )
    return planned.exit_code == 0


def test_three_merges_in_a_row_with_the_middle_run_cancelled(tmp_path: Path, github: FakeGitHub, tenant):
    repo, actions = setup(tmp_path, github, tenant)
    reviewed(actions, repo, 1, add(SMS))
    first = actions.push(repo.merge(1))
    assert first.job("apply").status == "in_progress"  # started; its steps run when finish() says
    reviewed(actions, repo, 2, add(INSTAGRAM))
    second = actions.push(repo.merge(2))
    reviewed(actions, repo, 3, replace("icon: phone", "icon: sms"))
    third = actions.push(repo.merge(3))
    assert second.job("apply").conclusion == "cancelled"  # GitHub keeps one pending run: the newest
    assert third.job("apply").status == "pending"

    done = actions.finish(GROUP)
    assert done is first.job("apply") and done.conclusion == "success", done.log
    assert set(channels(tenant)) == {"Web chat bridge", "SMS gateway"}
    done = actions.finish(GROUP)
    assert done is third.job("apply") and done.conclusion == "success", done.log
    assert done.result is not None and "pull request #2: reviewed plan(s) for production" in done.result.stdout

    assert matches_main(repo, tmp_path)
    now = channels(tenant)
    assert set(now) == {"Web chat bridge", "SMS gateway", "Instagram DM"}
    assert now["SMS gateway"]["icon"] == "sms" and now["SMS gateway"]["custom_channel_secret"] == SECRET
    summary = (tmp_path / "runs" / f"run{third.id}-apply" / "step_summary").read_text()
    assert "Applied the changes of [#2](" in summary and ", [#3](" in summary and "[#1]" not in summary
    for job in (first.job("apply"), third.job("apply")):
        assert READ_KEY not in "".join(job.log) and WRITE_KEY not in "".join(job.log) and SECRET not in "".join(job.log)

    # the cancelled run started again by hand, after the newer one applied: nothing to do, once
    again = actions.push(second.sha)
    done = actions.finish(GROUP)
    assert done is again.job("apply") and done.conclusion == "success"
    assert "is older than the last applied commit" in done.result.stdout
    assert channels(tenant) == now


def test_a_change_no_reviewed_plan_showed_stops_the_apply_and_is_said_on_the_pull_request(
    tmp_path: Path, github: FakeGitHub, tenant
):
    repo, actions = setup(tmp_path, github, tenant)
    reviewed(actions, repo, 1, add(SMS))
    actions.push(repo.merge(1))
    reviewed(actions, repo, 3, add(INSTAGRAM))  # planned before the direct push below
    direct = repo.commit(
        {
            "channels.yaml": replace("bridge.example.com/chat", "evil.example.com/chat")(
                repo.files[repo.head]["channels.yaml"]
            )
        },
        None,
    )
    actions.push(direct)
    last = actions.push(repo.merge(3))
    assert actions.finish(GROUP).conclusion == "success"
    before = channels(tenant)

    done = actions.finish(GROUP)
    assert done is last.job("apply") and done.conclusion == "failure"
    assert channels(tenant) == before  # nothing of main at all, not even the reviewed Instagram DM
    (comment,) = [c for c in github.comments[3] if c["body"].startswith(apply_marker("production"))]
    assert "'Web chat bridge': custom_channel_endpoint = \"https://evil.example.com/chat\"" in comment["body"]
    assert "Instagram" not in comment["body"]  # what was reviewed is not listed as missing
    assert "::error title=omnidesk-channels apply (production)::production: not applied" in done.result.stdout


def test_a_push_no_reviewed_plan_covers_is_refused_in_one_line(tmp_path: Path, github: FakeGitHub, tenant):
    repo, actions = setup(tmp_path, github, tenant)
    run = actions.push(repo.commit({"channels.yaml": repo.files[repo.head]["channels.yaml"] + SMS}, None))
    done = actions.finish(GROUP)
    assert done is run.job("apply") and done.conclusion == "failure"
    assert done.result.stderr.count("\n") == 1 and done.result.stderr.startswith(
        "Error: production: refused: no reviewed plan covers "
    )
    assert "SMS gateway" not in channels(tenant)


def test_by_hand_on_main_applies_under_the_same_checks_and_never_from_a_pull_request_ref(
    tmp_path: Path, github: FakeGitHub, tenant
):
    repo, actions = setup(tmp_path, github, tenant)
    reviewed(actions, repo, 4, add(SMS))
    repo.merge(4)  # its push run never came (the paths filter, an outage): a run by hand on main
    run = actions.dispatch()
    assert actions.finish(GROUP).conclusion == "success"
    assert "SMS gateway" in channels(tenant)

    elsewhere = actions.dispatch("refs/heads/feature")  # by hand on another branch: the job's if: skips it
    assert elsewhere.job("apply").conclusion == "skipped" and run.job("apply").conclusion == "success"


OLD_WORKFLOW = """\
name: Omnidesk channels
on:
  pull_request:
    types: [closed]
jobs:
  apply:
    if: github.event.pull_request.merged
    runs-on: ubuntu-latest
    environment: production
    env:
      OMNIDESK_PRODUCTION_KEY: ${{ secrets.OMNIDESK_PRODUCTION_KEY }}
    steps:
      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1
      - uses: OWNER/omnidesk-channels@0000000000000000000000000000000000000000 # v0.2.0
        with:
          command: apply
          tenant: production
"""


def test_a_pull_request_run_never_reaches_the_write_key(tmp_path: Path, github: FakeGitHub, tenant):
    """The old shape (apply on pull_request: closed): GitHub's environment rule refuses its ref, and
    the command refuses a pull_request run even where the environment's rule was loosened."""
    old = tmp_path / "old.yml"
    old.write_text(OLD_WORKFLOW)
    repo, actions = setup(tmp_path, github, tenant, workflow=old)
    repo.open(5, add(SMS))
    repo.merge(5)
    actions.repo.pulls[5]["merged"] = True
    run = actions.pull_request(5)
    assert run.ref == "refs/pull/5/merge"
    assert run.job("apply").conclusion == "failure"
    assert 'Branch "refs/pull/5/merge" is not allowed to deploy to production' in run.job("apply").log[0]

    actions.environments["production"].branches = None  # the rule loosened: the tool still refuses
    run = actions.pull_request(5)
    job = run.job("apply")
    assert job.conclusion == "failure" and "apply runs only on the protected branch main" in job.result.stderr
    assert "this pull_request run's ref is refs/pull/5/merge" in job.result.stderr
    assert "SMS gateway" not in channels(tenant)


def test_unreviewed_changes_apply_only_where_the_user_opts_in(tmp_path: Path, github: FakeGitHub, tenant):
    opted = tmp_path / "opted-in.yml"
    opted.write_text(
        WORKFLOW.read_text().replace(
            "          command: apply\n", '          command: apply\n          apply-unreviewed: "true"\n'
        )
    )
    repo, actions = setup(tmp_path, github, tenant, workflow=opted)
    run = actions.push(repo.commit({"channels.yaml": repo.files[repo.head]["channels.yaml"] + SMS}, None))
    done = actions.finish(GROUP)
    assert done is run.job("apply") and done.conclusion == "success", done.log
    assert "production: applying what no reviewed plan showed (8 value(s)), as allowed" in done.result.stdout
    assert channels(tenant)["SMS gateway"]["custom_channel_secret"] == SECRET and matches_main(repo, tmp_path)

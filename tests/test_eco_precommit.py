"""The pre-commit hook, run by pre-commit itself (``try-repo``) on a throwaway repository.

It must check channels files only (not the example workflows installed as
``.github/workflows/channels.yml``), and fail on a warning too (``validate --strict``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.eco_tools import ROOT, python_tool, require_tool

HOOK = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))[0]


def _selected(path: str) -> bool:
    """pre-commit's own rule: ``files`` and ``exclude`` are Python regexes searched in the path."""
    return bool(re.search(HOOK["files"], path)) and not re.search(HOOK["exclude"], path)


@pytest.mark.parametrize(
    ("path", "selected"),
    [
        ("channels.yaml", True),
        ("channels.yml", True),
        ("deploy/channels-production.yaml", True),
        ("omnidesk/channels.staging.yml", True),
        (".github/workflows/channels.yml", False),
        (".github/workflows/channels-drift.yml", False),
        ("sub/.github/workflows/channels-tenants.yml", False),
        (".gitlab-ci.yml", False),
        ("ci/gitlab-ci-channels.yml", False),
        (".gitlab/channels.yml", False),
        ("channels.gitlab-ci.yml", False),
        ("deploy/channels-gitlab-ci.yaml", False),
        ("mychannels.yaml", False),
        ("channels.yaml.bak", False),
        ("channels.schema.json", False),
    ],
)
def test_the_hook_selects_channels_files_only(path: str, selected: bool) -> None:
    assert _selected(path) is selected
    assert "--strict" in HOOK["entry"] and "--offline" in HOOK["entry"]


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, timeout=60)


def test_pre_commit_try_repo_checks_channels_files_and_skips_workflows(tmp_path: Path) -> None:
    python_tool("pre_commit")
    require_tool("a git checkout of this repository (pre-commit try-repo needs one)", (ROOT / ".git").exists())
    repo = tmp_path / "user-repo"
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / "deploy").mkdir()
    for workflow in (ROOT / "examples" / "github").glob("*.yml"):
        shutil.copy(workflow, repo / ".github" / "workflows" / workflow.name)
    (repo / "channels.yaml").write_text(
        "version: 1\nchannels:\n  - name: SMS gateway\n    custom_channel_secret: ${env:SMS_SECRET}\n", encoding="utf-8"
    )
    (repo / "deploy" / "channels-broken.yaml").write_text(
        "version: 1\nchannels:\n  - name: Web\n    custom_channel_endpoint: https://x.com/a_b\n", encoding="utf-8"
    )
    shutil.copy(ROOT / "examples" / "gitlab" / "omnidesk-channels.gitlab-ci.yml", repo / "channels.gitlab-ci.yml")
    # No variable is set in a hook: a templated endpoint is checked for its form and its neighbours.
    (repo / "deploy" / "channels-templated.yaml").write_text(
        "version: 1\nchannels:\n  - name: SMS\n    custom_channel_endpoint: https://${env:BRIDGE_HOST}/sms\n"
        "  - name: Chat\n    custom_channel_endpoint: https://${env:BRIDGE_HOST}/chat_in\n",
        encoding="utf-8",
    )
    (repo / "deploy" / "channels-literal.yml").write_text(
        "version: 1\nchannels:\n  - name: Chat\n    custom_channel_secret: hunter2-in-git\n", encoding="utf-8"
    )
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    env = {
        **{k: v for k, v in os.environ.items() if k != "BRIDGE_HOST"},
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
        "PRE_COMMIT_COLOR": "never",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), HOOK["id"], "--all-files", "--verbose"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert re.search(r"omnidesk-channels validate\.+Failed", output), output
    assert "channels.yaml: valid (1 channel)" in output
    assert "deploy/channels-broken.yaml:4:30: channels[0].custom_channel_endpoint: 'https://x.com/a_b'" in output
    assert "deploy/channels-literal.yml:4:28: channels[0].custom_channel_secret: the secret is written" in output
    assert "channels-templated.yaml:6:30: channels[1].custom_channel_endpoint: " in output
    assert "beside its templates: '_' is not allowed" in output
    assert "BRIDGE_HOST is not set" not in output and output.count("channels-templated.yaml:") == 1
    assert "gitlab-ci" not in output, output
    assert "hunter2" not in output
    assert ".github" not in output and "channels-drift" not in output, output

"""The web shop example works as written: against two emulated tenants, and as a pre-commit hook."""

from __future__ import annotations

import os
import re
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import yaml
from clihelp import run_cli

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
WEBSHOP = str(EXAMPLES / "webshop" / "channels.yaml")
HOOKS = Path(__file__).resolve().parent.parent / ".pre-commit-hooks.yaml"
SECRETS = {
    "SMS_BRIDGE_SECRET": "sms-s3cret",
    "INSTAGRAM_BRIDGE_SECRET": "ig-s3cret",
    "MARKETPLACE_BRIDGE_SECRET": "mp-s3cret",
}


def test_webshop_applies_to_staging_and_production_and_then_has_no_drift(make_emulator):
    staging, production = make_emulator(), make_emulator()
    for tenant, running, key_var in (
        ("staging", staging, "OMNIDESK_STAGING_KEY"),
        ("production", production, "OMNIDESK_PRODUCTION_KEY"),
    ):
        env = {**SECRETS, key_var: running.key}
        args = [WEBSHOP, "--tenant", tenant, "--url", running.url]
        applied = run_cli(["apply", *args, "--yes"], env)
        assert applied.exit_code == 0, applied.output
        again = run_cli(["plan", *args, "--detailed-exitcode"], env)
        assert (again.exit_code, again.stdout) == (0, "No changes. The tenant matches the channels file.\n")

    def custom(running):
        return {c["name"]: c for c in running.emu.channels() if c["type"] == "custom"}

    assert sorted(custom(staging)) == ["Instagram DM", "SMS gateway"]
    assert sorted(custom(production)) == ["Instagram DM", "Marketplace inbox", "SMS gateway"]
    assert custom(staging)["SMS gateway"]["custom_channel_endpoint"] == (
        "https://bridges.staging.tulipandco.nl/sms/omnidesk?number=3197010000001"
    )
    assert custom(production)["SMS gateway"]["custom_channel_endpoint"] == (
        "https://bridges.tulipandco.nl/sms/omnidesk?number=3197010000099"
    )
    assert custom(production)["Marketplace inbox"]["custom_channel_secret"] == "mp-s3cret"


def test_webshop_validates_for_every_tenant_without_secrets():
    result = run_cli(["validate", WEBSHOP])
    assert (result.exit_code, result.stdout) == (0, f"{WEBSHOP}: valid (3 channels; tenants: staging, production)\n")


def test_tenants_of_the_webshop():
    assert run_cli(["tenants", WEBSHOP]).stdout == "staging\nproduction\n"


def test_pre_commit_hook_validates_every_channels_file_it_is_given(tmp_path: Path):
    (hook,) = yaml.safe_load(HOOKS.read_text(encoding="utf-8"))
    assert (hook["id"], hook["language"]) == ("omnidesk-channels-validate", "python")
    pattern = re.compile(hook["files"])
    assert all(pattern.search(p) for p in ["channels.yaml", "infra/channels-prod.yml", "channels.staging.yaml"])
    assert not any(pattern.search(p) for p in ["docs/channels.md", "other.yaml", "channels/readme.yaml"])

    # the hook's entry runs 'omnidesk-channels'; point it at this checkout's CLI
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "omnidesk-channels"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m reconciler "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    broken = tmp_path / "channels-broken.yaml"
    broken.write_text("version: 1\nchannels:\n  - name: Bad/name\n", encoding="utf-8")
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    root = str(Path(__file__).resolve().parent.parent)

    def run(*files: str) -> subprocess.CompletedProcess[str]:
        # as pre-commit runs a hook: its entry split like a shell would, then the file names
        return subprocess.run(
            [*shlex.split(hook["entry"]), *files], env=env, cwd=root, capture_output=True, text=True, timeout=120
        )

    ok = run(WEBSHOP)
    assert ok.returncode == 0, ok.stderr
    failed = run(str(broken), WEBSHOP)
    assert failed.returncode == 1
    assert "channels-broken.yaml:3" in failed.stderr and "'/' is not allowed" in failed.stderr
    assert f"{WEBSHOP}: valid" in failed.stdout  # the good file after the bad one is still checked

"""Issue 11: outputs never destroy inputs; an existing file is replaced only by one of its own kind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clihelp import run_cli

from reconciler.export import HEADER
from reconciler.filekinds import EXPORT, EXPORT_MARK, SAVED_PLAN, file_kind

CHANNELS = """\
# hand-written: these comments must survive
version: 1
channels:
  - name: SMS gateway  # the bridge for SMS
    custom_channel_endpoint: https://sms.example.com/hook
"""


@pytest.fixture
def env(emulator):
    emulator.emu.seed_channels([{"name": "SMS gateway", "custom_channel_endpoint": "https://sms.example.com/hook"}])
    return {"OMNIDESK_URL": emulator.url, "OMNIDESK_API_KEY": emulator.key}


def write(path: Path, text: str = CHANNELS) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_plan_out_refuses_the_channels_file_itself_even_with_force(tmp_path, env, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path / "channels.yaml")
    for out in ("channels.yaml", "./channels.yaml", str(path), "../" + tmp_path.name + "/channels.yaml"):
        for force in ([], ["--force"]):
            result = run_cli(["plan", "channels.yaml", "--out", out, *force], env)
            assert result.exit_code == 1 and result.stdout == ""
            assert result.stderr == (
                f"Error: --out {out} is the input file channels.yaml: writing there would "
                f"destroy it; nothing was done. Choose another --out path\n"
            )
    assert path.read_text(encoding="utf-8") == CHANNELS


def test_a_saved_plan_replaces_a_saved_plan_and_nothing_else_without_force(tmp_path, env):
    path = write(tmp_path / "channels.yaml")
    plan = tmp_path / "plan.json"
    assert run_cli(["plan", str(path), "--out", str(plan)], env).exit_code == 0
    assert file_kind(plan) == SAVED_PLAN
    again = run_cli(["plan", str(path), "--out", str(plan)], env)
    assert again.exit_code == 0, again.output

    other = write(tmp_path / "other.yaml")
    refused = run_cli(["plan", str(path), "--out", str(other)], env)
    assert refused.exit_code == 1 and refused.stdout == ""
    assert refused.stderr == (
        f"Error: --out {other} already exists and is a channels file or another file, not a saved plan from "
        "'plan --out'; nothing was done and it stays as it is. Choose another path, or pass --force to replace it\n"
    )
    assert other.read_text(encoding="utf-8") == CHANNELS
    forced = run_cli(["plan", str(path), "--out", str(other), "--force"], env)
    assert forced.exit_code == 0 and json.loads(other.read_text())["kind"] == "omnidesk-channels-plan"


def test_export_out_never_overwrites_a_hand_written_file(tmp_path, env):
    hand = write(tmp_path / "channels.yaml")
    refused = run_cli(["export", "--out", str(hand)], env)
    assert refused.exit_code == 1
    assert refused.stderr == (
        f"Error: --out {hand} already exists and is a channels file or another file, not an export from "
        "'export'; nothing was done and it stays as it is. Choose another path, or pass --force to replace it\n"
    )
    assert hand.read_text(encoding="utf-8") == CHANNELS

    exported = tmp_path / "exported.yaml"
    assert run_cli(["export", "--out", str(exported)], env).exit_code == 0
    assert file_kind(exported) == EXPORT
    assert run_cli(["export", "--out", str(exported)], env).exit_code == 0, "an export replaces an export"
    assert run_cli(["export", "--out", str(hand), "--force"], env).exit_code == 0
    assert hand.read_text(encoding="utf-8").startswith(HEADER)


def test_export_with_a_file_refuses_that_file_as_its_output(tmp_path, emulator):
    path = write(tmp_path / "channels.yaml", f"version: 1\ntenants:\n  live: {{url: '{emulator.url}'}}\nchannels: []\n")
    result = run_cli(
        ["export", str(path), "--tenant", "live", "--out", str(path), "--force"], {"OMNIDESK_API_KEY": "demo"}
    )
    assert result.exit_code == 1 and "is the input file" in result.stderr
    assert emulator.emu.stats["list"] == 0


def test_a_saved_plan_is_not_an_export_and_an_export_not_a_saved_plan(tmp_path, env):
    path = write(tmp_path / "channels.yaml")
    plan, exported = tmp_path / "plan.json", tmp_path / "exported.yaml"
    assert run_cli(["plan", str(path), "--out", str(plan)], env).exit_code == 0
    assert run_cli(["export", "--out", str(exported)], env).exit_code == 0
    onto_plan = run_cli(["export", "--out", str(plan)], env)
    assert onto_plan.exit_code == 1 and "is a saved plan from 'plan --out', not an export" in onto_plan.stderr
    onto_export = run_cli(["plan", str(path), "--out", str(exported)], env)
    assert onto_export.exit_code == 1 and "is an export from 'export', not a saved plan" in onto_export.stderr


def test_the_export_header_is_how_an_export_is_recognised():
    assert EXPORT_MARK in HEADER.splitlines()[:5]


def test_all_tenants_checks_every_output_before_any_tenant_is_read(tmp_path, make_emulator):
    a, b = make_emulator(), make_emulator()
    path = write(
        tmp_path / "channels.yaml",
        f"version: 1\ntenants:\n  a: {{url: '{a.url}'}}\n  b: {{url: '{b.url}'}}\nchannels: []\n",
    )
    env = {"OMNIDESK_API_KEY": "demo"}
    missing = run_cli(["plan", str(path), "--all-tenants", "--out", str(tmp_path / "plans" / "{tenant}.json")], env)
    assert missing.exit_code == 1 and missing.stdout == ""
    assert missing.stderr == f"Error: the folder {tmp_path}/plans does not exist: create it or choose another --out\n"
    hand = write(tmp_path / "b.json", "{}\n")
    refused = run_cli(["plan", str(path), "--all-tenants", "--out", str(tmp_path / "{tenant}.json")], env)
    assert refused.exit_code == 1 and f"--out {hand} already exists" in refused.stderr
    assert a.emu.stats["list"] == b.emu.stats["list"] == 0
    forced = run_cli(["plan", str(path), "--all-tenants", "--out", str(tmp_path / "{tenant}.json"), "--force"], env)
    assert forced.exit_code == 0, forced.output
    assert file_kind(hand) == SAVED_PLAN and file_kind(tmp_path / "a.json") == SAVED_PLAN

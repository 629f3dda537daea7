"""Renames end to end: previous_names renames in place; ambiguous names stop before any write."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clihelp import assert_plan_valid, run_cli

WRITES = ("create", "update", "delete", "message")


def write(tmp_path: Path, channels: str) -> str:
    path = tmp_path / "channels.yaml"
    path.write_text("version: 1\nchannels:\n" + channels, encoding="utf-8")
    return str(path)


def env_for(emulator) -> dict[str, str]:
    return {"OMNIDESK_URL": emulator.url, "OMNIDESK_API_KEY": emulator.key}


def custom(emulator) -> dict[str, dict]:
    return {c["name"]: c for c in emulator.emu.channels() if c["type"] == "custom"}


def assert_no_writes(emulator) -> None:
    assert {k: emulator.emu.stats[k] for k in WRITES} == dict.fromkeys(WRITES, 0)


RENAMED = """\
  - name: Instagram DM
    previous_names: [Instagram bridge]
    icon: instagram
"""


def test_rename_in_place_keeps_the_id(emulator, tmp_path: Path):
    (old_id,) = emulator.emu.seed_channels(
        [{"name": "Instagram bridge", "icon": "instagram", "custom_channel_secret": "kept"}]
    )
    path = write(tmp_path, RENAMED)
    plan = run_cli(["plan", path, "--detailed-exitcode"], env_for(emulator))
    assert plan.exit_code == 2, plan.output
    assert (
        f"~ rename 'Instagram bridge' -> 'Instagram DM' (id {old_id})\n"
        '    name  "Instagram bridge" -> "Instagram DM"\n'
    ) in plan.stdout
    assert plan.stdout.startswith("Plan: 0 to create, 1 to update, 0 to delete.")

    as_json = json.loads(run_cli(["plan", path, "--format", "json"], env_for(emulator)).stdout)
    assert_plan_valid(as_json)
    (change,) = as_json["changes"]
    assert (change["action"], change["id"], change["renamed_from"], change["name"]) == (
        "update",
        old_id,
        "Instagram bridge",
        "Instagram DM",
    )

    applied = run_cli(["apply", path, "--yes"], env_for(emulator))
    assert applied.exit_code == 0, applied.output
    assert list(custom(emulator)) == ["Instagram DM"]
    renamed = custom(emulator)["Instagram DM"]
    assert (renamed["id"], renamed["custom_channel_secret"]) == (old_id, "kept")
    assert (emulator.emu.stats["create"], emulator.emu.stats["delete"], emulator.emu.stats["update"]) == (0, 0, 1)
    # previous_names may stay in the file: once renamed, it plans nothing
    assert run_cli(["plan", path, "--detailed-exitcode"], env_for(emulator)).exit_code == 0


def test_a_saved_rename_plan_applies_to_the_same_id(emulator, tmp_path: Path):
    (old_id,) = emulator.emu.seed_channels([{"name": "Instagram bridge", "icon": "instagram"}])
    path = write(tmp_path, RENAMED)
    out = tmp_path / "plan.json"
    assert run_cli(["plan", path, "--out", str(out)], env_for(emulator)).exit_code == 0
    assert_plan_valid(json.loads(out.read_text(encoding="utf-8"))["plan"])
    applied = run_cli(["apply", str(out)], env_for(emulator))
    assert applied.exit_code == 0, applied.output
    assert custom(emulator)["Instagram DM"]["id"] == old_id


def test_without_the_old_name_it_is_an_ordinary_create(emulator, tmp_path: Path):
    result = run_cli(["plan", write(tmp_path, RENAMED)], env_for(emulator))
    assert "+ create 'Instagram DM'" in result.stdout and "rename" not in result.stdout


@pytest.mark.parametrize("command", [["plan"], ["apply", "--yes"]])
def test_a_rename_onto_an_existing_name_stops_before_any_write(emulator, tmp_path: Path, command: list[str]):
    emulator.emu.seed_channels([{"name": "Instagram bridge"}, {"name": "Instagram DM"}])
    emulator.emu.reset_stats()
    result = run_cli([command[0], write(tmp_path, RENAMED), *command[1:]], env_for(emulator))
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: the tenant's channels cannot be matched to the file unambiguously (nothing was changed):\n"
        "  - 'Instagram DM' and its previous name 'Instagram bridge' both exist on the tenant: a rename onto "
        "an existing name; delete one of them or drop it from previous_names\n"
    )
    assert_no_writes(emulator)
    assert sorted(custom(emulator)) == ["Instagram DM", "Instagram bridge"]


def test_two_previous_names_on_the_tenant_stop_before_any_write(emulator, tmp_path: Path):
    emulator.emu.seed_channels([{"name": "Instagram bridge"}, {"name": "IG bridge"}])
    emulator.emu.reset_stats()
    path = write(tmp_path, "  - name: Instagram DM\n    previous_names: [Instagram bridge, IG bridge]\n")
    result = run_cli(["apply", path, "--yes"], env_for(emulator))
    assert result.exit_code == 1
    assert "several of its previous_names exist on the tenant ('Instagram bridge', 'IG bridge')" in result.stderr
    assert_no_writes(emulator)


@pytest.mark.parametrize(
    "channels, message",
    [
        (
            "  - name: Instagram DM\n    previous_names: [Instagram bridge]\n"
            "  - name: Instagram shop\n    previous_names: [Instagram bridge]\n",
            "'Instagram bridge' is claimed twice",
        ),
        (
            "  - name: Instagram DM\n    previous_names: [SMS gateway]\n  - name: SMS gateway\n",
            "'SMS gateway' is claimed twice",
        ),
    ],
)
def test_a_name_claimed_twice_in_the_file_stops_before_any_call(emulator, tmp_path: Path, channels, message):
    emulator.emu.seed_channels([{"name": "Instagram bridge"}, {"name": "SMS gateway"}])
    emulator.emu.reset_stats()
    result = run_cli(["apply", write(tmp_path, channels), "--yes"], env_for(emulator))
    assert result.exit_code == 1
    assert message in result.stderr and "a name may belong to one channel only" in result.stderr
    assert_no_writes(emulator)
    assert emulator.emu.stats["list"] == 0  # refused while reading the file, before the tenant is asked

"""plan / apply --only and --exclude (#22): partial plans through the CLI, against the emulator over real HTTP."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from clihelp import assert_plan_valid, run_cli

# On the tenant: web-shop and web-test drift (updates), Old fax and Old SMS are not in the file
# (deletes with --prune), and the file adds web-blog (a create).
FILE = """\
version: 1
channels:
  - name: web-shop
    icon: note
    custom_channel_endpoint: https://shop.example.com/hook
  - name: web-test
    icon: note
    custom_channel_endpoint: https://test.example.com/hook
  - name: web-blog
    custom_channel_endpoint: https://blog.example.com/hook
"""
SEED = [
    {"name": "web-shop", "icon": "sms", "custom_channel_endpoint": "https://shop.example.com/hook"},
    {"name": "web-test", "icon": "sms", "custom_channel_endpoint": "https://test.example.com/hook"},
    {"name": "Old fax", "custom_channel_endpoint": "https://fax.example.com/hook"},
    {"name": "Old SMS", "custom_channel_endpoint": "https://sms.example.com/hook"},
]


@pytest.fixture
def env(emulator):
    emulator.emu.seed_channels(SEED)
    return {"OMNIDESK_URL": emulator.url, "OMNIDESK_API_KEY": emulator.key}


@pytest.fixture
def path(tmp_path: Path) -> str:
    file = tmp_path / "channels.yaml"
    file.write_text(textwrap.dedent(FILE))
    return str(file)


def custom(emu) -> dict[str, dict]:
    return {c["name"]: c for c in emu.channels() if c["type"] == "custom"}


def planned(path: str, env: dict[str, str], *options: str) -> dict:
    result = run_cli(["plan", path, "--format", "json", *options], env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert_plan_valid(data)
    return data


def changed(data: dict) -> list[tuple[str, str]]:
    return sorted((c["action"], c["name"]) for c in data["changes"])


@pytest.mark.parametrize("options, kept", [
    ((), [("create", "web-blog"), ("delete", "Old SMS"), ("delete", "Old fax"), ("update", "web-shop"),
          ("update", "web-test")]),
    (("--only", "web-shop"), [("update", "web-shop")]),
    (("--only", "web-*"), [("create", "web-blog"), ("update", "web-shop"), ("update", "web-test")]),
    (("--exclude", "web-*"), [("delete", "Old SMS"), ("delete", "Old fax")]),
    (("--only", "web-*", "--exclude", "web-test"), [("create", "web-blog"), ("update", "web-shop")]),
    (("--only", "Old fax", "--only", "web-s?op"), [("delete", "Old fax"), ("update", "web-shop")]),
    (("--exclude", "Old *", "--exclude", "web-blog"), [("update", "web-shop"), ("update", "web-test")]),
])
def test_json_plan_keeps_the_selected_changes_and_says_it_is_partial(path, env, emulator, options, kept):
    data = planned(path, env, "--prune", *options)  # prune's deletes are filtered like the rest
    assert changed(data) == kept
    only = [v for k, v in zip(options[::2], options[1::2]) if k == "--only"]
    exclude = [v for k, v in zip(options[::2], options[1::2]) if k == "--exclude"]
    assert data.get("partial") == ({"only": only, "exclude": exclude} if options else None)
    assert data["summary"]["delete"] == sum(action == "delete" for action, _ in kept)


def test_text_and_markdown_say_partial_and_apply_writes_only_the_selection(path, env, emulator):
    text = run_cli(["plan", path, "--prune", "--only", "web-*", "--exclude", "web-test"], env)
    assert text.exit_code == 0, text.output
    first = text.stdout.splitlines()[0]
    assert first.startswith("Plan (partial: only 'web-*'; excluding 'web-test'): 1 to create, 1 to update, 0 to delete")
    markdown = run_cli(["plan", path, "--only", "web-shop", "--format", "markdown"], env)
    assert "**Plan (partial: only 'web-shop'): 0 to create, 1 to update, 0 to delete**" in markdown.stdout

    applied = run_cli(["apply", path, "--yes", "--prune", "--only", "web-*", "--exclude", "web-test"], env)
    assert applied.exit_code == 0, applied.output
    assert "Plan (partial: only 'web-*'; excluding 'web-test')" in applied.stdout
    after = custom(emulator.emu)
    assert after["web-shop"]["icon"] == "note" and "web-blog" in after
    assert after["web-test"]["icon"] == "sms"  # excluded: left as it was
    assert {"Old fax", "Old SMS"} <= set(after)  # --prune's deletes were not selected
    assert emulator.emu.stats["delete"] == 0


def test_a_saved_partial_plan_keeps_its_marker_and_applies_only_what_it_holds(path, env, emulator, tmp_path):
    saved = str(tmp_path / "plan.json")
    made = run_cli(["plan", path, "--prune", "--only", "Old *", "--exclude", "Old SMS", "--out", saved], env)
    assert made.exit_code == 0, made.output
    document = json.loads(Path(saved).read_text())
    assert document["plan"]["partial"] == {"only": ["Old *"], "exclude": ["Old SMS"]}
    assert changed(document["plan"]) == [("delete", "Old fax")]

    applied = run_cli(["apply", saved], env)
    assert applied.exit_code == 0, applied.output
    assert applied.stderr.startswith("Plan (partial: only 'Old *'; excluding 'Old SMS'): high impact: 'Old fax' "
                                     "deleted. 0 to create, 0 to update, 1 to delete.\n")
    after = custom(emulator.emu)
    assert "Old fax" not in after and "Old SMS" in after
    assert (after["web-shop"]["icon"], after["web-test"]["icon"]) == ("sms", "sms") and "web-blog" not in after
    refused = run_cli(["apply", saved, "--only", "x"], env)
    assert refused.exit_code == 1 and "--only and --exclude belong to 'plan'" in refused.stderr


@pytest.mark.parametrize("command", [["plan"], ["apply", "--yes"]])
def test_a_pattern_that_matches_no_change_is_an_error_naming_it(path, env, emulator, command):
    result = run_cli([command[0], path, *command[1:], "--only", "web-*", "--only", "Web-Shop",
                      "--exclude", "Old fax"], env)  # case-sensitive; Old fax is deleted only with --prune
    assert result.exit_code == 1, result.output
    assert "--only 'Web-Shop', --exclude 'Old fax' match no change" in result.stderr
    assert "'web-blog', 'web-shop', 'web-test'" in result.stderr and "Traceback" not in result.output
    assert emulator.emu.stats["create"] + emulator.emu.stats["update"] + emulator.emu.stats["delete"] == 0


def test_safety_thresholds_count_the_partial_plan(tmp_path, emulator):
    emulator.emu.seed_channels([{"name": f"bridge-{n}"} for n in range(10)])
    env = {"OMNIDESK_URL": emulator.url, "OMNIDESK_API_KEY": emulator.key}
    file = tmp_path / "channels.yaml"
    file.write_text("version: 1\nchannels:\n" + "".join(f"  - name: bridge-{n}\n" for n in range(6)))
    whole = run_cli(["apply", str(file), "--yes", "--prune"], env)  # 4 of 10 deleted: past 30%
    assert whole.exit_code == 1 and "--allow-deletes 4" in whole.stderr, whole.output
    partial = run_cli(["apply", str(file), "--yes", "--prune", "--exclude", "bridge-9"], env)  # 3 of 10
    assert partial.exit_code == 0, partial.output
    assert sorted(custom(emulator.emu)) == [f"bridge-{n}" for n in (0, 1, 2, 3, 4, 5, 9)]


def test_all_tenants_refuses_a_selection(path, env):
    result = run_cli(["plan", path, "--all-tenants", "--only", "web-*"], env)
    assert result.exit_code == 1 and "--only and --exclude plan one tenant at a time" in result.stderr

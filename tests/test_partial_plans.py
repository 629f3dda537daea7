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


@pytest.mark.parametrize(
    "options, kept",
    [
        (
            (),
            [
                ("create", "web-blog"),
                ("delete", "Old SMS"),
                ("delete", "Old fax"),
                ("update", "web-shop"),
                ("update", "web-test"),
            ],
        ),
        (("--only", "web-shop"), [("update", "web-shop")]),
        (("--only", "web-*"), [("create", "web-blog"), ("update", "web-shop"), ("update", "web-test")]),
        (("--exclude", "web-*"), [("delete", "Old SMS"), ("delete", "Old fax")]),
        (("--only", "web-*", "--exclude", "web-test"), [("create", "web-blog"), ("update", "web-shop")]),
        (("--only", "Old fax", "--only", "web-s?op"), [("delete", "Old fax"), ("update", "web-shop")]),
        (("--exclude", "Old *", "--exclude", "web-blog"), [("update", "web-shop"), ("update", "web-test")]),
    ],
)
def test_json_plan_keeps_the_selected_changes_and_says_it_is_partial(path, env, emulator, options, kept):
    data = planned(path, env, "--prune", *options)  # prune's deletes are filtered like the rest
    assert changed(data) == kept
    pairs = list(zip(options[::2], options[1::2], strict=True))
    only = [v for k, v in pairs if k == "--only"]
    exclude = [v for k, v in pairs if k == "--exclude"]
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
    assert applied.stderr.startswith(
        "Plan (partial: only 'Old *'; excluding 'Old SMS'): high impact: 'Old fax' "
        "deleted. 0 to create, 0 to update, 1 to delete.\n"
    )
    after = custom(emulator.emu)
    assert "Old fax" not in after and "Old SMS" in after
    assert (after["web-shop"]["icon"], after["web-test"]["icon"]) == ("sms", "sms") and "web-blog" not in after
    refused = run_cli(["apply", saved, "--only", "x"], env)
    assert refused.exit_code == 1 and "--only and --exclude belong to 'plan'" in refused.stderr


@pytest.mark.parametrize("command", [["plan"], ["apply", "--yes"]])
def test_a_pattern_that_matches_no_change_is_an_error_naming_it(path, env, emulator, command):
    result = run_cli(
        [command[0], path, *command[1:], "--only", "web-*", "--only", "Web-Shop", "--exclude", "Old fax"], env
    )  # case-sensitive; Old fax is deleted only with --prune
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


def test_sarif_says_the_plan_is_partial(path, env):
    result = run_cli(["plan", path, "--only", "web-*", "--format", "sarif"], env)
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)["runs"][0]
    assert run["properties"]["partial"] == {"only": ["web-*"], "exclude": []}
    assert "partial plan (only 'web-*')" in run["properties"]["description"]
    whole = json.loads(run_cli(["plan", path, "--format", "sarif"], env).stdout)["runs"][0]
    assert "properties" not in whole


# A deny rule (http endpoints) that one channel breaks: web-test is served over plain http.
POLICY_FILE = FILE.replace("https://test.example.com", "http://test.example.com") + (
    "policy:\n  rules: {https-endpoint: deny}\n"
)


@pytest.mark.parametrize(
    "options, applies",
    [
        (("--only", "web-shop"), True),  # web-test's finding is outside the selection: it does not block
        (("--exclude", "web-test"), True),
        (("--only", "web-t*"), False),  # the finding's own channel is selected: still refused
        ((), False),
    ],
)
def test_policy_findings_of_channels_left_out_do_not_block_a_partial_apply(tmp_path, env, emulator, options, applies):
    file = tmp_path / "channels.yaml"
    file.write_text(POLICY_FILE)
    shown = run_cli(["plan", str(file), "--format", "json", *options], env)
    rules = [(f["rule"], f["channel"]) for f in json.loads(shown.stdout)["findings"]]
    assert rules == ([] if applies else [("https-endpoint", "web-test")])
    result = run_cli(["apply", str(file), "--yes", *options], env)
    assert (result.exit_code == 0) is applies, result.output
    after = custom(emulator.emu)
    if applies:
        assert after["web-shop"]["icon"] == "note" and after["web-test"]["icon"] == "sms"
    else:
        assert "https-endpoint" in result.stderr and after["web-shop"]["icon"] == "sms"


TENANTS_FILE = """\
version: 1
tenants:
  staging: {url: URL_S, api_key_env: STAGING_KEY}
  production: {url: URL_P, api_key_env: PRODUCTION_KEY}
channels:
  - name: web-shop
    icon: note
  - name: web-blog
    tenants: [production]
"""


@pytest.fixture
def two(make_emulator, tmp_path: Path):
    """staging's web-shop drifts; production has neither channel."""
    emulators = {name: make_emulator() for name in ("staging", "production")}
    emulators["staging"].emu.seed_channels([{"name": "web-shop", "icon": "sms"}])
    file = tmp_path / "channels.yaml"
    file.write_text(
        TENANTS_FILE.replace("URL_S", emulators["staging"].url).replace("URL_P", emulators["production"].url)
    )
    env = {"STAGING_KEY": emulators["staging"].key, "PRODUCTION_KEY": emulators["production"].key}
    return str(file), env


def test_all_tenants_cuts_each_tenant_and_every_format_says_partial(two):
    path, env = two
    result = run_cli(["plan", path, "--all-tenants", "--format", "json", "--only", "web-b*"], env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    plans = {t["tenant"]: t["plan"] for t in data["tenants"]}
    assert {n: changed(p) for n, p in plans.items()} == {"staging": [], "production": [("create", "web-blog")]}
    assert all(p["partial"] == {"only": ["web-b*"], "exclude": []} for p in plans.values())
    text = run_cli(["plan", path, "--all-tenants", "--exclude", "web-blog"], env)
    assert text.exit_code == 0, text.output
    assert text.stdout.count("Plan (partial: excluding 'web-blog'): ") == 2
    markdown = run_cli(["plan", path, "--all-tenants", "--format", "markdown", "--exclude", "web-blog"], env)
    assert markdown.stdout.count("**Plan (partial: excluding 'web-blog'): ") == 2
    sarif = json.loads(run_cli(["plan", path, "--all-tenants", "--format", "sarif", "--only", "web-shop"], env).stdout)
    assert sarif["runs"][0]["properties"]["partial"] == {"only": ["web-shop"], "exclude": []}


def test_all_tenants_refuses_a_pattern_no_tenant_matches_and_saves_nothing(two, tmp_path):
    path, env = two
    out = str(tmp_path / "plans-{tenant}.json")
    result = run_cli(["plan", path, "--all-tenants", "--only", "web-*", "--only", "Web-blog", "--out", out], env)
    assert result.exit_code == 1, result.output
    assert "--only 'Web-blog' matches no change" in result.stderr and "Traceback" not in result.output
    assert not list(tmp_path.glob("plans-*.json"))
    saved = run_cli(["plan", path, "--all-tenants", "--only", "web-blog", "--out", out], env)
    assert saved.exit_code == 0, saved.output  # staging has no such change, production does: fine
    staging = json.loads((tmp_path / "plans-staging.json").read_text())["plan"]
    assert staging["partial"] == {"only": ["web-blog"], "exclude": []} and staging["changes"] == []
    applied = run_cli(["apply", str(tmp_path / "plans-production.json")], env)
    assert applied.exit_code == 0, applied.output

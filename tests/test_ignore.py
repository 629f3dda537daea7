"""``ignore:`` end to end: plan, apply, prune, export, import and clone never touch an ignored channel.

Two emulated tenants over real HTTP; the file ignores ``Old *`` everywhere and ``Test *`` in
production only, so staging's ``Test *`` channels are managed there like any other.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from clihelp import RunningEmulator
from test_tenants_e2e import TwoTenants, custom, start_two_tenants, writes

IGNORING = """\
channels:
  - name: WhatsApp bridge
    custom_channel_endpoint: https://${var:bridge_host}/omnidesk/api/message
"""
PRODUCTION = [
    {"name": "WhatsApp bridge", "custom_channel_endpoint": "https://bridge.acme.com/omnidesk/api/message"},
    {"name": "Old fax", "icon": "fax"},
    {"name": "Test 1"},
    {"name": "Unlisted"},
]


@pytest.fixture
def tenants(make_emulator: Callable[..., RunningEmulator], tmp_path: Path) -> TwoTenants:
    two = start_two_tenants(make_emulator, tmp_path)
    two.production.emu.seed_channels(PRODUCTION)
    return two


def write(tenants: TwoTenants, *, prune: bool = False, channels: str = IGNORING) -> str:
    path = tenants.write(channels)
    text = Path(path).read_text()
    text = text.replace("version: 1\n", f"version: 1\nprune: {str(prune).lower()}\nignore: ['Old *']\n", 1)
    text = text.replace(
        "    api_key_env: OMNIDESK_PRODUCTION_KEY\n",
        "    api_key_env: OMNIDESK_PRODUCTION_KEY\n    ignore: ['Test *']\n",
        1,
    )
    Path(path).write_text(text)
    return path


def test_plan_lists_ignored_channels_nowhere(tenants: TwoTenants) -> None:
    result = tenants.run("plan", write(tenants), "--tenant", "production", "--format", "json")
    assert result.exit_code == 0, result.output
    assert "Old fax" not in result.stdout and "Test 1" not in result.stdout
    plan = yaml.safe_load(result.stdout)
    assert plan["unmanaged"] == ["Unlisted"]
    text = tenants.run("plan", write(tenants), "--tenant", "production")
    assert text.stdout.endswith("prune them with --prune or prune: true): 'Unlisted'\n"), text.stdout


@pytest.mark.parametrize("how", ["prune: true", "--prune"])
def test_apply_with_prune_deletes_only_what_is_not_ignored(tenants: TwoTenants, how: str) -> None:
    path = write(tenants, prune=how == "prune: true")
    extra = ["--prune"] if how == "--prune" else []
    result = tenants.run("apply", path, "--tenant", "production", "--yes", *extra)
    assert result.exit_code == 0, result.output
    assert "Plan: high impact: 'Unlisted' deleted. 0 to create, 0 to update, 1 to delete." in result.stdout
    assert sorted(custom(tenants.production.emu)) == ["Old fax", "Test 1", "WhatsApp bridge"]
    again = tenants.run("plan", path, "--tenant", "production", "--detailed-exitcode", *extra)
    assert again.exit_code == 0, again.output


def test_ignore_is_per_tenant(tenants: TwoTenants) -> None:
    tenants.staging.emu.seed_channels([{"name": "Test 2"}, {"name": "Old modem"}])
    result = tenants.run("plan", write(tenants, prune=True), "--tenant", "staging", "--format", "json")
    assert result.exit_code == 0, result.output
    changes = {(c["action"], c["name"]) for c in yaml.safe_load(result.stdout)["changes"]}
    assert changes == {("create", "WhatsApp bridge"), ("delete", "Test 2")}  # Test * is production's only


def test_export_leaves_ignored_channels_out_and_keeps_the_lists(tenants: TwoTenants) -> None:
    path = write(tenants)
    exported = tenants.run("export", path, "--tenant", "production", "--out", str(tenants.dir / "out.yaml"))
    assert exported.exit_code == 0, exported.output
    data = yaml.safe_load((tenants.dir / "out.yaml").read_text())
    assert [c["name"] for c in data["channels"]] == ["Unlisted", "WhatsApp bridge"]
    assert data["ignore"] == ["Old *"]
    assert data["tenants"]["production"]["ignore"] == ["Test *"]
    assert "Exported 2 custom channel(s)" in exported.stderr
    pruned = tenants.run(
        "plan", str(tenants.dir / "out.yaml"), "--tenant", "production", "--prune", "--detailed-exitcode"
    )
    assert pruned.exit_code == 0, pruned.output  # the export's ignore lists keep prune off them


def test_import_never_adds_an_ignored_channel(tenants: TwoTenants) -> None:
    path = write(tenants)
    named = tenants.run("import", path, "--tenant", "production", "--name", "Old fax")
    assert named.exit_code == 1
    assert "'Old fax' matches the ignore pattern 'Old *': the file does not manage it" in named.stderr
    imported = tenants.run("import", path, "--tenant", "production")
    assert imported.exit_code == 0, imported.output
    assert "+ added 'Unlisted' (tenants: [production])" in imported.stdout
    assert "Old fax" not in imported.output and "Test 1" not in imported.output
    names = [c["name"] for c in yaml.safe_load(Path(path).read_text())["channels"]]
    assert names == ["WhatsApp bridge", "Unlisted"]


def test_clone_copies_and_prunes_around_ignored_channels(tenants: TwoTenants) -> None:
    tenants.staging.emu.seed_channels(
        [
            {
                "name": "WhatsApp bridge",
                "custom_channel_endpoint": "https://bridge.staging.acme.com/omnidesk/api/message",
            },
            {"name": "Old modem"},
            {"name": "Test 2"},
            {"name": "Shop"},
        ]
    )
    path = write(tenants)
    result = tenants.run(
        "clone",
        path,
        "--from",
        "staging",
        "--to",
        "production",
        "--prune",
        "--yes",
        SHOP_SECRET="s",
        WHATSAPP_BRIDGE_SECRET="w",
    )
    assert result.exit_code == 0, result.output
    assert (
        "Plan: high impact: 'Unlisted' deleted. 1 to create, 0 to update, 1 to delete." in result.stdout
    )  # Shop; Unlisted
    assert sorted(custom(tenants.production.emu)) == ["Old fax", "Shop", "Test 1", "WhatsApp bridge"]
    assert writes(tenants.staging.emu) == 0


def test_a_managed_channel_that_is_ignored_is_refused_before_any_call(tenants: TwoTenants) -> None:
    path = write(tenants, channels="channels:\n  - name: Test inbox\n")
    for command in (["plan"], ["apply", "--yes"], ["import"], ["export"]):
        result = tenants.run(command[0], path, *command[1:], "--tenant", "production")
        assert result.exit_code == 1, command
        assert (
            "channels[0].name: the name 'Test inbox' matches the ignore pattern 'Test *' "
            "(tenants.production.ignore, line" in result.stderr
        ), (command, result.stderr)
        if command[0] != "export":  # export reads the tenant first; it writes nothing either way
            assert tenants.production.emu.stats["list"] == 0, command
    assert writes(tenants.production.emu) == 0


def test_plan_all_tenants_ignores_per_tenant(tenants: TwoTenants) -> None:
    tenants.staging.emu.seed_channels([{"name": "Test 2"}, {"name": "Old modem"}])
    result = tenants.run("plan", write(tenants, prune=True), "--all-tenants", "--format", "json")
    assert result.exit_code == 0, result.output
    assert "Old fax" not in result.stdout and "Old modem" not in result.stdout and "Test 1" not in result.stdout
    assert "Test 2" in result.stdout  # ignored in production only: staging prunes it

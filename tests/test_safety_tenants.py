"""Issue 11: a file that defines tenants is used for a named tenant only, in every command that talks
to one; the rule lives in the library, so Python callers get it too."""

from __future__ import annotations

from pathlib import Path

import pytest
from clihelp import run_cli

from reconciler.errors import TargetError
from reconciler.workflow import Workflow


def tenants_file(tmp_path: Path, url: str) -> str:
    path = tmp_path / "channels.yaml"
    path.write_text(
        "version: 1\nprune: true\n"
        f"tenants:\n  staging: {{url: '{url}'}}\n  production: {{url: '{url}'}}\n"
        "channels:\n  - name: Shared\n  - name: Instagram DM\n    tenants: [production]\n",
        encoding="utf-8",
    )
    return str(path)


REFUSED = (
    "Error: the file defines tenants (staging, production): choose one with --tenant NAME. {given} alone is "
    "refused for a file with tenants, so that no tenant is planned with another's channels. "
    "Nothing was read or changed\n"
)


@pytest.mark.parametrize(
    "command",
    [
        ["plan", "{path}"],
        ["apply", "{path}", "--yes"],
        ["export", "{path}"],
        ["import", "{path}"],
        ["message", "send", "--file", "{path}", "--channel", "Shared", "--message", "hi"],
    ],
)
def test_url_alone_is_refused_and_nothing_is_read(tmp_path, emulator, command):
    """The case that deleted production-only channels: production's own URL, prune on, no --tenant."""
    emulator.emu.seed_channels([{"name": "Shared"}, {"name": "Instagram DM"}])
    emulator.emu.reset_stats()
    path = tenants_file(tmp_path, emulator.url)
    args = [part.format(path=path) for part in command]
    result = run_cli([*args, "--url", emulator.url], {"OMNIDESK_API_KEY": "demo"})
    assert result.exit_code == 1
    assert result.stderr == REFUSED.format(given="--url")
    from_env = run_cli(args, {"OMNIDESK_URL": emulator.url, "OMNIDESK_API_KEY": "demo"})
    assert from_env.stderr == REFUSED.format(given="OMNIDESK_URL")
    assert emulator.emu.stats["list"] == 0 and "Instagram DM" in [c["name"] for c in emulator.emu.channels()]


def test_without_any_target_the_message_only_asks_for_a_tenant(tmp_path):
    result = run_cli(["plan", tenants_file(tmp_path, "https://acme.omnidesk.com")], {})
    assert result.stderr == (
        "Error: the file defines tenants (staging, production): choose one with --tenant NAME. "
        "Nothing was read or changed\n"
    )


def test_the_emulator_needs_a_tenant_too(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tenants_file(tmp_path, "https://acme.omnidesk.com")
    refused = run_cli(["plan", path, "--emulator"])
    assert refused.stderr == REFUSED.format(given="--emulator")
    chosen = run_cli(["plan", path, "--emulator", "--tenant", "production"])
    assert chosen.exit_code == 0, chosen.output
    assert "Plan: 2 to create" in chosen.stdout


def test_with_the_tenant_production_only_channels_are_kept(tmp_path, emulator):
    emulator.emu.seed_channels([{"name": "Shared"}, {"name": "Instagram DM"}])
    path = tenants_file(tmp_path, emulator.url)
    result = run_cli(["plan", path, "--tenant", "production", "--detailed-exitcode"], {"OMNIDESK_API_KEY": "demo"})
    assert (result.exit_code, result.stdout) == (0, "No changes. The tenant matches the channels file.\n")


def test_the_rule_is_the_librarys(tmp_path, emulator):
    path = tenants_file(tmp_path, emulator.url)
    with pytest.raises(TargetError, match=r"choose one with tenant= NAME\. url= alone is refused"):
        Workflow(environ={"OMNIDESK_API_KEY": "demo"}).plan(path, url=emulator.url, prune=True)
    assert emulator.emu.stats["list"] == 0

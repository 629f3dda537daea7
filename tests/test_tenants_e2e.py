"""``--tenant`` on plan / apply / export, against two emulated tenants over real HTTP.

``TwoTenants`` (also used by the clone and export tests) runs a staging and a production emulator on
two ports with two different keys, so a command that picks the wrong tenant's URL or key fails.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from clihelp import Result, run_cli
from conftest import RunningEmulator

from reconciler.emulator import ALL_PERMISSIONS

STAGING_VARS = {"bridge_host": "bridge.staging.acme.com"}
PRODUCTION_VARS = {"bridge_host": "bridge.acme.com"}


@dataclass
class TwoTenants:
    staging: RunningEmulator
    production: RunningEmulator
    dir: Path
    env: dict[str, str] = field(default_factory=dict)

    def write(
        self,
        channels: str = "channels: []\n",
        *,
        staging_vars: dict[str, str] | None = None,
        production_vars: dict[str, str] | None = None,
        name: str = "channels.yaml",
    ) -> str:
        """A channels file whose tenants point at the two emulators; returns its path."""
        tenants = {
            "staging": {
                "url": self.staging.url,
                "api_key_env": "OMNIDESK_STAGING_KEY",
                "vars": STAGING_VARS if staging_vars is None else staging_vars,
            },
            "production": {
                "url": self.production.url,
                "api_key_env": "OMNIDESK_PRODUCTION_KEY",
                "vars": PRODUCTION_VARS if production_vars is None else production_vars,
            },
        }
        head = yaml.safe_dump({"version": 1, "tenants": tenants}, sort_keys=False)
        path = self.dir / name
        path.write_text(head + textwrap.dedent(channels))
        return str(path)

    def run(self, *args: str, **extra_env: str) -> Result:
        return run_cli(list(args), {**self.env, **extra_env})


def start_two_tenants(make_emulator: Callable[..., RunningEmulator], tmp_path: Path) -> TwoTenants:
    staging = make_emulator(api_keys={"stagingkey": set(ALL_PERMISSIONS)})
    production = make_emulator(api_keys={"productionkey": set(ALL_PERMISSIONS)})
    return TwoTenants(
        staging,
        production,
        tmp_path,
        env={"OMNIDESK_STAGING_KEY": "stagingkey", "OMNIDESK_PRODUCTION_KEY": "productionkey"},
    )


def custom(emu: Any) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in emu.channels() if c["type"] == "custom"}


def writes(emu: Any) -> int:
    return sum(emu.stats[k] for k in ("create", "update", "delete"))


@pytest.fixture
def tenants(make_emulator: Callable[..., RunningEmulator], tmp_path: Path) -> TwoTenants:
    return start_two_tenants(make_emulator, tmp_path)


BRIDGE = """\
channels:
  - name: WhatsApp bridge
    custom_channel_endpoint: https://${var:bridge_host}/omnidesk/api/message
    custom_channel_secret: ${env:WHATSAPP_BRIDGE_SECRET}
  - name: Test inbox
    tenants: [staging]
    icon: note
"""


def test_each_tenant_gets_its_url_key_vars_and_channels(tenants: TwoTenants) -> None:
    path = tenants.write(BRIDGE)
    staged = tenants.run("apply", path, "--tenant", "staging", "--yes", WHATSAPP_BRIDGE_SECRET="stage-secret")
    assert staged.exit_code == 0, staged.output
    assert writes(tenants.production.emu) == 0
    made = custom(tenants.staging.emu)
    assert sorted(made) == ["Test inbox", "WhatsApp bridge"]
    assert made["WhatsApp bridge"]["custom_channel_endpoint"] == "https://bridge.staging.acme.com/omnidesk/api/message"
    assert made["WhatsApp bridge"]["custom_channel_secret"] == "stage-secret"

    plan = tenants.run("plan", path, "--tenant", "production")
    # a plan needs no bridge secrets: it names the missing one once and exits as usual
    assert plan.exit_code == 0, plan.output
    assert plan.output.count("Missing secret: ${env:WHATSAPP_BRIDGE_SECRET} is not set") == 1, plan.output
    assert "Plan: 1 to create, 0 to update, 0 to delete. Target: production (" in plan.stdout
    assert "https://bridge.acme.com/omnidesk/api/message" in plan.stdout
    assert "Test inbox" not in plan.stdout

    produced = tenants.run("apply", path, "--tenant", "production", "--yes", WHATSAPP_BRIDGE_SECRET="prod-secret")
    assert produced.exit_code == 0, produced.output
    made = custom(tenants.production.emu)
    assert sorted(made) == ["WhatsApp bridge"]
    assert made["WhatsApp bridge"]["custom_channel_endpoint"] == "https://bridge.acme.com/omnidesk/api/message"
    for tenant in ("staging", "production"):
        again = tenants.run("plan", path, "--tenant", tenant)
        assert again.exit_code == 0, again.output
        assert again.stdout.startswith("No changes."), again.stdout


@pytest.mark.parametrize("command", [["plan"], ["apply", "--yes"], ["export"]])
def test_unknown_tenant_is_named_with_the_known_ones(tenants: TwoTenants, command: list[str]) -> None:
    path = tenants.write(BRIDGE)
    result = tenants.run(command[0], path, *command[1:], "--tenant", "prod")
    assert result.exit_code == 1
    assert "unknown tenant 'prod' (known tenants: " in result.stderr
    assert "production" in result.stderr and "staging" in result.stderr
    assert writes(tenants.staging.emu) + writes(tenants.production.emu) == 0


@pytest.mark.parametrize("command", [["plan"], ["apply", "--yes"], ["export"]])
def test_unset_key_variable_is_named(tenants: TwoTenants, command: list[str]) -> None:
    path = tenants.write(BRIDGE)
    env = dict(tenants.env)
    del env["OMNIDESK_PRODUCTION_KEY"]
    result = run_cli([command[0], path, *command[1:], "--tenant", "production"], env)
    assert result.exit_code == 1
    assert (
        "Error: the API key variable OMNIDESK_PRODUCTION_KEY is not set "
        "(export OMNIDESK_PRODUCTION_KEY=...)" in result.stderr
    )
    assert tenants.production.emu.stats["list"] == 0


def test_the_other_tenants_key_is_refused(tenants: TwoTenants) -> None:
    path = tenants.write(BRIDGE)
    result = tenants.run("plan", path, "--tenant", "production", OMNIDESK_PRODUCTION_KEY="stagingkey")
    assert result.exit_code == 1
    assert "401" in result.stderr
    assert "stagingkey" not in result.output


def test_export_with_tenant_needs_the_file(tenants: TwoTenants) -> None:
    result = tenants.run("export", "--tenant", "staging")
    assert result.exit_code == 1
    assert "--tenant needs the channels FILE that defines the tenants" in result.stderr


def test_url_alone_is_refused_for_a_file_with_tenants(tenants: TwoTenants) -> None:
    """Issue 11: a file with tenants is planned for a named tenant only (``--url`` once wrote here)."""
    path = tenants.write("channels:\n  - name: Plain\n")
    result = tenants.run("apply", path, "--url", tenants.production.url, "--yes", OMNIDESK_API_KEY="productionkey")
    assert result.exit_code == 1
    assert (
        "the file defines tenants (staging, production): choose one with --tenant NAME. --url alone is refused"
        in result.stderr
    )
    assert writes(tenants.production.emu) == 0 and writes(tenants.staging.emu) == 0

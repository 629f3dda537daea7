"""Issue 11: every command's --help says where the URL and the key come from (or that it needs none)."""

from __future__ import annotations

import click
import pytest
from clihelp import run_cli

from reconciler.cli import all_commands

TALKS_TO_A_TENANT = {
    "message reply",
    "message redeliver",
    "plan",
    "apply",
    "export",
    "clone",
    "import",
    "message send",
    "ci github plan",
    "ci github apply",
    "ci github drift",
    "ci gitlab plan",
    "ci gitlab apply",
    "ci gitlab drift",
}
OFFLINE = {"init", "validate", "probe", "tenants", "emulator", "completion", "schema", "ci github validate"}


def leaves(prefix: str, command: click.Command) -> dict[str, click.Command]:
    if not isinstance(command, click.Group):
        return {prefix: command}
    found: dict[str, click.Command] = {}
    for name, sub in command.commands.items():
        found.update(leaves(f"{prefix} {name}", sub))
    return found


def commands() -> dict[str, click.Command]:
    found: dict[str, click.Command] = {}
    for name, command in all_commands().items():
        found.update(leaves(name, command))
    return found


def test_every_command_that_talks_to_a_tenant_is_listed():
    """A new command must say here whether it talks to a tenant."""
    assert set(commands()) == TALKS_TO_A_TENANT | OFFLINE


@pytest.mark.parametrize("name", sorted(commands()))
def test_help_names_where_the_url_and_key_come_from(name):
    result = run_cli([*name.split(), "--help"])
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())  # help is wrapped to the terminal's width
    if name in TALKS_TO_A_TENANT:
        if name != "clone":  # clone talks to two tenants of the file, never to --url
            assert "OMNIDESK_URL" in text, name
        assert "OMNIDESK_API_KEY" in text and "api_key_env" in text, name
    else:
        assert "no api call" in text.lower() or "no omnidesk api call" in text.lower(), name

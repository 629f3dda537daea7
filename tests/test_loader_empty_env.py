"""Empty is unset: an empty ``${env:...}`` is a missing value, never ``""`` sent to the tenant.

GitHub Actions gives ``""`` for a secret that is not defined, so ``S= omnidesk-channels apply
--rotate-secrets`` used to send ``""`` and wipe the channel's secret with exit 0.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from clihelp import run_cli, run_cli_subprocess

from reconciler.config import load_all_views, load_channels_file
from reconciler.errors import ConfigError
from reconciler.model import SecretRef

OLD_SECRET = "old-secret-kept-on-the-server"

FILE = """\
version: 1
channels:
  - name: SMS gateway
    icon: sms
    custom_channel_secret: ${env:SMS_SECRET}
"""


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "channels.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def custom(emu) -> dict[str, dict]:
    return {c["name"]: c for c in emu.channels() if c["type"] == "custom"}


def writes(emu) -> int:
    return sum(emu.stats[k] for k in ("create", "update", "delete"))


@pytest.fixture
def seeded(emulator):
    emulator.emu.seed_channels([{"name": "SMS gateway", "icon": "chat", "custom_channel_secret": OLD_SECRET}])
    emulator.emu.reset_stats()
    return emulator


def test_an_empty_secret_variable_never_wipes_the_secret_on_rotate(tmp_path, seeded):
    path = write(tmp_path, FILE)
    env = {"OMNIDESK_URL": seeded.url, "OMNIDESK_API_KEY": seeded.key, "SMS_SECRET": ""}
    result = run_cli_subprocess(["apply", path, "--yes", "--rotate-secrets"], env)
    assert result.exit_code == 1, result.output
    assert "${env:SMS_SECRET} needed by: SMS gateway" in result.stderr
    assert writes(seeded.emu) == 0
    assert custom(seeded.emu)["SMS gateway"]["custom_channel_secret"] == OLD_SECRET


def test_an_empty_secret_variable_is_kept_as_unset_on_an_ordinary_update(tmp_path, seeded):
    """Without --rotate-secrets the secret is not sent, empty or not: the icon changes, the secret stays."""
    path = write(tmp_path, FILE)
    env = {"OMNIDESK_URL": seeded.url, "OMNIDESK_API_KEY": seeded.key, "SMS_SECRET": ""}
    result = run_cli(["apply", path, "--yes"], env)
    assert result.exit_code == 0, result.output
    channel = custom(seeded.emu)["SMS gateway"]
    assert (channel["icon"], channel["custom_channel_secret"]) == ("sms", OLD_SECRET)


def test_an_empty_secret_variable_refuses_a_create(tmp_path, emulator):
    path = write(tmp_path, FILE)
    env = {"OMNIDESK_URL": emulator.url, "OMNIDESK_API_KEY": emulator.key, "SMS_SECRET": ""}
    result = run_cli(["apply", path, "--yes"], env)
    assert result.exit_code == 1
    assert "${env:SMS_SECRET} needed by: SMS gateway" in result.stderr
    assert writes(emulator.emu) == 0 and "SMS gateway" not in custom(emulator.emu)


def test_the_loader_gives_an_empty_secret_as_unset(tmp_path):
    path = write(tmp_path, FILE)
    for environ in ({"SMS_SECRET": ""}, {}):
        (channel,) = load_channels_file(path, environ=environ).channels
        assert channel.secret == SecretRef(None, "SMS_SECRET")
        (view,) = load_all_views(path, environ=environ).values()
        assert view.channels[0].secret == SecretRef(None, "SMS_SECRET")
    (channel,) = load_channels_file(path, environ={"SMS_SECRET": "x"}).channels
    assert channel.secret == SecretRef("x", "SMS_SECRET")


def test_a_secret_built_around_an_empty_variable_is_unset_too(tmp_path):
    path = write(tmp_path, FILE.replace("${env:SMS_SECRET}", "prefix-${env:SMS_SECRET}"))
    (channel,) = load_channels_file(path, environ={"SMS_SECRET": ""}).channels
    assert channel.secret == SecretRef(None, "SMS_SECRET")


@pytest.mark.parametrize("field", ["name", "icon", "custom_channel_endpoint", "custom_channel_warning_en"])
def test_an_empty_variable_in_another_field_is_the_unset_error(tmp_path, field):
    value = "https://${env:PART}/x" if field == "custom_channel_endpoint" else "${env:PART}"
    text = f"version: 1\nchannels:\n  - name: A\n    {field}: {value}\n".replace("name: A\n    name:", "name:")
    path = write(tmp_path, text)
    for environ, says in (({"PART": ""}, "is empty"), ({}, "is not set")):
        with pytest.raises(ConfigError) as info:
            load_channels_file(path, environ=environ)
        (problem,) = info.value.problems
        assert problem.path.endswith(field) and f"environment variable PART {says}" in problem.message
    validate = run_cli(["validate", path], {"PART": ""})
    assert validate.exit_code == 1 and "environment variable PART is empty" in validate.stderr

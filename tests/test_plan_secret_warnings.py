"""A secret unset at plan time: a warning, worded as one (it does not deny), printed once,
naming every channel that needs it, and in SARIF a plan check named after its check (mutation
testing of checks.py found the wording, the list of channels and the text plan's "no second
warning" reached by no test)."""

from __future__ import annotations

import json
from pathlib import Path

from clihelp import RunningEmulator, run_cli

CHANNELS = """\
version: 1
channels:
  - name: SMS
    custom_channel_secret: ${env:SMS_SECRET}
  - name: SMS backup
    custom_channel_secret: ${env:SMS_SECRET}
"""
WARNING = "Warning: ${env:SMS_SECRET} is not set here (needed by SMS, SMS backup); the apply must have it\n"


def test_an_unset_secret_is_a_warning_once_in_every_format(tmp_path: Path, emulator: RunningEmulator) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text(CHANNELS)
    env = {"OMNIDESK_URL": emulator.url, "OMNIDESK_API_KEY": emulator.key}
    machine = run_cli(["plan", str(path), "--format", "json"], env)
    assert machine.exit_code == 0, machine.output
    assert machine.stderr.count(WARNING) == 1 and "apply will refuse" not in machine.stderr
    text = run_cli(["plan", str(path)], env)
    assert text.exit_code == 0, text.output
    assert "SMS_SECRET" in text.stdout and "is not set here" not in text.stderr, "the text plan lists it itself"
    sarif = run_cli(["plan", str(path), "--format", "sarif"], env)
    assert sarif.exit_code == 0, sarif.output
    (result,) = [r for r in json.loads(sarif.stdout)["runs"][0]["results"] if "SMS_SECRET" in r["message"]["text"]]
    assert result["level"] == "warning"
    assert result["message"]["text"] == (
        "secrets: ${env:SMS_SECRET} is not set here (needed by SMS, SMS backup); the apply must have it"
    )

"""A credential in an endpoint's query string is treated as a secret: a literal one is a warning and
cannot be saved in a plan, export and import write it as ``${env:NAME}`` so the file still applies,
and a stale saved plan names the change without the value. (The canary run in
test_secure_canary.py searches every command's output, log and file for such a value.)"""

from __future__ import annotations

from pathlib import Path

import httpx
from clihelp import RunningEmulator, run_cli

KEY = "canary-endpoint-literal-19fe"


def test_a_literal_credential_is_a_warning_and_no_saved_plan_takes_it(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text(
        f"version: 1\nchannels:\n  - name: SMS\n    custom_channel_endpoint: https://b.acme.com/in?Key={KEY}\n"
    )
    validated = run_cli(["validate", str(path)])
    assert validated.exit_code == 0
    assert "the endpoint's Key= parameter is a credential written in the file" in validated.stderr
    env = {"OMNIDESK_URL": emulator.url, "OMNIDESK_API_KEY": emulator.key}
    saved = run_cli(["plan", str(path), "--out", str(tmp_path / "plan.json")], env)
    assert saved.exit_code == 1 and "have one written in the file: SMS" in saved.stderr
    assert not (tmp_path / "plan.json").exists()
    assert KEY not in validated.output + saved.output


def test_export_writes_a_placeholder_and_the_export_applies_unchanged(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    emulator.emu.seed_channels(
        [{"name": "SMS gateway", "custom_channel_endpoint": f"https://b.acme.com/in?token={KEY}&x=1"}]
    )
    env = {"OMNIDESK_URL": emulator.url, "OMNIDESK_API_KEY": emulator.key}
    out = tmp_path / "export.yaml"
    exported = run_cli(["export", "--out", str(out)], env)
    assert exported.exit_code == 0, exported.output
    assert (
        "custom_channel_endpoint: https://b.acme.com/in?token=${env:SMS_GATEWAY_ENDPOINT_TOKEN}&x=1" in out.read_text()
    )
    assert "SMS_GATEWAY_ENDPOINT_TOKEN" in exported.stderr and KEY not in exported.output + out.read_text()
    noop = run_cli(["plan", str(out), "--detailed-exitcode"], env | {"SMS_GATEWAY_ENDPOINT_TOKEN": KEY})
    assert noop.exit_code == 0 and noop.stdout.startswith("No changes."), noop.output


def test_a_stale_saved_plan_names_the_change_without_the_credential(tmp_path: Path, emulator: RunningEmulator) -> None:
    emulator.emu.seed_channels([{"name": "SMS", "custom_channel_endpoint": "https://b.acme.com/in?key=old1"}])
    path = tmp_path / "channels.yaml"
    path.write_text(
        "version: 1\nchannels:\n  - name: SMS\n    custom_channel_endpoint: https://b.acme.com/in?key=${env:K}\n"
        "    icon: sms\n"
    )
    env = {"OMNIDESK_URL": emulator.url, "OMNIDESK_API_KEY": emulator.key, "K": KEY}
    assert run_cli(["plan", str(path), "--out", str(tmp_path / "plan.json")], env).exit_code == 0
    (channel,) = [c for c in emulator.emu.channels() if c["name"] == "SMS"]
    httpx.put(
        f"{emulator.url}/api/v2/channel/{channel['id']}",
        headers={"apiKey": emulator.key},
        data={"custom_channel_endpoint": "https://b.acme.com/in2?key=new2"},
    ).raise_for_status()
    stale = run_cli(["apply", str(tmp_path / "plan.json")], env)
    assert (
        stale.exit_code == 1
        and (
            "custom_channel_endpoint was 'https://b.acme.com/in?key=(sensitive)', "
            "now 'https://b.acme.com/in2?key=(sensitive)'"
        )
        in stale.stderr
    )
    assert "old1" not in stale.output and "new2" not in stale.output and KEY not in stale.output


def test_a_credential_changed_on_the_tenant_alone_makes_a_saved_plan_stale(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    emulator.emu.seed_channels([{"name": "SMS", "custom_channel_endpoint": "https://b.acme.com/in?key=old1"}])
    path = tmp_path / "channels.yaml"
    path.write_text(
        "version: 1\nchannels:\n  - name: SMS\n    custom_channel_endpoint: https://b.acme.com/in?key=${env:K}\n"
    )
    env = {"OMNIDESK_URL": emulator.url, "OMNIDESK_API_KEY": emulator.key, "K": KEY}
    saved = str(tmp_path / "plan.json")
    assert run_cli(["plan", saved.replace("plan.json", "channels.yaml"), "--out", saved], env).exit_code == 0
    (channel,) = [c for c in emulator.emu.channels() if c["name"] == "SMS"]
    httpx.put(
        f"{emulator.url}/api/v2/channel/{channel['id']}",
        headers={"apiKey": emulator.key},
        data={"custom_channel_endpoint": "https://b.acme.com/in?key=someone-else2"},
    ).raise_for_status()
    stale = run_cli(["apply", saved], env)
    assert (
        stale.exit_code == 1
        and "a credential in custom_channel_endpoint changed (its value is not shown)" in stale.stderr
    ), stale.output
    assert "someone-else2" not in stale.output and KEY not in stale.output
    now = next(c for c in emulator.emu.channels() if c["name"] == "SMS")["custom_channel_endpoint"]
    assert now.endswith("key=someone-else2"), "nothing was written"
    fresh = str(tmp_path / "fresh.json")
    assert run_cli(["plan", str(path), "--out", fresh], env).exit_code == 0
    assert run_cli(["apply", fresh], env).exit_code == 0, "a plan made against today's endpoint applies"

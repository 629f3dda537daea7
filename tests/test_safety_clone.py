"""Issue 11: clone asks only for the secrets of the channels it will create."""

from __future__ import annotations

from pathlib import Path

from clihelp import run_cli


def test_clone_asks_only_for_secrets_of_channels_it_creates(tmp_path: Path, make_emulator) -> None:
    staging, production = make_emulator(), make_emulator()
    staging.emu.seed_channels(
        [
            {
                "name": "SMS gateway",
                "custom_channel_endpoint": "https://sms.example.com/v2",
                "custom_channel_secret": "s",
            },
            {
                "name": "WhatsApp bridge",
                "custom_channel_endpoint": "https://wa.example.com/x",
                "custom_channel_secret": "w",
            },
        ]
    )
    production.emu.seed_channels(
        [
            {
                "name": "SMS gateway",
                "custom_channel_endpoint": "https://sms.example.com/v1",
                "custom_channel_secret": "p",
            },
        ]
    )
    production.emu.reset_stats()
    path = tmp_path / "channels.yaml"
    path.write_text(
        f"version: 1\ntenants:\n  staging: {{url: '{staging.url}'}}\n"
        f"  production: {{url: '{production.url}'}}\nchannels: []\n",
        encoding="utf-8",
    )
    args = ["clone", str(path), "--from", "staging", "--to", "production"]

    preview = run_cli(args, {"OMNIDESK_API_KEY": "demo"})
    assert preview.exit_code == 0, preview.output
    assert "Missing secret: ${env:WHATSAPP_BRIDGE_SECRET} is not set (needed by WhatsApp bridge)" in preview.stdout
    assert "SMS_GATEWAY_SECRET" not in preview.stdout.replace("(sensitive) write-only", "")
    refused = run_cli([*args, "--yes"], {"OMNIDESK_API_KEY": "demo"})
    assert refused.exit_code == 1
    assert refused.stderr.endswith(
        "Error: secrets that must be sent are not set in the environment (nothing was changed):\n"
        "  ${env:WHATSAPP_BRIDGE_SECRET} needed by: WhatsApp bridge\n"
        "Set these variables (export NAME=...) and run again.\n"
    )
    assert sum(production.emu.stats[k] for k in ("create", "update", "delete")) == 0

    done = run_cli([*args, "--yes"], {"OMNIDESK_API_KEY": "demo", "WHATSAPP_BRIDGE_SECRET": "new"})
    assert done.exit_code == 0, done.output
    kept = {c["name"]: c for c in production.emu.channels() if c["type"] == "custom"}
    assert kept["SMS gateway"]["custom_channel_secret"] == "p", "the existing channel keeps its own secret"
    assert kept["WhatsApp bridge"]["custom_channel_secret"] == "new"

"""``message send`` end to end: name -> id through the list, customChannelMessage, ids printed."""

from __future__ import annotations

import json
from pathlib import Path

from clihelp import run_cli


def env_for(running, key: str | None = None) -> dict[str, str]:
    return {"OMNIDESK_URL": running.url, "OMNIDESK_API_KEY": key or running.key}


def test_send_opens_a_ticket_and_prints_its_ids(emulator):
    (sms,) = emulator.emu.seed_channels([{"name": "SMS gateway"}])
    result = run_cli(
        [
            "message",
            "send",
            "--channel",
            "SMS gateway",
            "--message",
            "Where is my order?",
            "--title",
            "Order 1042",
            "--from",
            "31612345678",
            "--to",
            "3197010000099",
        ],
        env_for(emulator),
    )
    assert result.exit_code == 0, result.output
    (ticket,) = emulator.emu.tickets()
    (message,) = ticket["messages"]
    assert result.stdout == (
        f"Sent message {message['messageID']} on ticket {ticket['ticketID']} "
        f"(channel 'SMS gateway', id {sms}, {emulator.url}).\n"
    )
    assert (ticket["channelID"], ticket["title"]) == (sms, "Order 1042")
    assert (message["message"], message["fromAddress"], message["toAddress"], message["userID"]) == (
        "Where is my order?",
        "31612345678",
        "3197010000099",
        0,
    )


def test_send_adds_to_a_ticket_and_prints_json(emulator):
    (sms,) = emulator.emu.seed_channels([{"name": "SMS gateway"}])
    first = run_cli(
        ["message", "send", "--channel", "SMS gateway", "--message", "one", "--format", "json"], env_for(emulator)
    )
    ids = json.loads(first.stdout)
    second = run_cli(
        [
            "message",
            "send",
            "--channel",
            "SMS gateway",
            "--message",
            "two",
            "--format",
            "json",
            "--ticket",
            str(ids["ticketID"]),
            "--user",
            "7",
        ],
        env_for(emulator),
    )
    assert second.exit_code == 0, second.output
    again = json.loads(second.stdout)
    assert (again["channelID"], again["ticketID"]) == (sms, ids["ticketID"]) and again["messageID"] != ids["messageID"]
    (ticket,) = emulator.emu.tickets()
    assert [m["userID"] for m in ticket["messages"]] == [0, 7]


def test_a_key_without_message_create_names_the_permission(make_emulator):
    key = "k-7f3a9c-read-only"
    running = make_emulator(api_keys={key: {"CHANNEL_READ"}})
    running.emu.seed_channels([{"name": "SMS gateway"}])
    result = run_cli(["message", "send", "--channel", "SMS gateway", "--message", "hi"], env_for(running, key))
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "Error: POST /api/v2/channel/customChannelMessage: the API key lacks the MESSAGE_CREATE permission"
    )
    assert "(HTTP 403)" in result.stderr and key not in result.output
    assert running.emu.tickets() == []


def test_an_unknown_channel_lists_the_custom_channels_and_sends_nothing(emulator):
    emulator.emu.seed_channels([{"name": "SMS gateway", "custom_channel_secret": "s3cret"}, {"name": "Instagram DM"}])
    result = run_cli(["message", "send", "--channel", "SMS gateways", "--message", "hi"], env_for(emulator))
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: no custom channel named 'SMS gateways' on {emulator.url} (its custom channels: "
        "'Instagram DM', 'SMS gateway'); nothing was sent. Did you mean 'SMS gateway'?\n"
    )
    assert emulator.emu.stats["message"] == 0 and "s3cret" not in result.output


def test_a_built_in_channel_is_refused_by_name(emulator):
    builtin = next(c for c in emulator.emu.channels() if c["type"] != "custom")
    result = run_cli(["message", "send", "--channel", builtin["name"], "--message", "hi"], env_for(emulator))
    assert result.exit_code == 1
    assert f"is a built-in channel (type {builtin['type']})" in result.stderr
    assert emulator.emu.stats["message"] == 0


def test_send_to_a_tenant_of_a_channels_file(emulator, tmp_path: Path):
    emulator.emu.seed_channels([{"name": "SMS gateway"}])
    path = tmp_path / "channels.yaml"
    path.write_text(
        f"version: 1\ntenants:\n  staging:\n    url: {emulator.url}\n    api_key_env: OMNIDESK_STAGING_KEY\n"
        "channels: []\n",
        encoding="utf-8",
    )
    result = run_cli(
        ["message", "send", "--file", str(path), "--tenant", "staging", "--channel", "SMS gateway", "--message", "hi"],
        {"OMNIDESK_STAGING_KEY": emulator.key},
    )
    assert result.exit_code == 0, result.output
    assert f"staging ({emulator.url})" in result.stdout
    missing = run_cli(
        ["message", "send", "--tenant", "staging", "--channel", "SMS gateway", "--message", "hi"],
        {"OMNIDESK_STAGING_KEY": emulator.key},
    )
    assert missing.exit_code == 1
    assert "--tenant needs --file FILE, the channels file that defines the tenant" in missing.stderr

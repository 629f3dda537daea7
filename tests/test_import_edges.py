"""``import`` at the edges: names that cannot be imported, files it must not rewrite, bytes it must keep.

Every refusal leaves the file byte for byte as it was and says what to do instead.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from clihelp import Result, RunningEmulator, run_cli

SEED = [
    {"name": "Marketplace inbox", "icon": "shop"},
    {"name": "SMS gateway", "icon": "sms", "custom_channel_endpoint": "https://sms.example.com/v2"},
]


@pytest.fixture
def tenant(make_emulator) -> RunningEmulator:  # type: ignore[no-untyped-def]
    running = make_emulator(api_keys={"readkey": {"CHANNEL_READ"}})
    running.emu.seed_channels(SEED)
    return running


def run(tenant: RunningEmulator, path: Path, *args: str) -> Result:
    return run_cli(["import", str(path), "--url", tenant.url, *args], {"OMNIDESK_API_KEY": "readkey"})


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "channels.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


PLAIN = "version: 1\nchannels:\n  - name: SMS gateway   # ours\n    icon: sms\n"


@pytest.mark.parametrize(
    "name, message",
    [
        (
            "Marketplce inbox",
            "no custom channel 'Marketplce inbox' to import on the tenant (importable: "
            "'Marketplace inbox'). Did you mean 'Marketplace inbox'?",
        ),
        ("SMS gateway", "'SMS gateway' is already in the file (line 3): pass --update to take its changes back"),
        ("Email", "'Email' is a built-in channel (type email): only custom channels can be managed"),
    ],
)
def test_a_name_that_cannot_be_imported_is_refused(
    tenant: RunningEmulator, tmp_path: Path, name: str, message: str
) -> None:
    path = write(tmp_path, PLAIN)
    result = run(tenant, path, "--name", name)
    assert result.exit_code == 1
    assert result.stderr == f"Error: {path}: {message}; nothing was written\n"
    assert path.read_text(encoding="utf-8") == PLAIN


def test_only_the_named_channel_is_imported(tenant: RunningEmulator, tmp_path: Path) -> None:
    tenant.emu.seed_channels([{"name": "Third"}])
    path = write(tmp_path, PLAIN)
    result = run(tenant, path, "--name", "Third")
    assert result.exit_code == 0, result.output
    assert (
        path.read_text(encoding="utf-8") == PLAIN + "  - name: Third\n    custom_channel_secret: ${env:THIRD_SECRET}\n"
    )


def test_crlf_bom_empty_flow_list_and_no_final_newline(tenant: RunningEmulator, tmp_path: Path) -> None:
    before = "\ufeff# ours\r\nversion: 1\r\nchannels: []   # none yet\r\nprune: false".encode()
    path = write(tmp_path, before)
    result = run(tenant, path)
    assert result.exit_code == 0, result.output
    assert (
        path.read_bytes()
        == (
            "\ufeff# ours\r\nversion: 1\r\nchannels:   # none yet\r\n"
            "  - name: Marketplace inbox\r\n    icon: shop\r\n"
            "    custom_channel_secret: ${env:MARKETPLACE_INBOX_SECRET}\r\n"
            "  - name: SMS gateway\r\n    icon: sms\r\n    custom_channel_endpoint: https://sms.example.com/v2\r\n"
            "    custom_channel_secret: ${env:SMS_GATEWAY_SECRET}\r\n"
            "prune: false"
        ).encode()
    )
    plan = run_cli(["plan", str(path), "--url", tenant.url, "--detailed-exitcode"], {"OMNIDESK_API_KEY": "readkey"})
    assert plan.exit_code == 0, plan.output


def test_update_keeps_quotes_and_inserts_what_the_file_left_out(tenant: RunningEmulator, tmp_path: Path) -> None:
    tenant.emu.seed_channels([{"name": "Notes", "custom_channel_warning_en": "Open at night", "icon": "note"}])
    path = write(
        tmp_path,
        "version: 1\nchannels:\n  - name: SMS gateway\n    icon: sms\n"
        "    custom_channel_endpoint: 'https://sms.example.com/v1'   # v2 soon\n"
        "  - name: Notes\n    custom_channel_warning_en: Closed at night\n",
    )
    result = run(tenant, path, "--update", "--name", "SMS gateway", "--name", "Notes")
    assert result.exit_code == 0, result.output
    assert path.read_text(encoding="utf-8") == (
        "version: 1\nchannels:\n  - name: SMS gateway\n    icon: sms\n"
        "    custom_channel_endpoint: 'https://sms.example.com/v2'   # v2 soon\n"
        "  - name: Notes\n    icon: note\n    custom_channel_warning_en: Open at night\n"
    )


def test_fields_the_file_left_out_are_added_in_the_contracts_order(tenant: RunningEmulator, tmp_path: Path) -> None:
    tenant.emu.seed_channels(
        [
            {
                "name": "Notes",
                "icon": "note",
                "custom_channel_endpoint": "https://n.example.com",
                "custom_channel_warning_en": "on",
                "custom_channel_warning_nl": "It's 1e3",
                "include_signature": True,
            }
        ]
    )
    path = write(
        tmp_path,
        "version: 1\nchannels:\n  - {name: Notes}   # flow\n  - name: SMS gateway\n"
        "    custom_channel_endpoint: https://sms.example.com/v2\n",
    )
    result = run(tenant, path, "--update", "--name", "Notes", "--name", "SMS gateway")
    assert result.exit_code == 0, result.output
    assert path.read_text(encoding="utf-8") == (
        "version: 1\nchannels:\n  - {name: Notes, icon: note, custom_channel_endpoint: 'https://n.example.com', "
        "custom_channel_warning_en: 'on', custom_channel_warning_nl: It's 1e3, include_signature: true}   # flow\n"
        "  - name: SMS gateway\n    icon: sms\n    custom_channel_endpoint: https://sms.example.com/v2\n"
    )


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "version: 1\nchannels:\n  - name: Marketplace inbox\n    icon: &ic shop\n"
            "  - name: SMS gateway\n    icon: *ic\n",
            ":6: `icon` is written as an anchor, alias or collection here, which other places may share: write it "
            "as a plain value and import again",
        ),
        (
            "version: 1\nchannels:\n  - &base\n    name: SMS gateway\n    icon: chat\n",
            ":3: this entry is a YAML anchor (&base) that other entries may merge: write `icon` in by hand",
        ),
        (
            "version: 1\nchannels: [{name: SMS gateway, icon: sms}]\n",
            ":2: `channels:` is written as a flow list [...]: write it as a block list (one `- name: ...` per "
            "channel) to import into it",
        ),
    ],
)
def test_what_cannot_be_edited_in_place_is_refused(
    tenant: RunningEmulator, tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    result = run(tenant, path, "--update")
    assert result.exit_code == 1, result.output
    assert message + "; nothing was written" in result.stderr
    assert path.read_text(encoding="utf-8") == text


def test_a_file_with_tenants_needs_one(tenant: RunningEmulator, tmp_path: Path) -> None:
    text = f"version: 1\ntenants:\n  prod: {{url: '{tenant.url}'}}\nchannels: []\n"
    path = write(tmp_path, text)
    result = run(tenant, path)
    assert result.exit_code == 1
    # the rule of every command that talks to a tenant (issue 11), before the tenant is read
    assert "the file defines tenants (prod): choose one with --tenant NAME. --url alone is refused" in result.stderr
    assert path.read_text(encoding="utf-8") == text


def test_update_leaves_pending_renames_and_missing_channels_alone(tenant: RunningEmulator, tmp_path: Path) -> None:
    text = (
        "version: 1\nchannels:\n  - name: Shop inbox\n    previous_names: [Marketplace inbox]\n"
        "  - name: SMS gateway\n    icon: sms\n    custom_channel_endpoint: https://sms.example.com/v2\n"
        "  - name: Not there yet\n"
    )
    path = write(tmp_path, text)
    result = run(tenant, path, "--update")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:2] == [
        "  note: 'Shop inbox': the rename from 'Marketplace inbox' is still to be applied; not taken back",
        "  note: 'Not there yet' is not on the tenant (apply would create it); left in the file",
    ]
    assert path.read_text(encoding="utf-8") == text


def test_a_symlinked_file_is_written_through_the_link(tenant: RunningEmulator, tmp_path: Path) -> None:
    real = tmp_path / "config" / "channels.yaml"
    real.parent.mkdir()
    real.write_text(PLAIN, encoding="utf-8")
    link = tmp_path / "channels.yaml"
    link.symlink_to(real)
    result = run(tenant, link, "--name", "Marketplace inbox")
    assert result.exit_code == 0, result.output
    assert link.is_symlink()
    assert real.read_text(encoding="utf-8").startswith(PLAIN + "  - name: Marketplace inbox\n")


def test_update_leaves_a_value_from_the_environment_alone(tenant: RunningEmulator, tmp_path: Path) -> None:
    text = "version: 1\nchannels:\n  - name: SMS gateway\n    icon: chat\n    custom_channel_endpoint: ${env:SMS_URL}\n"
    path = write(tmp_path, text)
    result = run_cli(
        ["import", str(path), "--url", tenant.url, "--update", "--name", "SMS gateway"],
        {"OMNIDESK_API_KEY": "readkey", "SMS_URL": "https://sms.example.com/v1"},
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:2] == [
        "~ updated 'SMS gateway': icon 'chat' -> 'sms'",
        "  note: 'SMS gateway': custom_channel_endpoint comes from '${env:SMS_URL}', which differs from the "
        "tenant ('https://sms.example.com/v2'); not taken back: change the variable or the file",
    ]
    assert path.read_text(encoding="utf-8") == text.replace("icon: chat", "icon: sms")


@pytest.mark.parametrize(
    "head, dash, key",
    [
        (
            "channels:\n- name: SMS gateway\n  icon: sms\n  custom_channel_endpoint: https://sms.example.com/v2\n",
            "- ",
            "  ",
        ),
        (
            "channels:\n    -   name: SMS gateway\n        icon: sms\n"
            "        custom_channel_endpoint: https://sms.example.com/v2\n",
            "    -   ",
            "        ",
        ),
    ],
)
def test_new_channels_follow_the_lists_own_indentation(
    tenant: RunningEmulator, tmp_path: Path, head: str, dash: str, key: str
) -> None:
    path = write(tmp_path, "version: 1\n" + head)
    result = run(tenant, path)
    assert result.exit_code == 0, result.output
    assert path.read_text(encoding="utf-8") == (
        "version: 1\n" + head + f"{dash}name: Marketplace inbox\n{key}icon: shop\n"
        f"{key}custom_channel_secret: ${{env:MARKETPLACE_INBOX_SECRET}}\n"
    )

"""``init`` and ``schema`` put editor support into any repository; an editor's YAML server proves it.

yaml-language-server (what VS Code's YAML extension, Neovim and Helix run) is driven over LSP on
the files ``init`` and ``export`` write: the schema loads from the modeline, a bad endpoint is
flagged naming the pattern, completion offers the fields.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.model import FIELDS
from reconciler.schema import schema_path
from tests.clihelp import run_cli
from tests.eco_tools import LanguageServer

# No schema association but the file's own modeline, as in a fresh editor.
EDITOR_SETTINGS = {"yaml": {"validate": True, "completion": True, "hover": True, "schemaStore": {"enable": False}}}


def test_init_writes_a_valid_commented_file_and_the_schema_beside_it(tmp_path: Path) -> None:
    folder = tmp_path / "deploy" / "omnidesk"
    result = run_cli(["init", str(folder)])
    assert result.exit_code == 0, result.output
    text = (folder / "channels.yaml").read_text(encoding="utf-8")
    assert text.splitlines()[0] == "# yaml-language-server: $schema=./channels.schema.json"
    assert "${env:SMS_BRIDGE_SECRET}" in text and text.count("\n#") >= 5
    assert (folder / "channels.schema.json").read_bytes() == schema_path().read_bytes()
    checked = run_cli(["validate", str(folder / "channels.yaml")])
    assert checked.exit_code == 0, checked.output
    assert checked.stdout == f"{folder / 'channels.yaml'}: valid (1 channel)\n"


def test_init_refuses_to_overwrite_and_writes_nothing_then_force_replaces(tmp_path: Path) -> None:
    (tmp_path / "channels.yaml").write_text("version: 1\nchannels: []\n", encoding="utf-8")
    result = run_cli(["init", str(tmp_path)])
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {tmp_path / 'channels.yaml'} already exists: nothing was written (pass --force to replace)\n"
    )
    assert (tmp_path / "channels.yaml").read_text(encoding="utf-8") == "version: 1\nchannels: []\n"
    assert not (tmp_path / "channels.schema.json").exists()
    forced = run_cli(["init", str(tmp_path), "--force"])
    assert forced.exit_code == 0, forced.output
    assert "SMS gateway" in (tmp_path / "channels.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "name"),
    [([], "channels.schema.json"), (["channels"], "channels.schema.json"), (["plan"], "plan.schema.json")],
)
def test_schema_prints_the_shipped_schema(args: list[str], name: str) -> None:
    result = run_cli(["schema", *args])
    assert result.exit_code == 0, result.output
    assert result.stdout == schema_path(name).read_text(encoding="utf-8")
    json.loads(result.stdout)


def test_schema_refuses_an_unknown_kind() -> None:
    result = run_cli(["schema", "tenant"])
    assert result.exit_code == 1
    assert "'tenant' is not one of 'channels', 'plan'" in result.stderr


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines()) if needle in line)


def test_an_editor_checks_and_completes_the_file_init_wrote(tmp_path: Path) -> None:
    run_cli(["init", str(tmp_path)])
    path = tmp_path / "channels.yaml"
    text = path.read_text(encoding="utf-8")
    server = LanguageServer(EDITOR_SETTINGS)
    try:
        server.start(tmp_path)
        assert server.diagnostics(path, text) == []  # the schema loaded: an unloadable one is a diagnostic

        bad = text.replace("https://bridge.example.com/omnidesk/sms", "https://bridge.example.com/omni_desk")
        bad = bad.replace("icon: phone", "icon: phone book")
        flagged = server.diagnostics(path, bad, version=2)
        endpoint_line = _line_of(bad, "custom_channel_endpoint:")
        pattern = FIELDS["custom_channel_endpoint"].schema_pattern
        assert {(d["range"]["start"]["line"], d["message"]) for d in flagged} == {
            (endpoint_line, f'String does not match the pattern of "{pattern}".'),
            (endpoint_line - 2, f'String does not match the pattern of "{FIELDS["icon"].schema_pattern}".'),
        }

        # a new key under the channel: the fields the file does not use yet are offered
        lines = text.splitlines()
        at = _line_of(text, "include_signature:")
        lines.insert(at, "    ")
        server.diagnostics(path, "\n".join(lines) + "\n", version=3)
        offered = {item["label"] for item in server.completion(path, at, 4)}
        assert {"custom_channel_available_in_quick_ticket", "previous_names", "tenants"} <= offered
        assert "name" not in offered  # already there
    finally:
        server.close()


def test_an_editor_checks_an_exported_file_beside_the_schema(emulator, tmp_path: Path) -> None:
    emulator.emu.seed_channels([{"name": "Instagram DM", "icon": "instagram"}])
    env = {"OMNIDESK_URL": emulator.url, "OMNIDESK_API_KEY": emulator.key}
    assert run_cli(["export", "--out", str(tmp_path / "channels.yaml")], env).exit_code == 0
    schema = run_cli(["schema"]).stdout
    (tmp_path / "channels.schema.json").write_text(schema, encoding="utf-8")
    path = tmp_path / "channels.yaml"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# yaml-language-server: $schema=./channels.schema.json\n")
    server = LanguageServer(EDITOR_SETTINGS)
    try:
        server.start(tmp_path)
        assert server.diagnostics(path, text) == []
        flagged = server.diagnostics(path, text.replace("icon: instagram", "icon: insta gram"), version=2)
        assert [d["message"] for d in flagged] == [
            f'String does not match the pattern of "{FIELDS["icon"].schema_pattern}".'
        ]
    finally:
        server.close()


def test_init_into_a_folder_that_cannot_be_made_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("x", encoding="utf-8")
    result = run_cli(["init", str(tmp_path / "a-file" / "deploy")])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: cannot write {tmp_path / 'a-file' / 'deploy'}: Not a directory")
    assert "Traceback" not in result.output


def test_the_starter_file_applies_as_written_and_then_plans_no_changes(tmp_path: Path, monkeypatch) -> None:
    """No variable to export first: the starter's secret is an example in a comment."""
    monkeypatch.delenv("SMS_BRIDGE_SECRET", raising=False)
    run_cli(["init", str(tmp_path)])
    path, state = str(tmp_path / "channels.yaml"), str(tmp_path / "emulator.json")
    applied = run_cli(["apply", path, "--emulator-state", state, "--yes"])
    assert applied.exit_code == 0, applied.output
    assert "Apply: 1 created" in applied.stderr and "Warning" not in applied.stderr
    again = run_cli(["plan", path, "--emulator-state", state, "--detailed-exitcode"])
    assert (again.exit_code, again.stdout) == (0, "No changes. The tenant matches the channels file.\n")

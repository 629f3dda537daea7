"""``validate --format github|json``, ``--strict``, and the literal-secret warning in validate, plan, apply."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.clihelp import run_cli

CANARY = "canary-Lit3ral-s3cret"
LITERAL = f"""\
version: 1
channels:
  - name: SMS gateway
    custom_channel_secret: {CANARY}
    include_signature: true
  - name: Instagram DM
    custom_channel_secret: ${{env:INSTAGRAM_SECRET}}
    include_signature: true
"""
WARNING = (
    "channels[0].custom_channel_secret: the secret is written in the file, where everyone who can read "
    "the repository sees it: write ${env:NAME} and keep the value in the environment (a CI secret)"
)


def write(tmp_path: Path, text: str, name: str = "channels.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_a_literal_secret_is_a_warning_and_strict_makes_it_an_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, LITERAL)
    result = run_cli(["validate", "channels.yaml"])
    assert (result.exit_code, result.stdout) == (0, "channels.yaml: valid (2 channels)\n")
    assert result.stderr == f"Warning: channels.yaml:4:28: {WARNING}\n"
    strict = run_cli(["validate", "channels.yaml", "--strict"])
    assert (strict.exit_code, strict.stdout) == (1, "")
    assert strict.stderr == f"Error: 1 problem in the channels file:\n  channels.yaml:4:28: {WARNING}\n"
    for output in (result.output, strict.output):
        assert CANARY not in output


@pytest.mark.parametrize(
    ("secret", "warned"),
    [
        ("${env:S}", False),
        ("prefix-${env:S}", False),
        ('""', False),
        ("${var:secret}", True),
        ("'12345'", True),
    ],
)
def test_which_secrets_count_as_written_in_the_file(tmp_path: Path, secret: str, warned: bool) -> None:
    path = write(
        tmp_path,
        "version: 1\ntenants:\n  prod:\n    url: https://acme.omnidesk.com\n"
        "    vars: {secret: in-the-file}\n"
        f"channels:\n  - name: A\n    custom_channel_secret: {secret}\n",
    )
    result = run_cli(["validate", path, "--tenant", "prod", "--strict"], {"S": "x"})
    assert result.exit_code == (1 if warned else 0), result.output
    assert ("the secret is written in the file" in result.stderr) is warned


def test_github_format_puts_errors_and_warnings_on_their_lines(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, LITERAL + "  - name: Web, form\n    custom_channel_endpoint: https://x.com/a_b%20\n", "a,b.yaml")
    result = run_cli(["validate", "a,b.yaml", "--format", "github"])
    assert result.exit_code == 1
    assert result.stdout == (
        "::error file=a%2Cb.yaml,line=9,col=11::channels[2].name: 'Web, form' does not match "
        "^[a-zA-Z0-9 .\\-_]+$: ',' is not allowed\n"
        "::error file=a%2Cb.yaml,line=10,col=30::channels[2].custom_channel_endpoint: 'https://x.com/a_b%2520' "
        "does not match ^[a-zA-Z0-9.:/\\-?&=]+$: '_' is not allowed, '%25' is not allowed\n"
        f"::warning file=a%2Cb.yaml,line=4,col=28::{WARNING}\n"
    )
    assert result.stderr.startswith("Error: 2 problems in the channels file:\n")
    assert CANARY not in result.output


def test_github_format_escapes_line_breaks_and_passes_a_valid_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "version: 1\nchannels:\n  - name: A\n    icon: [1,\n")
    broken = run_cli(["validate", "channels.yaml", "--format", "github"])
    assert broken.exit_code == 1
    assert broken.stdout.startswith("::error file=channels.yaml,line=")
    assert broken.stdout.count("\n") == 1 and "%0A" not in broken.stdout.split("::", 2)[1]
    write(tmp_path, "version: 1\nchannels:\n  - name: A\n")
    clean = run_cli(["validate", "channels.yaml", "--format", "github"])
    assert (clean.exit_code, clean.stdout, clean.stderr) == (0, "channels.yaml: valid (1 channel)\n", "")


def test_json_format_gives_problems_as_data(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, LITERAL + "  - name: C\n    icon: a b\n")
    result = run_cli(["validate", "channels.yaml", "--format", "json"])
    assert result.exit_code == 1 and result.stderr == ""
    report = json.loads(result.stdout)
    assert report["files"] == ["channels.yaml"] and report["valid"] is False
    assert report["errors"] == [
        {
            "file": "channels.yaml",
            "line": 10,
            "column": 11,
            "path": "channels[2].icon",
            "message": "'a b' does not match ^[a-zA-Z0-9\\-_]+$: a space is not allowed",
        }
    ]
    assert [w["path"] for w in report["warnings"]] == ["channels[0].custom_channel_secret"]
    strict = json.loads(run_cli(["validate", "channels.yaml", "--format", "json", "--strict"]).stdout)
    assert [e["path"] for e in strict["errors"]] == ["channels[0].custom_channel_secret", "channels[2].icon"]
    assert strict["warnings"] == []
    write(tmp_path, "version: 1\nchannels: []\n")
    ok = run_cli(["validate", "channels.yaml", "--format", "json"])
    assert ok.exit_code == 0 and json.loads(ok.stdout) == {
        "files": ["channels.yaml"],
        "valid": True,
        "errors": [],
        "warnings": [],
        "findings": [],
    }
    assert CANARY not in result.output


def test_plan_and_apply_warn_about_a_literal_secret(emulator, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, LITERAL)
    env = {"OMNIDESK_URL": emulator.url, "OMNIDESK_API_KEY": emulator.key, "INSTAGRAM_SECRET": "ig"}
    warning = f"Warning: channels.yaml:4:28: {WARNING}\n"
    plan = run_cli(["plan", "channels.yaml", "--format", "json"], env)
    assert plan.exit_code == 0, plan.output
    assert plan.stderr.count(warning) == 1
    applied = run_cli(["apply", "channels.yaml", "--yes"], env)
    assert applied.exit_code == 0, applied.output
    assert applied.stderr.count(warning) == 1
    listed = emulator.emu.handle("GET", "/api/v2/channel", {}, {"apiKey": emulator.key}, b"")[2]
    assert {c["name"] for c in json.loads(listed)["items"] if c["type"] == "custom"} == {"SMS gateway", "Instagram DM"}
    for output in (plan.output, applied.output):
        assert CANARY not in output


def test_several_files_are_each_checked_in_one_run(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "version: 1\nchannels:\n  - name: A\n", "channels.yaml")
    write(tmp_path, LITERAL, "channels-literal.yaml")
    write(tmp_path, "version: 1\nchannels:\n  - name: B\n    icon: a b\n", "channels-bad.yaml")
    files = ["channels.yaml", "channels-literal.yaml", "channels-bad.yaml"]
    result = run_cli(["validate", *files])
    assert result.exit_code == 1
    assert result.stdout == "channels.yaml: valid (1 channel)\nchannels-literal.yaml: valid (2 channels)\n"
    assert result.stderr == (
        f"Warning: channels-literal.yaml:4:28: {WARNING}\n"
        "Error: 1 problem in the channels file:\n"
        "  channels-bad.yaml:4:11: channels[0].icon: 'a b' does not match ^[a-zA-Z0-9\\-_]+$: a space is not allowed\n"
    )
    strict = run_cli(["validate", "--strict", "--format", "json", *files])
    report = json.loads(strict.stdout)
    assert strict.exit_code == 1 and report["files"] == files and report["warnings"] == []
    assert [(e["file"], e["path"]) for e in report["errors"]] == [
        ("channels-literal.yaml", "channels[0].custom_channel_secret"),
        ("channels-bad.yaml", "channels[0].icon"),
    ]
    assert run_cli(["validate", "--strict", "channels.yaml", "channels.yaml"]).exit_code == 0

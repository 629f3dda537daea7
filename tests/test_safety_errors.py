"""Issue 11: no traceback, ever, and messages that say where to fix it (through the CLI, exact texts)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from clihelp import run_cli, run_cli_subprocess

from reconciler.workflow import Workflow

SECRET = "s3cr3t-canary-value"

CHANNELS = """\
version: 1
channels:
  - name: SMS gateway
    custom_channel_endpoint: https://sms.example.com/hook
    custom_channel_secret: ${env:SMS_GATEWAY_SECRET}
"""

TENANTS = """\
version: 1
tenants:
  staging: {url: "URL", api_key_env: STAGING_KEY}
  production: {url: "URL", api_key_env: PRODUCTION_KEY}
channels:
  - name: SMS gateway
"""


@pytest.fixture
def env(emulator):
    return {"OMNIDESK_URL": emulator.url, "OMNIDESK_API_KEY": emulator.key, "SMS_GATEWAY_SECRET": SECRET}


def write(tmp_path: Path, text: str, name: str = "channels.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def reads(emu) -> int:
    return emu.stats["list"] + emu.stats["get"]


def writes(emu) -> int:
    return sum(emu.stats[k] for k in ("create", "update", "delete"))


# -- an internal error is one line, never its text -----------------------------------------------


def test_an_unexpected_exception_is_one_line_without_its_text(tmp_path, emulator, env, monkeypatch):
    def broken(self, *args, **kwargs):
        raise RuntimeError(f"a bug whose text holds {SECRET}")

    monkeypatch.setattr(Workflow, "plan", broken)
    path = write(tmp_path, CHANNELS)
    result = run_cli(["plan", str(path)], env)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == ("internal error, please report: RuntimeError; rerun with --debug for the traceback\n")

    for args in (["--debug", "plan", str(path)], ["plan", str(path), "--debug"]):
        debug = run_cli(args, env)
        assert debug.exit_code == 1
        assert "Traceback (most recent call last)" in debug.stderr and "RuntimeError" in debug.stderr
        assert debug.stderr.endswith(
            "internal error, please report: RuntimeError; rerun with --debug for the traceback\n"
        )


def test_debug_is_in_the_top_level_help():
    result = run_cli(["--help"])
    assert result.exit_code == 0 and "--debug" in result.stdout


# -- outputs are checked before any work ---------------------------------------------------------


def test_out_into_a_missing_folder_is_refused_before_the_tenant_is_read(tmp_path, emulator, env):
    path = write(tmp_path, CHANNELS)
    result = run_cli(["plan", str(path), "--out", str(tmp_path / "nodir" / "plan.json")], env)
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == f"Error: the folder {tmp_path}/nodir does not exist: create it or choose another --out\n"
    assert reads(emulator.emu) == 0


def test_clone_checks_both_outputs_before_it_exports_anything(tmp_path, make_emulator):
    staging, production = make_emulator(), make_emulator()
    staging.emu.seed_channels([{"name": "SMS gateway"}])
    path = write(
        tmp_path,
        TENANTS.replace('"URL", api_key_env: STAGING', f'"{staging.url}", api_key_env: STAGING').replace(
            '"URL", api_key_env: PRODUCTION', f'"{production.url}", api_key_env: PRODUCTION'
        ),
    )
    keys = {"STAGING_KEY": "demo", "PRODUCTION_KEY": "demo"}
    for option in ("--export-out", "--out"):
        result = run_cli(
            ["clone", str(path), "--from", "staging", "--to", "production", option, str(tmp_path / "missing" / "x")],
            keys,
        )
        assert result.exit_code == 1, result.output
        assert "Exported" not in result.output and result.stdout == ""
        assert result.stderr == (
            f"Error: the folder {tmp_path}/missing does not exist: create it or choose another {option}\n"
        )
    same = run_cli(
        [
            "clone",
            str(path),
            "--from",
            "staging",
            "--to",
            "production",
            "--out",
            str(tmp_path / "x.json"),
            "--export-out",
            str(tmp_path / "x.json"),
        ],
        keys,
    )
    assert same.exit_code == 1 and "--out and --export-out name the same file" in same.stderr
    assert reads(staging.emu) == reads(production.emu) == 0


# -- files in the wrong place ----------------------------------------------------------------------


def test_a_saved_plan_given_to_plan_says_what_it_is(tmp_path, emulator, env):
    path = write(tmp_path, CHANNELS)
    saved = tmp_path / "plan.json"
    assert run_cli(["plan", str(path), "--out", str(saved)], env).exit_code == 0
    emulator.emu.reset_stats()
    for command in (["plan"], ["validate"], ["export"], ["import"]):
        result = run_cli([*command, str(saved)], env)
        assert result.exit_code == 1, command
        assert result.stderr == (
            f"Error: {saved} is a saved plan from 'plan --out', not a channels file: apply it with "
            f"'omnidesk-channels apply {saved}', or give the channels file it was planned from\n"
        ), command
    assert reads(emulator.emu) == 0


def test_a_json_plan_given_to_apply_says_to_use_plan_out(tmp_path, emulator, env):
    path = write(tmp_path, CHANNELS)
    printed = run_cli(["plan", str(path), "--format", "json"], env)
    json_plan = tmp_path / "plan-printed.json"
    json_plan.write_text(printed.stdout, encoding="utf-8")
    result = run_cli(["apply", str(json_plan), "--yes"], env)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {json_plan} is a plan printed by 'plan --format json': that output is for reading, not for "
        "applying. Save a plan to apply with 'omnidesk-channels plan FILE --out plan.json', then run "
        "'omnidesk-channels apply plan.json'\n"
    )
    assert writes(emulator.emu) == 0


def test_two_files_where_one_goes_are_named_with_their_kinds(tmp_path, emulator, env):
    path = write(tmp_path, CHANNELS)
    saved = tmp_path / "plan.json"
    assert run_cli(["plan", str(path), "--out", str(saved)], env).exit_code == 0
    result = run_cli(["apply", str(saved), str(path)], env)
    assert result.exit_code == 1
    assert (
        f"Error: 'omnidesk-channels apply' takes one file, but got 2: {saved} (a saved plan from 'plan --out'), "
        f"{path} (a channels file). Give only the one this command is for (see --help)"
    ) in result.stderr
    assert writes(emulator.emu) == 0


def test_two_files_that_are_neither_yaml_nor_ours_are_not_called_channels_files(tmp_path):
    notes, other = tmp_path / "notes.txt", tmp_path / "c.yml"
    notes.write_text("hello\n")
    other.write_text("version: 1\n")
    result = run_cli(["plan", str(notes), str(other), "--emulator"])
    assert result.exit_code == 1
    assert f"got 2: {notes} (not a plan or an export), {other} (a channels file). " in result.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["plan"],
        ["apply"],
        ["validate"],
        ["export"],
        ["import"],
        ["tenants"],
        ["clone", "--from", "a", "--to", "b"],
    ],
)
def test_a_missing_file_reads_the_same_in_every_command(tmp_path, command, monkeypatch):
    write(tmp_path, CHANNELS)
    monkeypatch.chdir(tmp_path)
    result = run_cli([command[0], "channels.yml", *command[1:]])
    assert result.exit_code == 1
    assert result.stderr == "Error: channels.yml: no such file; did you mean channels.yaml?\n"


@pytest.mark.parametrize(
    "typed, present, hint",
    [
        ("channels.yaml", ["a.yaml", "tab.yaml"], None),  # every .yaml looked alike to difflib
        ("data.yaml", ["tab.yaml"], None),
        ("channel.yaml", ["channels.yaml", "tab.yaml"], "channels.yaml"),
        ("Channels.yml", ["channels.yaml"], "channels.yaml"),
        ("staging.yaml", ["stagign.yaml", "channels.yaml"], "stagign.yaml"),
    ],
)
def test_a_missing_file_suggests_only_a_close_name(tmp_path, monkeypatch, typed, present, hint):
    for name in present:
        write(tmp_path, CHANNELS, name)
    monkeypatch.chdir(tmp_path)
    result = run_cli(["plan", typed, "--emulator"])
    assert result.exit_code == 1
    expected = f"; did you mean {hint}?" if hint else ""
    assert result.stderr == f"Error: {typed}: no such file{expected}\n"


def test_a_missing_file_of_message_send_reads_the_same(tmp_path, monkeypatch):
    write(tmp_path, CHANNELS)
    monkeypatch.chdir(tmp_path)
    result = run_cli(["message", "send", "--file", "channels.yml", "--channel", "x", "--message", "y"])
    assert result.exit_code == 1
    assert result.stderr == "Error: channels.yml: no such file; did you mean channels.yaml?\n"


@pytest.mark.parametrize(
    "command",
    [
        ["plan", "{path}", "--tenant", "prod"],
        ["apply", "{path}", "--tenant", "prod", "--yes"],
        ["validate", "{path}", "--tenant", "prod"],
        ["export", "{path}", "--tenant", "prod"],
        ["import", "{path}", "--tenant", "prod"],
        ["clone", "{path}", "--from", "staging", "--to", "prod"],
        ["message", "send", "--file", "{path}", "--tenant", "prod", "--channel", "x", "--message", "y"],
    ],
)
def test_an_unknown_tenant_reads_the_same_in_every_command(tmp_path, command):
    path = write(tmp_path, TENANTS.replace("URL", "https://acme.omnidesk.com"))
    result = run_cli([part.format(path=path) for part in command], {"STAGING_KEY": "key-1", "PRODUCTION_KEY": "key-1"})
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: unknown tenant 'prod' (known tenants: staging, production; did you mean 'production'?)\n"
    )


# -- the target ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "where, args, env_url",
    [
        ("--url", ["--url", "{url}"], None),
        ("OMNIDESK_URL", [], "{url}/"),
    ],
)
def test_a_url_without_a_scheme_is_caught_before_any_call(tmp_path, emulator, where, args, env_url):
    path = write(tmp_path, CHANNELS)
    bare = emulator.url.removeprefix("http://")  # the emulator's own address, without its scheme
    env = {"OMNIDESK_API_KEY": "key-1", **({"OMNIDESK_URL": env_url.format(url=bare)} if env_url else {})}
    result = run_cli(["plan", str(path), *[a.format(url=bare) for a in args]], env)
    assert result.exit_code == 1
    assert result.stderr == f"Error: {where} must start with https:// (e.g. https://acme.omnidesk.com)\n"
    assert reads(emulator.emu) == 0


def test_a_refused_key_names_the_variable_it_came_from(tmp_path, make_emulator):
    tenant = make_emulator(api_keys={"right": {"CHANNEL_READ"}})
    plain = write(tmp_path, CHANNELS)
    result = run_cli(["plan", str(plain)], {"OMNIDESK_URL": tenant.url, "OMNIDESK_API_KEY": "wrong-key-123"})
    assert result.exit_code == 1 and "wrong-key-123" not in result.output
    assert (
        f"the API key was refused (the server said: unknown API key); the key comes from OMNIDESK_API_KEY: "
        f"check that it holds a valid API key for {tenant.url}"
    ) in result.stderr

    tenants = write(tmp_path, TENANTS.replace("URL", tenant.url), "tenants.yaml")
    named = run_cli(["export", str(tenants), "--tenant", "production"], {"PRODUCTION_KEY": "wrong-key-123"})
    assert named.exit_code == 1 and "wrong-key-123" not in named.output
    assert (
        "the key comes from PRODUCTION_KEY, the variable tenant production's api_key_env names: "
        f"check that it holds a valid API key for {tenant.url}"
    ) in named.stderr


def test_a_damaged_emulator_state_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, CHANNELS)
    (tmp_path / "state.json").write_text("{not json", encoding="utf-8")
    result = run_cli(["plan", str(path), "--emulator-state", "state.json"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.startswith("Error: state.json: unreadable emulator state: ")
    assert result.stderr.endswith(
        ". Unless another emulator is using it: it holds test data only, so delete state.json and "
        "state.json.journal to start afresh, or pass --emulator-state with another path\n"
    )


# -- --emulator is a flag --------------------------------------------------------------------------


def test_emulator_is_a_flag_before_or_after_the_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, CHANNELS)
    env = {"SMS_GATEWAY_SECRET": SECRET}
    before = run_cli(["plan", "--emulator", str(path)], env)
    assert before.exit_code == 0, before.output
    assert "Plan: 1 to create, 0 to update, 0 to delete. Target: emulator (.omnidesk-emulator.json)" in before.stdout
    applied = run_cli(["apply", "--emulator", "--yes", str(path)], env)
    assert applied.exit_code == 0, applied.output
    assert (tmp_path / ".omnidesk-emulator.json").exists()
    elsewhere = run_cli(["plan", str(path), "--emulator-state", "other.json"], env)
    assert "Target: emulator (other.json)" in elsewhere.stdout and (tmp_path / "other.json").exists()
    assert "No changes" in run_cli(["plan", str(path), "--emulator"], env).stdout


def test_the_quickstart_runs_as_the_readme_says(tmp_path):
    """``plan --emulator FILE``, in a separate process as a user types it."""
    quickstart = Path(__file__).parent.parent / "examples" / "quickstart.yaml"
    result = run_cli_subprocess(["plan", "--emulator", str(quickstart)], cwd=str(tmp_path))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Plan: 2 to create")
    assert json.loads((tmp_path / ".omnidesk-emulator.json").read_text())["format"] == "omnidesk-emulator-state"

"""plan / apply / export end to end: the CLI as a user runs it, against the emulator over real HTTP."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest
import yaml
from clihelp import run_cli, run_on_terminal

SECRET = "s3cr3t-value-never-shown"

BASE = """\
version: 1
channels:
  - name: SMS gateway
    icon: sms
    custom_channel_endpoint: https://sms.example.com/omnidesk/api/message
    custom_channel_secret: ${env:SMS_GATEWAY_SECRET}
    include_signature: true
  - name: Instagram DM
    custom_channel_endpoint: https://ig.example.com/hook
    custom_channel_warning_en: Replies can take up to 1 hour
"""


@pytest.fixture
def env(emulator):
    return {"OMNIDESK_URL": emulator.url, "OMNIDESK_API_KEY": emulator.key, "SMS_GATEWAY_SECRET": SECRET}


def write(tmp_path: Path, text: str, name: str = "channels.yaml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def custom(emu) -> dict[str, dict]:
    return {c["name"]: c for c in emu.channels() if c["type"] == "custom"}


def writes(emu) -> int:
    return sum(emu.stats[k] for k in ("create", "update", "delete"))


def test_create_then_noop_then_update(tmp_path, emulator, env):
    path = write(tmp_path, BASE)
    plan = run_cli(["plan", path], env)
    assert plan.exit_code == 0, plan.output
    assert "Plan: 2 to create, 0 to update, 0 to delete" in plan.stdout
    assert writes(emulator.emu) == 0

    applied = run_cli(["apply", path, "--yes"], env)
    assert applied.exit_code == 0, applied.output
    assert "Apply: 2 created, 0 updated, 0 deleted (of 2 planned)." in applied.stderr
    made = custom(emulator.emu)
    assert made["SMS gateway"]["custom_channel_secret"] == SECRET
    assert made["SMS gateway"]["include_signature"] is True
    assert made["Instagram DM"]["custom_channel_warning_en"] == "Replies can take up to 1 hour"

    again = run_cli(["plan", path, "--detailed-exitcode"], env)
    assert (again.exit_code, again.stdout) == (0, "No changes. The tenant matches the channels file.\n")

    write(tmp_path, BASE.replace("icon: sms", "icon: note").replace("include_signature: true", ""))
    drift = run_cli(["plan", path, "--detailed-exitcode"], env)
    assert drift.exit_code == 2
    assert re.search(r'\n    icon +"sms" -> "note"\n', drift.stdout)
    assert re.search(r"\n    include_signature +true -> false\n", drift.stdout)
    assert run_cli(["apply", path, "--yes"], env).exit_code == 0
    after = custom(emulator.emu)["SMS gateway"]
    assert (after["icon"], after["include_signature"], after["custom_channel_secret"]) == ("note", False, SECRET)
    assert run_cli(["plan", path, "--detailed-exitcode"], env).exit_code == 0


def test_prune_off_leaves_unlisted_channels_and_prune_on_deletes_them(tmp_path, emulator, env):
    emulator.emu.seed_channels(
        [
            {"name": "Legacy bridge", "custom_channel_endpoint": "https://legacy.example.com/hook"},
            {"name": "Old SMS"},
        ]
    )
    path = write(tmp_path, BASE)
    applied = run_cli(["apply", path, "--yes"], env)
    assert applied.exit_code == 0
    assert (
        "Not managed here (2, left alone; list them in the file, or prune them with --prune or prune: true): "
        "'Legacy bridge', 'Old SMS'" in applied.stdout
    )
    assert set(custom(emulator.emu)) == {"SMS gateway", "Instagram DM", "Legacy bridge", "Old SMS"}

    plan = run_cli(["plan", path, "--prune"], env)
    assert "- delete 'Legacy bridge'" in plan.stdout and "- delete 'Old SMS'" in plan.stdout
    assert re.search(
        r"delete 'Legacy bridge' \(id \d+\)\n    custom_channel_endpoint  \"https://legacy.example.com/hook\"\n",
        plan.stdout,
    ), "a delete shows what is lost"
    assert run_cli(["apply", path, "--yes", "--prune"], env).exit_code == 0
    assert set(custom(emulator.emu)) == {"SMS gateway", "Instagram DM"}

    emulator.emu.seed_channels([{"name": "Stray"}])
    write(tmp_path, "prune: true\n" + BASE)
    assert run_cli(["apply", path, "--yes"], env).exit_code == 0
    assert "Stray" not in custom(emulator.emu)
    builtins = [c for c in emulator.emu.channels() if c["type"] != "custom"]
    assert len(builtins) == 5, "built-in channels are never deleted"


def test_delete_threshold_needs_the_exact_count(tmp_path, emulator, env):
    emulator.emu.seed_channels([{"name": f"Channel {i:02d}"} for i in range(10)])
    keep = "".join(f"  - name: Channel {i:02d}\n" for i in range(6))
    path = write(tmp_path, "version: 1\nprune: true\nchannels:\n" + keep)
    refused = run_cli(["apply", path, "--yes"], env)
    assert refused.exit_code == 1
    assert (
        "Error: the plan deletes 4 of 10 custom channels (more than 30%); nothing was changed. "
        "If that is intended, run again with --allow-deletes 4" in refused.stderr
    )
    assert writes(emulator.emu) == 0
    wrong = run_cli(["apply", path, "--yes", "--allow-deletes", "3"], env)
    assert wrong.exit_code == 1 and "pass --allow-deletes 4" in wrong.stderr
    assert writes(emulator.emu) == 0
    plan = run_cli(["plan", path], env)
    assert plan.exit_code == 0 and "Warning: apply will refuse this plan" in plan.stderr
    ok = run_cli(["apply", path, "--yes", "--allow-deletes", "4"], env)
    assert ok.exit_code == 0, ok.output
    assert len(custom(emulator.emu)) == 6


def test_saved_plan_applies_exactly_and_refuses_when_stale(tmp_path, emulator, env):
    path = write(tmp_path, BASE)
    assert run_cli(["apply", path, "--yes"], env).exit_code == 0
    emulator.emu.seed_channels([{"name": "Untouched"}])
    write(tmp_path, BASE.replace("icon: sms", "icon: note"))
    plan_file = str(tmp_path / "plan.json")
    made = run_cli(["plan", path, "--out", plan_file], env)
    assert made.exit_code == 0, made.output
    saved = Path(plan_file).read_text()
    assert SECRET not in saved and emulator.key not in json.loads(saved)["connection"].values()

    # a change to a channel the plan does not touch does not make it stale
    untouched = custom(emulator.emu)["Untouched"]["id"]
    run_cli(["plan", path], env)  # reading never writes
    import httpx

    httpx.put(f"{emulator.url}/api/v2/channel/{untouched}", headers={"apiKey": "demo"}, data={"icon": "x"})
    fresh = run_cli(["apply", plan_file], env)
    assert fresh.exit_code == 0, fresh.output
    assert custom(emulator.emu)["SMS gateway"]["icon"] == "note"

    # a touched channel changed since the plan: refused, naming the channel and the field
    write(tmp_path, BASE.replace("icon: sms", "icon: chat"))
    assert run_cli(["plan", path, "--out", plan_file], env).exit_code == 0
    sms = custom(emulator.emu)["SMS gateway"]["id"]
    httpx.put(
        f"{emulator.url}/api/v2/channel/{sms}",
        headers={"apiKey": "demo"},
        data={"custom_channel_endpoint": "https://sms.example.com/v2"},
    )
    emulator.emu.reset_stats()
    stale = run_cli(["apply", plan_file], env)
    assert stale.exit_code == 1
    assert (
        "Error: the saved plan is stale, nothing was changed; plan again:\n"
        f"  - 'SMS gateway' (id {sms}) changed since the plan: custom_channel_endpoint was "
        "'https://sms.example.com/omnidesk/api/message', now 'https://sms.example.com/v2'"
    ) in stale.stderr
    assert writes(emulator.emu) == 0


def test_saved_plan_checks_secrets_and_its_own_integrity(tmp_path, emulator, env):
    path = write(tmp_path, BASE)
    plan_file = tmp_path / "plan.json"
    assert run_cli(["plan", path, "--out", str(plan_file)], env).exit_code == 0
    other = run_cli(["apply", str(plan_file)], {**env, "SMS_GATEWAY_SECRET": "another"})
    assert other.exit_code == 1 and "differs from the value planned with" in other.stderr
    missing = run_cli(["apply", str(plan_file)], {k: v for k, v in env.items() if k != "SMS_GATEWAY_SECRET"})
    assert missing.exit_code == 1 and "${env:SMS_GATEWAY_SECRET} needed by: SMS gateway" in missing.stderr
    edited = plan_file.read_text().replace("https://ig.example.com/hook", "https://evil.example.com/hook")
    (tmp_path / "edited.json").write_text(edited)
    tampered = run_cli(["apply", str(tmp_path / "edited.json")], env)
    assert tampered.exit_code == 1 and "edited after it was made" in tampered.stderr
    elsewhere = run_cli(["apply", str(plan_file), "--url", "https://prod.example.com"], env)
    assert elsewhere.exit_code == 1 and "was planned for" in elsewhere.stderr
    assert writes(emulator.emu) == 0
    assert run_cli(["apply", str(plan_file)], env).exit_code == 0
    assert custom(emulator.emu)["SMS gateway"]["custom_channel_secret"] == SECRET


def test_secrets_are_masked_in_every_format(tmp_path, emulator, env):
    path = write(tmp_path, BASE)
    for fmt in ("text", "markdown", "json"):
        out = run_cli(["plan", path, "--format", fmt, "--verbose"], env)
        assert out.exit_code == 0
        assert SECRET not in out.output and emulator.key not in out.output.replace("demo)", "")
        if fmt != "json":
            assert "(sensitive)" in out.stdout
    data = json.loads(run_cli(["plan", path, "--format", "json"], env).stdout)
    sms = next(c for c in data["changes"] if c["name"] == "SMS gateway")
    assert sms["secret"]["action"] == "send" and sms["secret"]["env_var"] == "SMS_GATEWAY_SECRET"
    applied = run_cli(["apply", path, "--yes", "--verbose"], env)
    assert SECRET not in applied.output


def test_secret_is_never_reset_by_accident(tmp_path, emulator, env):
    path = write(tmp_path, BASE)
    assert run_cli(["apply", path, "--yes"], env).exit_code == 0
    write(tmp_path, BASE.replace("icon: sms", "icon: note"))
    unset = {k: v for k, v in env.items() if k != "SMS_GATEWAY_SECRET"}
    plan = run_cli(["plan", path], unset)
    assert plan.exit_code == 0, plan.output
    assert "(sensitive) write-only on the server: kept as it is" in plan.stdout
    assert run_cli(["apply", path, "--yes"], unset).exit_code == 0
    assert custom(emulator.emu)["SMS gateway"]["custom_channel_secret"] == SECRET

    rotate = run_cli(["apply", path, "--yes", "--rotate-secrets"], unset)
    assert rotate.exit_code == 1 and "${env:SMS_GATEWAY_SECRET} needed by: SMS gateway" in rotate.stderr
    rotated = run_cli(["apply", path, "--yes", "--rotate-secrets"], {**env, "SMS_GATEWAY_SECRET": "new-one"})
    assert rotated.exit_code == 0
    assert custom(emulator.emu)["SMS gateway"]["custom_channel_secret"] == "new-one"


def test_missing_secret_on_create_is_refused_before_any_write(tmp_path, emulator, env):
    path = write(tmp_path, BASE)
    result = run_cli(["apply", path, "--yes"], {k: v for k, v in env.items() if k != "SMS_GATEWAY_SECRET"})
    assert result.exit_code == 1
    assert (
        "Error: secrets that must be sent are not set in the environment (nothing was changed):\n"
        "  ${env:SMS_GATEWAY_SECRET} needed by: SMS gateway" in result.stderr
    )
    assert writes(emulator.emu) == 0


def test_read_only_key_plans_and_exports_but_apply_gets_a_403(tmp_path, make_emulator):
    tenant = make_emulator(api_keys={"ro-key": {"CHANNEL_READ"}, "rw-key": {"CHANNEL_READ", "CHANNEL_CUD"}})
    env = {"OMNIDESK_URL": tenant.url, "OMNIDESK_API_KEY": "ro-key", "SMS_GATEWAY_SECRET": SECRET}
    path = write(tmp_path, BASE)
    assert run_cli(["plan", path], env).exit_code == 0
    assert run_cli(["plan", path, "--out", str(tmp_path / "p.json")], env).exit_code == 0
    assert run_cli(["export"], env).exit_code == 0
    assert tenant.emu.stats["get"] == 0, "plan and export read through the list endpoint only"
    denied = run_cli(["apply", path, "--yes"], env)
    assert denied.exit_code == 1
    assert "the API key lacks the CHANNEL_CUD permission needed for POST /api/v2/channel" in denied.stderr
    assert "2 of 2 operations were refused (403)" in denied.stderr and "'ro-key'" not in denied.output


def test_bad_key_and_missing_target_are_clear(tmp_path, emulator, env):
    path = write(tmp_path, BASE)
    refused = run_cli(["plan", path], {**env, "OMNIDESK_API_KEY": "wrong-key-123"})
    assert refused.exit_code == 1 and "the API key was refused" in refused.stderr
    assert "wrong-key-123" not in refused.output
    nowhere = run_cli(["plan", path], {"SMS_GATEWAY_SECRET": SECRET})
    assert nowhere.exit_code == 1
    assert (
        "no tenant to talk to: pass --url URL, set OMNIDESK_URL, choose --tenant NAME, or use --emulator"
        in nowhere.stderr
    )
    nokey = run_cli(["plan", path, "--url", emulator.url], {})
    assert nokey.exit_code == 1 and "OMNIDESK_API_KEY is not set" in nokey.stderr


def test_apply_off_a_terminal_needs_yes(tmp_path, emulator, env):
    path = write(tmp_path, BASE)
    result = run_cli(["apply", path], env)
    assert result.exit_code == 1
    assert "not on a terminal: pass --yes to apply the plan above (nothing was changed)" in result.stderr
    assert "Plan: 2 to create" in result.stdout and writes(emulator.emu) == 0


def test_builtin_channels_are_never_touched(tmp_path, emulator, env):
    before = [c for c in emulator.emu.channels() if c["type"] != "custom"]
    path = write(tmp_path, "version: 1\nprune: true\nchannels: []\n")
    result = run_cli(["apply", path, "--yes"], env)
    assert result.exit_code == 0 and "No changes" in result.stdout
    clash = write(tmp_path, "version: 1\nchannels:\n  - name: Email\n", "clash.yaml")
    refused = run_cli(["plan", clash], env)
    assert refused.exit_code == 1 and "'Email' is the name of a built-in channel (type email)" in refused.stderr
    assert [c for c in emulator.emu.channels() if c["type"] != "custom"] == before
    assert writes(emulator.emu) == 0


def test_duplicate_names_on_the_server_are_refused(tmp_path, make_emulator):
    tenant = make_emulator(quirks=["duplicate-names"])
    ids = tenant.emu.seed_channels([{"name": "SMS gateway"}, {"name": "SMS gateway", "icon": "sms"}])
    env = {"OMNIDESK_URL": tenant.url, "OMNIDESK_API_KEY": "demo", "SMS_GATEWAY_SECRET": SECRET}
    result = run_cli(["apply", write(tmp_path, BASE), "--yes"], env)
    assert result.exit_code == 1
    assert (
        f"the tenant has 2 custom channels named 'SMS gateway' (ids {ids[0]}, {ids[1]}); "
        "rename or delete all but one in Omnidesk, then plan again"
    ) in result.stderr
    assert writes(tenant.emu) == 0


def test_export_then_apply_is_a_noop(tmp_path, emulator, env):
    path = write(tmp_path, BASE)
    assert run_cli(["apply", path, "--yes"], env).exit_code == 0
    exported = tmp_path / "exported.yaml"
    result = run_cli(["export", "--out", str(exported)], env)
    assert result.exit_code == 0, result.output
    assert (
        "secrets are not exported; set these before creating the channels elsewhere: "
        "INSTAGRAM_DM_SECRET, SMS_GATEWAY_SECRET" in result.stderr
    )
    doc = yaml.safe_load(exported.read_text())
    assert [c["name"] for c in doc["channels"]] == ["Instagram DM", "SMS gateway"]
    assert doc["channels"][1]["custom_channel_secret"] == "${env:SMS_GATEWAY_SECRET}"
    assert all("id" not in c for c in doc["channels"])
    assert SECRET not in exported.read_text()
    emulator.emu.reset_stats()
    again = run_cli(["apply", str(exported), "--yes"], {"OMNIDESK_URL": emulator.url, "OMNIDESK_API_KEY": "demo"})
    assert (again.exit_code, again.stdout) == (0, "No changes. The tenant matches the channels file.\n")
    assert writes(emulator.emu) == 0
    assert run_cli(["export"], env).stdout == exported.read_text(), "export is deterministic"


def test_embedded_emulator_is_only_used_when_asked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, BASE)
    env = {"SMS_GATEWAY_SECRET": SECRET}
    assert run_cli(["apply", path, "--emulator", "--yes"], env).exit_code == 0
    assert (tmp_path / ".omnidesk-emulator.json").exists()
    again = run_cli(["plan", path, "--emulator", "--detailed-exitcode"], env)
    assert again.exit_code == 0 and "No changes" in again.stdout
    both = run_cli(["plan", path, "--emulator", "--url", "http://x"], env)
    assert both.exit_code == 1 and "leave out --url" in both.stderr


def test_apply_on_a_terminal_asks_first(tmp_path, emulator, env):
    path = write(tmp_path, BASE)
    code, screen = run_on_terminal(["apply", path], env, b"n\n")
    assert code == 1 and "Apply 2 creates to http" in screen
    assert "Error: apply cancelled at the prompt; nothing was changed" in screen
    assert writes(emulator.emu) == 0
    code, screen = run_on_terminal(["apply", path], env, b"y\n")
    assert code == 0, screen
    assert set(custom(emulator.emu)) == {"SMS gateway", "Instagram DM"}


def test_colour_on_a_terminal_only_and_never_with_no_color(tmp_path, emulator, env):
    path = write(tmp_path, BASE)
    code, screen = run_on_terminal(["plan", path], env)
    assert code == 0 and "\x1b[32m\x1b[1m+ create 'Instagram DM'" in screen
    code, screen = run_on_terminal(["plan", path], {**env, "NO_COLOR": "1"})
    assert code == 0 and "+ create 'Instagram DM'" in screen and "\x1b[" not in screen
    assert "\x1b[" not in run_cli(["plan", path], env).stdout


def test_a_saved_plan_refuses_a_secret_written_in_the_file(tmp_path, emulator, env):
    path = write(tmp_path, BASE.replace("${env:SMS_GATEWAY_SECRET}", "literal-in-git"))
    result = run_cli(["plan", path, "--out", str(tmp_path / "plan.json")], env)
    assert result.exit_code == 1
    assert "these channels have a secret written in the file: SMS gateway" in result.stderr
    assert "literal-in-git" not in result.output and not (tmp_path / "plan.json").exists()


def test_progress_is_a_bar_on_a_terminal_and_lines_elsewhere(tmp_path, emulator, env):
    path = write(tmp_path, BASE)
    code, screen = run_on_terminal(["apply", path, "--yes"], env)
    assert code == 0, screen
    assert "Applying" in screen and "2/2" in screen and "[1/2]" not in screen
    write(tmp_path, BASE.replace("icon: sms", "icon: note"))
    piped = run_cli(["apply", path, "--yes"], env)
    assert "[1/1] update 'SMS gateway'" in piped.stderr and "Applying" not in piped.stderr

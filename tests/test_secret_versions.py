"""``secret_version: N`` (#22): raising it sends that channel's secret again on the next apply, once.

Through the CLI against the emulator over real HTTP: the plan in every format and its exit code,
the record of the versions last applied (never a secret), the first run without a record, a write
that fails or is interrupted (the rotation is planned again), a lowered version (refused with the
file's line), saved plans, --only, --all-tenants and clone. The emulator's own store says which
secret each channel holds, and an agent's reply shows the bridge gets it signed with the new one.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from bridge import Bridge, running
from clihelp import RunningEmulator, assert_plan_valid, run_cli

from reconciler.emulator.outbound import OutboundSettings
from reconciler.workflow import Workflow

OLD = {"SMS": "sms-secret-one", "IG": "ig-secret-one"}
NEW = {"SMS": "sms-secret-two", "IG": "ig-secret-two"}
FILE = """\
version: 1
channels:
  - name: SMS gateway
    custom_channel_endpoint: {endpoint}
    custom_channel_secret: ${{env:SMS_BRIDGE_SECRET}}
    include_signature: true
    secret_version: {sms}
  - name: Instagram
    custom_channel_endpoint: https://ig.example.com/hook
    custom_channel_secret: ${{env:IG_BRIDGE_SECRET}}
    secret_version: {ig}
"""
ENDPOINT = "https://sms.example.com/hook"
ALL = {"CHANNEL_READ", "CHANNEL_CUD", "MESSAGE_CREATE"}


def write(tmp_path: Path, sms: int, ig: int, endpoint: str = ENDPOINT) -> str:
    path = tmp_path / "channels.yaml"
    path.write_text(FILE.format(sms=sms, ig=ig, endpoint=endpoint))
    return str(path)


def env(emulator: RunningEmulator, tmp_path: Path, secrets: dict[str, str] = OLD, **extra: str) -> dict[str, str]:
    return {
        "OMNIDESK_URL": emulator.url,
        "OMNIDESK_API_KEY": emulator.key,
        "OMNIDESK_SECRET_VERSIONS": str(tmp_path / "versions.json"),
        "SMS_BRIDGE_SECRET": secrets["SMS"],
        "IG_BRIDGE_SECRET": secrets["IG"],
        **extra,
    }


def secrets_held(emulator: RunningEmulator) -> dict[str, str]:
    return {c["name"]: c["custom_channel_secret"] for c in emulator.emu.channels() if c["type"] == "custom"}


def record(tmp_path: Path, name: str = "versions.json") -> dict[str, int]:
    """The record as channel name -> version (one tenant)."""
    data = json.loads((tmp_path / name).read_text())
    assert data["format_version"] == 1
    (tenant,) = data["tenants"].values()
    return {entry["name"]: entry["secret_version"] for entry in tenant.values()}


def applied(path: str, environ: dict[str, str], *options: str) -> Any:
    result = run_cli(["apply", path, "--yes", *options], environ)
    assert result.exit_code == 0, result.output
    return result


def no_secret_in(*texts: str) -> None:
    for text in texts:
        for value in (*OLD.values(), *NEW.values()):
            assert value not in text


def test_raising_one_version_rotates_that_channel_once_in_every_format(make_emulator: Any, tmp_path: Path) -> None:
    with running(Bridge(secret=NEW["SMS"].encode())) as bridge:
        emulator = make_emulator(outbound=OutboundSettings(backoff_base=0.01, retries=0))
        emulator.emu.api_keys = {"demo": frozenset(ALL)}
        applied(write(tmp_path, 1, 1, bridge.url), env(emulator, tmp_path))
        assert secrets_held(emulator) == {"SMS gateway": OLD["SMS"], "Instagram": OLD["IG"]}
        assert record(tmp_path) == {"SMS gateway": 1, "Instagram": 1}
        quiet = run_cli(["plan", write(tmp_path, 1, 1, bridge.url), "--detailed-exitcode"], env(emulator, tmp_path))
        assert (quiet.exit_code, quiet.stdout) == (0, "No changes. The tenant matches the channels file.\n")

        path, rotating = write(tmp_path, 2, 1, bridge.url), env(emulator, tmp_path, NEW)
        text = run_cli(["plan", path, "--detailed-exitcode"], rotating)
        assert text.exit_code == 2, text.output
        assert (
            "high impact: 'SMS gateway' secret rotated (secret_version 1 → 2). 0 to create, 1 to update" in text.stdout
        )
        assert (
            "    custom_channel_secret  (sensitive) will be sent from ${env:SMS_BRIDGE_SECRET} "
            "(secret rotated: secret_version 1 → 2)\n"
        ) in text.stdout
        assert "Instagram" not in text.stdout
        markdown = run_cli(["plan", path, "--format", "markdown"], rotating).stdout
        assert "| ~ update | `SMS gateway` | `custom_channel_secret` |" in markdown
        assert "(secret rotated: secret_version 1 → 2)" in markdown
        data = json.loads(run_cli(["plan", path, "--format", "json"], rotating).stdout)
        assert_plan_valid(data)
        (change,) = data["changes"]
        assert change["secret"] == {
            "action": "send",
            "reason": "secret rotated: secret_version 1 → 2",
            "env_var": "SMS_BRIDGE_SECRET",
            "secret_version": 2,
            "previous_secret_version": 1,
        }
        sarif = json.loads(run_cli(["plan", path, "--format", "sarif"], rotating).stdout)
        (note,) = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "secret-rotation"]
        assert note["level"] == "note"
        assert note["message"]["text"] == (
            "'SMS gateway': secret rotated: secret_version 1 → 2 (sent from ${env:SMS_BRIDGE_SECRET})"
        )

        done = applied(path, rotating)
        assert "update 'SMS gateway'" in done.stderr and "Apply: 0 created, 1 updated" in done.stderr
        assert secrets_held(emulator) == {"SMS gateway": NEW["SMS"], "Instagram": OLD["IG"]}
        assert record(tmp_path) == {"SMS gateway": 2, "Instagram": 1}
        again = run_cli(["plan", path, "--detailed-exitcode"], rotating)
        assert (again.exit_code, again.stdout) == (0, "No changes. The tenant matches the channels file.\n")

        # Omnidesk signs the replies it posts to the bridge with the secret it holds: the new one.
        sent = run_cli(
            ["message", "send", "--channel", "SMS gateway", "--message", "hello", "--format", "json"], rotating
        )
        assert sent.exit_code == 0, sent.output
        ticket = str(json.loads(sent.stdout)["ticketID"])
        reply = run_cli(["message", "reply", "--ticket", ticket, "--message", "On its way"], rotating)
        assert reply.exit_code == 0, reply.output
        (post,) = bridge.posts
        assert post.verified is True, post.error
    outputs = [text.output, markdown, json.dumps(data), json.dumps(sarif), done.output]
    no_secret_in(*outputs, (tmp_path / "versions.json").read_text())


def test_the_first_run_records_the_version_as_it_is_and_sends_nothing(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    emulator.emu.seed_channels(
        [
            {
                "name": "SMS gateway",
                "custom_channel_endpoint": ENDPOINT,
                "include_signature": True,
                "custom_channel_secret": "clicked-in-the-admin-ui",
            },
            {
                "name": "Instagram",
                "custom_channel_endpoint": "https://ig.example.com/hook",
                "custom_channel_secret": "also-clicked",
            },
        ]
    )
    path, environ = write(tmp_path, 3, 1), env(emulator, tmp_path, NEW)
    plan = run_cli(["plan", path, "--detailed-exitcode"], environ)
    assert plan.exit_code == 0, plan.output
    assert plan.stdout == (
        "No changes. The tenant matches the channels file.\n\n"
        "No record of the secret_version last applied to 2 channel(s): apply records it as it is and sends "
        "no secret (raise it to rotate): 'Instagram' (1), 'SMS gateway' (3).\n"
    )
    data = json.loads(run_cli(["plan", path, "--format", "json"], environ).stdout)
    assert_plan_valid(data)
    assert [b["secret_version"] for b in data["secret_version_baselines"]] == [1, 3]
    writes = emulator.emu.stats["update"]
    done = run_cli(["apply", path, "--yes"], environ)
    assert done.exit_code == 0, done.output
    assert "Recorded the secret_version of 2 channel(s) in" in done.stderr
    assert emulator.emu.stats["update"] == writes  # not a call more
    assert secrets_held(emulator) == {"SMS gateway": "clicked-in-the-admin-ui", "Instagram": "also-clicked"}
    assert record(tmp_path) == {"SMS gateway": 3, "Instagram": 1}
    assert run_cli(["plan", path], environ).stdout == "No changes. The tenant matches the channels file.\n"
    applied(write(tmp_path, 4, 1), environ)
    assert secrets_held(emulator) == {"SMS gateway": NEW["SMS"], "Instagram": "also-clicked"}


def test_a_failed_write_keeps_its_rotation_planned_and_records_only_what_succeeded(
    make_emulator: Any, tmp_path: Path
) -> None:
    emulator = make_emulator()
    applied(write(tmp_path, 1, 1), env(emulator, tmp_path))
    sms = next(c["id"] for c in emulator.emu.channels() if c["name"] == "SMS gateway")

    def refuse_the_sms_write(method: str, path: str, query: dict[str, str]) -> None:
        refused = method == "PUT" and path.endswith(f"/{sms}")
        emulator.emu.api_keys = {"demo": frozenset({"CHANNEL_READ"} if refused else ALL)}

    emulator.emu.before_request = refuse_the_sms_write
    path, environ = write(tmp_path, 2, 2), env(emulator, tmp_path, NEW)
    failed = run_cli(["apply", path, "--yes", "--parallelism", "1"], environ)
    assert failed.exit_code == 1, failed.output
    assert secrets_held(emulator) == {"SMS gateway": OLD["SMS"], "Instagram": NEW["IG"]}
    assert record(tmp_path) == {"SMS gateway": 1, "Instagram": 2}
    emulator.emu.before_request = None
    emulator.emu.api_keys = {"demo": frozenset(ALL)}
    plan = run_cli(["plan", path], environ)
    assert "'SMS gateway' secret rotated (secret_version 1 → 2). 0 to create, 1 to update" in plan.stdout
    assert "Instagram" not in plan.stdout
    applied(path, environ)
    assert record(tmp_path) == {"SMS gateway": 2, "Instagram": 2}
    assert secrets_held(emulator) == {"SMS gateway": NEW["SMS"], "Instagram": NEW["IG"]}


def test_an_interrupted_apply_records_only_the_writes_done(emulator: RunningEmulator, tmp_path: Path) -> None:
    applied(write(tmp_path, 1, 1), env(emulator, tmp_path))
    engine = Workflow(environ=env(emulator, tmp_path, NEW), parallelism=1)
    planned = engine.plan(write(tmp_path, 2, 2))
    assert [c.name for c in planned.plan.changes] == ["Instagram", "SMS gateway"]
    stop = threading.Event()
    report = engine.apply(planned, on_outcome=lambda outcome: stop.set(), stop=stop)  # Ctrl-C after the first
    assert [o.status for o in report.outcomes] == ["ok", "not started"]
    assert record(tmp_path) == {"SMS gateway": 1, "Instagram": 2}
    again = engine.plan(write(tmp_path, 2, 2))
    assert [(c.name, c.secret.reason) for c in again.plan.changes] == [  # type: ignore[attr-defined]
        ("SMS gateway", "secret rotated: secret_version 1 → 2")
    ]


def test_a_lowered_version_is_refused_with_its_line_and_nothing_is_written(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    applied(write(tmp_path, 3, 1), env(emulator, tmp_path))
    before = (tmp_path / "versions.json").read_text()
    writes = emulator.emu.stats["update"]
    for command in (["plan"], ["apply", "--yes"]):
        result = run_cli([*command, write(tmp_path, 2, 1)], env(emulator, tmp_path, NEW))
        assert result.exit_code == 1
        assert result.stderr == (
            "Error: 1 problem in the channels file:\n"
            f"  {tmp_path / 'channels.yaml'}:7:21: channels[0].secret_version: 2 is below 3, the secret_version "
            f"last applied to this channel (id {_id(emulator, 'SMS gateway')}) on {emulator.url}, as "
            f"{tmp_path / 'versions.json'} records: a version only goes up. Write 4 to send the secret again, "
            "or 3 to keep it; nothing was changed\n"
        )
    assert emulator.emu.stats["update"] == writes
    assert (tmp_path / "versions.json").read_text() == before
    assert secrets_held(emulator)["SMS gateway"] == OLD["SMS"]


def _id(emulator: RunningEmulator, name: str) -> int:
    return int(next(c["id"] for c in emulator.emu.channels() if c["name"] == name))


def test_a_saved_plan_applies_exactly_its_rotation_and_the_record_follows(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    applied(write(tmp_path, 1, 1), env(emulator, tmp_path))
    plan_file = tmp_path / "plan.json"
    made = run_cli(["plan", write(tmp_path, 2, 1), "--out", str(plan_file)], env(emulator, tmp_path, NEW))
    assert made.exit_code == 0, made.output
    saved = plan_file.read_text()
    assert '"previous_secret_version": 1' in saved and '"secret_version": 2' in saved
    no_secret_in(saved)
    write(tmp_path, 5, 7)  # the file moves on; the saved plan does not
    done = run_cli(["apply", str(plan_file)], env(emulator, tmp_path, NEW))
    assert done.exit_code == 0, done.output
    assert secrets_held(emulator) == {"SMS gateway": NEW["SMS"], "Instagram": OLD["IG"]}
    assert record(tmp_path) == {"SMS gateway": 2, "Instagram": 1}


def test_only_rotates_the_channels_it_selects_and_leaves_the_others_planned(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = write(tmp_path, 1, 1)
    applied(path, env(emulator, tmp_path))
    path, environ = write(tmp_path, 2, 2), env(emulator, tmp_path, NEW)
    partial = run_cli(["plan", path, "--only", "SMS*", "--detailed-exitcode"], environ)
    assert partial.exit_code == 2
    assert "secret rotated: secret_version 1 → 2" in partial.stdout and "Instagram" not in partial.stdout
    applied(path, environ, "--only", "SMS*")
    assert record(tmp_path) == {"SMS gateway": 2, "Instagram": 1}
    assert secrets_held(emulator) == {"SMS gateway": NEW["SMS"], "Instagram": OLD["IG"]}
    rest = run_cli(["plan", path], environ)
    assert "'Instagram' secret rotated (secret_version 1 → 2)" in rest.stdout and "SMS gateway" not in rest.stdout


TENANTS = """\
version: 1
tenants:
  staging:
    url: {staging}
  production:
    url: {production}
channels:
  - name: SMS gateway
    custom_channel_endpoint: https://sms.example.com/hook
    custom_channel_secret: ${{env:SMS_GATEWAY_SECRET}}
    secret_version: {version}
"""


@pytest.fixture
def two(make_emulator: Any, tmp_path: Path) -> tuple[dict[str, RunningEmulator], dict[str, str]]:
    tenants = {"staging": make_emulator(), "production": make_emulator()}
    environ = {
        "OMNIDESK_API_KEY": "demo",
        "OMNIDESK_SECRET_VERSIONS": str(tmp_path / "versions.json"),
        "SMS_GATEWAY_SECRET": OLD["SMS"],
    }
    return tenants, environ


def tenants_file(tmp_path: Path, tenants: dict[str, RunningEmulator], version: int) -> str:
    path = tmp_path / "tenants.yaml"
    path.write_text(TENANTS.format(version=version, **{n: t.url for n, t in tenants.items()}))
    return str(path)


def test_all_tenants_plans_each_tenants_rotation_against_its_own_record(two: Any, tmp_path: Path) -> None:
    tenants, environ = two
    path = tenants_file(tmp_path, tenants, 1)
    for name in tenants:
        applied(path, environ, "--tenant", name)
    path = tenants_file(tmp_path, tenants, 2)
    rotated = {**environ, "SMS_GATEWAY_SECRET": NEW["SMS"]}
    applied(path, rotated, "--tenant", "staging")
    report = run_cli(["plan", path, "--all-tenants", "--detailed-exitcode"], rotated)
    assert report.exit_code == 2, report.output
    staging, production = report.stdout.split("== production ==")
    assert "No changes." in staging
    assert "'SMS gateway' secret rotated (secret_version 1 → 2)" in production
    data = json.loads(run_cli(["plan", path, "--all-tenants", "--format", "json"], rotated).stdout)
    versions = {
        t["tenant"]: [c["secret"]["previous_secret_version"] for c in t["plan"]["changes"]] for t in data["tenants"]
    }
    assert versions == {"staging": [], "production": [1]}
    sarif = json.loads(run_cli(["plan", path, "--all-tenants", "--format", "sarif"], rotated).stdout)
    assert [r["message"]["text"] for r in sarif["runs"][0]["results"] if r["ruleId"] == "secret-rotation"] == [
        "production: 'SMS gateway': secret rotated: secret_version 1 → 2 (sent from ${env:SMS_GATEWAY_SECRET})"
    ]
    assert {t: secrets_held(e)["SMS gateway"] for t, e in tenants.items()} == {
        "staging": NEW["SMS"],
        "production": OLD["SMS"],
    }


def test_clone_takes_the_version_the_file_gives_the_destination(two: Any, tmp_path: Path) -> None:
    tenants, environ = two
    applied(tenants_file(tmp_path, tenants, 1), environ, "--tenant", "staging")
    path = tenants_file(tmp_path, tenants, 1)
    # The export names the secret after the channel (SMS_GATEWAY_SECRET), as the file does here.
    created = run_cli(["clone", path, "--from", "staging", "--to", "production", "--yes"], environ)
    assert created.exit_code == 0, created.output
    versions = json.loads((tmp_path / "versions.json").read_text())["tenants"]
    assert {url: [e["secret_version"] for e in v.values()] for url, v in versions.items()} == {
        tenants["staging"].url: [1],
        tenants["production"].url: [1],
    }
    path = tenants_file(tmp_path, tenants, 2)
    rotated = {**environ, "SMS_GATEWAY_SECRET": NEW["SMS"]}
    plan = run_cli(["clone", path, "--from", "staging", "--to", "production"], rotated)
    assert "'SMS gateway' secret rotated (secret_version 1 → 2)" in plan.stdout, plan.output
    done = run_cli(["clone", path, "--from", "staging", "--to", "production", "--yes"], rotated)
    assert done.exit_code == 0, done.output
    assert secrets_held(tenants["production"])["SMS gateway"] == NEW["SMS"]
    assert secrets_held(tenants["staging"])["SMS gateway"] == OLD["SMS"]
    assert "No changes" in run_cli(["clone", path, "--from", "staging", "--to", "production"], rotated).stdout


def test_the_record_path_comes_from_the_option_else_the_working_folder(
    emulator: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    environ = {k: v for k, v in env(emulator, tmp_path).items() if k != "OMNIDESK_SECRET_VERSIONS"}
    applied(write(tmp_path, 1, 1), environ)
    assert record(tmp_path, ".omnidesk-secret-versions.json") == {"SMS gateway": 1, "Instagram": 1}
    elsewhere = tmp_path / "state" / "versions.json"
    applied(write(tmp_path, 2, 1), {**environ, "SMS_BRIDGE_SECRET": NEW["SMS"]}, "--secret-versions", str(elsewhere))
    assert json.loads(elsewhere.read_text())["tenants"]  # a new record: a baseline, not a rotation
    assert secrets_held(emulator)["SMS gateway"] == OLD["SMS"]


def test_a_damaged_record_stops_the_plan_naming_it(emulator: RunningEmulator, tmp_path: Path) -> None:
    (tmp_path / "versions.json").write_text('{"format_version": 1, "tenants": {"x": {"7": {"name": "a"}}}}')
    result = run_cli(["plan", write(tmp_path, 1, 1)], env(emulator, tmp_path))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: the secret-version record {tmp_path / 'versions.json'} is damaged")
    assert "remove it to record the file's secret_version values at the next apply" in result.stderr


def test_a_file_without_secret_version_never_touches_the_record(emulator: RunningEmulator, tmp_path: Path) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text(FILE.format(sms=1, ig=1, endpoint=ENDPOINT).replace("    secret_version: 1\n", ""))
    (tmp_path / "versions.json").write_text("not json at all")
    applied(str(path), env(emulator, tmp_path))
    assert (tmp_path / "versions.json").read_text() == "not json at all"


def test_rotate_secrets_sends_every_secret_and_records_each_version(emulator: RunningEmulator, tmp_path: Path) -> None:
    emulator.emu.seed_channels(
        [
            {"name": "SMS gateway", "custom_channel_endpoint": ENDPOINT, "include_signature": True},
            {"name": "Instagram", "custom_channel_endpoint": "https://ig.example.com/hook"},
        ]
    )
    path, environ = write(tmp_path, 2, 5), env(emulator, tmp_path, NEW)
    plan = run_cli(["plan", path, "--rotate-secrets", "--detailed-exitcode"], environ)  # no record yet
    assert plan.exit_code == 2 and "No record" not in plan.stdout, plan.output
    applied(path, environ, "--rotate-secrets")
    assert secrets_held(emulator) == {"SMS gateway": NEW["SMS"], "Instagram": NEW["IG"]}
    assert record(tmp_path) == {"SMS gateway": 2, "Instagram": 5}
    assert run_cli(["plan", path], environ).stdout == "No changes. The tenant matches the channels file.\n"


def bridges_raised(emulator: RunningEmulator, tmp_path: Path, count: int) -> tuple[Path, dict[str, str]]:
    """``count`` bridges sharing one secret, applied at secret_version 1, then the file raised to 2
    with a new secret in the environment (not applied): the file and that environment."""
    lines = ["version: 1", "channels:"]
    for i in range(count):
        lines += [f"  - name: Bridge {i:02}", "    custom_channel_secret: ${env:BRIDGE_SECRET}"]
        lines += ["    secret_version: V"]
    path = tmp_path / "channels.yaml"
    environ = {**env(emulator, tmp_path), "BRIDGE_SECRET": OLD["SMS"]}
    path.write_text("\n".join(lines).replace(" V", " 1") + "\n")
    applied(str(path), environ)
    path.write_text("\n".join(lines).replace(" V", " 2") + "\n")
    environ["BRIDGE_SECRET"] = NEW["SMS"]
    return path, environ


def test_rotations_count_against_the_update_threshold(emulator: RunningEmulator, tmp_path: Path) -> None:
    path, environ = bridges_raised(emulator, tmp_path, 10)
    refused = run_cli(["apply", str(path), "--yes"], environ)
    assert refused.exit_code == 1
    assert "--allow-updates 10" in refused.stderr, refused.stderr
    assert set(secrets_held(emulator).values()) == {OLD["SMS"]}
    applied(str(path), environ, "--allow-updates", "10")
    assert set(secrets_held(emulator).values()) == {NEW["SMS"]}
    assert set(record(tmp_path).values()) == {2}


def test_ctrl_c_during_apply_records_exactly_the_rotations_done(make_emulator: Any, tmp_path: Path) -> None:
    """``apply`` in its own process, interrupted (SIGINT) midway: the record says version 2 for exactly
    the channels that hold the new secret, and the next plan rotates exactly the others."""
    emulator = make_emulator(latency_ms=40)
    path, environ = bridges_raised(emulator, tmp_path, 40)
    base = {k: v for k, v in os.environ.items() if not k.startswith("OMNIDESK_")}
    args = ["apply", str(path), "--yes", "--allow-updates", "40", "--parallelism", "2"]
    with (tmp_path / "out.txt").open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler", *args],
            env={**base, **environ},
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stderr is not None
        done = 0
        for line in proc.stderr:
            done += bool(re.match(r"^\[\d+/40\] update .*: ok$", line))
            if done == 5:
                proc.send_signal(signal.SIGINT)
                break
        rest = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130, rest
    versions, held = record(tmp_path), secrets_held(emulator)
    rotated = {name for name, version in versions.items() if version == 2}
    assert rotated == {name for name, secret in held.items() if secret == NEW["SMS"]}
    assert 5 <= len(rotated) < 40 and set(versions.values()) == {1, 2}
    plan = json.loads(run_cli(["plan", str(path), "--format", "json"], environ).stdout)
    assert {c["name"] for c in plan["changes"]} == set(held) - rotated
    assert all(c["secret"]["reason"] == "secret rotated: secret_version 1 → 2" for c in plan["changes"])

"""``plan FILE --all-tenants``: every tenant in one process, concurrently, one report, the worst exit code."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clihelp import run_cli

from reconciler.plan import PLAN_FORMAT_VERSION
from tests.eco_tools import python_tool

KEYS = {"OMNIDESK_STAGING_KEY": "demo", "OMNIDESK_PRODUCTION_KEY": "demo", "OMNIDESK_EU_KEY": "demo"}


def channels_file(tmp_path: Path, urls: dict[str, str]) -> str:
    lines = ["version: 1", "tenants:"]
    for name, url in urls.items():
        lines += [f"  {name}:", f"    url: {url}", f"    api_key_env: OMNIDESK_{name.upper()}_KEY"]
    lines += ["channels:", "  - name: SMS gateway", "    icon: phone"]
    path = tmp_path / "channels.yaml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.fixture
def three(make_emulator, tmp_path: Path):
    """staging and eu lack the channel; production already has it."""
    emulators = {name: make_emulator() for name in ("staging", "production", "eu")}
    emulators["production"].emu.seed_channels([{"name": "SMS gateway", "icon": "phone"}])
    return emulators, channels_file(tmp_path, {n: e.url for n, e in emulators.items()})


def test_text_report_has_every_tenant_and_exit_2_for_drift(three):
    _, path = three
    result = run_cli(["plan", path, "--all-tenants", "--detailed-exitcode"], KEYS)
    assert result.exit_code == 2, result.output
    sections = result.stdout.split("== ")[1:]
    assert [s.split(" ==")[0] for s in sections] == ["staging", "production", "eu"]
    assert "Plan: 1 to create" in sections[0] and "No changes" in sections[1]
    assert result.stdout.rstrip().endswith("3 tenant(s): 2 with changes, 0 failed.")
    assert run_cli(["plan", path, "--all-tenants"], KEYS).exit_code == 0


def test_markdown_has_a_section_per_tenant(three):
    _, path = three
    result = run_cli(["plan", path, "--all-tenants", "--format", "markdown"], KEYS)
    assert result.exit_code == 0
    assert [line for line in result.stdout.splitlines() if line.startswith("### ")] == [
        "### staging",
        "### production",
        "### eu",
    ]
    assert result.stdout.startswith("**3 tenant(s): 2 with changes, 0 failed**")


def test_json_is_one_document(three):
    _, path = three
    result = run_cli(["plan", path, "--all-tenants", "--format", "json"], KEYS)
    document = json.loads(result.stdout)
    assert document["summary"] == {"tenants": 3, "with_changes": 2, "failed": 0}
    assert [t["tenant"] for t in document["tenants"]] == ["staging", "production", "eu"]
    assert document["tenants"][0]["plan"]["summary"]["create"] == 1


def test_a_tenant_without_its_key_fails_alone(three):
    _, path = three
    result = run_cli(
        ["plan", path, "--all-tenants", "--detailed-exitcode", "--format", "json"], {**KEYS, "OMNIDESK_EU_KEY": ""}
    )
    assert result.exit_code == 1
    tenants = {t["tenant"]: t for t in json.loads(result.stdout)["tenants"]}
    assert "OMNIDESK_EU_KEY" in tenants["eu"]["error"] and "plan" not in tenants["eu"]
    assert tenants["staging"]["plan"]["summary"]["create"] == 1
    assert "Error: eu: " in result.stderr and "demo" not in result.output


def test_both_json_plan_outputs_pass_check_jsonschema_with_the_schema_plan_prints(three, tmp_path: Path):
    """One schema for every JSON plan: one tenant's plan and the all-tenants report (a failed tenant too)."""
    python_tool("check_jsonschema")
    _, path = three
    schema = tmp_path / "plan.schema.json"
    schema.write_text(run_cli(["schema", "plan"]).stdout, encoding="utf-8")
    report = run_cli(["plan", path, "--all-tenants", "--format", "json"], {**KEYS, "OMNIDESK_EU_KEY": ""})
    single = run_cli(["plan", path, "--tenant", "staging", "--format", "json"], KEYS)
    document = json.loads(report.stdout)
    assert document["format_version"] == json.loads(single.stdout)["format_version"] == PLAN_FORMAT_VERSION
    assert document["summary"]["failed"] == 1
    unversioned = {k: v for k, v in document.items() if k != "format_version"}
    files = {"report.json": report.stdout, "single.json": single.stdout, "unversioned.json": json.dumps(unversioned)}
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")

    def check(*names: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "check_jsonschema",
                "--schemafile",
                str(schema),
                *(str(tmp_path / n) for n in names),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )

    ok = check("report.json", "single.json")
    assert ok.returncode == 0 and "ok -- validation done" in ok.stdout, ok.stdout + ok.stderr
    assert check("unversioned.json").returncode == 1  # the check can fail: the version is required


def test_out_saves_each_tenants_plan_and_each_applies(three, tmp_path: Path):
    emulators, path = three
    out = str(tmp_path / "plans" / "{tenant}.json")
    (tmp_path / "plans").mkdir()
    result = run_cli(["plan", path, "--all-tenants", "--out", out], KEYS)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "plans").iterdir()) == ["eu.json", "production.json", "staging.json"]
    applied = run_cli(["apply", str(tmp_path / "plans" / "eu.json")], KEYS)
    assert applied.exit_code == 0, applied.output
    assert [c["name"] for c in emulators["eu"].emu.channels() if c["type"] == "custom"] == ["SMS gateway"]


def test_out_without_a_tenant_field_is_refused_before_any_call(three, tmp_path: Path):
    emulators, path = three
    result = run_cli(["plan", path, "--all-tenants", "--out", str(tmp_path / "plan.json")], KEYS)
    assert result.exit_code == 1 and "put {tenant} in it" in result.stderr
    assert all(not e.emu.stats for e in emulators.values())


def test_all_tenants_excludes_tenant_url_and_emulator(three):
    _, path = three
    result = run_cli(["plan", path, "--all-tenants", "--tenant", "eu"], KEYS)
    assert result.exit_code == 1 and "leave out --url, --tenant and --emulator" in result.stderr


def test_a_file_without_tenants_is_an_error(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text("version: 1\nchannels: []\n")
    result = run_cli(["plan", str(path), "--all-tenants"])
    assert result.exit_code == 1 and "defines no tenants" in result.stderr


def test_tenants_are_planned_concurrently(make_emulator, tmp_path: Path):
    """Six tenants at 400 ms per request take about as long as one, not six times as long."""
    emulators = {f"t{i}": make_emulator(latency_ms=400) for i in range(6)}
    path = channels_file(tmp_path, {n: e.url for n, e in emulators.items()})
    keys = {f"OMNIDESK_T{i}_KEY": "demo" for i in range(6)}
    started = time.perf_counter()
    assert run_cli(["plan", path, "--tenant", "t0"], keys).exit_code == 0
    one = time.perf_counter() - started
    started = time.perf_counter()
    assert run_cli(["plan", path, "--all-tenants"], keys).exit_code == 0
    every = time.perf_counter() - started
    # at most half of what one after the other takes, even on a loaded machine (about 1x when idle)
    assert every < 6 * one / 2, (one, every)


def test_out_refuses_a_tenants_plan_whose_secret_is_unset_as_plan_out_does(make_emulator, tmp_path: Path):
    emulator = make_emulator()
    path = tmp_path / "channels.yaml"
    path.write_text(f"""version: 1
tenants:
  staging: {{url: "{emulator.url}", api_key_env: OMNIDESK_STAGING_KEY}}
  eu: {{url: "{emulator.url}", api_key_env: OMNIDESK_EU_KEY}}
channels:
  - name: SMS gateway
    custom_channel_secret: ${{env:SMS_BRIDGE_SECRET}}
""")
    result = run_cli(["plan", str(path), "--all-tenants", "--out", str(tmp_path / "{tenant}.json")], KEYS)
    assert result.exit_code == 1 and "SMS_BRIDGE_SECRET" in result.stderr
    assert not list(tmp_path.glob("*.json"))

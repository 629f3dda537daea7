"""Each policy rule through the CLI: its finding, at warn (reported, applied), at deny (apply refuses
before any write, naming rule and channel, a saved plan too) and overridden by --allow-policy RULE.

Every rule of the registry must have a case here (a test fails for a rule without one), so adding a
rule is one function and one case.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clihelp import RunningEmulator, assert_plan_valid, run_cli

from reconciler.policy import RULES
from reconciler.schema import load_schema

# rule -> (a channel that breaks it, the same channel made good, extra policy settings)
CASES: dict[str, tuple[str, str, str]] = {
    "https-endpoint": (
        "custom_channel_endpoint: http://bridge.acme.com/in",
        "custom_channel_endpoint: https://bridge.acme.com/in",
        "",
    ),
    "signature-with-secret": (
        "custom_channel_secret: ${env:BRIDGE_SECRET}",
        "custom_channel_secret: ${env:BRIDGE_SECRET}\n    include_signature: true",
        "",
    ),
    "endpoint-credentials": (
        "custom_channel_endpoint: https://bridge.acme.com/in?Token=${env:BRIDGE_TOKEN}",
        "custom_channel_endpoint: https://bridge.acme.com/in?channel=7",
        "",
    ),
    "warning-languages": (
        "custom_channel_warning_nl: Antwoord duurt lang",
        "custom_channel_warning_nl: Antwoord duurt lang\n    custom_channel_warning_en: Slow",
        "",
    ),
    "endpoint-host": (
        "custom_channel_endpoint: https://collector.example.net/in",
        "custom_channel_endpoint: https://bridge.acme.com/in",
        "  allowed_hosts: ['*.acme.com']\n",
    ),
    "channel-name": ("icon: sms", "icon: sms", "  name_pattern: '^Team [A-Z]'\n"),
}
NAMES = {"channel-name": ("sms bridge", "Team SMS bridge")}
PROBE_ONLY = {"endpoint-answers"}  # its finding comes from a probe: tests/test_probe.py
ENV = {"BRIDGE_SECRET": "s3cret-value-1", "BRIDGE_TOKEN": "tok-value-1"}


def channels_file(tmp_path: Path, rule: str, *, good: bool = False, level: str | None = None) -> str:
    bad_body, good_body, settings = CASES[rule]
    name = NAMES.get(rule, ("SMS bridge", "SMS bridge"))[good]
    rules = f"  rules: {{{rule}: {level}}}\n" if level else ""
    policy = f"policy:\n{rules}{settings}" if rules or settings else ""
    path = tmp_path / "channels.yaml"
    path.write_text(f"version: 1\n{policy}channels:\n  - name: {name}\n    {good_body if good else bad_body}\n")
    return str(path)


def run(args: list[str], emulator: RunningEmulator | None = None) -> tuple[int, str, str]:
    env = dict(ENV)
    if emulator is not None:
        env |= {"OMNIDESK_URL": emulator.url, "OMNIDESK_API_KEY": emulator.key}
    result = run_cli(args, env)
    assert "Traceback" not in result.output
    return result.exit_code, result.stdout, result.stderr


def test_every_rule_has_a_case_and_editor_help() -> None:
    assert set(RULES) - PROBE_ONLY == set(CASES)
    described = load_schema()["$defs"]["policy"]["properties"]["rules"]["properties"]
    assert list(described) == list(RULES)
    for rule in RULES.values():
        assert described[rule.id]["description"] == f"{rule.rationale}. Fix: {rule.fix}. Default {rule.default}."
        assert described[rule.id]["default"] == rule.default


@pytest.mark.parametrize("rule", sorted(CASES))
def test_finding_and_its_absence(tmp_path: Path, rule: str) -> None:
    code, _, err = run(["validate", channels_file(tmp_path, rule)])
    assert code == 0, err
    assert f"warn [{rule}]" in err and f"(fix: {RULES[rule].fix})" in err
    code, _, err = run(["validate", channels_file(tmp_path, rule, good=True)])
    assert code == 0 and "warn [" not in err, err
    code, _, err = run(["validate", channels_file(tmp_path, rule, level="off")])
    assert code == 0 and f"[{rule}]" not in err, err


@pytest.mark.parametrize("rule", sorted(CASES))
def test_warn_is_reported_and_applied(tmp_path: Path, emulator: RunningEmulator, rule: str) -> None:
    file = channels_file(tmp_path, rule, level="warn")
    code, out, err = run(["plan", file, "--format", "json"], emulator)
    data = json.loads(out)
    assert_plan_valid(data)
    assert [(f["rule"], f["level"], f["channel"], f["line"]) for f in data["findings"]] == [
        (
            rule,
            "warn",
            NAMES.get(rule, ("SMS bridge",))[0],
            Path(file).read_text().splitlines().index(f"  - name: {NAMES.get(rule, ('SMS bridge',))[0]}") + 1,
        )
    ]
    code, out, err = run(["apply", file, "--yes"], emulator)
    assert code == 0, err
    assert f"warn [{rule}]" in err
    assert len([c for c in emulator.emu.channels() if c.get("type") == "custom"]) == 1


@pytest.mark.parametrize("rule", sorted(CASES))
def test_deny_refuses_before_any_write_and_allow_policy_names_the_rule(
    tmp_path: Path, emulator: RunningEmulator, rule: str
) -> None:
    file = channels_file(tmp_path, rule, level="deny")
    name = NAMES.get(rule, ("SMS bridge",))[0]
    code, _, err = run(["validate", file])
    assert code == 1 and f"deny [{rule}] {name!r}" in err
    code, _, err = run(["apply", file, "--yes"], emulator)
    assert code == 1
    assert f"deny [{rule}] {name!r}" in err and f"--allow-policy {rule}" in err and "nothing was changed" in err
    assert not [c for c in emulator.emu.channels() if c.get("type") == "custom"], "nothing may be written"
    other = next(r for r in CASES if r != rule)
    code, _, err = run(["apply", file, "--yes", "--allow-policy", other], emulator)
    assert code == 1 and f"deny [{rule}]" in err, "another rule's override is no override"
    code, _, err = run(["apply", file, "--yes", "--allow-policy", rule], emulator)
    assert code == 0, err
    assert [c["name"] for c in emulator.emu.channels() if c.get("type") == "custom"] == [name]


@pytest.mark.parametrize("rule", ["https-endpoint", "endpoint-host"])
def test_a_saved_plan_keeps_its_deny_findings(tmp_path: Path, emulator: RunningEmulator, rule: str) -> None:
    file = channels_file(tmp_path, rule, level="deny")
    saved = str(tmp_path / "plan.json")
    code, _, err = run(["plan", file, "--out", saved], emulator)
    assert code == 0, err
    assert f"deny [{rule}]" in err
    code, _, err = run(["apply", saved], emulator)
    assert code == 1 and f"deny [{rule}]" in err and f"--allow-policy {rule}" in err
    assert not [c for c in emulator.emu.channels() if c.get("type") == "custom"]
    code, _, err = run(["apply", saved, "--allow-policy", rule], emulator)
    assert code == 0, err


def test_a_tenants_policy_wins_rule_by_rule(tmp_path: Path, emulator: RunningEmulator) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text(
        "version: 1\n"
        "policy: {rules: {https-endpoint: deny, warning-languages: off}, allowed_hosts: [bridge.acme.com]}\n"
        "tenants:\n"
        "  staging:\n"
        f"    url: {emulator.url}\n"
        "    policy: {rules: {https-endpoint: warn}, allowed_hosts: ['*.staging.acme.com']}\n"
        "  production:\n"
        f"    url: {emulator.url}\n"
        "channels:\n"
        "  - name: SMS\n"
        "    custom_channel_endpoint: http://bridge.acme.com/in\n"
        "    custom_channel_warning_en: Slow\n"
    )
    env = {"OMNIDESK_API_KEY": emulator.key}
    staging = run_cli(["plan", str(path), "--tenant", "staging", "--format", "json"], env)
    found = {(f["rule"], f["level"]) for f in json.loads(staging.stdout)["findings"]}
    assert found == {("https-endpoint", "warn"), ("endpoint-host", "warn")}
    production = run_cli(["plan", str(path), "--tenant", "production", "--format", "json"], env)
    assert {(f["rule"], f["level"]) for f in json.loads(production.stdout)["findings"]} == {("https-endpoint", "deny")}
    every = run_cli(["plan", str(path), "--all-tenants"], env)
    assert (
        "Warning: production: apply will refuse this plan: the policy denies it (rule https-endpoint); if a "
        "reviewer accepts that, pass --allow-policy https-endpoint to apply"
    ) in every.stderr
    assert "Warning: staging: apply will refuse" not in every.stderr
    sarif = json.loads(run_cli(["plan", str(path), "--all-tenants", "--format", "sarif"], env).stdout)
    assert sorted((r["ruleId"], r["level"]) for r in sarif["runs"][0]["results"]) == [
        ("endpoint-host", "warning"),
        ("https-endpoint", "error"),
        ("https-endpoint", "warning"),
    ]


def test_policy_mistakes_are_located(tmp_path: Path) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text(
        "version: 1\npolicy:\n  rules: {https-endpoit: deny, channel-name: block}\n"
        "  name_pattern: '^[A-Z'\nchannels: []\n"
    )
    result = run_cli(["validate", str(path)])
    assert result.exit_code == 1
    assert "did you mean 'https-endpoint'?" in result.stderr
    assert ":3:" in result.stderr and "block" in result.stderr
    assert ":4:" in result.stderr and "is not a regular expression" in result.stderr
    unknown = run_cli(["apply", str(path), "--allow-policy", "everything", "--yes"])
    assert unknown.exit_code == 1 and "https-endpoint" in unknown.stderr


def test_a_saved_plan_shows_its_findings_where_the_file_had_them(tmp_path: Path, emulator: RunningEmulator) -> None:
    """apply of a saved plan shows each finding as plan did: file, line, rule, channel, message
    (mutation testing of policy.py found a finding read back from a plan file reached by no test),
    and ``*.acme.com`` allows hosts below acme.com, not a host merely ending in "acme.com"."""
    path = tmp_path / "channels.yaml"
    path.write_text(
        "version: 1\npolicy:\n  allowed_hosts: ['*.acme.com']\nchannels:\n"
        "  - name: SMS bridge\n    custom_channel_endpoint: https://sms.acme.com/in\n"
        "  - name: Look-alike\n    custom_channel_endpoint: https://bridge.notacme.com/in\n"
    )
    saved = str(tmp_path / "plan.json")
    code, _, planned = run(["plan", str(path), "--out", saved], emulator)
    assert code == 0, planned
    shown = (
        f"Warning: {path}:7: warn [endpoint-host] 'Look-alike': the endpoint's host bridge.notacme.com is not "
        "in allowed_hosts (*.acme.com) (fix: use a host the policy's allowed_hosts lists, or add it there)"
    )
    assert [x for x in planned.splitlines() if "[endpoint-host]" in x] == [shown]
    code, _, applied = run(["apply", saved, "--yes"], emulator)
    assert code == 0, applied
    assert [x for x in applied.splitlines() if "[endpoint-host]" in x] == [shown]


def test_a_rule_set_to_false_is_off(tmp_path: Path) -> None:
    """``false`` (what YAML 1.1 habits write for ``off``) switches a rule off (mutation testing of
    policy.py found that reached by no test)."""
    path = tmp_path / "channels.yaml"
    path.write_text(
        "version: 1\npolicy:\n  rules: {https-endpoint: false}\nchannels:\n"
        "  - name: SMS bridge\n    custom_channel_endpoint: http://bridge.acme.com/in\n"
    )
    code, out, err = run(["validate", str(path)])
    assert (code, out, err) == (0, f"{path}: valid (1 channel)\n", "")


def test_a_tenants_policy_keeps_the_files_name_pattern(tmp_path: Path, emulator: RunningEmulator) -> None:
    """A tenant's ``policy:`` without ``name_pattern`` keeps the file's (mutation testing of
    policy.py found that reached by no test)."""
    path = tmp_path / "channels.yaml"
    path.write_text(
        "version: 1\npolicy: {name_pattern: '^Team [A-Z]'}\n"
        f"tenants:\n  staging:\n    url: {emulator.url}\n    policy: {{rules: {{https-endpoint: deny}}}}\n"
        "channels:\n  - name: sms bridge\n"
    )
    staging = run_cli(
        ["plan", str(path), "--tenant", "staging", "--format", "json"], {"OMNIDESK_API_KEY": emulator.key}
    )
    assert staging.exit_code == 0, staging.output
    assert [(f["rule"], f["channel"]) for f in json.loads(staging.stdout)["findings"]] == [
        ("channel-name", "sms bridge")
    ]

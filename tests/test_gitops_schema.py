"""schemas/plan.schema.json documents every JSON plan the tool writes; each test's plans are checked.

``assert_plan_valid`` is the one check; the render, rename and pipeline tests call it on the plans
they produce, and the tests here cover the CLI's ``plan --format json`` and saved plan files.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from clihelp import assert_plan_valid, run_cli

from reconciler.plan import PLAN_FORMAT_VERSION

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "plan.schema.json"


def test_schema_pins_the_format_version():
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    for kind in ("plan", "report"):  # one tenant's plan, and the all-tenants report
        version = schema["$defs"][kind]["properties"]["format_version"]
        assert version == {"const": PLAN_FORMAT_VERSION, "description": version["description"]}
    assert schema["oneOf"] == [{"$ref": "#/$defs/plan"}, {"$ref": "#/$defs/report"}]


CHANNELS = """\
version: 1
prune: true
channels:
  - name: SMS gateway
    icon: phone
    custom_channel_endpoint: https://bridges.example.com/sms
    custom_channel_secret: ${env:SMS_SECRET}
  - name: Instagram DM
    previous_names: [Instagram bridge]
    include_signature: true
    custom_channel_secret: ${env:IG_SECRET}
"""


@pytest.fixture
def tenant(emulator, tmp_path: Path):
    emulator.emu.seed_channels(
        [
            {"name": "Instagram bridge", "icon": "chat"},
            {"name": "Old web form"},
        ]
    )
    path = tmp_path / "channels.yaml"
    path.write_text(CHANNELS, encoding="utf-8")
    env = {"OMNIDESK_URL": emulator.url, "OMNIDESK_API_KEY": emulator.key, "SMS_SECRET": "a", "IG_SECRET": "b"}
    return str(path), env


def test_cli_json_plan_matches_the_schema(tenant):
    path, env = tenant
    result = run_cli(["plan", path, "--format", "json"], env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["summary"] == {"create": 1, "update": 1, "delete": 1}
    assert_plan_valid(data)


def test_saved_plan_member_matches_the_schema(tenant, tmp_path: Path):
    path, env = tenant
    out = tmp_path / "plan.json"
    result = run_cli(["plan", path, "--out", str(out), "--rotate-secrets"], env)
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["format_version"] == PLAN_FORMAT_VERSION
    assert_plan_valid(document["plan"])


def test_schema_rejects_what_a_reader_could_not_use():
    good = {
        "format_version": 2,
        "tool_version": "0",
        "target": "t",
        "prune": False,
        "rotate_secrets": False,
        "custom_total": 0,
        "summary": {"create": 0, "update": 0, "delete": 0},
        "changes": [],
        "unmanaged": [],
        "missing_secrets": {},
    }
    assert_plan_valid(good)
    for bad in (
        {**good, "format_version": 1},
        {**good, "changes": [{"action": "update", "name": "x"}]},  # an update without id/before/after
        {**good, "changes": [{"action": "delete", "name": "x", "id": 1, "before": {}}]},
        {**good, "secret_value": "s3cret"},
    ):
        with pytest.raises(AssertionError):
            assert_plan_valid(bad)

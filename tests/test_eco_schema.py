"""One reading of the channels file everywhere: the loader, check-jsonschema, Ajv and the editors' YAML server.

The edge-case table (``YAML_CASES``: the string cases of ``test_schema.py``, YAML 1.2's booleans and
numbers, templates with the characters beside them) is one channels file; for every case the
loader (``validate --offline``), check-jsonschema (ruamel.yaml, regress), Ajv in strict mode (with
the ``yaml`` package that yaml-language-server reads files with) and yaml-language-server give the
same verdict. Hover text is checked per field.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler import model
from reconciler.config import load_all_views
from reconciler.errors import ConfigError
from reconciler.model import FIELDS, pattern_matches
from reconciler.schema import load_schema, schema_path
from tests.eco_tools import LanguageServer, python_tool, run_node
from tests.test_schema import EMPTY_IS_DEFAULT, STRING_CASES

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = [ROOT / "schemas" / "channels.schema.json", ROOT / "schemas" / "plan.schema.json"]

# The seed's regexes, verbatim (docs/explanation/api-contract.md), read by Python's re as the API would.
SEED = {
    "name": r"^[a-zA-Z0-9 \.\-\_]+$",
    "icon": r"^[a-zA-Z0-9\-\_]+$",
    "custom_channel_endpoint": r"^[a-zA-Z0-9\.\:\/\-?&=]+$",
    "custom_channel_warning_en": r"^[0-9a-zA-Z\-\_\:\;\>\+\(\)\/\!\?\,\.\#\@\$\*\&À-ȕ\' ]+$",
    "custom_channel_warning_nl": r"^[0-9a-zA-Z\-\_\:\;\>\+\(\)\/\!\?\,\.\#\@\$\*\&À-ȕ\' ]+$",
}
# Every code point but the surrogates, which no str from YAML or JSON can hold alone.
EVERY_CHARACTER = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)


@pytest.mark.parametrize("field", list(SEED))
def test_each_pattern_accepts_exactly_the_seeds_characters(field: str) -> None:
    seed_class = re.fullmatch(r"\^(\[.*\])\+\$", SEED[field]).group(1)  # type: ignore[union-attr]
    ours = FIELDS[field].pattern
    assert ours is not None and ours != SEED[field]
    ours_class = re.fullmatch(r"\^(\[.*\])\+\$", ours).group(1)  # type: ignore[union-attr]
    seed_set = set(re.findall(seed_class, EVERY_CHARACTER))
    assert set(re.findall(ours_class, EVERY_CHARACTER)) == seed_set
    ecma = python_tool("regress").Regex(ours_class, flags="u")
    encoded = EVERY_CHARACTER.encode()  # regress gives matches as slices of the UTF-8 bytes
    assert {encoded[m.range()].decode() for m in ecma.find_iter(EVERY_CHARACTER)} == seed_set


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.name)
def test_check_jsonschema_accepts_the_schemas(path: Path) -> None:
    python_tool("check_jsonschema")
    proc = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--check-metaschema", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok -- validation done" in proc.stdout


def test_every_pattern_in_the_schemas_is_a_unicode_ecma_regex() -> None:
    patterns = []
    for path in SCHEMAS:
        patterns += re.findall(r'"pattern": ("(?:[^"\\]|\\.)*")', path.read_text(encoding="utf-8"))
    assert len(patterns) >= 10
    regress = python_tool("regress")
    for pattern in patterns:
        regress.Regex(json.loads(pattern), flags="u")  # raises on an invalid escape


# The edge-case table as YAML text: (field, the value as written in the file, accepted). The string
# cases of test_schema.py are written double-quoted (always strings); the rest are how YAML 1.2 reads
# a plain value (editors and validators do), then templates and the characters beside them.
YAML_CASES: list[tuple[str, str, bool]] = [
    *[(f, json.dumps(v), ok or (v == "" and f in EMPTY_IS_DEFAULT)) for f, v, ok in STRING_CASES],
    ("include_signature", "true", True),
    ("include_signature", "True", True),
    ("include_signature", "FALSE", True),
    ("include_signature", "yes", False),  # YAML 1.1's booleans are strings in 1.2: "write true or false"
    ("include_signature", "no", False),
    ("include_signature", "on", False),
    ("include_signature", "off", False),
    ("include_signature", "Yes", False),
    ("include_signature", "OFF", False),
    ("include_signature", "tRue", False),
    ("include_signature", '"true"', False),
    ("include_signature", "1", False),
    ("include_signature", "~", False),
    ("custom_channel_available_in_quick_ticket", "y", False),
    ("custom_channel_available_in_quick_ticket", "false", True),
    ("icon", "0o17", False),  # numbers in YAML 1.2 where a string is expected: "quote it"
    ("icon", "1e3", False),
    ("icon", "0x1F", False),
    ("icon", "017", False),
    ("icon", ".inf", False),
    ("name", "1.5", False),
    ("name", "null", False),
    ("custom_channel_endpoint", "1E3", False),
    ("custom_channel_warning_en", "0x1F", False),
    ("icon", "'0o17'", True),
    ("icon", "no", True),  # strings in YAML 1.2
    ("icon", "on", True),
    ("name", "yes", True),
    ("name", "Off", True),
    ("name", "tRue", True),
    ("custom_channel_endpoint", "2001-01-01", True),
    ("custom_channel_endpoint", "12:30:00", True),
    ("custom_channel_warning_nl", "yes", True),
    *[
        (f, json.dumps(v), ok)
        for f in SEED
        for v, ok in (
            ("${env:SOME_NAME}", True),
            ("a${var:bridge_host}b", True),
            ("${env:A}-${var:brand}", True),
            ("${env:X}%", False),  # no field allows '%'
            ("${host}", False),
            ("${env:}", False),
            ("${env:X", False),
            ("$${env:X}", False),  # a literal ${: no field allows '{'
        )
    ],
    ("name", json.dumps("${var:brand}_2"), True),
    ("name", json.dumps("${var:brand}/2"), False),
    ("icon", json.dumps("sms-${var:brand}"), True),
    ("icon", json.dumps("sms ${var:brand}"), False),
    ("custom_channel_endpoint", json.dumps("https://${var:bridge_host}/x"), True),
    ("custom_channel_endpoint", json.dumps("https://x.com/a_b/${env:Y}"), False),
    ("custom_channel_endpoint", json.dumps("https://${env:HOST}/a b"), False),
    ("custom_channel_warning_en", json.dumps("Costs 5$ ${var:brand}"), True),
    ("custom_channel_warning_en", json.dumps("5$${var:brand}"), False),
    ("custom_channel_warning_nl", json.dumps("${var:brand} 100%"), False),
    ("secret_version", "1", True),
    ("secret_version", "12", True),
    ("secret_version", "2.0", True),  # an integer to JSON Schema, so to the tool too
    ("secret_version", "0", False),
    ("secret_version", "-1", False),
    ("secret_version", "1.5", False),
    ("secret_version", '"2"', False),
    ("secret_version", "true", False),
    ("secret_version", "~", False),
]
# A tenant with the vars the templates use: the loader substitutes them and checks again.
TENANTS = "tenants:\n  acme:\n    url: https://acme.omnidesk.com\n    vars: {bridge_host: bridges, brand: Acme}\n"


def _row(field: str, written: str) -> list[str]:
    if field == "name":
        return [f"  - name: {written}"]
    if field == "secret_version":  # needs a secret beside it
        return ["  - name: Probe", "    custom_channel_secret: ${env:PROBE_SECRET}", f"    {field}: {written}"]
    return ["  - name: Probe", f"    {field}: {written}"]


def _table_yaml() -> tuple[str, list[int]]:
    """The whole table as one channels file, and the 0-based line of each case's value."""
    lines = ["version: 1", *TENANTS.splitlines(), "channels:"]
    value_lines = []
    for field, written, _ in YAML_CASES:
        row = _row(field, written)
        lines += row
        value_lines.append(len(lines) - 1)
    return "\n".join(lines) + "\n", value_lines


def _refused(paths: list[str]) -> set[int]:
    """Channel indexes named by error paths like ``/channels/3/icon`` or ``$.channels[3].icon``."""
    found = set()
    for path in paths:
        match = re.search(r"channels(?:/|\[)(\d+)", path)
        assert match, path
        found.add(int(match.group(1)))
    return found


EXPECTED_REFUSED = {i for i, (_, _, ok) in enumerate(YAML_CASES) if not ok}


def test_the_table_covers_every_string_and_boolean_field_both_ways() -> None:
    for field, spec in FIELDS.items():
        if spec.kind != "secret":
            assert {ok for f, _, ok in YAML_CASES if f == field} == {True, False}, field


def test_the_loader_agrees_with_the_table(tmp_path: Path) -> None:
    """``validate --offline`` (no environment): each case alone, so names never collide."""
    verdicts = []
    for i, (field, written, _) in enumerate(YAML_CASES):
        path = tmp_path / f"case{i}.yaml"
        path.write_text(
            "\n".join(["version: 1", *TENANTS.splitlines(), "channels:", *_row(field, written)]) + "\n",
            encoding="utf-8",
        )
        try:
            load_all_views(path, offline=True)
            verdicts.append(True)
        except ConfigError:
            verdicts.append(False)
    assert {i for i, ok in enumerate(verdicts) if not ok} == EXPECTED_REFUSED, [
        YAML_CASES[i] for i in {i for i, ok in enumerate(verdicts) if not ok} ^ EXPECTED_REFUSED
    ]


def test_the_models_patterns_agree_with_the_table() -> None:
    for field, written, ok in YAML_CASES:
        if written.startswith('"') and field in FIELDS and FIELDS[field].pattern:
            value = json.loads(written)
            assert pattern_matches(FIELDS[field].schema_pattern or "", value) is ok, (field, value)


def test_check_jsonschema_agrees_with_the_table(tmp_path: Path) -> None:
    python_tool("check_jsonschema")
    instance = tmp_path / "channels.yaml"
    instance.write_text(_table_yaml()[0], encoding="utf-8")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--schemafile",
            str(schema_path()),
            "--output-format",
            "json",
            str(instance),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = json.loads(proc.stdout)
    assert not report.get("parse_errors"), report
    refused = _refused([e["path"] for e in report["errors"]])
    assert refused == EXPECTED_REFUSED, [YAML_CASES[i] for i in refused ^ EXPECTED_REFUSED]


AJV = r"""
const Ajv2020 = require("ajv/dist/2020").default;
const YAML = require("yaml");  // YAML 1.2, the reader yaml-language-server uses
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const out = {};
for (const [name, schema] of Object.entries(input.schemas)) {
  const ajv = new Ajv2020({strict: true, allErrors: true});
  try { ajv.compile(schema); out[name] = null; } catch (e) { out[name] = e.message; }
}
const ajv = new Ajv2020({strict: true, allErrors: true});
const validate = ajv.compile(input.schemas.channels);
validate(YAML.parse(input.text));
process.stdout.write(JSON.stringify({compile: out, errors: (validate.errors || []).map(e => e.instancePath)}));
"""


def test_ajv_strict_compiles_both_schemas_and_agrees_with_the_table() -> None:
    schemas = {p.name.split(".")[0]: json.loads(p.read_text(encoding="utf-8")) for p in SCHEMAS}
    result = run_node(AJV, {"schemas": schemas, "text": _table_yaml()[0]})
    assert result["compile"] == {"channels": None, "plan": None}
    refused = _refused(result["errors"])
    assert refused == EXPECTED_REFUSED, [YAML_CASES[i] for i in refused ^ EXPECTED_REFUSED]


def _editor(tmp_path: Path) -> tuple[LanguageServer, Path]:
    path = tmp_path / "channels.yaml"
    server = LanguageServer(
        {
            "yaml": {
                "validate": True,
                "hover": True,
                "schemas": {schema_path().as_uri(): str(path)},
                "schemaStore": {"enable": False},
            }
        }
    )
    server.start(tmp_path)
    return server, path


def test_the_editors_yaml_server_agrees_with_the_table_and_names_the_pattern(tmp_path: Path) -> None:
    text, value_lines = _table_yaml()
    server, path = _editor(tmp_path)
    try:
        diagnostics = server.diagnostics(path, text)
    finally:
        server.close()
    row_of = {line: i for i, line in enumerate(value_lines)}
    flagged = {row_of[d["range"]["start"]["line"]]: d["message"] for d in diagnostics}
    assert set(flagged) == EXPECTED_REFUSED, [YAML_CASES[i] for i in set(flagged) ^ EXPECTED_REFUSED]
    for index, message in flagged.items():
        field, written, _ = YAML_CASES[index]
        if written.startswith('"') and field in FIELDS and FIELDS[field].pattern:
            assert message == f'String does not match the pattern of "{FIELDS[field].schema_pattern}".', message


def test_hover_shows_each_fields_own_description(tmp_path: Path) -> None:
    """Every key of a channel shows its own rule and example, never the text about templates."""
    channel = load_schema()["$defs"]["channel"]["properties"]
    described = {k: (load_schema()["$defs"]["name"] if k == "name" else v)["description"] for k, v in channel.items()}
    text = "version: 1\nchannels:\n  - " + "\n    ".join(f"{k}: x" for k in described) + "\n"
    server, path = _editor(tmp_path)
    try:
        server.diagnostics(path, text)
        shown = {}
        for line, key in enumerate(described, start=2):
            hover = server.request(
                "textDocument/hover",
                {"textDocument": {"uri": path.as_uri()}, "position": {"line": line, "character": 5}},
            )
            shown[key] = re.sub(r"\\(.)", r"\1", hover["contents"]["value"])  # markdown escapes
    finally:
        server.close()
    for key, description in described.items():
        assert f"\n\n{description}\n\n" in shown[key], (key, shown[key])
        assert "Example: " in description
        assert ("${env:NAME}" in shown[key]) is (key == "custom_channel_secret"), key


def test_python_dollar_is_translated_everywhere_in_a_pattern() -> None:
    # "^$|..." has a $ before the |: Python's own $ would accept "\n" there.
    pattern = FIELDS["custom_channel_endpoint"].schema_pattern or ""
    assert pattern.startswith(model.EMPTY_ALTERNATIVE)
    assert pattern_matches(pattern, "") and not pattern_matches(pattern, "\n")
    assert pattern_matches(r"^[$]+$", "$$") and not pattern_matches(r"^a\$$", "a$\n")

"""Standard validators read the schema as we do: check-jsonschema, Ajv and the editors' YAML server.

The edge-case table of ``test_schema.py`` gains columns: for every case, the model, our schema
validator, the emulator (in ``test_schema.py``), Ajv (ECMA-262 regexes with the unicode flag),
check-jsonschema (regress, an ECMA-262 engine) and yaml-language-server (what editors run) agree.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reconciler import model
from reconciler.model import FIELDS, pattern_matches
from reconciler.schema import schema_path, validator
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

# Beyond the table: templates (accepted whatever the field's regex says) and malformed ones.
TEMPLATE_CASES: list[tuple[str, str, bool]] = [
    (field, value, ok)
    for field in SEED
    for value, ok in (
        ("https://${var:bridge_host}/x_y", True),
        ("${env:SOME_NAME}", True),
        ("${host}", False),
        ("${env:}", False),
    )
]
CASES = [(f, v, ok or (v == "" and f in EMPTY_IS_DEFAULT)) for f, v, ok in STRING_CASES] + TEMPLATE_CASES


def _channel(field: str, value: str) -> dict[str, str]:
    return {"name": value} if field == "name" else {"name": "Probe", field: value}


def _cases_document() -> dict[str, Any]:
    return {"version": 1, "channels": [_channel(f, v) for f, v, _ in CASES]}


def _refused(paths: list[str]) -> set[int]:
    """Channel indexes named by error paths like ``/channels/3/icon`` or ``$.channels[3].icon``."""
    found = set()
    for path in paths:
        match = re.search(r"channels(?:/|\[)(\d+)", path)
        assert match, path
        found.add(int(match.group(1)))
    return found


def _expected_refused() -> set[int]:
    return {i for i, (_, _, ok) in enumerate(CASES) if not ok}


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
        capture_output=True, text=True, timeout=120,
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


def test_the_model_and_our_validator_agree_with_the_table() -> None:
    errors = list(validator().iter_errors(_cases_document()))
    assert _refused(["/".join(map(str, e.absolute_path)) for e in errors]) == _expected_refused()
    for field, value, ok in STRING_CASES:
        assert pattern_matches(FIELDS[field].pattern or "", value) is ok, (field, value)


def test_check_jsonschema_agrees_with_the_table(tmp_path: Path) -> None:
    python_tool("check_jsonschema")
    instance = tmp_path / "cases.json"
    instance.write_text(json.dumps(_cases_document()), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--schemafile", str(schema_path()),
         "--output-format", "json", str(instance)],
        capture_output=True, text=True, timeout=120,
    )
    report = json.loads(proc.stdout)
    assert _refused([e["path"] for e in report["errors"]]) == _expected_refused()


AJV = r"""
const Ajv2020 = require("ajv/dist/2020").default;
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const out = {};
for (const [name, schema] of Object.entries(input.schemas)) {
  // Ajv's defaults: strict mode, regexes compiled with the unicode flag.
  const ajv = new Ajv2020({allErrors: true, allowUnionTypes: true});
  try { ajv.compile(schema); out[name] = null; } catch (e) { out[name] = e.message; }
}
const ajv = new Ajv2020({allErrors: true});
const validate = ajv.compile(input.schemas.channels);
validate(input.document);
process.stdout.write(JSON.stringify({compile: out, errors: (validate.errors || []).map(e => e.instancePath)}));
"""


def test_ajv_compiles_the_schemas_and_agrees_with_the_table() -> None:
    schemas = {p.name.split(".")[0]: json.loads(p.read_text(encoding="utf-8")) for p in SCHEMAS}
    result = run_node(AJV, {"schemas": schemas, "document": _cases_document()})
    assert result["compile"] == {"channels": None, "plan": None}
    assert _refused(result["errors"]) == _expected_refused()


def _flow_yaml(document: dict[str, Any]) -> str:
    """One channel per line (JSON is YAML), so line N+2 is case N."""
    lines = ["version: 1", "channels:"]
    lines += ["  - " + json.dumps(channel) for channel in document["channels"]]
    return "\n".join(lines) + "\n"


def test_the_editors_yaml_server_agrees_with_the_table_and_names_the_pattern(tmp_path: Path) -> None:
    path = tmp_path / "channels.yaml"
    text = _flow_yaml(_cases_document())
    schema_uri = schema_path().as_uri()
    server = LanguageServer({"yaml": {"validate": True, "schemas": {schema_uri: str(path)},
                                      "schemaStore": {"enable": False}}})
    try:
        server.start(tmp_path)
        diagnostics = server.diagnostics(path, text)
    finally:
        server.close()
    flagged = {d["range"]["start"]["line"] - 2: d["message"] for d in diagnostics}
    assert set(flagged) == _expected_refused(), diagnostics
    for index, message in flagged.items():
        field, value, _ = CASES[index]
        assert message == f'String does not match the pattern of "{FIELDS[field].schema_pattern}".', (value, message)


def test_python_dollar_is_translated_everywhere_in_a_pattern() -> None:
    # "^$|..." has a $ before the |: Python's own $ would accept "\n" there.
    pattern = FIELDS["custom_channel_endpoint"].schema_pattern or ""
    assert pattern.startswith(model.EMPTY_ALTERNATIVE)
    assert pattern_matches(pattern, "") and not pattern_matches(pattern, "\n")
    assert pattern_matches(r"^[$]+$", "$$") and not pattern_matches(r"^a\$$", "a$\n")

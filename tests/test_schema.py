"""The JSON Schema mirrors the contract: regexes, defaults, ECMA anchoring; and the emulator agrees."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from reconciler import model
from reconciler.emulator import Emulator
from reconciler.model import FIELDS, PUT_ONLY_FIELDS, pattern_matches
from reconciler.schema import is_valid_fast, load_schema, schema_path, validator

ENDPOINT_REFUSED = "_%~#+"

# (field, value, accepted by the field's regex). Strings only; empty strings are in the table too.
STRING_CASES: list[tuple[str, str, bool]] = [
    ("name", "SMS gateway", True),
    ("name", "a", True),
    ("name", "a_b.c-d 9", True),
    ("name", " ", True),  # the regex allows a lone space; the contract does not refuse it
    ("name", "x" * 5000, True),
    ("name", "", False),
    ("name", "SMS gateway\n", False),
    ("name", "a/b", False),
    ("name", "naïve", False),
    ("name", "tab\there", False),
    ("icon", "chat", True),
    ("icon", "sms-2_x", True),
    ("icon", "", False),
    ("icon", "a b", False),
    ("icon", "a.b", False),
    ("icon", "chat\n", False),
    ("custom_channel_endpoint", "https://x.com/omnidesk/api/message", True),
    ("custom_channel_endpoint", "http://h:8080/p?a=b&c=d", True),
    ("custom_channel_endpoint", "https://x.com/" + "a" * 5000, True),
    ("custom_channel_endpoint", "", False),
    ("custom_channel_endpoint", "https://x.com/a b", False),
    ("custom_channel_endpoint", "https://x.com/ä", False),
    ("custom_channel_endpoint", "https://x.com/a\n", False),
    *[("custom_channel_endpoint", f"https://x.com/a{ch}b", False) for ch in ENDPOINT_REFUSED],
    ("custom_channel_warning_en", "Replies can take up to 1 hour", True),
    ("custom_channel_warning_en", "-_:;>+()/!?,.#@$*&' ", True),
    ("custom_channel_warning_en", "À", True),  # U+00C0, first of the range
    ("custom_channel_warning_en", "ȕ", True),  # U+0215, last of the range
    ("custom_channel_warning_en", "Één ö ü é", True),
    ("custom_channel_warning_en", "x" * 10000, True),
    ("custom_channel_warning_en", "", False),
    ("custom_channel_warning_en", "¿", False),  # U+00BF, just below
    ("custom_channel_warning_en", "Ȗ", False),  # U+0216, just above
    ("custom_channel_warning_en", "€5", False),
    ("custom_channel_warning_en", "100%", False),
    ("custom_channel_warning_en", '"quoted"', False),
    ("custom_channel_warning_en", "a<b", False),
    ("custom_channel_warning_en", "one\ntwo", False),
    ("custom_channel_warning_en", "Replies can take up to 1 hour\n", False),
    ("custom_channel_warning_nl", "Antwoorden kunnen tot 1 uur duren", True),
    ("custom_channel_warning_nl", "", False),
    ("custom_channel_warning_nl", "¿", False),
]
# Fields whose default is '' accept an empty string in the file ("the default"), though the regex does not.
EMPTY_IS_DEFAULT = {n for n, s in FIELDS.items() if s.default == ""}

BOOLEAN_CASES: list[tuple[Any, bool]] = [
    (True, True),
    (False, True),
    ("true", False),
    ("false", False),
    (1, False),
    (0, False),
    (None, False),
]


def _document(field: str, value: Any) -> dict[str, Any]:
    channel = {"name": "Probe"}
    channel[field] = value
    return {"version": 1, "channels": [channel]}


def _schema_accepts(field: str, value: Any) -> bool:
    return not list(validator().iter_errors(_document(field, value)))


@pytest.mark.parametrize(("field", "value", "regex_ok"), STRING_CASES, ids=lambda v: repr(v)[:40])
def test_schema_and_model_agree(field: str, value: str, regex_ok: bool) -> None:
    assert pattern_matches(FIELDS[field].pattern, value) is regex_ok
    allowed_empty = value == "" and field in EMPTY_IS_DEFAULT
    assert _schema_accepts(field, value) is (regex_ok or allowed_empty)


def test_every_string_field_and_refused_endpoint_character_is_in_the_table() -> None:
    fields = {f for f, _, _ in STRING_CASES}
    assert fields == {n for n, s in FIELDS.items() if s.kind == "string"}
    for field in fields:
        assert {ok for f, _, ok in STRING_CASES if f == field} == {True, False}
    refused = {v[-2] for f, v, ok in STRING_CASES if f == "custom_channel_endpoint" and v.endswith("b")}
    assert set(ENDPOINT_REFUSED) <= refused


@pytest.mark.parametrize("field", ["include_signature", "custom_channel_available_in_quick_ticket"])
@pytest.mark.parametrize(("value", "ok"), BOOLEAN_CASES)
def test_booleans_are_real_booleans(field: str, value: Any, ok: bool) -> None:
    assert _schema_accepts(field, value) is ok


def test_secret_is_any_string_but_a_string() -> None:
    assert _schema_accepts("custom_channel_secret", "any thing\n_%~#+{}")
    assert _schema_accepts("custom_channel_secret", "")
    assert not _schema_accepts("custom_channel_secret", 12345)


@pytest.mark.parametrize("field", [n for n, s in FIELDS.items() if s.kind == "string"])
def test_whole_templates_pass_the_schema_and_characters_beside_them_are_checked(field: str) -> None:
    assert _schema_accepts(field, "${env:SOME_NAME}")
    assert _schema_accepts(field, "a-${var:bridge_host}-${env:X}")
    assert not _schema_accepts(field, "a%${var:bridge_host}")  # no field allows '%'
    assert not _schema_accepts(field, "${host}")
    assert not _schema_accepts(field, "${env:}")
    assert not _schema_accepts(field, "$${env:X}")  # a literal ${: no field allows '{'


def test_ecma_dollar_does_not_match_before_a_trailing_newline() -> None:
    value = "chat\n"
    assert re.search(model.ICON_PATTERN, value)  # Python's $ would let it through
    assert not pattern_matches(model.ICON_PATTERN, value)
    plain = Draft202012Validator({"type": "string", "pattern": model.ICON_PATTERN})
    assert plain.is_valid(value)  # the stock validator has the bug...
    assert not _schema_accepts("icon", value)  # ...ours does not
    assert _schema_accepts("icon", "chat")


def _walk(node: Any) -> list[Any]:
    found = [node]
    if isinstance(node, dict):
        for value in node.values():
            found += _walk(value)
    elif isinstance(node, list):
        for value in node:
            found += _walk(value)
    return found


def test_schema_is_valid_2020_12_with_an_id() -> None:
    schema = load_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"]
    assert schema_path().name == "channels.schema.json"


def test_every_object_refuses_unknown_keys() -> None:
    for node in _walk(load_schema()):
        if isinstance(node, dict) and node.get("type") == "object":
            assert "additionalProperties" in node, node
            if "properties" in node:
                assert node["additionalProperties"] is False, node


def test_regexes_and_defaults_mirror_the_model_verbatim() -> None:
    defs = load_schema()["$defs"]
    channel = defs["channel"]["properties"]
    for name, spec in FIELDS.items():
        prop = defs["name"] if name == "name" else channel[name]
        if spec.pattern is not None:
            assert prop["pattern"] == spec.schema_pattern and "if" not in prop
        if spec.default is None:
            assert "default" not in prop
        else:
            assert prop["default"] == spec.default and type(prop["default"]) is type(spec.default)
    assert set(channel) - {"previous_names", "tenants", "secret_version"} == set(FIELDS)


def test_version_is_required_and_must_be_one() -> None:
    v = validator()
    assert v.is_valid({"version": 1, "channels": []})
    assert not v.is_valid({"channels": []})
    assert not v.is_valid({"version": 2, "channels": []})
    assert not v.is_valid({"version": 1, "channels": [], "extra": 1})


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x250) | st.just("\n"), max_size=20))
def test_schema_agrees_with_the_model_on_any_warning(value: str) -> None:
    if "${" in value:
        return
    expected = value == "" or pattern_matches(model.WARNING_PATTERN, value)
    assert _schema_accepts("custom_channel_warning_nl", value) is expected


def _post(field: str, value: str) -> int:
    """The emulator's status for a write of ``value``: POST, or for a PUT-only field, PUT after a POST."""
    headers = {"apiKey": "demo", "content-type": "application/json"}
    emu = Emulator()
    try:
        if field in PUT_ONLY_FIELDS:
            _status, _headers, created = emu.handle("POST", "/api/v2/channel", {}, headers, b'{"name": "Probe"}')
            path = f"/api/v2/channel/{json.loads(created)['item']['id']}"
            status, _headers, _body = emu.handle("PUT", path, {}, headers, json.dumps({field: value}).encode())
            return status
        body = {"name": value} if field == "name" else {"name": "Probe", field: value}
        status, _headers, _body = emu.handle("POST", "/api/v2/channel", {}, headers, json.dumps(body).encode())
    finally:
        emu.close()
    return status


@pytest.mark.parametrize(("field", "value", "regex_ok"), STRING_CASES, ids=lambda v: repr(v)[:40])
def test_emulator_answers_like_the_schema(field: str, value: str, regex_ok: bool) -> None:
    expected = 200 if regex_ok or (value == "" and field in EMPTY_IS_DEFAULT) else 400
    assert _post(field, value) == expected


def _fast_agrees(document: dict[str, Any]) -> None:
    """The compiled validator (valid files) answers exactly like the one that reports errors."""
    fast = is_valid_fast(document)
    assert fast is not None, "jsonschema-rs is a dependency: it must answer for JSON-like data"
    assert fast is not bool(list(validator().iter_errors(document)))


@pytest.mark.parametrize(("field", "value", "regex_ok"), STRING_CASES, ids=lambda v: repr(v)[:40])
def test_the_compiled_validator_agrees_on_every_regex_case(field: str, value: str, regex_ok: bool) -> None:
    _fast_agrees(_document(field, value))
    _fast_agrees(_document(field, f"{value}${{env:X}}"))


@pytest.mark.parametrize(("value", "ok"), BOOLEAN_CASES)
def test_the_compiled_validator_agrees_on_booleans(value: Any, ok: bool) -> None:
    _fast_agrees(_document("include_signature", value))

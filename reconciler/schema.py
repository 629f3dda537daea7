"""The shipped JSON Schemas (channels file, saved plan), and validators that read regexes as editors do.

The schemas live in ``schemas/`` in the repository; the wheel carries them as
``reconciler/schemas/`` (see pyproject's force-include).

Two validators for the channels file: ``is_valid_fast`` (jsonschema-rs, compiled: about 100x
faster, answers only yes or no) for the common case of a valid file, and ``validator()``
(jsonschema) whose errors the loader turns into messages. Both are imported on first use, so a
command that validates nothing never pays for them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.model import pattern_matches

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator, ValidationError

SCHEMA_FILE = "channels.schema.json"
PLAN_SCHEMA_FILE = "plan.schema.json"
# ``omnidesk-channels schema KIND`` prints these; ``init`` writes the channels one beside a file.
SCHEMA_FILES = {"channels": SCHEMA_FILE, "plan": PLAN_SCHEMA_FILE}

_FOLDERS = (
    Path(__file__).parent / "schemas",  # installed wheel
    Path(__file__).parent.parent / "schemas",  # repository / editable install
)


def schema_path(name: str = SCHEMA_FILE) -> Path:
    """Where a schema file is, installed or in the repository."""
    for folder in _FOLDERS:
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"{name} not found in: " + ", ".join(str(f) for f in _FOLDERS))


def schema_text(kind: str = "channels") -> str:
    """The text of a shipped schema (``channels`` or ``plan``), exactly as in the file."""
    return _load_schema_text(SCHEMA_FILES[kind])


@cache
def _load_schema_text(name: str = SCHEMA_FILE) -> str:
    return schema_path(name).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def plan_validator() -> Draft202012Validator:
    """A validator of one tenant's plan (``plan --format json``, the plan in a saved plan).

    The schema file also describes the all-tenants report; a saved plan holds one plan only.
    """
    from jsonschema import Draft202012Validator

    schema = json.loads(_load_schema_text(PLAN_SCHEMA_FILE))
    return Draft202012Validator({"$schema": schema["$schema"], "$ref": "#/$defs/plan", "$defs": schema["$defs"]})


def load_schema() -> dict[str, Any]:
    """The channels file schema as a fresh dict (callers may change their copy)."""
    schema: dict[str, Any] = json.loads(_load_schema_text())
    return schema


def _ecma_pattern(validator: Any, pattern: str, instance: Any, schema: dict[str, Any]) -> Iterator[ValidationError]:
    # jsonschema uses Python's re.search, whose ``$`` also matches before a final newline, so a
    # value from a YAML ``|`` block would pass here and be refused by the API.
    from jsonschema import ValidationError

    if validator.is_type(instance, "string") and not pattern_matches(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


@lru_cache(maxsize=1)
def _ecma_validator_class() -> type[Draft202012Validator]:
    from jsonschema import Draft202012Validator, validators

    # types-jsonschema leaves validators.extend unannotated
    return validators.extend(Draft202012Validator, validators={"pattern": _ecma_pattern})  # type: ignore[no-untyped-call,no-any-return]


def validator() -> Draft202012Validator:
    """A draft 2020-12 validator for the channels file whose ``pattern`` follows ECMA-262."""
    return _ecma_validator_class()(load_schema())


@lru_cache(maxsize=1)
def _compiled() -> Any:
    try:
        import jsonschema_rs
    except ImportError:  # no wheel for this platform: validator() does all the work
        return None
    return jsonschema_rs.validator_for(load_schema())


def is_valid_fast(instance: Any) -> bool | None:
    """Whether the channels file data is valid, by the compiled validator; None when it cannot tell.

    It cannot tell when jsonschema-rs is not installed or the data holds a value JSON has no type
    for (a date or bytes from YAML). Its regexes are ECMA-262's like ``validator()``'s; a test
    holds the two to the same answer on every case of the schema's regex table.
    """
    compiled = _compiled()
    if compiled is None:
        return None
    try:
        return bool(compiled.is_valid(instance))
    except (ValueError, TypeError, OverflowError):
        return None

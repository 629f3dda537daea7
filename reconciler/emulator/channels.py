"""A channel as the contract validates a write and shows it in an answer (quirks included)."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Set
from typing import Any

from reconciler.emulator.contract import CHANNEL_FIELDS, CUSTOM, SECRET, matches, mismatch, to_bool
from reconciler.emulator.routes import Refusal

# The contract: a server ignores these on POST, silently (they are not validated either).
PUT_ONLY = frozenset(f.name for f in CHANNEL_FIELDS if not f.on_post)
EXTRA_FIELDS = {"created_at": "2024-01-01T00:00:00Z", "brand_id": 1, "meta": {"source": "emulator"}}


def clean(raw: Mapping[str, Any], *, require_name: bool) -> dict[str, Any]:
    """The known fields of a write, validated; unknown fields are ignored (contract)."""
    out: dict[str, Any] = {}
    for spec in CHANNEL_FIELDS:
        name = spec.name
        if name not in raw:
            continue
        value = raw[name]
        if spec.kind == "boolean":
            try:
                out[name] = to_bool(value)
            except ValueError:
                said = f"{name} must be true or false (or 1 or 0), got {value!r}"
                raise Refusal(400, said, field=name) from None
            continue
        if not isinstance(value, str):
            raise Refusal(400, f"{name} must be a string, got {json.dumps(value)}", field=name)
        # A value equal to the default is always valid: '' resets endpoint and warnings
        # although their regexes need one character (the contract's trap).
        if spec.regex and value != spec.default and not matches(spec.regex, value):
            raise Refusal(400, f"{name} {mismatch(spec.regex, value)}", field=name)
        out[name] = value
    if require_name and "name" not in out:
        raise Refusal(400, "name is required", field="name")
    return out


def new_channel(channel_id: int, fields: Mapping[str, Any]) -> dict[str, Any]:
    """A custom channel as stored, with every field (defaults for those not given)."""
    # Key order as the contract shows a channel: id, type, name, then the other fields.
    values = {spec.name: fields.get(spec.name, spec.default) for spec in CHANNEL_FIELDS}
    return {"id": channel_id, "type": CUSTOM, **values}


def render(channel: Mapping[str, Any], quirks: Set[str]) -> dict[str, Any]:
    """A channel as answered: no secret, booleans and extras as the quirks say."""
    out = {k: v for k, v in channel.items() if k != SECRET}
    for spec in CHANNEL_FIELDS:
        name = spec.name
        if spec.kind == "boolean" and name in out:
            if "bools-as-strings" in quirks:
                out[name] = "true" if out[name] else "false"
            elif "bools-as-ints" in quirks:
                out[name] = int(out[name])
    if "null-endpoint" in quirks and out.get("custom_channel_endpoint") == "":
        out["custom_channel_endpoint"] = None
    if "extra-fields" in quirks:
        out.update(copy.deepcopy(EXTRA_FIELDS))
    return out

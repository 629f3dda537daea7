"""The channel as the contract defines it: fields, regexes, defaults, and tolerant parsing.

This module is the one place the package knows the contract's field table (a copy is in
``tests/data/contract-fields.md``). The JSON Schema in ``schemas/`` mirrors it; the emulator has its
own table (``reconciler/emulator/contract.py``), and tests keep all of them in agreement.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from reconciler.errors import Problem
from reconciler.interpolation import WHOLE_TOKEN

# The contract's regexes, spelled so that Python's re and ECMA-262 with the unicode flag (JSON
# Schema's ``pattern``, Ajv, editors) read them alike: the seed escapes characters such as ``\_``
# and ``\:``, which the unicode flag refuses. Each accepts exactly the seed's characters (a test
# compares them code point by code point).
NAME_PATTERN = r"^[a-zA-Z0-9 .\-_]+$"
ICON_PATTERN = r"^[a-zA-Z0-9\-_]+$"
ENDPOINT_PATTERN = r"^[a-zA-Z0-9.:/\-?&=]+$"
WARNING_PATTERN = r"^[0-9a-zA-Z\-_:;>+()/!?,.#@$*&À-ȕ' ]+$"
DIGITS_PATTERN = r"^[0-9]+$"
# Put before a regex in the schema, for fields whose default is '' (see FieldSpec.schema_pattern).
EMPTY_ALTERNATIVE = "^$|"


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: str  # "string" | "boolean" | "secret"
    pattern: str | None
    default: Any

    @property
    def schema_pattern(self) -> str | None:
        """The pattern the JSON Schema gives: the field's characters or whole templates, or empty.

        Whole ``${env:NAME}``/``${var:NAME}`` tokens pass beside the field's own characters, so an
        editor flags a bad character next to a template (the tool checks the value again after
        substitution). Empty is allowed for a field whose default is ''. One pattern rather than an
        ``anyOf``, so that editors name it when a value breaks it (they report an ``anyOf`` by its
        first branch).
        """
        if self.pattern is None:
            return None
        templated = with_templates(self.pattern)
        return templated if self.default != "" else EMPTY_ALTERNATIVE + templated


def with_templates(pattern: str) -> str:
    """A field regex (``^[...]+$``) that also lets whole templates through, as ``interpolation`` reads them.

    Where the field allows ``$`` itself, a ``$`` may not start ``$${`` (interpolation's literal
    ``${``, whose ``{`` no field allows) nor stand before a template: the tool refuses both.
    """
    char_class = _CHAR_CLASS.fullmatch(pattern).group(1)  # type: ignore[union-attr]
    if "$" in char_class:
        char_class = char_class.replace("$", "") + r"|\$(?!\$?\{)"
    return f"^(?:{char_class}|{WHOLE_TOKEN})+$"


# Every field regex of the contract is one character class, repeated: ``^[...]+$``.
_CHAR_CLASS = re.compile(r"\^(\[.*\])\+\$")


def field_pattern(schema_pattern: str) -> str:
    """The field's own regex for a schema pattern: no empty alternative, no template tokens."""
    pattern = schema_pattern.removeprefix(EMPTY_ALTERNATIVE)
    own = {with_templates(p): p for p in (NAME_PATTERN, ICON_PATTERN, ENDPOINT_PATTERN, WARNING_PATTERN)}
    return own.get(pattern, pattern)


def without_templates(value: str) -> str:
    """``value`` with its whole ``${env:NAME}``/``${var:NAME}`` tokens taken out, and ``$${`` as the
    ``${`` it writes."""
    if "${" not in value:
        return value
    return _TOKEN_OR_ESCAPE.sub(lambda m: "${" if m.group(0) == "$${" else "", value)


_TOKEN_OR_ESCAPE = re.compile(r"\$\$\{|" + WHOLE_TOKEN)


FIELDS: dict[str, FieldSpec] = {
    spec.name: spec
    for spec in (
        FieldSpec("name", "string", NAME_PATTERN, None),
        FieldSpec("icon", "string", ICON_PATTERN, "chat"),
        FieldSpec("custom_channel_endpoint", "string", ENDPOINT_PATTERN, ""),
        FieldSpec("custom_channel_secret", "secret", None, ""),
        FieldSpec("custom_channel_warning_en", "string", WARNING_PATTERN, ""),
        FieldSpec("custom_channel_warning_nl", "string", WARNING_PATTERN, ""),
        FieldSpec("include_signature", "boolean", None, False),
        FieldSpec("custom_channel_available_in_quick_ticket", "boolean", None, False),
    )
}

SECRET_FIELD = "custom_channel_secret"
# Fields compared between the file and the tenant. The secret is write-only, so it is never diffed.
MANAGED_FIELDS: tuple[str, ...] = tuple(n for n in FIELDS if n != SECRET_FIELD)
CUSTOM_TYPE = "custom"
CHANNEL_PATH = "/api/v2/channel"
# The contract's POST takes only these; the other fields are PUT-only and a server ignores them on
# POST without a word, so a create that needs one is a POST and then a PUT to the new id.
POST_FIELDS: tuple[str, ...] = ("name", "icon", "custom_channel_endpoint", SECRET_FIELD, "include_signature")
PUT_ONLY_FIELDS: tuple[str, ...] = tuple(n for n in MANAGED_FIELDS if n not in POST_FIELDS)


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    # JSON Schema patterns are ECMA-262: without the m flag, ``$`` matches only at the very end.
    # Python's ``$`` also matches before a final newline, so every ``$`` anchor becomes ``\Z``
    # (a ``$`` that is escaped or inside a character class is a dollar sign and stays).
    out: list[str] = []
    in_class = escaped = False
    for ch in pattern:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "$":
            ch = r"\Z"
        out.append(ch)
    return re.compile("".join(out))


def pattern_matches(pattern: str, value: str) -> bool:
    """Match ``value`` the way a JSON Schema (ECMA-262) validator would."""
    return _compiled(pattern).search(value) is not None


def offending_characters(pattern: str, value: str) -> list[str]:
    """Characters of ``value`` that the pattern's character class refuses, in order, unique."""
    match = re.fullmatch(r"\^(\[.*\])\+\$", pattern)
    if not match:
        return []
    char_class = re.compile(match.group(1))
    seen: list[str] = []
    for ch in value:
        if not char_class.fullmatch(ch) and ch not in seen:
            seen.append(ch)
    return seen


def describe_mismatch(pattern: str, value: str, *, where: str = "") -> str:
    """A sentence saying why ``value`` does not match, naming the refused characters.

    ``where`` says which part of the value was checked, e.g. " beside its templates".
    """
    if value == "" and not where:
        return "must not be empty (leave the field out to get its default)"
    bad = offending_characters(pattern, value)
    if not bad:
        return f"does not match {pattern}{where}"
    shown = ", ".join(_show_char(ch) + " is not allowed" for ch in bad)
    return f"does not match {pattern}{where}: {shown}"


def _show_char(ch: str) -> str:
    names = {"\n": "a line break", "\t": "a tab", "\r": "a carriage return", " ": "a space"}
    return names.get(ch, repr(ch))


def parse_bool(value: Any) -> bool:
    """The contract's tolerated booleans: true/false, "true"/"false", 1/0 (and "1"/"0")."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "1"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "0", ""):
        return False
    raise ValueError(f"not a boolean: {value!r}")


def format_bool(value: bool) -> str:
    """Booleans on the wire are the strings 'true' / 'false'."""
    return "true" if value else "false"


# (name, is it a boolean, its value when absent) of each managed field, for normalize_fields
_NORMALIZED = tuple(
    (
        n,
        FIELDS[n].kind == "boolean",
        FIELDS[n].default if FIELDS[n].default is not None or FIELDS[n].kind == "boolean" else "",
    )
    for n in MANAGED_FIELDS
)


def normalize_fields(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The managed fields of a channel, with defaults filled in and tolerated forms folded."""
    out: dict[str, Any] = {}
    for name, boolean, default in _NORMALIZED:
        value = raw.get(name)
        if value is None:
            out[name] = default
        elif boolean:
            out[name] = value if type(value) is bool else parse_bool(value)
        else:
            out[name] = value if type(value) is str else str(value)
    return out


def to_form(fields: Mapping[str, Any]) -> dict[str, str]:
    """Encode fields for a multipart/form body: booleans as 'true'/'false', the rest as strings."""
    out: dict[str, str] = {}
    for name, value in fields.items():
        out[name] = format_bool(value) if isinstance(value, bool) else str(value)
    return out


@dataclass(frozen=True)
class RemoteChannel:
    """A channel as read from the tenant (the list endpoint), normalised."""

    id: int
    type: str
    fields: Mapping[str, Any]  # the MANAGED_FIELDS, normalised; includes "name"

    @property
    def name(self) -> str:
        return str(self.fields["name"])

    @property
    def is_custom(self) -> bool:
        return self.type == CUSTOM_TYPE

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> RemoteChannel:
        """Parse one list/item entry; unknown extra fields are dropped, tolerated forms folded.

        Raises ``ValueError`` (or ``KeyError``/``TypeError``) if the item cannot be a channel.
        """
        return cls(
            id=int(item["id"]),
            type=str(item.get("type") or ""),
            fields=normalize_fields(item),
        )


@dataclass(frozen=True)
class SecretRef:
    """A channel's secret as the file gives it; ``value`` is None when its variable is unset."""

    value: str | None
    env_var: str | None = None  # set when the file said ${env:NAME}

    def __repr__(self) -> str:  # never show the value, even in a traceback or a debugger
        state = "set" if self.value is not None else "unset"
        return f"SecretRef(env_var={self.env_var!r}, {state})"


@dataclass(frozen=True)
class DesiredChannel:
    """A channel as the channels file wants it, after substitution and defaults."""

    fields: Mapping[str, Any]  # the MANAGED_FIELDS with defaults filled in; includes "name"
    secret: SecretRef | None = None  # None: the file does not mention the secret
    previous_names: tuple[str, ...] = ()
    line: int | None = None  # where the channel starts in the file, for messages
    tenants: tuple[str, ...] | None = None  # the file's `tenants:` list: None means every tenant
    # the endpoint's credential query parameters and the ${env:NAME} each is read from (endpoints.py)
    endpoint_env: Mapping[str, str] = field(default_factory=dict)
    secret_version: int | None = None  # raised: the secret is sent again (secretversions.py)
    # where secret_version is written (file, line, path; no message): a plan refusing a lowered one points there
    secret_version_at: Problem | None = None

    @property
    def name(self) -> str:
        return str(self.fields["name"])


@dataclass(frozen=True)
class Tenant:
    name: str
    url: str | None
    api_key_env: str | None
    vars: Mapping[str, str] = field(default_factory=dict)
    auth: str | None = None  # where the key goes: header | query | authorization (None: the default)
    ignore: tuple[str, ...] = ()  # this tenant's own ignore: patterns (see reconciler/ignore.py)
    safety: Mapping[str, float] = field(default_factory=dict)  # this tenant's thresholds (reconciler/thresholds.py)
    policy: Mapping[str, Any] = field(default_factory=dict)  # this tenant's policy: section (reconciler/policy.py)


@dataclass(frozen=True)
class ChannelsFile:
    """A loaded, validated channels file (for one tenant when a tenant was chosen)."""

    path: str
    channels: tuple[DesiredChannel, ...]
    prune: bool = False
    tenants: Mapping[str, Tenant] = field(default_factory=dict)
    tenant: str | None = None  # the tenant the channels were resolved for
    ignore: tuple[str, ...] = ()  # the file's top-level ignore: patterns (ignore.view_ignore adds the tenant's)
    safety: Mapping[str, float] = field(default_factory=dict)  # the file's thresholds (reconciler/thresholds.py)
    policy: Mapping[str, Any] = field(default_factory=dict)  # the file's policy: section (reconciler/policy.py)
    # Located like problems, but the file still loads: ``validate --strict`` makes them errors.
    warnings: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class Baseline:
    """A channel whose ``secret_version`` has no record yet: apply records it, sends nothing."""

    name: str
    id: int
    version: int

    def to_data(self) -> dict[str, Any]:
        return {"name": self.name, "id": self.id, "secret_version": self.version}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Baseline:
        return cls(str(data["name"]), int(data["id"]), int(data["secret_version"]))


@dataclass(frozen=True)
class Recorded:
    """One tenant's recorded secret versions (channel id -> version) and the record file they come
    from (``secretversions.py`` reads and writes it; the planner only compares)."""

    versions: Mapping[int, int]
    path: str

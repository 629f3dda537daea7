"""YAML 1.2's core schema for plain scalars: what a value means, as editors and validators read it.

PyYAML resolves plain scalars by YAML 1.1: ``yes``/``no``/``on``/``off`` are booleans, ``017`` is
octal, ``0o17`` and ``1e3`` are strings, ``2001-01-01`` is a date. yaml-language-server, Ajv's and
check-jsonschema's YAML readers follow YAML 1.2 instead, so a file read by 1.1 rules can pass here
and fail in the editor, or the reverse. ``Yaml12Loader`` resolves by the 1.2 core schema: only
``true``/``false`` (also ``True``, ``TRUE``, ...) are booleans, ``0o17``, ``0x1F``, ``1e3`` and
``.inf`` are numbers, and everything else a 1.1 reader would turn into a boolean, a date or a
sexagesimal number is a string. Explicit tags (``!!timestamp``) still construct what they name.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import yaml

# libyaml's parser (when PyYAML was built with it) gives the same nodes and marks, 2-3x faster;
# resolving is done in Python either way, so the 1.2 rules below apply to both.
_BASE: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# The core schema's regular expressions (YAML 1.2.2, section 10.3.2), first characters included.
# The empty first character is PyYAML's key for the empty scalar (null).
_RESOLVERS: list[tuple[str, str, list[str]]] = [
    ("tag:yaml.org,2002:bool", r"true|True|TRUE|false|False|FALSE", list("tTfF")),
    ("tag:yaml.org,2002:int", r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+", list("-+0123456789")),
    (
        "tag:yaml.org,2002:float",
        r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)",
        list("-+.0123456789"),
    ),
    ("tag:yaml.org,2002:null", r"~|null|Null|NULL|", [*"~nN", ""]),
    ("tag:yaml.org,2002:merge", r"<<", ["<"]),  # merge keys (<<: *defaults): not 1.2, but every tool here reads them
]


class Yaml12Loader(_BASE):  # type: ignore[valid-type,misc]
    """A safe loader whose plain scalars mean what they mean in YAML 1.2's core schema."""

    yaml_implicit_resolvers: ClassVar[dict[Any, list[tuple[str, re.Pattern[str]]]]] = {}


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    """``017`` is seventeen in YAML 1.2 (1.1 read it as octal); ``0o17`` and ``0x1F`` keep their base."""
    text = str(loader.construct_scalar(node))
    body = text.lstrip("+-")
    sign = -1 if text.startswith("-") else 1
    if body[:2] in ("0o", "0x"):
        return sign * int(body[2:], 8 if body[1] == "o" else 16)
    return sign * int(body, 10)


for _tag, _regex, _first in _RESOLVERS:
    Yaml12Loader.add_implicit_resolver(_tag, re.compile(rf"^(?:{_regex})$"), _first)
Yaml12Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)

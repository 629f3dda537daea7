"""YAML values in messages: a value's path, a key cut before what may be a secret, a value cut
and escaped, and how YAML read a value (``reads_as``)."""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable
from typing import Any

import yaml

from reconciler.printable import printable

PathT = tuple[str | int, ...]


def format_path(path: Iterable[str | int]) -> str:
    """``('channels', 2, 'name')`` -> ``channels[2].name`` (keys as ``shown_key`` gives them)."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{shown_key(part)}" if out else shown_key(part))
    return out


_KEY_END = re.compile(r"[\s:=]")


def shown_key(key: str) -> str:
    """A key for messages, cut at its first space, ``:`` or ``=``.

    No key of a channels file has one; a key that does is usually a line whose value lost its
    separator (``custom_channel_secret:s3cret`` is one key to YAML), and that value may be a secret.
    """
    end = _KEY_END.search(key)
    return cut(key) if end is None else cut(key[: end.start()]) + "…"


def reads_as(node: yaml.Node | None, value: Any, *, secret: bool = False) -> str:
    """How YAML understood a value, for messages (never echoing a secret)."""
    shown = "the secret" if secret else (cut(node.value) if isinstance(node, yaml.ScalarNode) else "")
    if isinstance(value, bool):
        return f"YAML reads {shown} as a boolean" + ("" if secret else f" ({str(value).lower()})")
    if isinstance(value, (int, float)):
        return f"YAML reads {shown} as a number" + ("" if secret else f" ({cut(repr(value))})")
    if isinstance(value, (datetime.date, datetime.datetime)):
        return f"YAML reads {shown} as a date"
    if value is None:
        empty = not isinstance(node, yaml.ScalarNode) or node.value == ""
        return "the value is empty" if empty else f"YAML reads {shown} as null"
    if isinstance(value, list):
        return "it is a list"
    if isinstance(value, dict):
        return "it is a mapping"
    if isinstance(value, str):
        return "it is the secret string" if secret else f"it is the string {show(value)}"
    return f"it is a {type(value).__name__}"


def show(value: str, limit: int = 80) -> str:
    """``repr`` of a value for messages, cut after ``limit`` characters."""
    if len(value) <= limit:
        return repr(value)
    return repr(value[: limit - 3]) + f"... ({len(value)} characters)"


def cut(text: str, limit: int = 80) -> str:
    """``text`` for messages, cut after ``limit`` characters, unprintable characters escaped."""
    return printable(text if len(text) <= limit else text[: limit - 3] + f"... ({len(text)} characters)")

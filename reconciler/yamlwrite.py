"""YAML text for many string values at once: plain where a value is plainly plain, the rest in one dump.

``export`` and ``import`` write thousands of values. PyYAML's representer costs far more per value
than the text it makes, and most values (names, URLs, ``${env:...}`` placeholders) are plain
scalars anyway. ``plain`` recognises those without the emitter, conservatively: it says yes only
where PyYAML's emitter would write the string as it is too (tests/test_export_dumper.py holds the
two to the same text). Every other string goes through one dump of all of them as a block list,
by libyaml's emitter where PyYAML was built with it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import cast

import yaml

STR_TAG = "tag:yaml.org,2002:str"
# Characters that never make a plain scalar need quotes, at its start and after it; a plain
# scalar is also never followed by ": ", ends in ":" or space, or reads as anything but a string.
# (A long value is left to the emitter, which folds plain text past its width.)
_PLAIN = re.compile(r"[A-Za-z0-9_$/(][A-Za-z0-9_$/().,:;=?&+~{}\- ]{0,999}")
# What a YAML 1.2 reader (an editor's language server, other tools) takes for a null, boolean or
# number: written plain, the loader (YAML 1.1) would read a string there, they would not.
YAML12_NOT_STR = re.compile(
    r"(?:~|null|Null|NULL|true|True|TRUE|false|False|FALSE"
    r"|[-+]?[0-9][0-9_]*|0o[0-7_]+|0x[0-9a-fA-F_]+"
    r"|[-+]?(?:\.[0-9_]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))"
)
_RESOLVER = yaml.resolver.Resolver()  # the loader's (YAML 1.1) idea of what a plain scalar is
_WIDTH = 1_000_000  # never fold a value over two lines


def plain(text: str, *, yaml12: bool = False) -> bool:
    """Whether ``text`` is written as it is, unquoted (``yaml12``: also where a YAML 1.2 reader
    would take it for something else than a string)."""
    if _PLAIN.fullmatch(text) is None or ": " in text or text[-1] in ": ":
        return False
    # the resolver only has rules for some first characters (digits, signs, y/n/t/f/o, ...)
    return text[0] not in _RESOLVER.yaml_implicit_resolvers or (
        not (yaml12 and YAML12_NOT_STR.fullmatch(text))
        # types-PyYAML leaves Resolver.resolve unannotated
        and _RESOLVER.resolve(yaml.ScalarNode, text, (True, False)) == STR_TAG  # type: ignore[no-untyped-call]
    )


class Quoted(str):
    """A string the emitter must write between single quotes (where it can)."""


class DoubleQuoted(str):
    """A string the emitter must write between double quotes."""


def _with_quotes(base: type[yaml.SafeDumper]) -> type[yaml.SafeDumper]:
    dumper = cast(type[yaml.SafeDumper], type(f"Quoting{base.__name__}", (base,), {}))
    dumper.add_representer(Quoted, lambda d, data: d.represent_scalar(STR_TAG, str(data), style="'"))
    dumper.add_representer(DoubleQuoted, lambda d, data: d.represent_scalar(STR_TAG, str(data), style='"'))
    return dumper


# libyaml's emitter when PyYAML was built with it: the same text as PyYAML's own, several times faster
FAST_DUMPER: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_FAST = _with_quotes(FAST_DUMPER)
_PURE = _with_quotes(yaml.SafeDumper)


def dump_scalars(texts: Sequence[str], *, pure: bool = False) -> list[str] | None:
    """Each string as the emitter writes it as a block list entry (or a mapping's value), in one
    dump; None when one of them took more than a line. ``pure``: PyYAML's own emitter."""
    if not texts:
        return []
    dumped = yaml.dump(
        list(texts), Dumper=_PURE if pure else _FAST, default_flow_style=False, allow_unicode=True, width=_WIDTH
    )
    lines = dumped.splitlines()
    if len(lines) != len(texts) or any(line[:2] != "- " for line in lines):
        return None
    return [line[2:] for line in lines]


def scalars(texts: Sequence[str], *, pure: bool = False) -> list[str] | None:
    """Each string as PyYAML writes it as a block mapping's value: the plain ones as they are, the
    rest in one dump; None when one of them takes more than a line."""
    rendered = [text if plain(text) else None for text in texts]
    dumped = dump_scalars([text for text, done in zip(texts, rendered, strict=True) if done is None], pure=pure)
    if dumped is None:
        return None
    rest = iter(dumped)
    return [done if done is not None else next(rest) for done in rendered]

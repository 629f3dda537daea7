"""YAML nodes to Python values, and (when asked) where each value and key is written.

The converter locates every problem of a single value (an unreadable scalar, a duplicate key, an
unsupported tag) as a ``Problem`` and refuses, with ``fatal``, what would make it recurse or copy
without end: nesting deeper than ``MAX_DEPTH``, an alias inside its own anchor, aliases that add
more than ``MAX_ALIAS_VALUES`` values or ``MAX_ALIAS_CHARS`` characters.
"""

from __future__ import annotations

from typing import Any, cast

import yaml

from reconciler.errors import ConfigError, Problem
from reconciler.yamlshow import PathT, cut, format_path, reads_as, shown_key

# Values, and characters of text, that aliases may add when expanded; a real file adds a few hundred
# values (shared defaults, merged with <<) and never repeats long texts hundreds of times.
MAX_ALIAS_VALUES = 100_000
MAX_ALIAS_CHARS = 1_000_000
# A channels file nests five levels (file, channels, channel, tenants, name); deeper is a mistake,
# and the converter and the checks recurse once per level.
MAX_DEPTH = 32

_STR_TAG = "tag:yaml.org,2002:str"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_KINDS = {
    "tag:yaml.org,2002:int": "an integer",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:bool": "a boolean (true or false)",
    "tag:yaml.org,2002:timestamp": "a date",
    "tag:yaml.org,2002:null": "null",
    "tag:yaml.org,2002:binary": "base64 data",
}
_LONG_SCALAR = 16
_INT_DIGITS = 4300  # Python's default int_max_str_digits
_INT_BITS = int(_INT_DIGITS * 3.3219)  # the bits of an integer of _INT_DIGITS decimal digits (log2 10 = 3.3219...)


def fatal(file: str, message: str, line: int | None = None, column: int | None = None) -> ConfigError:
    """An error that stops reading: nothing after it can be checked."""
    return ConfigError(Problem(file, line, column, "", message))


class Converter:
    """YAML nodes to Python values; with ``record``, also the node of every value and key by path.

    Recording is off when a file is first read: the map holds a path for every value (about a
    fifth of a plan's peak memory at 10,000 channels), and only a problem to place needs it, so
    ``reconciler.yamlread.Document`` converts again, recording, the first time it places one.

    It also refuses what would make it recurse without end or copy without end: nesting deeper
    than MAX_DEPTH, an alias inside its own anchor, and aliases that add more than
    MAX_ALIAS_VALUES values when copied out. Only what aliases add counts, so a long file
    written out in full is fine (MAX_FILE_BYTES caps it) while a few lines of nested aliases
    are not.
    """

    def __init__(self, file: str, loader: yaml.SafeLoader, *, record: bool = False) -> None:
        self.file = file
        self.loader = loader
        self.record = record
        self.values: dict[PathT, yaml.Node] = {}
        self.keys: dict[PathT, yaml.Node] = {}
        # Line and column of every mapping and list, recorded or not: each channel's line is needed
        # by every plan, and these are a few per channel where values are dozens.
        self.places: dict[PathT, tuple[int, int]] = {}
        self.problems: list[Problem] = []
        self.bad: set[PathT] = set()
        self._seen: set[int] = set()  # collections converted once: seeing one again is an alias
        self._open: set[int] = set()  # collections being converted (an alias to one is recursive)
        self._copying = 0  # > 0 while inside an alias's copy
        self._added = 0  # values added by aliases so far
        self._added_chars = 0  # characters of text added by aliases so far
        # Long scalars converted once: seeing one again is an alias adding its text (a short one adds
        # no more than the alias itself takes to write).
        self._scalars: set[int] = set()

    def _report(self, node: yaml.Node, path: PathT, message: str, *, bad_value: bool = True) -> None:
        mark = node.start_mark
        line, column = mark.line + 1, mark.column + 1
        self.problems.append(Problem(self.file, line, column, format_path(path), message))
        if bad_value:
            self.bad.add(path)

    def _count_copy(self, node: yaml.Node) -> None:
        """Count what an alias adds: one value, and the text of a scalar, however long."""
        self._added += 1
        if isinstance(node, yaml.ScalarNode):
            self._added_chars += len(node.value)
        if self._added > MAX_ALIAS_VALUES or self._added_chars > MAX_ALIAS_CHARS:
            mark = node.start_mark
            raise fatal(
                self.file,
                f"YAML aliases (*name) expand to more than {MAX_ALIAS_VALUES:,} extra values or "
                f"{MAX_ALIAS_CHARS:,} characters of text: this looks like an alias bomb; write the values out instead",
                mark.line + 1,
                mark.column + 1,
            )

    def convert(self, node: yaml.Node, path: PathT, depth: int = 1) -> Any:
        if self.record:
            self.values[path] = node
        if self._copying or id(node) in self._scalars:
            self._count_copy(node)
        if isinstance(node, yaml.ScalarNode):
            self.places.pop(path, None)  # a merged-in list or mapping that an explicit key replaced
            if len(node.value) > _LONG_SCALAR:
                self._scalars.add(id(node))
            if node.tag == _STR_TAG:
                return node.value
            value, problem = self._scalar(node, "value")
            if problem:
                self._report(node, path, problem)
            return value
        self.places[path] = node.start_mark.line + 1, node.start_mark.column + 1
        if node.tag != (_SEQ_TAG if isinstance(node, yaml.SequenceNode) else _MAP_TAG):
            self._report(node, path, f"unsupported YAML tag {_short(node.tag)}: remove it")
            return None
        return self._collection(node, path, depth)

    def _collection(self, node: yaml.Node, path: PathT, depth: int) -> Any:
        key = id(node)
        mark = node.start_mark
        if key in self._open:
            raise fatal(self.file, "an alias refers to itself (a recursive anchor)", mark.line + 1, mark.column + 1)
        if depth > MAX_DEPTH:
            raise fatal(
                self.file,
                f"the YAML is nested more than {MAX_DEPTH} levels deep here; a channels file "
                "needs five: check the brackets and the indentation",
                mark.line + 1,
                mark.column + 1,
            )
        copy = key in self._seen
        self._seen.add(key)
        self._open.add(key)
        self._copying += copy
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.convert(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
            return self._mapping(cast(yaml.MappingNode, node), path, depth)  # not a scalar, not a sequence
        finally:
            self._copying -= copy
            self._open.discard(key)

    def _scalar(self, node: yaml.ScalarNode, what: str) -> tuple[Any, str | None]:
        """The value, or None and why YAML cannot read it (never quoting the text: it may be a secret)."""
        tag = node.tag
        if tag not in self.loader.yaml_constructors:
            return None, f"unsupported YAML tag {_short(tag)}: remove it"
        if tag == "tag:yaml.org,2002:int" and sum(c.isdigit() for c in node.value) > _INT_DIGITS:
            problem = f"a number of more than {_INT_DIGITS} digits is too long to read"
        else:
            try:
                value = self.loader.construct_object(node, deep=True)
            except Exception:
                problem = f"YAML reads this {what} as {_KINDS.get(tag, _short(tag))}, but it is not a valid one"
            else:
                # 0x…, 0o…, 0b… and sexagesimal (1:0:…) integers have fewer digits than their value has
                # in decimal: one that could not be written out in decimal is refused here, by its size.
                if not isinstance(value, int) or value.bit_length() <= _INT_BITS:
                    return value, None
                problem = f"a number of more than {_INT_DIGITS} decimal digits is too long to read"
        return None, f"{problem}: {_fix(node, self.loader, what)}"

    def _mapping(self, node: yaml.MappingNode, path: PathT, depth: int) -> dict[str, Any]:
        explicit: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        first_seen: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                # YAML merge keys (<<: *defaults): explicit keys win, earlier merges win.
                many = isinstance(value_node, yaml.SequenceNode)
                sources = value_node.value if many else [value_node]
                for source in sources:
                    if not isinstance(source, yaml.MappingNode) or source.tag != _MAP_TAG:
                        self._report(source, path, "`<<` merges only mappings")
                        continue
                    for k, v in self._collection(source, path, depth).items():
                        merged.setdefault(k, v)
                self.places[path] = node.start_mark.line + 1, node.start_mark.column + 1
                if self.record:
                    self.values[path] = node
                continue
            key = self._key(key_node, path)
            if key is None:
                continue
            if key in first_seen:
                first = first_seen[key].start_mark.line + 1
                mark = key_node.start_mark
                self.problems.append(
                    Problem(
                        self.file,
                        mark.line + 1,
                        mark.column + 1,
                        format_path((*path, key)),
                        f"duplicate key '{shown_key(key)}' (first on line {first}, again on line {mark.line + 1}): "
                        "YAML would silently keep only the last one; remove one of them",
                    )
                )
                continue
            first_seen[key] = key_node
            if self.record:
                self.keys[(*path, key)] = key_node
            explicit[key] = self.convert(value_node, (*path, key), depth + 1)
        return {**merged, **explicit}

    def _key(self, node: yaml.Node, path: PathT) -> str | None:
        if not isinstance(node, yaml.ScalarNode):
            message = "a key must be a plain name, not a list or mapping"
            self._report(node, path, message, bad_value=False)
            return None
        if node.tag == _STR_TAG:
            return str(node.value)
        key, problem = self._scalar(node, "key")
        if problem:
            self._report(node, path, problem, bad_value=False)
            return None
        if not isinstance(key, str):
            message = f"a key must be a string, but {reads_as(node, key)}: quote it: '{cut(node.value)}'"
            self._report(node, path, message, bad_value=False)
            return None
        return key


def _short(tag: str) -> str:
    return "!!" + tag[len("tag:yaml.org,2002:") :] if tag.startswith("tag:yaml.org,2002:") else tag


def _fix(node: yaml.ScalarNode, loader: yaml.SafeLoader, what: str) -> str:
    """How to repair an unreadable scalar: drop an explicit tag, or quote an implicit one."""
    plain = not node.style  # libyaml gives "" for a plain scalar, the pure-Python parser None
    # types-PyYAML leaves Resolver.resolve unannotated
    implicit = loader.resolve(yaml.ScalarNode, node.value, (plain, not plain))  # type: ignore[no-untyped-call]
    if implicit != node.tag:
        return f"remove the tag {_short(node.tag)} (or quote the {what} to make it a string)"
    return f"quote the {what} to make it a string"

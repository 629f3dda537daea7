"""A plain YAML file's values straight from libyaml's events, without building a node for any of them.

Most channels files are plain: no anchor, alias, tag or merge key, no duplicate key, no value
YAML cannot read. For those, ``plain_values`` gives the same values and the same line and column
of every list and mapping as composing the nodes and converting them (``reconciler.yamlnodes``)
would, in about half the time: composing builds a node, and resolves its tag, for every value of
a 10,000-channel file, only for the converter to walk them again. Anything else (a syntax error
too) returns None: the caller then composes the file, and whatever is wrong is reported exactly
as before, from the nodes. The same resolver decides what a plain scalar is (``reconciler.yaml12``),
and scalars other than strings, booleans and nulls are read by the converter itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from reconciler.yaml12 import Yaml12Loader
from reconciler.yamlnodes import MAX_DEPTH, Converter
from reconciler.yamlshow import PathT

# PyYAML built without libyaml has no event parser in C: every file is composed then.
_PARSER: Any = getattr(getattr(yaml, "cyaml", None), "CParser", None)

_STR_TAG = "tag:yaml.org,2002:str"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_NULL_TAG = "tag:yaml.org,2002:null"
_MAP_TAG = "tag:yaml.org,2002:map"
_RESOLVERS = Yaml12Loader.yaml_implicit_resolvers  # first character -> [(tag, regex)], as the composer uses them
_COLLECTIONS = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_ENDS = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


class _NotPlain(Exception):
    """Something in the file needs the nodes: an anchor, a tag, a duplicate key, a deep nesting..."""


@dataclass
class Plain:
    """A plain file's values, the line and column of its lists and mappings, and its root's node (childless)."""

    data: dict[str, Any]
    places: dict[PathT, tuple[int, int]]
    root: yaml.MappingNode


def plain_values(file: str, text: str) -> Plain | None:
    """The values of ``text`` when it is a plain mapping that the converter would read without a problem, else None."""
    if _PARSER is None:
        return None
    parser = _PARSER(text)
    try:
        return _Builder(file, parser).document()
    except (_NotPlain, yaml.YAMLError):
        return None  # composed and converted by the caller, which reports what is wrong
    finally:
        parser.dispose()


class _Builder:
    """Values from events, with an explicit stack (one frame per open list or mapping)."""

    def __init__(self, file: str, parser: Any) -> None:
        self.file = file
        self.next = parser.get_event
        self.places: dict[PathT, tuple[int, int]] = {}
        self._converter: Converter | None = None
        # plain scalars already resolved to a string, a boolean or null: keys (`name:`) and values
        # (`true`) repeat on every channel, and mean the same wherever they are written
        self._known: dict[str, Any] = {}

    def document(self) -> Plain:
        self.next()  # the stream's start
        start = self.next()
        if not isinstance(start, yaml.DocumentStartEvent):
            raise _NotPlain  # an empty file
        first: Any = self.next()
        if not isinstance(first, yaml.MappingStartEvent):
            raise _NotPlain  # the root is not a mapping: the loader says what it is
        data = self._collection(first)
        if not isinstance(self.next(), yaml.DocumentEndEvent) or not isinstance(self.next(), yaml.StreamEndEvent):
            raise _NotPlain  # more than one document
        marks: tuple[Any, Any] = first.start_mark, first.end_mark  # libyaml's marks, typed apart from PyYAML's
        root = yaml.MappingNode(_MAP_TAG, [], *marks)  # its children never composed
        return Plain(data, self.places, root)

    def _collection(self, start: Any) -> Any:
        """The root mapping that ``start`` opens, read up to its end (nested lists and mappings included)."""
        self._open(start, ())
        top: Any = {}
        stack: list[tuple[Any, PathT, Any]] = []  # the parents: (container, path, its key for this child)
        container: Any = top
        where: PathT = ()
        key: Any = None
        in_list = False
        next_event, scalar, resolvers, known = self.next, yaml.ScalarEvent, _RESOLVERS, self._known  # once per event
        while True:
            event = next_event()
            kind = type(event)
            if kind is scalar:
                if event.anchor is not None or event.tag is not None:
                    raise _NotPlain
                value = event.value
                if event.implicit[0] and value[:1] in resolvers:  # plain, and maybe not a string
                    value = known[value] if value in known else self._resolved(event, where)
            elif kind in _COLLECTIONS:
                child = (*where, len(container) if in_list else key)
                if len(stack) + 2 >= MAX_DEPTH or (key is None and not in_list):
                    raise _NotPlain  # too deep for the converter, or a list or mapping as a key
                self._open(event, child)
                stack.append((container, where, key))
                in_list = kind is yaml.SequenceStartEvent
                container, where, key = ([] if in_list else {}), child, None
                continue
            elif kind in _ENDS:
                if not stack:
                    return top
                value = container
                container, where, key = stack.pop()
                in_list = type(container) is list
            else:
                raise _NotPlain  # an alias
            if in_list:
                container.append(value)
            elif key is None:
                if type(value) is not str or value in container:
                    raise _NotPlain  # a key that is no string, or a duplicate key: the converter words it
                key = value
            else:
                container[key] = value
                key = None

    def _open(self, event: Any, path: PathT) -> None:
        if event.anchor is not None or event.tag is not None:
            raise _NotPlain
        mark = event.start_mark
        self.places[path] = mark.line + 1, mark.column + 1

    def _resolved(self, event: Any, path: PathT) -> Any:
        """A plain scalar's value as the composer's resolver and the converter read it."""
        value = event.value
        tag = _STR_TAG
        for resolved, regex in _RESOLVERS.get(value[:1], ()):
            if regex.match(value):
                tag = resolved
                break
        if tag in (_STR_TAG, _BOOL_TAG, _NULL_TAG):
            self._known[value] = value if tag == _STR_TAG else (value[0] in "tT" if tag == _BOOL_TAG else None)
            return self._known[value]
        return self._converted(yaml.ScalarNode(tag, value, event.start_mark, event.end_mark, event.style), path)

    def _converted(self, node: yaml.ScalarNode, path: PathT) -> Any:
        """A number (or a merge key) read by the converter, so it means exactly what it means there."""
        if self._converter is None:
            self._converter = Converter(self.file, Yaml12Loader(""))
        value = self._converter.convert(node, path)
        if self._converter.problems:
            raise _NotPlain
        return value

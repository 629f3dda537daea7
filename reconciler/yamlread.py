"""Reading YAML with positions: safe libyaml parsing, size/depth/alias limits, duplicate keys, nodes to values.

``read_document`` is the only way the package reads a YAML file a person wrote. Whatever the
text, it returns a ``Document`` or raises ``ConfigError``: a value YAML cannot construct (a bad
date, ``!!int zz``, a 5,000-digit number) is a located ``Problem``, never an exception, and no
message repeats a scalar that cannot be read (it may be a secret). Syntax errors in indentation
say what went wrong in the writer's terms (see ``reconciler.yamlhints``).
"""
from __future__ import annotations

import datetime
import gc
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Union

import yaml

from reconciler.errors import ConfigError, InputFileError, Problem
from reconciler.filekinds import read_input
from reconciler.printable import printable
from reconciler.yaml12 import Yaml12Loader
from reconciler.yamlhints import explain

MAX_FILE_BYTES = 5 * 1024 * 1024
# Values, and characters of text, that aliases may add when expanded; a real file adds a few hundred
# values (shared defaults, merged with <<) and never repeats long texts hundreds of times.
MAX_ALIAS_VALUES = 100_000
MAX_VALUES = 500_000  # in a file: its lines and commas bound it (see _count_values)
MAX_ALIAS_CHARS = 1_000_000
# A channels file nests five levels (file, channels, channel, tenants, name); deeper is a mistake,
# and the converter and the checks recurse once per level.
MAX_DEPTH = 32

PathT = tuple[Union[str, int], ...]

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

# Plain scalars mean what YAML 1.2 says, as in editors and validators (see reconciler.yaml12).
_LOADER: type[yaml.SafeLoader] = Yaml12Loader


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


@contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a file is loaded.

    Loading allocates hundreds of thousands of containers and no cycles worth collecting; each
    allocation burst otherwise triggers collections that walk everything allocated so far
    (about a fifth of the load time of a 10,000-channel file). The previous state comes back after.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def fatal(file: str, message: str, line: int | None = None, column: int | None = None) -> ConfigError:
    """An error that stops reading: nothing after it can be checked."""
    return ConfigError(Problem(file, line, column, "", message))


@dataclass
class Document:
    """A YAML file as values, with the node of every value and key for locating problems."""

    file: str
    data: Any
    values: dict[PathT, yaml.Node]
    keys: dict[PathT, yaml.Node]
    problems: list[Problem]
    bad: set[PathT]  # values already reported: not checked again
    origins: dict[PathT, str] = field(default_factory=dict)  # values read from another file, by path prefix

    def at(self, path: PathT, *, key: bool = False) -> tuple[int | None, int | None]:
        """1-based line and column of the value at ``path`` (or its key), else of its parent."""
        if key and path in self.keys:
            mark = self.keys[path].start_mark
            return mark.line + 1, mark.column + 1
        while path not in self.values and path:
            path = path[:-1]
        node = self.values.get(path)
        if node is None:
            return None, None
        return node.start_mark.line + 1, node.start_mark.column + 1

    def problem(self, path: PathT, message: str, *, key: bool = False) -> Problem:
        line, column = self.at(path, key=key)
        return Problem(self.file_of(path), line, column, format_path(path), message)

    def file_of(self, path: PathT) -> str:
        """The file the value at ``path`` was read from: this one, or a tenant file grafted in."""
        for end in range(len(path), 0, -1) if self.origins else ():
            origin = self.origins.get(path[:end])
            if origin is not None:
                return origin
        return self.file


def read_document(path: str | os.PathLike[str], text: str | None = None) -> tuple[Document, yaml.Node | None]:
    """Read and convert the file (or ``text``, named ``path``); raise ConfigError only when nothing can be checked.

    Problems with single values (unreadable scalars, duplicate keys, unsupported tags) are
    collected in ``Document.problems``. An empty file is a document whose root node is None.
    """
    file = os.fspath(path)
    text = _read(file) if text is None else text
    _count_values(file, text)
    loader, root = _compose(file, text)
    if root is None:
        return Document(file, None, {}, {}, [], set()), root
    converter = _Converter(file, loader)
    data = converter.convert(root, ())
    return Document(file, data, converter.values, converter.keys, converter.problems, converter.bad), root


# ---------------------------------------------------------------------------------------------
# Bytes to nodes


def _read(file: str) -> str:
    try:
        size = os.path.getsize(file)
        raw = b"" if size > MAX_FILE_BYTES else read_input(file, MAX_FILE_BYTES)
        if size > MAX_FILE_BYTES or len(raw) > MAX_FILE_BYTES:  # a pipe's size shows only once read
            limit = MAX_FILE_BYTES // 1024 // 1024
            shown = f"{size / 1024 / 1024:.1f} MiB" if size > MAX_FILE_BYTES else f"more than {limit} MiB"
            raise fatal(file, f"the file is {shown}; a channels file may be at most {limit} MiB")
    except InputFileError as exc:
        raise fatal(file, str(exc).removeprefix(f"{file}: ")) from None
    except FileNotFoundError:
        raise fatal(file, "no such file") from None
    except IsADirectoryError:
        raise fatal(file, "is a directory, not a channels file") from None
    except OSError as exc:
        raise fatal(file, f"cannot read the file: {exc.strerror}") from None
    except ValueError:  # a NUL byte in the name: no file can have it
        raise fatal(file.replace("\0", "\\0"), "not a file name (it holds a NUL character)") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise fatal(file, f"not UTF-8 text (byte {exc.start}): save the file as UTF-8", line) from None


def _count_values(file: str, text: str) -> None:
    """Refuse, before YAML builds a node for each, a text with more values than any channels file.

    Every value but the first starts a line or follows a comma, so lines and commas bound them:
    cheap to count, where building a million nodes takes seconds and gigabytes.
    """
    bound = text.count("\n") + text.count(",")
    if bound > MAX_VALUES:
        raise fatal(file, f"the file holds up to {bound:,} values (lines and commas); a channels file has at most "
                          f"{MAX_VALUES:,} (20,000 channels of ten fields fit in half of that)")


def _compose(file: str, text: str) -> tuple[yaml.SafeLoader, yaml.Node | None]:
    loader = _LOADER(text)
    try:
        return loader, loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        raise fatal(file, *explain(text, exc, MAX_DEPTH)) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        # libyaml gives the code point, the pure-Python reader the character
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise fatal(file, f"YAML cannot read the control character U+{char:04X}: remove it", line) from None
    except RecursionError:
        raise fatal(file, f"the YAML is nested too deeply: a channels file needs at most {MAX_DEPTH} levels") from None
    except yaml.YAMLError as exc:
        raise fatal(file, f"YAML error: {exc}") from None


# ---------------------------------------------------------------------------------------------
# Nodes to values


class _Converter:
    """YAML nodes to Python values, remembering where each value and key is written.

    It also refuses what would make it recurse without end or copy without end: nesting deeper
    than MAX_DEPTH, an alias inside its own anchor, and aliases that add more than
    MAX_ALIAS_VALUES values when copied out. Only what aliases add counts, so a long file
    written out in full is fine (MAX_FILE_BYTES caps it) while a few lines of nested aliases
    are not.
    """

    def __init__(self, file: str, loader: yaml.SafeLoader) -> None:
        self.file = file
        self.loader = loader
        self.values: dict[PathT, yaml.Node] = {}
        self.keys: dict[PathT, yaml.Node] = {}
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
                mark.line + 1, mark.column + 1,
            )

    def convert(self, node: yaml.Node, path: PathT, depth: int = 1) -> Any:
        self.values[path] = node
        if self._copying or id(node) in self._scalars:
            self._count_copy(node)
        if isinstance(node, yaml.ScalarNode):
            if len(node.value) > _LONG_SCALAR:
                self._scalars.add(id(node))
            if node.tag == _STR_TAG:
                return node.value
            value, problem = self._scalar(node, "value")
            if problem:
                self._report(node, path, problem)
            return value
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
                return [self.convert(item, path + (i,), depth + 1) for i, item in enumerate(node.value)]
            return self._mapping(node, path, depth)
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
            except Exception:  # noqa: BLE001 - PyYAML's constructors raise ValueError, KeyError, IndexError, ...
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
                self.values[path] = node
                continue
            key = self._key(key_node, path)
            if key is None:
                continue
            if key in first_seen:
                first = first_seen[key].start_mark.line + 1
                mark = key_node.start_mark
                self.problems.append(Problem(
                    self.file, mark.line + 1, mark.column + 1, format_path(path + (key,)),
                    f"duplicate key '{shown_key(key)}' (first on line {first}, again on line {mark.line + 1}): "
                    "YAML would silently keep only the last one; remove one of them",
                ))
                continue
            first_seen[key] = key_node
            self.keys[path + (key,)] = key_node
            explicit[key] = self.convert(value_node, path + (key,), depth + 1)
        return {**merged, **explicit}

    def _key(self, node: yaml.Node, path: PathT) -> str | None:
        if not isinstance(node, yaml.ScalarNode):
            message = "a key must be a plain name, not a list or mapping"
            self._report(node, path, message, bad_value=False)
            return None
        if node.tag == _STR_TAG:
            return node.value
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
    return "!!" + tag[len("tag:yaml.org,2002:"):] if tag.startswith("tag:yaml.org,2002:") else tag


def _fix(node: yaml.ScalarNode, loader: yaml.SafeLoader, what: str) -> str:
    """How to repair an unreadable scalar: drop an explicit tag, or quote an implicit one."""
    plain = not node.style  # libyaml gives "" for a plain scalar, the pure-Python parser None
    implicit = loader.resolve(yaml.ScalarNode, node.value, (plain, not plain))
    if implicit != node.tag:
        return f"remove the tag {_short(node.tag)} (or quote the {what} to make it a string)"
    return f"quote the {what} to make it a string"


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

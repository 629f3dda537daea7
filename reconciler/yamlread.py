"""Reading YAML with positions: safe libyaml parsing, size and value limits, one ``Document``.

``read_document`` is the only way the package reads a YAML file a person wrote. Whatever the
text, it returns a ``Document`` or raises ``ConfigError``: a value YAML cannot construct (a bad
date, ``!!int zz``, a 5,000-digit number) is a located ``Problem``, never an exception, and no
message repeats a scalar that cannot be read (it may be a secret). Syntax errors in indentation
say what went wrong in the writer's terms (see ``reconciler.yamlhints``). Nodes become values in
``reconciler.yamlnodes`` (duplicate keys, aliases, depth); ``reconciler.yamlshow`` spells paths and
values for messages.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

import yaml

from reconciler.errors import InputFileError, Problem
from reconciler.filekinds import read_input
from reconciler.yaml12 import Yaml12Loader
from reconciler.yamlevents import plain_values
from reconciler.yamlhints import explain
from reconciler.yamlnodes import MAX_DEPTH, Converter, fatal
from reconciler.yamlshow import PathT, format_path

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_VALUES = 500_000  # in a file: its lines and commas bound it (see _count_values)

# Plain scalars mean what YAML 1.2 says, as in editors and validators (see reconciler.yaml12).
_LOADER: type[yaml.SafeLoader] = Yaml12Loader


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


@dataclass
class Source:
    """A file read into a ``Document``: its values sit under ``prefix`` (a grafted tenant file's)."""

    prefix: PathT
    file: str
    text: str
    tenant: bool = False  # a tenant file: a problem with the tenant's name points at its start


@dataclass
class Document:
    """A YAML file as values; the node of every value and key is found again when a problem is placed.

    ``values`` and ``keys`` map paths to nodes. They are built on first use, by composing and
    converting the sources again: a file without problems never builds them, and its nodes are
    freed once converted (the maps and the nodes they hold were a fifth of a plan's peak memory).
    """

    file: str
    data: Any
    problems: list[Problem]
    bad: set[PathT]  # values already reported: not checked again
    sources: list[Source] = field(default_factory=list)
    places: dict[PathT, tuple[int, int]] = field(default_factory=dict)  # of lists and mappings, always kept
    origins: dict[PathT, str] = field(default_factory=dict)  # values read from another file, by path prefix
    located: tuple[dict[PathT, yaml.Node], dict[PathT, yaml.Node]] | None = field(default=None, repr=False)

    @property
    def values(self) -> dict[PathT, yaml.Node]:
        return self._locate()[0]

    @property
    def keys(self) -> dict[PathT, yaml.Node]:
        return self._locate()[1]

    def graft(self, prefix: PathT, document: Document) -> None:
        """Locate ``document``'s values under ``prefix`` too (a tenant file read into this one)."""
        self.sources.extend(Source(prefix + s.prefix, s.file, s.text, True) for s in document.sources)
        self.places.update((prefix + path, place) for path, place in document.places.items())
        self.located = None

    def _locate(self) -> tuple[dict[PathT, yaml.Node], dict[PathT, yaml.Node]]:
        if self.located is None:
            values: dict[PathT, yaml.Node] = {}
            keys: dict[PathT, yaml.Node] = {}
            for source in self.sources:  # each was read once: composing it again cannot fail
                loader, root = _compose(source.file, source.text)
                converter = Converter(source.file, loader, record=True)
                converter.convert(cast(yaml.Node, root), ())
                values.update((source.prefix + path, node) for path, node in converter.values.items())
                keys.update((source.prefix + path, node) for path, node in converter.keys.items())
                if source.tenant:
                    keys[source.prefix] = cast(yaml.Node, root)
            self.located = values, keys
        return self.located

    def at(self, path: PathT, *, key: bool = False) -> tuple[int | None, int | None]:
        """1-based line and column of the value at ``path`` (or its key), else of its parent."""
        if not key and path in self.places:  # a list or mapping (a channel): no need to locate
            return self.places[path]
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
    plain = plain_values(file, text)
    if plain is not None:  # nothing in it needs a node (see reconciler.yamlevents)
        return Document(file, plain.data, [], set(), [Source((), file, text)], plain.places), plain.root
    loader, root = _compose(file, text)
    if root is None:
        return Document(file, None, [], set()), root
    converter = Converter(file, loader)
    data = converter.convert(root, ())
    document = Document(file, data, converter.problems, converter.bad, [Source((), file, text)], converter.places)
    return document, root


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
        raise fatal(
            file,
            f"the file holds up to {bound:,} values (lines and commas); a channels file has at most "
            f"{MAX_VALUES:,} (20,000 channels of ten fields fit in half of that)",
        )


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

"""Editing a channels file in place: every byte that is not edited stays exactly as it was.

This is the write path (``import``); the read path stays on libyaml (``config.py``). ruamel.yaml
composes the file (each node with its exact start and end offset, quoting style, block or flow
form, anchors) and emits the new values; the edits are then spliced into the original text. So
comments, blank lines, key order, quoting, indentation, spacing, ``---`` and line endings outside
the edited lines are kept byte for byte, which a whole-file dump cannot promise: ruamel's own
dump re-indents mixed indentation, moves comments that sit between items and drops ``---``.

Values are emitted as YAML 1.2 by ruamel but read back as YAML 1.1 by the loader, so a string
the loader would take for something else (``on``, ``no``, ``0o17``) is quoted.
"""
from __future__ import annotations

import io
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError as RuamelError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

from reconciler.errors import EditError

_STR_TAG = "tag:yaml.org,2002:str"
_RESOLVER = yaml.resolver.Resolver()  # the loader's (YAML 1.1) idea of what a plain scalar is


@dataclass(frozen=True)
class _Splice:
    start: int
    end: int
    text: str


def _emitter() -> YAML:
    emitter = YAML()
    emitter.width = 1_000_000  # never fold a long value over two lines
    emitter.allow_unicode = True
    return emitter


# Building a YAML() costs more than emitting a value with it; one instance, one emit at a time.
_EMITTER = _emitter()
_EMITTER_LOCK = threading.Lock()
_FLOW_INDICATORS = frozenset(",[]{}")


def render_value(value: Any, style: str | None = None, *, flow: bool = False) -> str:
    """``value`` (string, boolean or list of strings) as one line of YAML; ``style`` is a quote to
    keep; ``flow``: the value goes inside ``{...}`` or ``[...]``, where ``,[]{}`` end a plain value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(render_value(v, flow=True) for v in value) + "]"
    text = str(value)
    if style == "'":
        candidate: Any = SingleQuotedScalarString(text)
    elif style == '"':
        candidate = DoubleQuotedScalarString(text)
    elif _RESOLVER.resolve(yaml.ScalarNode, text, (True, False)) != _STR_TAG \
            or (flow and _FLOW_INDICATORS & set(text)):
        candidate = SingleQuotedScalarString(text)
    else:
        candidate = text
    rendered = _dump(candidate)
    if "\n" in rendered or _read_back(rendered, flow) != text:
        # ruamel (YAML 1.2) and the loader (YAML 1.1) disagree on the plain form: double quotes
        # mean the same in both
        rendered = _dump(DoubleQuotedScalarString(text))
    return rendered


def _dump(value: Any) -> str:
    out = io.StringIO()
    with _EMITTER_LOCK:
        _EMITTER.dump({"k": value}, out)
    return out.getvalue()[len("k: "):].rstrip("\n")


def _read_back(rendered: str, flow: bool) -> Any:
    try:
        return yaml.safe_load("{k: " + rendered + "}" if flow else "k: " + rendered)["k"]
    except yaml.YAMLError:
        return None


class YamlEditor:
    """The file's text, its node tree, and the edits asked for so far; ``text()`` applies them."""

    def __init__(self, text: str, *, file: str) -> None:
        self.file = file
        self.original = text
        self.newline = "\r\n" if "\r\n" in text else "\n"
        self._splices: list[_Splice] = []
        try:
            root = YAML().compose(text)
        except RuamelError as exc:  # the loader read it, so this is a YAML corner ruamel reads differently
            raise EditError(f"ruamel.yaml cannot read the file to edit it: {exc}", file=file) from None
        if not isinstance(root, MappingNode):
            raise EditError("the file is not a mapping", file=file)
        self.root = root

    # -- looking things up ------------------------------------------------------------------------

    def value(self, mapping: MappingNode, key: str) -> Node | None:
        """The value written for ``key`` in ``mapping`` itself (not one a ``<<`` merge brings in)."""
        pair = self._pair(mapping, key)
        return pair[1] if pair else None

    def _pair(self, mapping: MappingNode, key: str) -> tuple[Node, Node] | None:
        for key_node, value_node in mapping.value:
            if isinstance(key_node, ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge" \
                    and key_node.value == key:
                return key_node, value_node
        return None

    def line_of(self, node: Node) -> int:
        return node.start_mark.line + 1

    # -- edits --------------------------------------------------------------------------------------

    def set_value(self, mapping: MappingNode, key: str, value: Any, *, after: Sequence[str] = ()) -> None:
        """Write ``key: value`` into ``mapping``: in place of its value, or as a new key after the last
        of ``after`` that the mapping has (else after its last key)."""
        if mapping.anchor is not None:
            raise EditError(f"this entry is a YAML anchor (&{mapping.anchor}) that other entries may merge: "
                            f"write `{key}` in by hand", file=self.file, line=self.line_of(mapping))
        pair = self._pair(mapping, key)
        if pair is not None:
            self._replace(*pair, value, flow=bool(mapping.flow_style))
        elif mapping.flow_style:
            last = mapping.value[-1][1]
            self._insert(self._content_end(last), f", {key}: {render_value(value, flow=True)}")
        else:
            present = [k for k in after if self.value(mapping, k) is not None]
            anchor = self.value(mapping, present[-1]) if present else mapping.value[-1][1]
            assert anchor is not None
            indent = " " * mapping.value[0][0].start_mark.column
            self._insert(self._line_end(self._content_end(anchor)),
                         f"{indent}{key}: {render_value(value)}{self.newline}")

    def append_items(self, sequence: SequenceNode, key_column: int, items: Sequence[Mapping[str, Any]]) -> None:
        """Add block mappings at the end of the block list ``sequence`` (or of the empty ``[]``
        written for the key at ``key_column``), in the list's own indentation and spacing."""
        if not items:
            return
        if sequence.flow_style and sequence.value:
            raise EditError("`channels:` is written as a flow list [...]: write it as a block list "
                            "(one `- name: ...` per channel) to import into it", file=self.file,
                            line=self.line_of(sequence))
        if sequence.flow_style:  # channels: []
            dash, offset, blank = key_column + 2, 2, False
            start, end = sequence.start_mark.index, sequence.end_mark.index
            while start > 0 and self.original[start - 1] in " \t":
                start -= 1
            if not self.original[end:self._line_end(end)].strip():  # no comment after the brackets
                end += len(self.original[end:self._line_end(end)].rstrip("\r\n"))
            self._splices.append(_Splice(start, end, ""))
            at = self._line_end(end)
        else:
            first = sequence.value[0]
            dash = sequence.start_mark.column
            offset = first.start_mark.column - dash if isinstance(first, MappingNode) else 2
            blank = self._blank_between_items(sequence)
            at = self._line_end(self._content_end(sequence.value[-1]))
        chunks = []
        for item in items:
            lines = [f"{key}: {render_value(value)}" for key, value in item.items()]
            head = " " * dash + "-" + " " * (offset - 1)
            body = [head + lines[0]] + [" " * (dash + offset) + line for line in lines[1:]]
            chunks.append((self.newline if blank else "") + self.newline.join(body) + self.newline)
        self._insert(at, "".join(chunks))

    def text(self) -> str:
        """The original text with every edit spliced in."""
        out = self.original
        for splice in sorted(self._splices, key=lambda s: (s.start, s.end), reverse=True):
            out = out[:splice.start] + splice.text + out[splice.end:]
        return out

    # -- helpers ------------------------------------------------------------------------------------

    def _replace(self, key: Node, node: Node, value: Any, *, flow: bool) -> None:
        # an alias's node is the anchored one, written elsewhere: it starts before its key
        if node.anchor is not None or not isinstance(node, ScalarNode) or node.start_mark.index < key.end_mark.index:
            raise EditError(
                f"`{key.value}` is written as an anchor, alias or collection here, which other places may share: "
                "write it as a plain value and import again", file=self.file, line=self.line_of(key))
        style = node.style if node.style in ("'", '"') else None
        rendered = render_value(value, style, flow=flow)
        end = node.end_mark.index
        if node.style in ("|", ">"):  # a block scalar's span takes in its line break(s): keep one
            rendered += self.newline
        self._splices.append(_Splice(node.start_mark.index, end, rendered))

    def _insert(self, at: int, text: str) -> None:
        if at == len(self.original) and self.original and not self.original.endswith("\n"):
            text = self.newline + text
        self._splices.append(_Splice(at, at, text))

    def _content_end(self, node: Node) -> int:
        """Where the node's own text ends: a block collection's end mark lies past trailing comments."""
        while not (isinstance(node, ScalarNode) or node.flow_style) and node.value:
            last = node.value[-1]
            node = last[1] if isinstance(last, tuple) else last
        return node.end_mark.index

    def _line_end(self, index: int) -> int:
        """The start of the line after the one ``index`` is on (``index`` itself at a line start)."""
        if index > 0 and self.original[index - 1] == "\n":
            return index
        found = self.original.find("\n", index)
        return len(self.original) if found < 0 else found + 1

    def _blank_between_items(self, sequence: SequenceNode) -> bool:
        """Whether the list separates its items with a blank line (so new items get one too)."""
        for before, after in zip(sequence.value, sequence.value[1:]):
            gap = self.original[self._line_end(self._content_end(before)):after.start_mark.index]
            if re.search(r"^[ \t]*\r?\n", gap, re.MULTILINE):
                return True
        return False

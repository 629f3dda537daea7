"""Editing a channels file in place: every byte that is not edited stays exactly as it was.

This is the write path (``import``). libyaml composes the file, as the loader does, and each node
carries its exact start and end offset, quoting style and block or flow form; the edits are
spliced into the original text at those offsets. So comments, blank lines, key order, quoting,
indentation, spacing, ``---`` and line endings outside the edited lines are kept byte for byte,
which a whole-file dump cannot promise (it re-indents, moves comments, drops ``---``).

New values are rendered at the end, all in one pass (``render_values``): the plainly plain ones
as they are, the others in one dump by PyYAML's emitter with the loader's own YAML 1.1 resolver
and one read-back, so a string the loader would take for something else (``on``, ``no``) comes
out quoted; so does one a YAML 1.2 reader would (``0o17``, ``1e3``).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import yaml
from yaml.nodes import CollectionNode, MappingNode, Node, ScalarNode, SequenceNode

from reconciler.errors import EditError
from reconciler.yamlwrite import YAML12_NOT_STR, DoubleQuoted, Quoted, dump_scalars, plain

__all__ = ["MappingNode", "SequenceNode", "YamlEditor", "render_values"]

_MERGE_TAG = "tag:yaml.org,2002:merge"
# libyaml's parser when PyYAML was built with it: the same nodes and marks as PyYAML's own, faster.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_FLOW_INDICATORS = re.compile(r"[,?\[\]{}:]")  # in a flow collection, a plain scalar also ends at ":"
_LINE_BREAKS = re.compile("[\r\n\x85\u2028\u2029]")
_BOM = "\ufeff"


@dataclass(frozen=True)
class Value:
    """A value still to be rendered: ``style`` is a quote to keep; ``flow``: it goes inside ``{...}``
    or ``[...]``, where ``,[]{}:`` end a plain value."""

    value: Any
    style: str | None = None
    flow: bool = False


Piece = str | Value


@dataclass(frozen=True)
class _Splice:
    start: int
    end: int
    pieces: tuple[Piece, ...]
    rendered: bool = True  # False: every piece is text already (no Value among 10,000 channels' pieces to look for)


def render_values(values: Sequence[Value]) -> list[str]:
    """Each value (string, boolean or list of strings) as one line of YAML.

    The plainly plain strings as they are (``yamlwrite.plain``); the others in one dump as a block
    list and one load of that text: a value that does not read back as itself, or that would take
    more than a line, is written double-quoted, which means the same to every reader.
    """
    strings: list[str] = []
    for value in values:
        if isinstance(value.value, (list, tuple)):
            strings.extend(_candidate(str(v), None, True) for v in value.value)
        elif not isinstance(value.value, bool):
            strings.append(_candidate(str(value.value), value.style, value.flow))
    done = [s if type(s) is str and plain(s, yaml12=True) else None for s in strings]
    dumped = iter(_dump_checked([s for s, d in zip(strings, done, strict=True) if d is None]))
    texts = iter([d if d is not None else next(dumped) for d in done])
    out: list[str] = []
    for value in values:
        if isinstance(value.value, bool):
            out.append("true" if value.value else "false")
        elif isinstance(value.value, (list, tuple)):
            out.append("[" + ", ".join(next(texts) for _ in value.value) + "]")
        else:
            out.append(next(texts))
    return out


def _piece(value: Any) -> Piece:
    """A block mapping's new value: its text already where ``render_values`` would write it as it is
    (a boolean, a plainly plain string: most of an import's values), else the value to render."""
    if type(value) is bool:
        return "true" if value else "false"
    if type(value) is str and plain(value, yaml12=True):
        return value
    return Value(value)


def _candidate(text: str, style: str | None, flow: bool) -> str:
    if style == '"' or _LINE_BREAKS.search(text):
        return DoubleQuoted(text)
    if style == "'" or (flow and _FLOW_INDICATORS.search(text)) or YAML12_NOT_STR.fullmatch(text):
        return Quoted(text)
    return text


def _dump_checked(strings: list[str]) -> list[str]:
    rendered = dump_scalars(strings)
    if rendered is not None and yaml.load("".join(f"- {r}\n" for r in rendered), Loader=_LOADER) == strings:
        # a quote inside reads better between double quotes: "it's", not 'it''s'
        return [
            _dump_one(DoubleQuoted(s)) if type(s) is str and r.startswith("'") and "''" in r[1:-1] else r
            for s, r in zip(strings, rendered, strict=True)
        ]
    return [_dump_one(s) for s in strings]  # one of them is the odd one out: each on its own


def _dump_one(text: str) -> str:
    rendered = dump_scalars([text])
    if rendered is not None and yaml.load(f"- {rendered[0]}\n", Loader=_LOADER) == [text]:
        return rendered[0]
    return (dump_scalars([DoubleQuoted(text)]) or ['""'])[0]


class YamlEditor:
    """The file's text, its node tree, and the edits asked for so far; ``text()`` applies them."""

    def __init__(self, text: str, *, file: str) -> None:
        self.file = file
        # libyaml leaves a byte-order mark out of its offsets, PyYAML's own reader counts it: edit the
        # text after it, and put it back in front.
        self._bom = _BOM if text.startswith(_BOM) else ""
        self.original = text[len(self._bom) :]
        self.newline = "\r\n" if "\r\n" in text else "\n"
        self._splices: list[_Splice] = []
        try:
            root = yaml.compose(self.original, Loader=_LOADER)
        except yaml.YAMLError as exc:  # the loader read it first, so this is not expected
            raise EditError(f"YAML cannot read the file to edit it: {exc}", file=file) from None
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
            if isinstance(key_node, ScalarNode) and key_node.tag != _MERGE_TAG and key_node.value == key:
                return key_node, value_node
        return None

    def line_of(self, node: Node) -> int:
        return int(node.start_mark.line) + 1

    def _anchor(self, node: Node) -> str | None:
        """The anchor written on the node (``&name``): the node's text starts with it."""
        found = re.match(r"&([^\s,\[\]{}]+)", self.original[node.start_mark.index : node.end_mark.index])
        return found.group(1) if found else None

    # -- edits --------------------------------------------------------------------------------------

    def set_value(self, mapping: MappingNode, key: str, value: Any, *, after: Sequence[str] = ()) -> None:
        """Write ``key: value`` into ``mapping``: in place of its value, or as a new key after the last
        of ``after`` that the mapping has (else after its last key)."""
        anchor = self._anchor(mapping)
        if anchor is not None:
            raise EditError(
                f"this entry is a YAML anchor (&{anchor}) that other entries may merge: write `{key}` in by hand",
                file=self.file,
                line=self.line_of(mapping),
            )
        pair = self._pair(mapping, key)
        if pair is not None:
            self._replace(*pair, value, flow=bool(mapping.flow_style))
        elif mapping.flow_style:
            last = mapping.value[-1][1]
            self._insert(self._content_end(last), (f", {key}: ", Value(value, flow=True)))
        else:
            present = [k for k in after if self.value(mapping, k) is not None]
            anchor_node = self.value(mapping, present[-1]) if present else mapping.value[-1][1]
            assert anchor_node is not None
            indent = " " * mapping.value[0][0].start_mark.column
            self._insert(
                self._line_end(self._content_end(anchor_node)), (f"{indent}{key}: ", Value(value), self.newline)
            )

    def append_items(self, sequence: SequenceNode, key_column: int, items: Sequence[Mapping[str, Any]]) -> None:
        """Add block mappings at the end of the block list ``sequence`` (or of the empty ``[]``
        written for the key at ``key_column``), in the list's own indentation and spacing."""
        if not items:
            return
        if sequence.flow_style and sequence.value:
            raise EditError(
                "`channels:` is written as a flow list [...]: write it as a block list "
                "(one `- name: ...` per channel) to import into it",
                file=self.file,
                line=self.line_of(sequence),
            )
        if sequence.flow_style:  # channels: []
            dash, offset, blank = key_column + 2, 2, False
            start, end = sequence.start_mark.index, sequence.end_mark.index
            while start > 0 and self.original[start - 1] in " \t":
                start -= 1
            if not self.original[end : self._line_end(end)].strip():  # no comment after the brackets
                end += len(self.original[end : self._line_end(end)].rstrip("\r\n"))
            self._splices.append(_Splice(start, end, ()))
            at = self._line_end(end)
        else:
            first = sequence.value[0]
            dash = sequence.start_mark.column
            offset = first.start_mark.column - dash if isinstance(first, MappingNode) else 2
            blank = self._blank_between_items(sequence)
            at = self._line_end(self._content_end(sequence.value[-1]))
        head = " " * dash + "-" + " " * (offset - 1)
        inner = self.newline + " " * (dash + offset)
        leads: dict[tuple[bool, str], str] = {}  # the text before each value, made once per key
        rendered = False  # whether a value is left for render_values
        pieces: list[Piece] = []
        for item in items:
            if blank:
                pieces.append(self.newline)
            first = True
            for key, value in item.items():
                lead = leads.get((first, key))
                if lead is None:
                    lead = leads[(first, key)] = (head if first else inner) + f"{key}: "
                piece = _piece(value)
                pieces += [lead, piece]
                rendered = rendered or type(piece) is Value
                first = False
            pieces.append(self.newline)
        self._insert(at, tuple(pieces), rendered=rendered)

    def text(self) -> str:
        """The original text with every edit spliced in; every new value rendered in one pass."""
        splices = sorted(self._splices, key=lambda s: (s.start, s.end))
        values = [piece for splice in splices if splice.rendered for piece in splice.pieces if type(piece) is Value]
        rendered = iter(render_values(values))
        out: list[str] = []
        end = 0
        for splice in splices:
            out.append(self.original[end : splice.start])
            if splice.rendered:
                out.extend([next(rendered) if isinstance(p, Value) else p for p in splice.pieces])
            else:
                out.extend(cast(tuple[str, ...], splice.pieces))
            end = max(end, splice.end)
        out.append(self.original[end:])
        return self._bom + "".join(out)

    # -- helpers ------------------------------------------------------------------------------------

    def _replace(self, key: Node, node: Node, value: Any, *, flow: bool) -> None:
        # an alias's node is the anchored one, written elsewhere: it starts before its key
        if (
            self._anchor(node) is not None
            or not isinstance(node, ScalarNode)
            or node.start_mark.index < key.end_mark.index
        ):
            raise EditError(
                f"`{key.value}` is written as an anchor, alias or collection here, which other places may share: "
                "write it as a plain value and import again",
                file=self.file,
                line=self.line_of(key),
            )
        style = node.style if node.style in ("'", '"') else None
        pieces: tuple[Piece, ...] = (Value(value, style, flow),)
        if node.style in ("|", ">"):  # a block scalar's span takes in its line break(s): keep one
            pieces += (self.newline,)
        self._splices.append(_Splice(node.start_mark.index, node.end_mark.index, pieces))

    def _insert(self, at: int, pieces: tuple[Piece, ...], *, rendered: bool = True) -> None:
        if at == len(self.original) and self.original and not self.original.endswith("\n"):
            pieces = (self.newline, *pieces)
        self._splices.append(_Splice(at, at, pieces, rendered))

    def _content_end(self, node: Node) -> int:
        """Where the node's own text ends: a block collection's end mark lies past trailing comments."""
        while isinstance(node, CollectionNode) and not node.flow_style and node.value:
            last = node.value[-1]
            node = last[1] if isinstance(last, tuple) else last
        return int(node.end_mark.index)

    def _line_end(self, index: int) -> int:
        """The start of the line after the one ``index`` is on (``index`` itself at a line start)."""
        if index > 0 and self.original[index - 1] == "\n":
            return index
        found = self.original.find("\n", index)
        return len(self.original) if found < 0 else found + 1

    def _blank_between_items(self, sequence: SequenceNode) -> bool:
        """Whether the list separates its items with a blank line (so new items get one too)."""
        for before, after in itertools.pairwise(sequence.value):
            gap = self.original[self._line_end(self._content_end(before)) : after.start_mark.index]
            if re.search(r"^[ \t]*\r?\n", gap, re.MULTILINE):
                return True
        return False

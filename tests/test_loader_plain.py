"""A plain file is read from libyaml's events (``reconciler.yamlevents``), with the same values and places.

Property: for any text the loader's fuzz grammar writes (tags, anchors, merges, duplicate keys,
every kind of scalar) and for the shipped examples, the event reader either declines (the nodes
are composed, and every problem is reported from them as before) or gives exactly what composing
and converting gives: the same values of the same types in the same order, the same line and
column of every list and mapping, and no problem. Pinned too: a plain file's load, and the check
of an import's written file, compose no node at all (that is what makes them fast).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from clihelp import RunningEmulator, run_cli
from hypothesis import given
from hypothesis import strategies as st
from test_loader_fuzz import FUZZ, block, channels_file, mutated_example

from reconciler import yamlread
from reconciler.config import load_channels_file
from reconciler.errors import ConfigError
from reconciler.yamlevents import plain_values
from reconciler.yamlnodes import Converter

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.yaml"))


def composed(text: str) -> tuple[Any, dict[Any, tuple[int, int]]] | None:
    """What the nodes give: values and places, or None when reading them reports a problem."""
    try:
        loader, root = yamlread._compose("c.yaml", text)
        if root is None:
            return None
        converter = Converter("c.yaml", loader)
        data = converter.convert(root, ())
    except ConfigError:
        return None
    return None if converter.problems else (data, converter.places)


def same_as_composed(text: str) -> bool:
    """Whether the event reader read ``text`` (else it declined); when it did, it read it as the nodes do."""
    plain = plain_values("c.yaml", text)
    if plain is None:
        return False
    expected = composed(text)
    assert expected is not None, "read from events, but the nodes report a problem"
    assert repr(plain.data) == repr(expected[0])  # same types (True is not 1), same key order
    assert plain.places == expected[1]
    assert plain.places[()] == (plain.root.start_mark.line + 1, plain.root.start_mark.column + 1)
    return True


@FUZZ
@given(st.one_of(channels_file(), block(), mutated_example()))
def test_events_give_what_the_nodes_give_or_decline(text: str) -> None:
    same_as_composed(text)


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\nb: [yes, no, on, 0o17, 017, 0x1F, 1e3, .inf, ~, '', 2001-01-01, 1:20, true, False, null]\n",
        "a: {b: {c: [1, {d: e}]}}\nf: |\n  text\ng: >-\n  folded\nh: 'x'\ni: \"y\"\n",
        "? a\n: b\n'c d': e\n\"1\": quoted number key\n",
        "a:\n  - - - x\n    - y\n  - []\n  - {}\n",
    ],
)
def test_plain_texts_are_read_from_events(text: str) -> None:
    assert same_as_composed(text)


@pytest.mark.parametrize(
    "text",
    [
        "a: &x 1\nb: *x\n",  # anchors and aliases
        "a: !!str 1\n",  # tags
        "d: &d {x: 1}\ne: {<<: *d}\n",  # merge keys
        "e: {<<: {x: 1}}\n",  # a merge key without an alias
        "a: 1\na: 2\n",  # duplicate key: the converter words it
        "1: a\n",  # a key YAML reads as a number
        "[a]: b\n",  # a list as a key
        "a: 0x" + "f" * 3600 + "\n",  # a number too long to read
        "- a\n",  # not a mapping
        "",  # empty
        "a: 1\n---\nb: 2\n",  # two documents
        "a: [\n",  # a syntax error
        "a: " + "[" * 40 + "]" * 40 + "\n",  # deeper than the converter allows
    ],
)
def test_what_needs_the_nodes_is_declined(text: str) -> None:
    assert plain_values("c.yaml", text) is None


def test_the_shipped_examples_read_alike() -> None:
    read = [same_as_composed(p.read_text(encoding="utf-8")) for p in EXAMPLES]
    assert sum(read) >= len(read) // 2  # most examples are plain


def _no_compose(file: str, text: str) -> Any:
    raise AssertionError(f"composed {file}")


def test_a_plain_files_load_composes_no_node(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("version: 1\nchannels:\n  - name: SMS\n    include_signature: true\n", encoding="utf-8")
    monkeypatch.setattr(yamlread, "_compose", _no_compose)
    loaded = load_channels_file(path)
    assert [(c.name, c.line) for c in loaded.channels] == [("SMS", 3)]


def test_a_problem_is_still_placed_from_the_nodes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("version: 1\nchannels:\n  - name: SMS\n    icon: [x]\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_channels_file(path)
    (problem,) = caught.value.problems
    assert (problem.line, problem.column, problem.path) == (4, 11, "channels[0].icon")


def test_an_imports_check_of_the_written_file_composes_no_node(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, emulator: RunningEmulator
) -> None:
    emulator.emu.seed_channels(
        [{"name": f"Channel {i}", "icon": "sms", "include_signature": "true"} for i in range(30)]
    )
    path = tmp_path / "c.yaml"
    path.write_text("version: 1\n# ours\nchannels: []\n", encoding="utf-8")
    composed_files: list[str] = []
    real = yamlread._compose

    def counting(file: str, text: str) -> Any:
        composed_files.append(file)
        return real(file, text)

    monkeypatch.setattr(yamlread, "_compose", counting)
    result = run_cli(["import", str(path), "--url", emulator.url], {"OMNIDESK_API_KEY": emulator.key})
    assert result.exit_code == 0, result.stderr
    assert composed_files == []  # neither the file as read nor as written: both are plain
    assert len(yaml.safe_load(path.read_text(encoding="utf-8"))["channels"]) == 30

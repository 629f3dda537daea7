"""Positions of values are found on demand: a file without problems keeps no node of it.

Peak memory of a plan is pinned against its floor by ``bench/run.py``; these tests pin the cause
(a map from every path to its node, and the node tree it keeps alive) and that problems found
after loading still point at the same line and column.
"""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

from reconciler.config import load_channels_file
from reconciler.errors import ConfigError
from reconciler.yamlread import read_document

TEXT = """\
version: 1
defaults: &d
  color: red
channels:
  - name: one
    <<: *d
  - name: two
    size: 3
"""


def test_a_read_file_keeps_neither_the_map_nor_its_nodes() -> None:
    document, root = read_document("c.yaml", TEXT)
    assert root is not None
    tree = weakref.ref(root)
    del root
    gc.collect()
    assert tree() is None  # the converted values are all that stays
    assert document.data["channels"][1] == {"name": "two", "size": 3}
    assert document.at(("channels", 1)) == (7, 5)  # every plan asks each channel's line
    assert document.located is None


def test_positions_built_on_demand_are_those_of_the_nodes() -> None:
    document, _ = read_document("c.yaml", TEXT)
    assert document.at(("channels", 1, "size")) == (8, 11)
    assert document.at(("channels", 1, "size"), key=True) == (8, 5)
    assert document.at(("channels", 0, "color")) == (3, 10)  # merged in: where the anchor wrote it
    assert document.at(("channels", 1, "nowhere", 2)) == (7, 5)  # a missing value: its parent
    problem = document.problem(("channels", 0, "name"), "bad", key=True)
    assert (problem.file, problem.line, problem.column, problem.path) == ("c.yaml", 5, 5, "channels[0].name")


def test_a_problem_in_a_tenant_file_points_into_that_file(tmp_path: Path) -> None:
    (tmp_path / "tenants").mkdir()
    (tmp_path / "tenants" / "acme.yaml").write_text("url: https://acme.example\nbogus: 1\n", encoding="utf-8")
    main = tmp_path / "channels.yaml"
    main.write_text("version: 1\ntenants: tenants/\nchannels: []\n", encoding="utf-8")
    try:
        load_channels_file(main)
    except ConfigError as exc:
        problems = [(Path(p.file).name, p.line, p.column) for p in exc.problems]
    else:
        problems = []
    assert ("acme.yaml", 2, 1) in problems

"""Golden error messages: each ``golden/config/<case>.yaml`` next to the exact text a user sees.

A case may start with ``# golden: {...}`` (JSON): ``tenant`` to pass ``--tenant``, ``env`` for the
environment, ``load: true`` to call ``load_channels_file`` (no tenant) instead of ``validate``.
Regenerate the ``.txt`` files with ``UPDATE_GOLDEN=1 python -m pytest tests/test_config_golden.py``
and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from reconciler.cli.flags import FLAGS
from reconciler.config import load_channels_file
from reconciler.errors import ReconcilerError
from reconciler.wording import names
from reconciler.workflow import Workflow

GOLDEN = Path(__file__).parent / "golden" / "config"
CASES = sorted(p.stem for p in GOLDEN.glob("*.yaml"))


def _options(source: Path) -> dict:
    first = source.read_text(encoding="utf-8").partition("\n")[0]
    return json.loads(first.removeprefix("# golden:")) if first.startswith("# golden:") else {}


def run_case(case: str) -> str:
    """What ``omnidesk-channels validate <case>.yaml`` prints, run from the golden directory."""
    source = GOLDEN / f"{case}.yaml"
    options = _options(source)
    environ = options.get("env", {})
    try:
        with names(FLAGS):  # the CLI's words for the engine's parameters
            if options.get("load"):
                loaded = load_channels_file(source.name, environ=environ)
                return f"{source.name}: loaded {len(loaded.channels)} channels\n"
            return Workflow(environ=environ).validate(source.name, tenant=options.get("tenant")).summary + "\n"
    except ReconcilerError as exc:  # as the CLI prints it
        return f"Error: {exc}\n"


def test_there_are_enough_cases() -> None:
    assert len([c for c in CASES if c != "valid"]) >= 12


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(GOLDEN)
    actual = run_case(case)
    expected_file = GOLDEN / f"{case}.txt"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        expected_file.write_text(actual, encoding="utf-8")
    assert expected_file.exists(), f"no golden for {case}: run with UPDATE_GOLDEN=1"
    assert actual == expected_file.read_text(encoding="utf-8")

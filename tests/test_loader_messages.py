"""Golden texts: what ``omnidesk-channels validate`` prints for YAML a person got wrong.

Each ``golden/loader/<case>.yaml`` sits next to the exact output (``.txt``: exit code, then
stdout and stderr). A case may start with ``# golden: {"env": {...}}`` for its environment.
Regenerate with ``UPDATE_GOLDEN=1 python -m pytest tests/test_loader_messages.py`` and review
the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from clihelp import run_cli

from reconciler.config import load_channels_file
from reconciler.errors import ConfigError

GOLDEN = Path(__file__).parent / "golden" / "loader"
CASES = sorted(p.stem for p in GOLDEN.glob("*.yaml"))
CANARY = "hunter2-canary"


def run_case(case: str) -> str:
    source = GOLDEN / f"{case}.yaml"
    first = source.read_text(encoding="utf-8").partition("\n")[0]
    options = json.loads(first.removeprefix("# golden:")) if first.startswith("# golden:") else {}
    result = run_cli(["validate", source.name], env=options.get("env", {}))
    return f"exit {result.exit_code}\n{result.stdout}{result.stderr}"


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(GOLDEN)
    actual = run_case(case)
    expected_file = GOLDEN / f"{case}.txt"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        expected_file.write_text(actual, encoding="utf-8")
    assert expected_file.exists(), f"no golden for {case}: run with UPDATE_GOLDEN=1"
    assert actual == expected_file.read_text(encoding="utf-8")
    assert "Traceback" not in actual and CANARY not in actual


def test_every_case_is_an_error() -> None:
    for case in CASES:
        assert (GOLDEN / f"{case}.txt").read_text(encoding="utf-8").startswith("exit 1\n"), case


def test_a_file_name_no_file_can_have_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"a\\0b: not a file name \(it holds a NUL character\)"):
        load_channels_file("a\0b")

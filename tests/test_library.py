"""The declared library (issue 18): ``reconciler.__all__`` is the public API, typed, cheap to import."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import reconciler

ROOT = Path(__file__).parent.parent


def test_every_public_name_resolves_to_what_its_module_defines() -> None:
    assert {"Workflow", "Plan", "Create", "Update", "Delete", "ReconcilerError", "PLAN_CHECKS", "FORMATS",
            "ApplyReport", "Planned"} <= set(reconciler.__all__)
    for name in reconciler.__all__:
        value = getattr(reconciler, name)
        if name != "__version__":
            module = reconciler._HOME[name]
            assert getattr(sys.modules[module], name) is value, name
    assert sorted(dir(reconciler)) == sorted(reconciler.__all__)


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        reconciler.Manager  # noqa: B018
    except AttributeError as exc:
        assert "no attribute 'Manager'" in str(exc)
    else:
        raise AssertionError("reconciler.Manager resolved")


def test_importing_the_package_imports_no_engine_module() -> None:
    code = "import sys, reconciler; print(sorted(m for m in sys.modules if m.startswith('reconciler')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.strip() == "['reconciler']"


def test_the_package_is_marked_typed() -> None:
    assert (ROOT / "reconciler" / "py.typed").is_file()
    # the wheel takes the whole package folder (pyproject's packages = ["reconciler"]), py.typed with it
    assert 'packages = ["reconciler"]' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")

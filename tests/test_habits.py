"""Rooms stay small: no module of ``reconciler/`` over 400 lines, no function over 60 (issue 18).

A module or function that needs more is named in ``ALLOWED`` with the reason; the list is meant
to shrink. A function's docstring does not count (a command's docstring is its ``--help``), its
nested functions do (they are part of reading it).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "reconciler"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60

# "path" or "path:function" -> why it may be longer, for now.
ALLOWED = {
    "reconciler/errors.py": "the one errors module: every class of the tree, drawn in its docstring",
}


def too_long(path: Path, text: str) -> list[tuple[str, int]]:
    """``(name, lines)`` for the module (``""``) and each function of ``text`` over its limit."""
    found = []
    lines = text.count("\n") + (not text.endswith("\n"))
    if lines > MAX_MODULE_LINES:
        found.append(("", lines))
    for node in ast.walk(ast.parse(text, filename=str(path))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            if ast.get_docstring(node, clean=False) is not None:
                doc = node.body[0]
                length -= doc.end_lineno - doc.lineno + 1
            if length > MAX_FUNCTION_LINES:
                found.append((node.name, length))
    return found


def offenders() -> list[str]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        for function, lines in too_long(path, path.read_text(encoding="utf-8")):
            key = f"{name}:{function}" if function else name
            if key not in ALLOWED:
                limit = MAX_FUNCTION_LINES if function else MAX_MODULE_LINES
                out.append(f"{key}: {lines} lines (at most {limit}; split it, or add it to ALLOWED with why)")
    return out


def test_no_module_or_function_is_too_long() -> None:
    assert offenders() == []


def test_every_allowance_is_still_needed() -> None:
    """An entry whose module or function has shrunk (or gone) is deleted, so the list only shrinks."""
    needed = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        needed.update(f"{name}:{f}" if f else name for f, _ in too_long(path, path.read_text(encoding="utf-8")))
    assert sorted(set(ALLOWED) - needed) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x = 1\n" * 401, [("", 401)]),
        ("x = 1\n" * 400, []),
        ("def f():\n" + "    x = 1\n" * 60, [("f", 61)]),
        ("def f():\n" + "    x = 1\n" * 59, []),
        ('def f():\n    """Help\n' + "    text\n" * 100 + '    """\n' + "    x = 1\n" * 59, []),
        ("class C:\n    def m(self):\n" + "        x = 1\n" * 61, [("m", 62)]),
    ],
    ids=["long-module", "module-at-limit", "long-function", "function-at-limit", "docstring-free", "method"],
)
def test_the_measure(text: str, expected: list[tuple[str, int]]) -> None:
    assert too_long(Path("x.py"), text) == expected


def test_tests_readme_names_every_module() -> None:
    """tests/README.md maps modules to their tests: a module it does not name has no row yet."""
    table = (ROOT / "tests" / "README.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`([\w/]+(?:\.py|/))`", table))
    rooms = [p.name for p in PACKAGE.glob("*.py") if p.name != "__main__.py"]
    rooms += [f"{p.name}/" for p in PACKAGE.iterdir() if (p / "__init__.py").exists()]
    missing = sorted(r for r in rooms if r not in named)
    assert missing == [], f"add a row (module -> its tests) to tests/README.md for: {', '.join(missing)}"

"""The declared library (issue 18): ``reconciler.__all__`` is the public API, typed, cheap to import."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path

import reconciler

ROOT = Path(__file__).parent.parent


def test_every_public_name_resolves_to_what_its_module_defines() -> None:
    assert {
        "Workflow",
        "Plan",
        "Create",
        "Update",
        "Delete",
        "ReconcilerError",
        "PLAN_CHECKS",
        "FORMATS",
        "ApplyReport",
        "Planned",
    } <= set(reconciler.__all__)
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


# -- the error tree (the docstring of reconciler/errors.py), as httpx keeps its own --------------

PACKAGE = ROOT / "reconciler"


def _modules() -> list[str]:
    """Every module of the package, the emulator's included (a user sees its state-file errors)."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _tree() -> dict[str, bool]:
    """The classes drawn in the errors docstring: name -> whether it is marked a parent (*)."""
    from reconciler import errors

    drawn = re.findall(r"^    [│├└─ ]*([A-Z]\w+)( \*)?\s{2,}", errors.__doc__ or "", re.M)
    return {name: bool(star) for name, star in drawn}


def _outside() -> set[str]:
    """``module.Class`` of the exceptions the docstring names as never reaching a caller."""
    from reconciler import errors

    text = re.sub(r"\s+", "", (errors.__doc__ or "").split("Outside the tree")[1].split("Misused")[0])
    return {f"reconciler.{name}" for name in re.findall(r"``([A-Za-z]\w*(?:\.\w+)+)``", text)}


def _exception_classes() -> dict[str, type]:
    """``module.Class`` -> class, for every exception class the package defines."""
    found: dict[str, type] = {}
    for name in _modules():
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == name:
                found[f"{name}.{attr}"] = value
    return found


def test_every_exception_class_of_the_package_is_in_the_tree() -> None:
    from reconciler.errors import ReconcilerError

    tree, outside = _tree(), _outside()
    classes = _exception_classes()
    assert outside == {
        "reconciler.caller.Uncertain",
        "reconciler.emulator.forms.BodyError",
        "reconciler.emulator.routes.Refusal",
    }
    assert outside <= set(classes)
    public = {
        path: cls for path, cls in classes.items() if not path.rsplit(".", 1)[1].startswith("_") and path not in outside
    }
    # the tree is errors.py's: every public exception class is defined there, under the root
    assert sorted(p for p in public if not p.startswith("reconciler.errors.")) == []
    assert all(issubclass(cls, ReconcilerError) for cls in public.values())
    names = {path.rsplit(".", 1)[1]: cls for path, cls in public.items()}
    assert set(names) == set(tree), (sorted(set(names) - set(tree)), sorted(set(tree) - set(names)))
    assert {n for n, cls in names.items() if cls.__subclasses__()} == {n for n, star in tree.items() if star}
    for name, cls in names.items():  # drawn under its own parent
        assert cls is ReconcilerError or cls.__bases__[0].__name__ == _parent_in_tree(name), name
    assert set(tree) <= set(reconciler.__all__)  # every error is public: callers catch them by name


def _parent_in_tree(name: str) -> str:
    """The class a tree line sits under, from its indentation in the docstring."""
    from reconciler import errors

    lines = [line for line in (errors.__doc__ or "").splitlines() if re.match(r"^    [│├└─ ]*[A-Z]\w+", line)]
    depth = {
        re.sub(r"^    [│├└─ ]*([A-Z]\w+).*", r"\1", line): len(re.match(r"^    [│├└─ ]*", line)[0]) for line in lines
    }
    order = list(depth)
    index = order.index(name)
    return next(n for n in reversed(order[:index]) if depth[n] < depth[name])


def _parents() -> set[str]:
    return {name for name, star in _tree().items() if star}


def test_no_parent_of_the_tree_is_raised_or_made_outside_errors() -> None:
    """Every ``raise`` raises a leaf: no parent is called (made, it would be raised or returned to be)
    nor raised by name anywhere but in errors.py, where a leaf's ``__init__`` calls its parent's."""
    parents = _parents()
    assert {"ReconcilerError", "ApiError", "PlanError", "FileError", "ImportRefused", "ApplyError"} <= parents
    made = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            target = node.func if isinstance(node, ast.Call) else node.exc if isinstance(node, ast.Raise) else None
            name = (
                target.id if isinstance(target, ast.Name) else target.attr if isinstance(target, ast.Attribute) else ""
            )
            if name in parents:
                made.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name}")
    assert not made


def test_every_raise_in_the_package_raises_a_leaf_or_a_builtin() -> None:
    """What a ``raise`` names is a leaf of the tree, a private control-flow class, the two outside
    it, or a builtin for misused code; a new class raised without a place in the tree fails here."""
    leaves = {name for name, star in _tree().items() if not star}
    outside = {path.rsplit(".", 1)[1] for path in _outside()}
    builtins_ok = {
        "ValueError",
        "TypeError",
        "KeyError",
        "LookupError",
        "RuntimeError",
        "AssertionError",
        "NotImplementedError",
        "KeyboardInterrupt",
        "FileNotFoundError",
        "AttributeError",
        "OSError",
        "StopIteration",
    }
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Raise) or node.exc is None:
                continue
            target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if not isinstance(target, ast.Name) or not target.id[0].isupper():
                continue  # a variable (``raise error``, ``raise exc``) re-raises what was made elsewhere
            name = target.id
            if not (name in leaves or name in outside or name.startswith("_") or name in builtins_ok):
                wrong.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name}")
    assert not wrong

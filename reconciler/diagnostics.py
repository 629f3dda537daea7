"""A channels file's problems and warnings for CI: GitHub workflow commands and JSON.

``::error file=F,line=L,col=C::message`` lines make GitHub show each problem on its line in a pull
request's diff (GitHub's "workflow commands"); JSON gives them to any other tool as data.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict

from reconciler.errors import Problem
from reconciler.policy import Finding


def _escape_data(text: str) -> str:
    # the runner's own escaping (actions/toolkit, command.ts): a raw line break would end the command
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _message(problem: Problem) -> str:
    return f"{problem.path}: {problem.message}" if problem.path else problem.message


def workflow_command(kind: str, message: str, **properties: object) -> str:
    """A workflow command line such as ``::error file=a.yaml,line=3::message``; ``None`` properties are left out."""
    props = ",".join(f"{k}={_escape_property(str(v))}" for k, v in properties.items() if v is not None)
    return f"::{kind}{' ' + props if props else ''}::{_escape_data(message)}"


def github_command(kind: str, problem: Problem) -> str:
    """One ``::error`` or ``::warning`` workflow command for ``problem``."""
    column = problem.column if problem.line is not None else None
    return workflow_command(kind, _message(problem), file=problem.file, line=problem.line, col=column)


def github_annotations(errors: Iterable[Problem], warnings: Iterable[Problem]) -> str:
    lines = [github_command("error", p) for p in errors] + [github_command("warning", p) for p in warnings]
    return "".join(line + "\n" for line in lines)


def json_report(files: Iterable[str], errors: Iterable[Problem], warnings: Iterable[Problem],
                findings: Iterable[Finding] = ()) -> str:
    """``{"files", "valid", "errors": [...], "warnings": [...], "findings": [...]}``; each problem names
    its file, line, column, path and message; each policy finding its rule, level, channel and fix
    (it is also among the errors, at deny, or the warnings)."""
    errors, warnings = list(errors), list(warnings)
    data = {
        "files": list(files),
        "valid": not errors,
        "errors": [asdict(p) for p in errors],
        "warnings": [asdict(p) for p in warnings],
        "findings": [f.to_data() for f in findings],
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"

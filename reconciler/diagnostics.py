"""A channels file's problems and warnings for CI: GitHub workflow commands and JSON.

``::error file=F,line=L,col=C::message`` lines make GitHub show each problem on its line in a pull
request's diff (GitHub's "workflow commands"); JSON gives them to any other tool as data.

The runner executes any line of a job's log that starts with ``::`` (after spaces) or holds
``##[``: text that is data (a plan, an apply's output) goes to the log between
``::stop-commands::TOKEN`` and ``::TOKEN::`` (``inert``), where the runner executes nothing.
"""
from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Callable
from dataclasses import asdict

from reconciler.errors import Problem


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


@contextmanager
def inert(log: Callable[[str], None]) -> Iterator[None]:
    """Whatever ``log`` writes inside the block cannot act as a workflow command (GitHub's
    ``stop-commands``, with a token no text inside can guess)."""
    token = f"omnidesk-{uuid.uuid4().hex}"
    log(f"::stop-commands::{token}")
    try:
        yield
    finally:
        log(f"::{token}::")


def github_command(kind: str, problem: Problem) -> str:
    """One ``::error`` or ``::warning`` workflow command for ``problem``."""
    column = problem.column if problem.line is not None else None
    return workflow_command(kind, _message(problem), file=problem.file, line=problem.line, col=column)


def github_annotations(errors: Iterable[Problem], warnings: Iterable[Problem]) -> str:
    lines = [github_command("error", p) for p in errors] + [github_command("warning", p) for p in warnings]
    return "".join(line + "\n" for line in lines)


def json_report(files: Iterable[str], errors: Iterable[Problem], warnings: Iterable[Problem]) -> str:
    """``{"files", "valid", "errors": [...], "warnings": [...]}``; each problem names its file, line,
    column, path and message."""
    errors, warnings = list(errors), list(warnings)
    data = {
        "files": list(files),
        "valid": not errors,
        "errors": [asdict(p) for p in errors],
        "warnings": [asdict(p) for p in warnings],
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"

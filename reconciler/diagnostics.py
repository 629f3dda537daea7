"""A channels file's problems and warnings for CI: GitHub workflow commands and JSON.

``::error file=F,line=L,col=C::message`` lines make GitHub show each problem on its line in a pull
request's diff (GitHub's "workflow commands"); JSON gives them to any other tool as data. Both are
bounded: a problem repeated on many lines is annotated once with its count, and a note says how
many were left out.

The runner executes any line of a job's log that starts with ``::`` (after spaces) or holds
``##[``: text that is data (a plan, an apply's output) goes to the log between
``::stop-commands::TOKEN`` and ``::TOKEN::`` (``inert``), where the runner executes nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import asdict, replace

from reconciler.errors import SHOWN_PROBLEMS, Problem, fold, left_out, repeats
from reconciler.policy import Finding

JSON_PROBLEMS = 1_000  # problems of each kind listed in JSON; more are counted in "left_out"


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


def inert(text: str) -> str:
    """``text`` for a job log, where no line of it can act as a workflow command (GitHub's
    ``stop-commands``, with a token no text inside can guess)."""
    token = f"omnidesk-{uuid.uuid4().hex}"
    return f"::stop-commands::{token}\n{text}\n::{token}::"


def github_command(kind: str, problem: Problem) -> str:
    """One ``::error`` or ``::warning`` workflow command for ``problem``."""
    column = problem.column if problem.line is not None else None
    return workflow_command(kind, _message(problem), file=problem.file, line=problem.line, col=column)


def github_annotations(errors: Iterable[Problem], warnings: Iterable[Problem]) -> str:
    """One annotation per different problem (``SHOWN_PROBLEMS`` at most of each kind, a repeated
    one with its count), then one saying how many were left out."""
    lines: list[str] = []
    for kind, problems in (("error", errors), ("warning", warnings)):
        folded = fold(problems)
        for problem, count in folded[:SHOWN_PROBLEMS]:
            lines.append(github_command(kind, replace(problem, message=problem.message + repeats(count))))
        if len(folded) > SHOWN_PROBLEMS:
            lines.append(workflow_command(kind, f"{left_out(folded[SHOWN_PROBLEMS:])} not shown: fix these first"))
    return "".join(line + "\n" for line in lines)


def json_report(
    files: Iterable[str], errors: Iterable[Problem], warnings: Iterable[Problem], findings: Iterable[Finding] = ()
) -> str:
    """``{"files", "valid", "errors": [...], "warnings": [...], "findings": [...]}``; each problem names
    its file, line, column, path and message; each policy finding its rule, level, channel and fix
    (it is also among the errors, at deny, or the warnings)."""
    errors, warnings = list(errors), list(warnings)
    data: dict[str, object] = {
        "files": list(files),
        "valid": not errors,
        "errors": [asdict(p) for p in errors[:JSON_PROBLEMS]],
        "warnings": [asdict(p) for p in warnings[:JSON_PROBLEMS]],
        "findings": [f.to_data() for f in findings],
    }
    left = {
        kind: len(found) - JSON_PROBLEMS
        for kind, found in (("errors", errors), ("warnings", warnings))
        if len(found) > JSON_PROBLEMS
    }
    if left:
        data["left_out"] = left  # how many of each were not listed
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"

"""Policy findings (and a file's problems) as SARIF 2.1.0, the format code-scanning tools read.

One run, one tool (``omnidesk-channels``) whose rules are the policy's registry plus two for the
channels file itself (``channels-file`` problems and warnings); each result names its rule, its
level (deny and file problems are ``error``, the rest ``warning``) and the file and line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from reconciler import __version__
from reconciler.checks import Finding as CheckFinding
from reconciler.errors import Problem
from reconciler.policy import DENY, RULES, Finding
from reconciler.selection import Selection

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
PLAN_CHECK = "plan-check"
FILE_PROBLEM = "channels-file"
FILE_WARNING = "channels-file-warning"
SECRET_ROTATION = "secret-rotation"
_FILE_RULES = {
    PLAN_CHECK: (
        "a check every plan goes through (safety thresholds, secrets to send)",
        "see the message: it names what apply needs",
        "warning",
    ),
    FILE_PROBLEM: (
        "the channels file cannot be used as written",
        "see the message: it names the line and the fix",
        "error",
    ),
    FILE_WARNING: (
        "the channels file works, but holds something risky (such as a secret written in it)",
        "see the message",
        "warning",
    ),
    SECRET_ROTATION: (
        "the plan sends a channel's secret again (its secret_version was raised, or --rotate-secrets)",
        "give the bridge the new secret before the apply (let it accept the old and the new one meanwhile)",
        "note",
    ),
}


def _rules() -> list[dict[str, Any]]:
    out = []
    for rule in RULES.values():
        out.append(
            {
                "id": rule.id,
                "shortDescription": {"text": rule.rationale},
                "help": {
                    "text": f"Fix: {rule.fix}. Set its level in the channels file: policy: {{rules: {{{rule.id}: "
                    "off|warn|deny}}"
                },
                "defaultConfiguration": {"level": "error" if rule.default == DENY else "warning"},
            }
        )
    for rule_id, (text, fix, level) in _FILE_RULES.items():
        out.append(
            {
                "id": rule_id,
                "shortDescription": {"text": text},
                "help": {"text": fix},
                "defaultConfiguration": {"level": level},
            }
        )
    return out


def _location(file: str, line: int | None, column: int | None = None) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": quote(file.replace("\\", "/"))}}
    if line is not None:
        physical["region"] = {"startLine": line, **({"startColumn": column} if column else {})}
    return {"physicalLocation": physical}


def _result(rule_id: str, index: int, level: str, text: str, location: dict[str, Any] | None) -> dict[str, Any]:
    result: dict[str, Any] = {"ruleId": rule_id, "ruleIndex": index, "level": level, "message": {"text": text}}
    if location is not None:
        result["locations"] = [location]
    return result


def render_sarif(
    findings: Iterable[Finding],
    *,
    errors: Iterable[Problem] = (),
    warnings: Iterable[Problem] = (),
    checks: Iterable[CheckFinding] = (),
    partial: Selection | None = None,
    rotations: Iterable[str] = (),
) -> str:
    """A SARIF 2.1.0 log of ``findings``, a file's ``errors`` and ``warnings`` (``validate``), and what
    the plan checks found (``checks``: a threshold passed, a secret unset; no location), and the
    secrets the plan sends to existing channels (``rotations``: one line each, a note; no location).

    ``partial``: the plan's --only/--exclude; the run's property bag says so, since the findings of
    the channels left out are not in the log."""
    rules = _rules()
    index = {rule["id"]: i for i, rule in enumerate(rules)}
    results = []
    for finding in findings:
        level = "error" if finding.level == DENY else "warning"
        text = f"{finding.channel!r}: {finding.message}. Fix: {finding.fix}."
        location = _location(finding.file, finding.line) if finding.file else None
        results.append(_result(finding.rule, index[finding.rule], level, text, location))
    for rule_id, problems, level in ((FILE_PROBLEM, errors, "error"), (FILE_WARNING, warnings, "warning")):
        for problem in problems:
            text = f"{problem.path}: {problem.message}" if problem.path else problem.message
            results.append(
                _result(rule_id, index[rule_id], level, text, _location(problem.file, problem.line, problem.column))
            )
    for check in checks:
        results.append(
            _result(
                PLAN_CHECK,
                index[PLAN_CHECK],
                "error" if check.denies else "warning",
                f"{check.check}: {check.message}",
                None,
            )
        )
    for line in rotations:
        results.append(_result(SECRET_ROTATION, index[SECRET_ROTATION], "note", line, None))
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "omnidesk-channels", "version": __version__, "rules": rules}},
        "results": results,
    }
    if partial:
        run["properties"] = {
            "partial": partial.to_data(),
            "description": f"A partial plan ({partial.describe()}): the findings of the channels "
            "it leaves out are not here.",
        }
    log = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"

"""Templates in channel values: ``${env:NAME}``, ``${var:NAME}``, and ``$${`` for a literal ``${``.

Substitution is one pass: a substituted value is not read again. An empty environment variable
counts as unset, exactly like a missing one: GitHub Actions gives ``""`` for a secret that is not
defined, and sending ``""`` would wipe a channel's secret. What a missing value means (an error,
or a secret the planner may not need) is the caller's decision; this module only reports it.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

TOKEN = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
BODY = re.compile(r"(env|var):([A-Za-z_][A-Za-z0-9_]*)")


@dataclass
class Substituted:
    value: str
    unset_env: list[str] = field(default_factory=list)  # ${env:...} unset or empty, in order
    missing_vars: list[str] = field(default_factory=list)  # ${var:...} without a value (left as written)
    templated: bool = False  # had ${...} or $${: check the result against the field's regex again
    malformed: str | None = None  # why the text is no valid template (nothing was substituted)


def malformed(text: str, *, secret: bool) -> str | None:
    """Why ``text`` holds an unusable ``${``, or None; never quotes a secret."""
    if "${" not in text:
        return None
    for match in TOKEN.finditer(text):
        token = match.group(0)
        if token == "$${":
            continue
        if match.group(1) is None or not BODY.fullmatch(match.group(1)):
            shown = "the secret has a '${'" if secret else f"unrecognised template {token!r}"
            return f"{shown}: write ${{env:NAME}} or ${{var:NAME}}, or $${{ for a literal ${{"
    return None


def substitute(
    text: str, *, environ: Mapping[str, str], vars: Mapping[str, str] | None, secret: bool = False
) -> Substituted:
    """``text`` with its templates replaced; ``vars`` None means no tenant is chosen."""
    if "${" not in text:
        return Substituted(text)
    out = Substituted("", malformed=malformed(text, secret=secret))
    if out.malformed:
        return out

    def replace(match: re.Match[str]) -> str:
        # A literal ${ also counts: the schema let it through as a template, the regex never saw it.
        out.templated = True
        if match.group(0) == "$${":
            return "${"
        source, name = BODY.fullmatch(match.group(1)).groups()  # type: ignore[union-attr]
        if source == "env":
            value = environ.get(name)
            if value:
                return value
            out.unset_env.append(name)
            return ""
        if vars is not None and name in vars:
            return vars[name]
        out.missing_vars.append(name)
        return match.group(0)

    out.value = TOKEN.sub(replace, text)
    return out


def uses_vars(text: str) -> bool:
    """Whether substituting ``text`` can depend on the tenant."""
    return "${var:" in text


def first_env(text: str) -> str | None:
    """The first ``${env:NAME}`` in ``text``: the variable a secret comes from."""
    for match in TOKEN.finditer(text):
        body = BODY.fullmatch(match.group(1) or "")
        if body and body.group(1) == "env":
            return body.group(2)
    return None

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
from functools import lru_cache

from reconciler.printable import quoted

TOKEN = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
BODY = re.compile(rf"(env|var):({_NAME})")
# One whole ``${env:NAME}`` or ``${var:NAME}``, spelled alike for Python and ECMA-262 (the schema's patterns).
WHOLE_TOKEN = rf"\$\{{(?:env|var):{_NAME}\}}"


@dataclass
class Substituted:
    value: str
    unset_env: list[str] = field(default_factory=list)  # ${env:...} unset or empty, in order
    missing_vars: list[str] = field(default_factory=list)  # ${var:...} without a value (left as written)
    templated: bool = False  # had ${...} or $${: check the result against the field's regex again
    malformed: str | None = None  # why the text is no valid template (nothing was substituted)


@lru_cache(maxsize=4096)
def _pieces(text: str) -> tuple[tuple[str, str], ...] | str:
    """``text`` as (source, text) pieces: ("", literal), ("env", NAME), ("var", NAME); or its bad token.

    Cached: with many tenants the same texts are substituted once per tenant.
    """
    pieces: list[tuple[str, str]] = []
    at = 0
    for match in TOKEN.finditer(text):
        if match.start() > at:
            pieces.append(("", text[at : match.start()]))
        at = match.end()
        token = match.group(0)
        if token == "$${":
            pieces.append(("", "${"))
            continue
        body = BODY.fullmatch(match.group(1)) if match.group(1) is not None else None
        if body is None:
            return token
        pieces.append((body.group(1), body.group(2)))
    if at < len(text):
        pieces.append(("", text[at:]))
    return tuple(pieces)


def malformed(text: str, *, secret: bool) -> str | None:
    """Why ``text`` holds an unusable ``${``, or None; never quotes a secret."""
    if "${" not in text:
        return None
    pieces = _pieces(text)
    if not isinstance(pieces, str):
        return None
    shown = "the secret has a '${'" if secret else f"unrecognised template {quoted(pieces)}"
    return f"{shown}: write ${{env:NAME}} or ${{var:NAME}}, or $${{ for a literal ${{"


def substitute(
    text: str, *, environ: Mapping[str, str], vars: Mapping[str, str] | None, secret: bool = False
) -> Substituted:
    """``text`` with its templates replaced; ``vars`` None means no tenant is chosen."""
    if "${" not in text:
        return Substituted(text)
    pieces = _pieces(text)
    if isinstance(pieces, str):
        return Substituted("", malformed=malformed(text, secret=secret))
    # A literal ${ also counts as templated: the schema let it through, the regex never saw it.
    out = Substituted("", templated=True)
    parts: list[str] = []
    for source, value in pieces:
        if not source:
            parts.append(value)
        elif source == "env":
            found = environ.get(value)
            if found:
                parts.append(found)
            else:
                out.unset_env.append(value)
        elif vars is not None and value in vars:
            parts.append(vars[value])
        else:
            out.missing_vars.append(value)
            parts.append(f"${{var:{value}}}")
    out.value = "".join(parts)
    return out


def uses_vars(text: str) -> bool:
    """Whether substituting ``text`` can depend on the tenant."""
    return "${var:" in text


def first_env(text: str) -> str | None:
    """The first ``${env:NAME}`` in ``text``: the variable a secret comes from."""
    if "${" not in text:
        return None
    for match in TOKEN.finditer(text):
        body = BODY.fullmatch(match.group(1) or "")
        if body and body.group(1) == "env":
            return body.group(2)
    return None

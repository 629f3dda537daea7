"""Plans as people and machines read them: one table of output formats that every ``--format`` reads.

``FORMATS`` maps a format's name to its renderers: ``plan`` (one tenant's plan) and ``report``
(every tenant's outcome at once, ``plan --all-tenants`` and CI). ``plan``, ``plan --all-tenants``
and the CI commands offer exactly its keys. Adding a format is one function here (or in a module
of its own, as ``markdown``), one ``Format`` entry, and a golden test (tests/test_render_golden.py).
Every renderer is a pure function of what it is given; secrets show as ``(sensitive)``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from reconciler.checks import Finding, policy_check
from reconciler.describe import SYMBOL, TenantOutcome, baselines_note, field_lines, headline, report_summary, rotations
from reconciler.markdown import MARKDOWN_LIMIT, markdown_report, render_markdown
from reconciler.plan import CREATE, DELETE, PLAN_FORMAT_VERSION, UPDATE, Plan
from reconciler.sarif import render_sarif

POLICY = policy_check.__name__  # its finding repeats the policy's own, which SARIF lists one by one
# A terminal shows this many names of a list (channels not managed here), then "and N more".
TEXT_NAMES = 10

_COLOUR = {CREATE: "green", UPDATE: "yellow", DELETE: "red"}
_ANSI = {"green": 32, "yellow": 33, "red": 31}


def _ansi(text: str, *, fg: str, bold: bool = False) -> str:
    """ANSI colour, spelled as click.style spells it (the engine does not depend on click)."""
    return f"\x1b[{_ANSI[fg]}m" + ("\x1b[1m" if bold else "") + text + "\x1b[0m"


def render_text(plan: Plan, *, color: bool = False) -> str:
    """The terminal view, Terraform-like; colour only when asked (the CLI asks on a TTY)."""
    style: Callable[..., str] = _ansi if color else (lambda text, **_: text)
    lines: list[str] = [f"{plan.basis}."] if plan.basis else []
    if plan.is_empty and plan.partial:  # the tenant may still differ in the channels left out
        lines.append(f"{plan.summary()}. No changes among the channels selected.")
    elif plan.is_empty:
        lines.append("No changes. The tenant matches the channels file.")
    else:
        lines.append(f"{plan.summary()}." + (f" Target: {plan.target}" if plan.target else ""))
        for change in plan.changes:
            lines.append("")
            # a snapshot has no ids: the ones a snapshot plan holds are made up, so none is shown
            line = headline(change, with_calls=True, with_id=plan.snapshot is None)
            lines.append(style(f"{SYMBOL[change.action]} {line}", fg=_COLOUR[change.action], bold=True))
            rows = field_lines(change)
            width = max((len(name) for name, _ in rows), default=0)
            lines.extend(f"    {name.ljust(width)}  {text}" for name, text in rows)
    if plan.unmanaged:
        lines.append("")
        lines.append(
            f"Not managed here ({len(plan.unmanaged)}, left alone; list them in the file, "
            "or prune them with --prune or prune: true): " + _text_names(plan.unmanaged)
        )
    note = baselines_note(plan)
    if note:
        lines += ["", note + "."]
    if plan.missing_secrets:
        lines.append("")
        for var, names in plan.missing_secrets.items():
            lines.append(style(f"Missing secret: ${{env:{var}}} is not set (needed by {', '.join(names)})", fg="red"))
    return "\n".join(lines) + "\n"


def _text_names(names: Sequence[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:TEXT_NAMES])
    more = len(names) - TEXT_NAMES
    return shown + (f" and {more} more" if more > 0 else "")


def sarif_report(results: Sequence[TenantOutcome], options: RenderOptions) -> str:
    """One SARIF log of every tenant's policy findings (a finding several tenants share, once)."""
    partial = next((r.plan.partial for r in results if r.plan and r.plan.partial), None)  # one for every tenant
    rotated = [f"{r.name}: {line}" for r in results if r.plan for line in rotations(r.plan)]
    findings = list(dict.fromkeys(f for r in results if r.plan for f in r.plan.findings))
    return render_sarif(findings, partial=partial, rotations=rotated)


def render_json(plan: Plan) -> str:
    return json.dumps(plan.to_data(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def json_report(results: Sequence[TenantOutcome]) -> str:
    """Every tenant's plan (or error), warnings and saved path in one JSON document with a summary.

    It carries the plan's ``format_version``: ``schema plan`` describes it too (``$defs/report``).
    """
    tenants = []
    for r in results:
        entry: dict[str, object] = {"tenant": r.name, "warnings": list(r.warnings)}
        entry.update({"plan": r.plan.to_data()} if r.plan is not None else {"error": r.error})
        if r.saved:
            entry["saved"] = r.saved
        tenants.append(entry)
    document = {
        "format_version": PLAN_FORMAT_VERSION,
        "summary": {
            "tenants": len(results),
            "with_changes": sum(r.has_changes for r in results),
            "failed": sum(r.failed for r in results),
        },
        "tenants": tenants,
    }
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# -- the table every --format reads ----------------------------------------------------------------


@dataclass(frozen=True)
class RenderOptions:
    """What a renderer may take into account besides the plan.

    ``color``: ANSI colours (the CLI asks on a terminal); ``limit``: the characters a comment may
    hold; ``findings``: what the plan checks reported (``checks.PLAN_CHECKS``).
    """

    color: bool = False
    limit: int = MARKDOWN_LIMIT
    findings: Sequence[Finding] = ()


PlanRenderer = Callable[[Plan, RenderOptions], str]
ReportRenderer = Callable[[Sequence[TenantOutcome], RenderOptions], str]


@dataclass(frozen=True)
class Format:
    """One ``--format``: how a plan reads in it, and how a report of many tenants does.

    ``report`` None: the tenants' plans one after the other under their names, then the summary.
    ``names_missing_secrets``: the rendered plan itself says which secret variables are unset, so
    the commands need not warn about them again.
    """

    name: str
    help: str  # "text for terminals": one item of --format's help
    plan: PlanRenderer
    report: ReportRenderer | None = None
    names_missing_secrets: bool = False


def sections_report(results: Sequence[TenantOutcome], options: RenderOptions, plan: PlanRenderer) -> str:
    """Each tenant's plan (or error) under ``== name ==``, then one summary line."""
    parts = []
    for r in results:
        body = plan(r.plan, options) if r.plan is not None else f"Error: {r.error}\n"
        parts.append(f"== {r.name} ==\n{body}")
    return "\n".join(parts) + f"\n{report_summary(results)}.\n"


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format(
            "text", "text for terminals", lambda plan, o: render_text(plan, color=o.color), names_missing_secrets=True
        ),
        Format(
            "markdown",
            "markdown for pull-request comments",
            lambda plan, o: render_markdown(plan, limit=o.limit),
            report=lambda results, o: markdown_report(results, limit=o.limit),
        ),
        Format(
            "json",
            "json for machines",
            lambda plan, o: render_json(plan),
            report=lambda results, o: json_report(results),
        ),
        Format(
            "sarif",
            "sarif for code scanning (the policy's findings and the secrets rotated, SARIF 2.1.0)",
            lambda plan, o: render_sarif(
                plan.findings,
                checks=[f for f in o.findings if f.check != POLICY],
                partial=plan.partial,
                rotations=rotations(plan),
            ),
            report=sarif_report,
        ),
    )
}


def format_names() -> list[str]:
    """The ``--format`` choices, in the table's order."""
    return list(FORMATS)


def formats_help() -> str:
    """``text for terminals, markdown for pull-request comments, ...``: every format, for --help."""
    return ", ".join(f.help for f in FORMATS.values())


def render_plan(plan: Plan, fmt: str, options: RenderOptions | None = None) -> str:
    """``plan`` in the format named ``fmt`` (a key of ``FORMATS``)."""
    return FORMATS[fmt].plan(plan, options or RenderOptions())


def render_report(results: Sequence[TenantOutcome], fmt: str, options: RenderOptions | None = None) -> str:
    """Every tenant's outcome in one report, in the format named ``fmt``."""
    chosen, options = FORMATS[fmt], options or RenderOptions()
    if chosen.report is not None:
        return chosen.report(results, options)
    return sections_report(results, options, chosen.plan)

"""Plans as pull-request comments (GitHub and GitLab Markdown), cut to fit one comment.

Nothing here changes run to run (no ids, no times): a comment updated in place must not churn.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence

from reconciler.describe import (
    SYMBOL,
    TenantOutcome,
    baselines_note,
    calls_note,
    describe_secret,
    field_lines,
    report_summary,
    shown_change,
)
from reconciler.impact import SHOWN as IMPACT_SHOWN
from reconciler.model import SECRET_FIELD
from reconciler.plan import DELETE, Change, Create, Delete, Plan, Update
from reconciler.policy import DENY

# GitHub refuses comments over 65,536 characters; leave room for a bot's header.
MARKDOWN_LIMIT = 65_000
# Lists of names in a comment are cut here, so that no list alone can outgrow the comment.
MARKDOWN_NAMES = 50


def _code(text: str, *, in_table: bool = False) -> str:
    """An inline code span that GitHub shows exactly as ``text``: no entity, escape or lost space.

    Text with line breaks or other unprintable characters is shown JSON-quoted (a code span would
    turn a line break into a space, and a table row would end there).
    """
    shown = text if text.isprintable() and text else json.dumps(text, ensure_ascii=False)
    fence = "`" * (max((len(run) for run in re.findall(r"`+", shown)), default=0) + 1)
    # CommonMark strips one space from each side of a span that starts and ends with one, and a
    # backtick at either end would merge with the fence: pad with a space that gets stripped.
    if shown[0] == "`" or shown[-1] == "`" or (shown[0] == shown[-1] == " " and shown.strip()):
        shown = f" {shown} "
    if in_table:
        shown = shown.replace("|", "\\|")  # GFM reads \| as a pipe inside a cell, code spans too
    return f"{fence}{shown}{fence}"


def _html(text: str) -> str:
    """Text for an HTML element (the <summary>): entities there are decoded by the browser."""
    shown = text if text.isprintable() else json.dumps(text, ensure_ascii=False)
    return html.escape(shown, quote=False)


def _code_block(lines: list[str], language: str = "diff") -> str:
    """A fenced code block: everything in it shows as typed; the fence outgrows any backtick run."""
    body = "\n".join(lines)
    fence = "`" * max(3, max((len(run) for run in re.findall(r"`+", body)), default=0) + 1)
    return f"{fence}{language}\n{body}\n{fence}"


def _md_summary(change: Change) -> str:
    symbol = SYMBOL[change.action]
    if isinstance(change, Update) and change.renamed_from:
        return f"{symbol} rename <code>{_html(change.renamed_from)}</code> → <code>{_html(change.name)}</code>"
    return f"{symbol} {change.action} <code>{_html(change.name)}</code>{calls_note(change)}"


def _md_details(change: Change) -> str:
    """One change, its fields in a diff block below the table, so long values hide no column."""
    out = [f"<details><summary>{_md_summary(change)}</summary>", ""]
    lines: list[str] = []
    if isinstance(change, Update):
        for f in change.fields:
            shown = shown_change(f)
            lines += [f"- {f.field}: {shown['before']}", f"+ {f.field}: {shown['after']}"]
        if change.secret is not None:
            lines.append(f"  {SECRET_FIELD}: {describe_secret(change.secret)}")
    else:
        sign = "-" if change.action == DELETE else "+"
        lines = [f"{sign} {name}: {text}" for name, text in field_lines(change)]
    if change.action == DELETE:
        out.append("The channel and its secret are deleted on the tenant." + (" It had:" if lines else ""))
        out += [""] if lines else []
    elif not lines:
        out.append("Every field at its default.")
    if lines:
        out.append(_code_block(lines))
    out += ["", "</details>"]
    return "\n".join(out)


def _md_row(change: Change) -> str:
    label = _code(change.name, in_table=True)
    if isinstance(change, Create):
        fields = "new channel" + calls_note(change)
    elif isinstance(change, Delete):
        fields = "**deleted**"
    else:
        assert isinstance(change, Update)
        names = [f.field for f in change.fields]
        if change.secret is not None and change.secret.sends:
            names.append(SECRET_FIELD)
        fields = ", ".join(_code(n, in_table=True) for n in names)
        if change.renamed_from:
            label = f"{_code(change.renamed_from, in_table=True)} → {label}"
    return f"| {SYMBOL[change.action]} {change.action} | {label} | {fields} |"


class _Budget:
    """Characters left for a comment; ``take`` spends them on a piece if it fits."""

    def __init__(self, chars: float) -> None:
        self.left = chars

    def take(self, piece: str, separator: int = 2) -> bool:
        if len(piece) + separator > self.left:
            return False
        self.left -= len(piece) + separator
        return True


def _md_names(names: Sequence[str], budget: _Budget) -> tuple[str, int]:
    """Up to MARKDOWN_NAMES names that fit the budget, "and N more" for the others; and N."""
    shown: list[str] = []
    for name in names:
        if len(shown) == MARKDOWN_NAMES:
            break
        if budget.take(_code(name)):
            shown.append(_code(name))
    more = len(names) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more else ""), more


# Room kept for the note that says what a shortened comment left out.
_NOTE_ROOM = 600


def render_markdown(plan: Plan, *, limit: int = MARKDOWN_LIMIT) -> str:
    """A pull-request comment: summary, a table of channels, details per channel; fits ``limit``.

    When the whole comment would not fit, every part is cut to a budget (the headline first, then
    missing secrets, channels not managed here, table rows, details) and a note says what was left
    out and how much.
    """
    rows = [_md_row(c) for c in plan.changes]
    details = [_md_details(c) for c in plan.changes]
    text = _compose_markdown(plan, rows, details, _Budget(float("inf")), limit)
    if len(text) <= limit:
        return text
    return _compose_markdown(plan, rows, details, _Budget(limit - _NOTE_ROOM), limit)


def _cut(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _compose_markdown(plan: Plan, all_rows: list[str], all_details: list[str], budget: _Budget, limit: int) -> str:
    on = f" on {_code(_cut(plan.target))}" if plan.target else ""
    head = f"**{plan.summary()}**{on}"
    if plan.is_empty and not plan.partial:  # a partial one keeps its summary: other channels may differ
        head = f"**No changes**{on}: the tenant matches the channels file."
    if plan.basis:
        head = f"> ⚠️ **{plan.basis}.**\n\n{head}"
    budget.take(head)
    left_out: list[str] = []
    leading = []  # impact and policy: above everything else, and before it in the budget
    for block in _md_impact_and_policy(plan):
        if budget.take(block):
            leading.append(block)
        else:
            left_out.append(block.split("\n", 1)[0].strip("*") + " (in the JSON plan)")
    share = budget.left / 4  # no list of names may take more than this when space is short

    secrets: list[str] = []
    for var, names in plan.missing_secrets.items():
        shown, more = _md_names(names, _Budget(min(share, budget.left)))
        line = f"⚠️ Missing secret: {_code('${env:' + var + '}')} is not set (needed by {shown})"
        if not budget.take(line):
            line, more = f"⚠️ Missing secret: {_code('${env:' + var + '}')} is not set.", len(names)
        secrets.append(line)
        if more:
            left_out.append(f"{more} of {len(names)} channel names needing ${{env:{var}}}")

    unmanaged = ""
    if plan.unmanaged:
        total = len(plan.unmanaged)
        shown, more = _md_names(plan.unmanaged, _Budget(min(share, budget.left)))
        unmanaged = f"{total} custom channel(s) not managed here (left alone): {shown}"
        if not budget.take(unmanaged):
            unmanaged, more = f"{total} custom channel(s) not managed here (left alone).", total
        if more:
            left_out.append(f"{more} of {total} names of channels not managed here")

    rows = [row for row in all_rows if budget.take(row, 1)]
    if len(rows) < len(plan.changes):
        left_out.append(f"{len(plan.changes) - len(rows)} of {len(plan.changes)} rows of the table")
    details = [d for d in all_details if budget.take(d)]
    if len(details) < len(plan.changes):
        left_out.append(f"the details of {len(plan.changes) - len(details)} of {len(plan.changes)} channels")

    blocks = [head, *leading]
    if left_out and budget.left != float("inf"):
        blocks.append(
            f"> ✂️ Shortened to fit one comment ({limit} characters); left out: {'; '.join(left_out)}. "
            "The full plan: `plan --format json`, or save it with `plan --out`."
        )
    if rows:
        blocks.append("\n".join(["| action | channel | fields |", "|---|---|---|", *rows]))
    blocks += details
    if unmanaged:
        blocks.append(unmanaged)
    blocks += secrets
    note = baselines_note(plan)
    if note and budget.take(note):
        blocks.append(f"🔑 {_html(note)}.")
    return "\n\n".join(blocks) + "\n"


def _md_impact_and_policy(plan: Plan) -> list[str]:
    """The short sections above the table: what the plan does to agents and customers, then the policy."""
    blocks = []
    if len(plan.impact) > IMPACT_SHOWN:  # the headline names the first few; the list names them all
        blocks.append(
            "\n".join(["**High impact**", ""] + [f"- {_code(i.channel)} {_html(i.detail)}" for i in plan.impact])
        )
    if plan.findings:
        items = [
            f"- {'⛔ deny' if f.level == DENY else '⚠️ warn'} `{f.rule}` {_code(f.channel)}: "
            f"{_html(f.message)} (fix: {_html(f.fix)})"
            for f in plan.findings
        ]
        blocks.append("\n".join(["**Policy**", "", *items]))
    return blocks


def fenced(text: str) -> str:
    """``text`` in a Markdown code block whose fence no line of ``text`` can close."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{text.rstrip()}\n{fence}"


def tenant_markdown(result: TenantOutcome, *, limit: int = MARKDOWN_LIMIT) -> str:
    """One tenant's plan (or failure) as Markdown, warnings last; fits ``limit``."""
    notes = "".join(f"> ⚠️ {w}\n" for w in result.warnings)
    if result.plan is None:
        return f"**The plan failed.**\n\n{fenced(result.error or '')}\n"
    return render_markdown(result.plan, limit=limit - len(notes) - 2) + (f"\n{notes}" if notes else "")


def markdown_report(results: Sequence[TenantOutcome], *, limit: int = MARKDOWN_LIMIT) -> str:
    """Every tenant's plan, a section each, sharing ``limit`` equally."""
    budget = limit // max(1, len(results))
    sections = [f"### {r.name}\n\n{tenant_markdown(r, limit=budget)}" for r in results]
    return f"**{report_summary(results)}**\n\n" + "\n".join(sections)

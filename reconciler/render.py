"""Plans as people and machines read them: text for terminals, Markdown for pull requests, JSON.

Every renderer is a pure function of the plan; none prints ids or times that change run to run in
Markdown (a pull-request comment updated in place must not churn). Secrets show as ``(sensitive)``.
"""
from __future__ import annotations

import html
import json
import re
from typing import Any, Callable, Sequence

from reconciler.model import FIELDS, MANAGED_FIELDS, SECRET_FIELD, format_bool
from reconciler.plan import CREATE, DELETE, UPDATE, Change, Create, Delete, Plan, SecretAction, Update
from reconciler.diff import FieldChange
from reconciler.endpoints import masked, masked_change
from reconciler.impact import SHOWN as IMPACT_SHOWN
from reconciler.policy import DENY as DENY_LEVEL

SENSITIVE = "(sensitive)"
# GitHub refuses comments over 65,536 characters; leave room for a bot's header.
MARKDOWN_LIMIT = 65_000

# A terminal shows this many names of a list (channels not managed here), then "and N more".
TEXT_NAMES = 10
# Lists of names in a comment are cut here, so that no list alone can outgrow the comment.
MARKDOWN_NAMES = 50

_SYMBOL = {CREATE: "+", UPDATE: "~", DELETE: "-"}
_COLOUR = {CREATE: "green", UPDATE: "yellow", DELETE: "red"}
_ANSI = {"green": 32, "yellow": 33, "red": 31}


def _ansi(text: str, *, fg: str, bold: bool = False) -> str:
    """ANSI colour, spelled as click.style spells it (the engine does not depend on click)."""
    return f"\x1b[{_ANSI[fg]}m" + ("\x1b[1m" if bold else "") + text + "\x1b[0m"


def _secret_of(change: Change) -> SecretAction | None:
    return change.secret if isinstance(change, (Create, Update)) else None


def show_value(value: Any) -> str:
    """A field value as the file would spell it: strings quoted, booleans lower-case."""
    if isinstance(value, bool):
        return format_bool(value)
    return json.dumps(value, ensure_ascii=False)


def _shown_change(change: FieldChange) -> dict[str, str]:
    """A field change's before and after as shown: credentials in an endpoint masked, a changed one marked."""
    return {k: show_value(v) for k, v in masked_change(change.field, change.before, change.after).items()}


def describe_secret(secret: SecretAction) -> str:
    source = f" from ${{env:{secret.env_var}}}" if secret.env_var else ""
    if secret.sends:
        return f"{SENSITIVE} will be sent{source} ({secret.reason})"
    return f"{SENSITIVE} {secret.reason}"


def headline(change: Change, *, with_id: bool = True, with_calls: bool = False) -> str:
    ident = f" (id {change.channel_id})" if with_id and change.channel_id is not None else ""
    if isinstance(change, Update) and change.renamed_from:
        return f"rename {change.renamed_from!r} -> {change.name!r}{ident}"
    calls = f" ({change.describe_calls()})" if with_calls and len(change.calls()) > 1 else ""
    return f"{change.action} {change.name!r}{ident}{calls}"


def field_lines(change: Change) -> list[tuple[str, str]]:
    """(field, text) rows for one change: before -> after for updates; the values that are not
    defaults for creates, and for deletes (what is lost, so a reviewer sees it)."""
    rows: list[tuple[str, str]] = []
    if isinstance(change, Update):
        rows = [(f.field, "{before} -> {after}".format(**_shown_change(f))) for f in change.fields]
    elif isinstance(change, (Create, Delete)):
        values = masked(change.before if isinstance(change, Delete) else change.after)
        rows = [
            (name, show_value(values[name]))
            for name in MANAGED_FIELDS
            if name != "name" and values[name] != FIELDS[name].default
        ]
    secret = _secret_of(change)
    if secret is not None:
        rows.append((SECRET_FIELD, describe_secret(secret)))
    return rows


def render_text(plan: Plan, *, color: bool = False) -> str:
    """The terminal view, Terraform-like; colour only when asked (the CLI asks on a TTY)."""
    style: Callable[..., str] = _ansi if color else (lambda text, **_: text)
    lines: list[str] = []
    if plan.is_empty:
        lines.append("No changes. The tenant matches the channels file.")
    else:
        lines.append(f"{plan.summary()}." + (f" Target: {plan.target}" if plan.target else ""))
        for change in plan.changes:
            lines.append("")
            lines.append(style(f"{_SYMBOL[change.action]} {headline(change, with_calls=True)}", fg=_COLOUR[change.action], bold=True))
            rows = field_lines(change)
            width = max((len(name) for name, _ in rows), default=0)
            lines.extend(f"    {name.ljust(width)}  {text}" for name, text in rows)
    if plan.unmanaged:
        lines.append("")
        lines.append(
            f"Not managed here ({len(plan.unmanaged)}, left alone; list them in the file, "
            "or prune them with --prune or prune: true): " + _text_names(plan.unmanaged)
        )
    if plan.missing_secrets:
        lines.append("")
        for var, names in plan.missing_secrets.items():
            lines.append(style(f"Missing secret: ${{env:{var}}} is not set (needed by {', '.join(names)})", fg="red"))
    return "\n".join(lines) + "\n"


def _text_names(names: Sequence[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:TEXT_NAMES])
    more = len(names) - TEXT_NAMES
    return shown + (f" and {more} more" if more > 0 else "")


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


def _calls(change: Change) -> str:
    """How a change goes on the wire, when that is more than one call."""
    return f" ({change.describe_calls()})" if len(change.calls()) > 1 else ""


def _md_summary(change: Change) -> str:
    symbol = _SYMBOL[change.action]
    if isinstance(change, Update) and change.renamed_from:
        return f"{symbol} rename <code>{_html(change.renamed_from)}</code> → <code>{_html(change.name)}</code>"
    return f"{symbol} {change.action} <code>{_html(change.name)}</code>{_calls(change)}"


def _md_details(change: Change) -> str:
    """One change, its fields in a diff block below the table, so long values hide no column."""
    out = [f"<details><summary>{_md_summary(change)}</summary>", ""]
    lines: list[str] = []
    if isinstance(change, Update):
        for f in change.fields:
            shown = _shown_change(f)
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
        fields = "new channel" + _calls(change)
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
    return f"| {_SYMBOL[change.action]} {change.action} | {label} | {fields} |"


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


def _compose_markdown(plan: Plan, all_rows: list[str], all_details: list[str], budget: _Budget, limit: int) -> str:
    target = plan.target or ""
    if len(target) > 200:
        target = target[:200] + "…"
    on = f" on {_code(target)}" if target else ""
    head = f"**{plan.summary()}**{on}"
    if plan.is_empty:
        head = f"**No changes**{on}: the tenant matches the channels file."
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
    return "\n\n".join(blocks) + "\n"


def _md_impact_and_policy(plan: Plan) -> list[str]:
    """The short sections above the table: what the plan does to agents and customers, then the policy."""
    blocks = []
    if len(plan.impact) > IMPACT_SHOWN:  # the headline names the first few; the list names them all
        blocks.append("\n".join(["**High impact**", ""] + [f"- {_code(i.channel)} {_html(i.detail)}"
                                                           for i in plan.impact]))
    if plan.findings:
        icon = {DENY_LEVEL: "⛔ deny"}
        items = [f"- {icon.get(f.level, '⚠️ warn')} `{f.rule}` {_code(f.channel)}: {_html(f.message)} "
                 f"(fix: {_html(f.fix)})" for f in plan.findings]
        blocks.append("\n".join(["**Policy**", ""] + items))
    return blocks


def render_json(plan: Plan) -> str:
    return json.dumps(plan.to_data(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


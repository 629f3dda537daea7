"""Plans as people and machines read them: text for terminals, Markdown for pull requests, JSON.

Every renderer is a pure function of the plan; none prints ids or times that change run to run in
Markdown (a pull-request comment updated in place must not churn). Secrets show as ``(sensitive)``.
"""
from __future__ import annotations

import json
from typing import Any, Callable, Sequence

from reconciler.model import FIELDS, MANAGED_FIELDS, SECRET_FIELD, format_bool
from reconciler.plan import CREATE, DELETE, UPDATE, Change, Create, Delete, Plan, SecretAction, Update

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
        rows = [(f.field, f"{show_value(f.before)} -> {show_value(f.after)}") for f in change.fields]
    elif isinstance(change, (Create, Delete)):
        values = change.before if isinstance(change, Delete) else change.after
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


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _md_details(change: Change) -> str:
    rows = field_lines(change)
    out = [f"<details><summary>{_SYMBOL[change.action]} {_md_escape(headline(change, with_id=False, with_calls=True))}</summary>", ""]
    if isinstance(change, Update):
        out += ["| field | before | after |", "|---|---|---|"]
        for f in change.fields:
            out.append(f"| `{f.field}` | `{_md_escape(show_value(f.before))}` | `{_md_escape(show_value(f.after))}` |")
        if change.secret is not None:
            out.append(f"| `custom_channel_secret` | {SENSITIVE} | {_md_escape(describe_secret(change.secret))} |")
    elif rows:
        if change.action == DELETE:
            out += ["The channel and its secret are deleted on the tenant. It had:", ""]
        out += ["| field | value |", "|---|---|"]
        out += [
            f"| `{name}` | {_md_escape(text)} |" if name == SECRET_FIELD else f"| `{name}` | `{_md_escape(text)}` |"
            for name, text in rows
        ]
    elif change.action == DELETE:
        out.append("The channel and its secret are deleted on the tenant.")
    else:
        out.append("Every field at its default.")
    out += ["", "</details>"]
    return "\n".join(out)


def _md_names(names: Sequence[str]) -> str:
    shown = ", ".join(f"`{_md_escape(n)}`" for n in names[:MARKDOWN_NAMES])
    more = len(names) - MARKDOWN_NAMES
    return shown + (f" and {more} more" if more > 0 else "")


def render_markdown(plan: Plan, *, limit: int = MARKDOWN_LIMIT) -> str:
    """A pull-request comment: summary, a table of channels, details per channel; fits ``limit``."""
    on = f" on `{_md_escape(plan.target)}`" if plan.target else ""
    head = [f"**{plan.summary()}**{on}", ""]
    if plan.is_empty:
        head = [f"**No changes**{on}: the tenant matches the channels file.", ""]
    table: list[str] = []
    if plan.changes:
        table = ["| action | channel | fields |", "|---|---|---|"]
        for change in plan.changes:
            renamed_from = None
            if isinstance(change, Create):
                names = "new channel" + (f" ({change.describe_calls()})" if len(change.calls()) > 1 else "")
            elif isinstance(change, Delete):
                names = "**deleted**"
            else:
                assert isinstance(change, Update)
                renamed_from = change.renamed_from
                names = ", ".join(f"`{f.field}`" for f in change.fields)
                if change.secret is not None and change.secret.sends:
                    names = ", ".join(filter(None, [names, "`custom_channel_secret`"]))
            label = f"`{_md_escape(renamed_from)}` → `{_md_escape(change.name)}`" if renamed_from else f"`{_md_escape(change.name)}`"
            table.append(f"| {_SYMBOL[change.action]} {change.action} | {label} | {names} |")
        table.append("")
    tail: list[str] = []
    if plan.unmanaged:
        tail += [
            f"{len(plan.unmanaged)} custom channel(s) not managed here (left alone): "
            + _md_names(plan.unmanaged),
            "",
        ]
    if plan.missing_secrets:
        for var, names in plan.missing_secrets.items():
            tail.append(f"⚠️ Missing secret: `${{env:{var}}}` is not set (needed by {_md_names(names)})")
        tail.append("")

    details = [_md_details(c) for c in plan.changes]
    body = "\n".join(head + table) + "\n" + "\n\n".join(details) + ("\n\n" if details else "") + "\n".join(tail)
    if len(body) <= limit:
        return body.rstrip("\n") + "\n"
    return _shortened(head, table, details, tail, limit)


def _shortened(head: list[str], table: list[str], details: list[str], tail: list[str], limit: int) -> str:
    """Drop detail sections, then table rows, from the end until the comment fits, and say so."""
    def note(left_details: int, left_rows: int) -> str:
        parts = []
        if left_details:
            parts.append(f"the details of {left_details} channel(s)")
        if left_rows:
            parts.append(f"{left_rows} row(s) of the table")
        return (
            f"> ✂️ This plan is too long for one comment: {' and '.join(parts)} were left out. "
            "The full plan is in the saved plan file (`--format json` / `--out`)."
        )

    rows_head, rows = table[:2], table[2:-1]
    kept_details = list(details)
    kept_rows = list(rows)

    def build() -> str:
        shown_table = (rows_head + kept_rows + [""]) if table else []
        text = "\n".join(head + shown_table)
        text += "\n" + note(len(details) - len(kept_details), len(rows) - len(kept_rows)) + "\n\n"
        text += "\n\n".join(kept_details) + ("\n\n" if kept_details else "") + "\n".join(tail)
        return text.rstrip("\n") + "\n"

    text = build()
    while len(text) > limit and kept_details:
        # drop as many as the excess needs at once: a 10,000-channel plan must not rebuild 10,000 times
        excess = len(text) - limit
        while kept_details and excess > 0:
            excess -= len(kept_details.pop()) + 2
        text = build()
    while len(text) > limit and kept_rows:
        excess = len(text) - limit
        while kept_rows and excess > 0:
            excess -= len(kept_rows.pop()) + 1
        text = build()
    return text


def render_json(plan: Plan) -> str:
    return json.dumps(plan.to_data(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


"""The reference pages, generated when the site is built so that they cannot drift from the code.

A page under docs/reference/ holds a marker such as ``<!-- generated: commands -->``; this MkDocs
hook (``hooks:`` in mkdocs.yml) replaces it with Markdown made from the thing itself: every command
and option from the click commands, the channels file from its JSON Schema, the exit codes from
``reconciler.cli.EXIT_CODES``, the JSON plan from its schema and a plan made on the emulator.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

ROOT = Path(__file__).resolve().parents[2]
MARKER = re.compile(r"<!-- generated: ([a-z-]+) -->")
PROG = "omnidesk-channels"


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """MkDocs' event: fill each generated marker of a page."""
    return MARKER.sub(lambda m: GENERATORS[m.group(1)](), markdown)


# -- text helpers ------------------------------------------------------------------------------------


def escape(text: str) -> str:
    """Plain help text as Markdown: no emphasis from '*' or '_', no HTML from '<', no table breaks."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"([*_|\[\]`])", r"\\\1", text)


def cell(text: str) -> str:
    return escape(" ".join(text.split()))


def code(text: str) -> str:
    """Inline code that survives a table cell ('|' is the only character it must not hold as is)."""
    return "<code>" + text.replace("&", "&amp;").replace("<", "&lt;").replace("|", "&#124;") + "</code>"


# -- commands ---------------------------------------------------------------------------------------


def walk(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every command, groups first, in --help's order."""
    yield path, command
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                yield from walk(sub, (*path, name))


def help_markdown(help_text: str) -> str:
    """A click help text: paragraphs as prose, ``\\b`` blocks verbatim, an ``Example:`` block as shell."""
    out: list[str] = []
    for paragraph in inspect.cleandoc(help_text).split("\n\n"):
        lines = paragraph.split("\n")
        if lines[0].strip() != "\b":
            out.append(escape(" ".join(line.strip() for line in lines)))
            continue
        body = lines[1:]
        if body and body[0].strip().endswith(":") and body[0].strip()[:-1] in ("Example", "Examples"):
            out.append(f"**{body[0].strip()}**")
            body = body[1:]
        out.append("```sh\n" + inspect.cleandoc("\n".join(body)) + "\n```")
    return "\n\n".join(out)


def command_markdown(path: tuple[str, ...], command: click.Command, ctx: click.Context) -> str:
    name = " ".join((PROG, *path))
    usage = " ".join([name, *command.collect_usage_pieces(ctx)])
    parts = [f"## {name}", f"```text\n{usage}\n```", help_markdown(command.help or "")]
    rows = []
    for param in command.get_params(ctx):
        if not isinstance(param, click.Option):
            continue  # arguments are in the usage line
        record = param.get_help_record(ctx)
        if record is not None:
            rows.append(f"| {code(record[0])} | {cell(record[1])} |")
    if rows:
        parts.append("| option | what it does |\n|---|---|\n" + "\n".join(rows))
    if isinstance(command, click.Group):
        subs = [f"[{' '.join((*path, n))}](#{slug(' '.join((PROG, *path, n)))})" for n in command.list_commands(ctx)]
        parts.append("Commands: " + ", ".join(subs) + ".")
    return "\n\n".join(parts)


def slug(heading: str) -> str:
    """The anchor MkDocs' toc extension gives a heading (its default slugify)."""
    return re.sub(r"[-\s]+", "-", re.sub(r"[^\w\s-]", "", heading).strip().lower())


def commands() -> str:
    from reconciler.cli import cli

    sections = []
    for path, command in walk(cli):
        ctx = click.Context(command, info_name=" ".join((PROG, *path)), max_content_width=100)
        sections.append(command_markdown(path, command, ctx))
    return "\n\n".join(sections) + "\n"


# -- exit codes -------------------------------------------------------------------------------------


def exit_codes() -> str:
    from reconciler.cli import EXIT_CODES

    rows = [f"| {code_} | {meaning.replace('|', '&#124;')} |" for code_, meaning in sorted(EXIT_CODES.items())]
    return "| code | meaning |\n|---|---|\n" + "\n".join(rows) + "\n"


# -- JSON Schemas -----------------------------------------------------------------------------------


def load_schema(name: str) -> dict[str, Any]:
    from reconciler.schema import schema_path

    return json.loads(schema_path(name).read_text(encoding="utf-8"))


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """``node`` with its ``$ref`` followed (the referring node's own description wins)."""
    ref = node.get("$ref")
    if not ref:
        return node
    target = schema["$defs"][ref.rsplit("/", 1)[1]]
    merged = {**resolve(schema, target), **{k: v for k, v in node.items() if k != "$ref"}}
    merged.setdefault("x-def", ref.rsplit("/", 1)[1])
    return merged


def type_of(schema: dict[str, Any], node: dict[str, Any]) -> str:
    node = resolve(schema, node)
    if "oneOf" in node:  # one of several forms (tenants: inline, or tenant files)
        return " or ".join(type_of(schema, form) for form in node["oneOf"])
    if "const" in node:
        return json.dumps(node["const"])
    if "enum" in node:
        return " or ".join(json.dumps(v) for v in node["enum"])
    kind = node.get("type", "any")
    if kind == "array" and "items" in node:
        return f"list of {type_of(schema, node['items'])}"
    if kind == "object" and "properties" in node:
        if node.get("x-def"):
            return f"[{node['x-def']}](#{slug(node['x-def'])})"
        return "object with " + ", ".join(code(k) for k in node["properties"])
    if kind == "object" and isinstance(node.get("additionalProperties"), dict):
        return f"map of name to {type_of(schema, node['additionalProperties'])}"
    return " or ".join(kind) if isinstance(kind, list) else str(kind)


def rules_of(schema: dict[str, Any], node: dict[str, Any]) -> list[str]:
    node = resolve(schema, node)
    rules = []
    pattern = node.get("pattern") or node.get("else", {}).get("pattern")
    if pattern:
        rules.append("matches " + code(pattern))
    if pattern and "(?:env|var)" in pattern:
        rules.append(
            "whole ${env:NAME} / ${var:NAME} may stand beside these characters (the value after "
            "substitution must match too)"
        )
    for key, words in (
        ("minimum", "at least"),
        ("maximum", "at most"),
        ("minItems", "at least this many items:"),
        ("minLength", "at least this many characters:"),
    ):
        if key in node:
            rules.append(f"{words} {node[key]}")
    if node.get("uniqueItems"):
        rules.append("no duplicates")
    names = node.get("propertyNames", {}).get("pattern")
    if names:
        rules.append("names match " + code(names))
    return rules


def object_table(schema: dict[str, Any], node: dict[str, Any], examples: dict[str, Any]) -> str:
    required = set(node.get("required", ()))
    rows = []
    for key, prop in node.get("properties", {}).items():
        full = resolve(schema, prop)
        required_mark = "**required**" if key in required else ""
        default = code(json.dumps(full["default"])) if "default" in full else required_mark
        example = code(shorten(json.dumps(examples[key], ensure_ascii=False))) if key in examples else ""
        rows.append(
            f"| {code(key)} | {type_of(schema, prop)} | {default} | {'; '.join(rules_of(schema, prop))} | "
            f"{example} | {cell(full.get('description', ''))} |"
        )
    extra = "Other keys are an error." if node.get("additionalProperties") is False else ""
    return (
        "| key | type | default | rule | example | description |\n|---|---|---|---|---|---|\n"
        + "\n".join(rows)
        + (f"\n\n{extra}" if extra else "")
    )


def shorten(text: str, width: int = 48) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def schema_sections(name: str, title: str, examples: dict[str, dict[str, Any]] | None = None) -> str:
    """A table per object of the schema; ``examples``: values seen per object (by its $defs name)."""
    schema, seen = load_schema(name), examples or {}
    parts = [cell(schema.get("description", ""))]
    if "properties" in schema:  # the plan schema's top level is a choice of its $defs (plan, report)
        parts += [f"### {title}", object_table(schema, schema, seen.get("", {}))]
    for def_name, node in schema.get("$defs", {}).items():
        if node.get("type") == "object" and "properties" in node:
            parts.append(f"### {def_name}")
            if node.get("description"):
                parts.append(cell(node["description"]))
            parts.append(object_table(schema, node, seen.get(def_name, {})))
    return "\n\n".join(parts) + "\n"


EXAMPLE_FILES = ("examples/webshop/channels.yaml", "examples/quickstart.yaml", "examples/channels.yaml")


def channels_file_examples() -> dict[str, dict[str, Any]]:
    """The first value each key has in the example files (which the tests validate), per object."""
    import yaml

    seen: dict[str, dict[str, Any]] = {"": {}, "channel": {}, "tenant": {}, "safety": {}}

    def note(kind: str, mapping: Any) -> None:
        for key, value in mapping.items() if isinstance(mapping, dict) else ():
            seen[kind].setdefault(key, value)

    for name in EXAMPLE_FILES:
        data = yaml.safe_load((ROOT / name).read_text(encoding="utf-8"))
        note("", {k: v for k, v in data.items() if k not in ("channels", "tenants")})
        for channel in data.get("channels", []):
            note("channel", channel)
        for tenant in (data.get("tenants") or {}).values():
            note("tenant", tenant)
            note("safety", tenant.get("safety"))
        note("safety", data.get("safety"))
    return seen


def channels_file() -> str:
    example = (ROOT / "examples" / "webshop" / "channels.yaml").read_text(encoding="utf-8")
    return (
        schema_sections("channels.schema.json", "The file (top level)", channels_file_examples())
        + "\n### A complete example\n\n`examples/webshop/channels.yaml`, which the test suite validates and "
        "applies (the examples in the tables above are the first values the example files give each "
        "key):\n\n```yaml\n" + example + "```\n"
    )


def plan_format() -> str:
    return schema_sections("plan.schema.json", "The plan (top level)") + (
        "\n### An example\n\nMade on the emulator when this page was built: the quick start applied, then "
        "a file that changes one channel, drops one (with `prune: true`) and adds one whose secret "
        "variable is unset:\n\n```json\n" + example_plan() + "```\n"
    )


EXAMPLE_CHANGED = """\
version: 1
prune: true
channels:
  - name: SMS gateway
    icon: phone
    custom_channel_endpoint: https://sms.example.com/omnidesk/api/message
    include_signature: true
    custom_channel_warning_en: Replies by SMS can take a few minutes
    custom_channel_warning_nl: Antwoorden per sms kunnen enkele minuten duren
  - name: Marketplace inbox
    custom_channel_endpoint: https://market.example.com/omnidesk
    custom_channel_secret: ${env:MARKETPLACE_BRIDGE_SECRET}
    custom_channel_available_in_quick_ticket: true
"""


def example_plan() -> str:
    """``plan --format json`` of EXAMPLE_CHANGED against a tenant that has the quick start."""
    from reconciler.cli.common import emulated
    from reconciler.render import render_json
    from reconciler.workflow import Workflow

    here = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # the target's label names the state file: keep it a short relative name
        try:
            engine = Workflow(local=emulated, local_state="emulator.json")  # as the CLI's --emulator does
            engine.apply(engine.plan(str(ROOT / "examples" / "quickstart.yaml")))
            Path("channels.yaml").write_text(EXAMPLE_CHANGED, encoding="utf-8")
            environ_secret = os.environ.pop("MARKETPLACE_BRIDGE_SECRET", None)
            try:
                planned = engine.plan("channels.yaml")
            finally:
                if environ_secret is not None:
                    os.environ["MARKETPLACE_BRIDGE_SECRET"] = environ_secret
            return render_json(planned.plan)
        finally:
            os.chdir(here)


GENERATORS: dict[str, Callable[[], str]] = {
    "commands": commands,
    "exit-codes": exit_codes,
    "channels-file": channels_file,
    "plan-format": plan_format,
}

"""Export: a tenant's custom channels as a channels file that ``apply`` takes back unchanged.

Deterministic (sorted by name, fields in the contract's order, defaults left out, no ids, nothing
about where it came from), secrets as ``${env:...}`` placeholders (the API never returns them).
With a tenant's vars, every occurrence of a var's value is written back as ``${var:NAME}``,
longest value first, in one pass, so a value that is part of another value, or of an already
placed ``${var:...}``, is never replaced twice. So two tenants that differ only in their vars
export to the same file.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import yaml

from reconciler.model import FIELDS, MANAGED_FIELDS, SECRET_FIELD, RemoteChannel, Tenant
from reconciler.starter import modeline

# Shorter values would match inside unrelated words ("a", "nl") and make a file nobody can read.
MIN_TEMPLATE_LENGTH = 3

HEADER = (
    modeline()
    + "# Exported by omnidesk-channels.\n"
    "# Secrets are never exported: set each ${env:...} variable before creating these channels.\n"
    "# Editors check this file with the schema beside it: omnidesk-channels schema > channels.schema.json\n"
)


@dataclass(frozen=True)
class Export:
    text: str
    replacements: Mapping[str, int] = field(default_factory=dict)  # var name -> occurrences replaced
    secret_vars: Mapping[str, str] = field(default_factory=dict)  # channel name -> env var placeholder
    skipped_vars: tuple[str, ...] = ()  # vars not used for templating, with the reason
    left_literal: Mapping[str, int] = field(default_factory=dict)  # var name -> occurrences kept as text


def secret_env_name(channel_name: str) -> str:
    """``WhatsApp bridge`` -> ``WHATSAPP_BRIDGE_SECRET``: a stable, valid environment variable name.

    A templated name reads its vars by name: ``${var:brand} SMS`` -> ``BRAND_SMS_SECRET``.
    """
    plain = re.sub(r"\$\{var:([A-Za-z0-9_]+)\}", r"\1", channel_name)
    stem = re.sub(r"[^A-Za-z0-9]+", "_", plain).strip("_").upper() or "CHANNEL"
    if stem[0].isdigit():
        stem = "CHANNEL_" + stem
    return f"{stem}_SECRET"


class _Templater:
    def __init__(self, variables: Mapping[str, str]) -> None:
        self.counts: dict[str, int] = {}
        self.literal: dict[str, int] = {}
        self.skipped: list[str] = []
        by_value: dict[str, str] = {}
        for name in sorted(variables):
            value = variables[name]
            if len(value) < MIN_TEMPLATE_LENGTH:
                self.skipped.append(f"{name} (value shorter than {MIN_TEMPLATE_LENGTH} characters)")
            elif value in by_value:
                self.skipped.append(f"{name} (same value as {by_value[value]})")
            else:
                by_value[value] = name
        self.by_value = by_value
        ordered = sorted(by_value, key=lambda v: (-len(v), v))
        # "${" is escaped in the same pass, so a literal "${" survives the round trip; it comes last
        # so that a var value starting with "${" is still templated.
        self.pattern = re.compile("|".join([re.escape(v) for v in ordered] + [re.escape("${")]))

    def __call__(self, text: str) -> str:
        out: list[str] = []
        end = 0
        for match in self.pattern.finditer(text):
            out.append(text[end:match.start()])
            end = match.end()
            found = match.group(0)
            if found not in self.by_value:  # the literal "${"
                out.append("$${")
                continue
            name = self.by_value[found]
            # "$" + "${var:..}" would read as the escape "$${": keep this occurrence as text.
            if "".join(out).endswith("$"):
                self.literal[name] = self.literal.get(name, 0) + 1
                out.append(found.replace("${", "$${"))
                continue
            self.counts[name] = self.counts.get(name, 0) + 1
            out.append(f"${{var:{name}}}")
        out.append(text[end:])
        return "".join(out)


def export_channels(
    channels: Iterable[RemoteChannel],
    *,
    variables: Mapping[str, str] | None = None,
    tenants: Mapping[str, Tenant] | None = None,
    channel_tenants: Mapping[str, Sequence[str]] | None = None,
) -> Export:
    """Write the custom channels of a tenant as a channels file (text) and say what was templated.

    ``channel_tenants`` maps a channel name to the tenants it is limited to (the ``tenants:`` list
    the channels file gives it), so a channel meant for one tenant stays there.
    """
    template = _Templater(variables or {})
    limited = channel_tenants or {}
    custom = sorted((c for c in channels if c.is_custom), key=lambda c: (c.name, c.id))
    used: dict[str, int] = {}
    secret_vars: dict[str, str] = {}
    items: list[dict[str, Any]] = []
    for channel in custom:
        item: dict[str, Any] = {}
        for name in MANAGED_FIELDS:
            value = channel.fields[name]
            if name != "name" and value == FIELDS[name].default:
                continue
            item[name] = template(value) if isinstance(value, str) else value
        # from the templated name, so every tenant's export derives the same variable
        var = secret_env_name(item["name"])
        used[var] = used.get(var, 0) + 1
        if used[var] > 1:  # "SMS-gateway" and "SMS gateway" would share a variable
            var = f"{var[: -len('_SECRET')]}_{used[var]}_SECRET"
        secret_vars[channel.name] = var
        item[SECRET_FIELD] = f"${{env:{var}}}"
        if channel.name in limited:
            item["tenants"] = sorted(limited[channel.name])
        items.append(_ordered(item))

    document: dict[str, Any] = {"version": 1, "prune": False}
    if tenants:
        document["tenants"] = {
            name: {
                k: v
                for k, v in (("url", t.url), ("api_key_env", t.api_key_env), ("vars", dict(t.vars)))
                if v
            }
            for name, t in sorted(tenants.items())
        }
    document["channels"] = items
    body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, default_flow_style=False, width=10_000)
    return Export(
        text=HEADER + body,
        replacements=dict(sorted(template.counts.items())),
        secret_vars=secret_vars,
        skipped_vars=tuple(template.skipped),
        left_literal=dict(sorted(template.literal.items())),
    )


def _ordered(item: Mapping[str, Any]) -> dict[str, Any]:
    """The tenants list right after the name and the secret after the endpoint, as people write them."""
    order = ["name", "tenants", "icon", "custom_channel_endpoint", SECRET_FIELD]
    order += [n for n in MANAGED_FIELDS if n not in order]
    return {k: item[k] for k in order if k in item}

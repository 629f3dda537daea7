"""Export: a tenant's custom channels as a channels file that ``apply`` takes back unchanged.

Deterministic (sorted by name, fields in the contract's order, defaults left out, no ids), secrets
as ``${env:...}`` placeholders (the API never returns them). With a tenant's vars, every occurrence
of a var's value is written back as ``${var:NAME}``, longest value first, in one pass, so a value
that is part of another value, or of an already placed ``${var:...}``, is never replaced twice.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import yaml

from reconciler.model import FIELDS, MANAGED_FIELDS, SECRET_FIELD, RemoteChannel, Tenant

# Shorter values would match inside unrelated words ("a", "nl") and make a file nobody can read.
MIN_TEMPLATE_LENGTH = 3


@dataclass(frozen=True)
class Export:
    text: str
    replacements: Mapping[str, int] = field(default_factory=dict)  # var name -> occurrences replaced
    secret_vars: Mapping[str, str] = field(default_factory=dict)  # channel name -> env var placeholder
    skipped_vars: tuple[str, ...] = ()  # vars not used for templating, with the reason


def secret_env_name(channel_name: str) -> str:
    """``WhatsApp bridge`` -> ``WHATSAPP_BRIDGE_SECRET``: a stable, valid environment variable name."""
    stem = re.sub(r"[^A-Za-z0-9]+", "_", channel_name).strip("_").upper() or "CHANNEL"
    if stem[0].isdigit():
        stem = "CHANNEL_" + stem
    return f"{stem}_SECRET"


class _Templater:
    def __init__(self, variables: Mapping[str, str]) -> None:
        self.counts: dict[str, int] = {}
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
        # "${" is escaped first, in the same pass, so a literal "${" in a value survives the round trip
        self.pattern = re.compile("|".join([re.escape("${")] + [re.escape(v) for v in ordered]))

    def __call__(self, text: str) -> str:
        def replace(match: re.Match[str]) -> str:
            found = match.group(0)
            if found == "${":
                return "$${"
            name = self.by_value[found]
            self.counts[name] = self.counts.get(name, 0) + 1
            return f"${{var:{name}}}"

        return self.pattern.sub(replace, text)


def export_channels(
    channels: Iterable[RemoteChannel],
    *,
    variables: Mapping[str, str] | None = None,
    tenants: Mapping[str, Tenant] | None = None,
    source: str = "",
) -> Export:
    """Write the custom channels of a tenant as a channels file (text) and say what was templated."""
    template = _Templater(variables or {})
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
            if name == "name":
                # from the templated name, so every tenant's export derives the same variable
                var = secret_env_name(item["name"])
                used[var] = used.get(var, 0) + 1
                if used[var] > 1:  # "SMS-gateway" and "SMS gateway" would share a variable
                    var = f"{var[: -len('_SECRET')]}_{used[var]}_SECRET"
                secret_vars[channel.name] = var
                item[SECRET_FIELD] = f"${{env:{var}}}"
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
    header = [
        f"# Exported by omnidesk-channels{' from ' + source if source else ''}.",
        "# Secrets are never exported: set each ${env:...} variable before creating these channels.",
    ]
    body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, default_flow_style=False, width=10_000)
    return Export(
        text="\n".join(header) + "\n" + body,
        replacements=dict(sorted(template.counts.items())),
        secret_vars=secret_vars,
        skipped_vars=tuple(template.skipped),
    )


def _ordered(item: Mapping[str, Any]) -> dict[str, Any]:
    """The secret right after the endpoint, as people write it."""
    order = ["name", "icon", "custom_channel_endpoint", SECRET_FIELD]
    order += [n for n in MANAGED_FIELDS if n not in order]
    return {k: item[k] for k in order if k in item}

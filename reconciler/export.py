"""Export: a tenant's custom channels as a channels file that ``apply`` takes back unchanged.

Deterministic (sorted by templated name, fields in the contract's order, defaults left out, no
ids, nothing about where it came from), secrets as ``${env:...}`` placeholders (the API never
returns them), unique per channel (``secret_placeholders``).
With a tenant's vars, every occurrence of a var's value is written back as ``${var:NAME}``,
longest value first, in one pass, so a value that is part of another value, or of an already
placed ``${var:...}``, is never replaced twice. So two tenants that differ only in their vars
export to the same file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from reconciler.endpoints import credential_values, fill_credentials
from reconciler.filekinds import EXPORT_MARK
from reconciler.model import FIELDS, MANAGED_FIELDS, SECRET_FIELD, RemoteChannel, Tenant
from reconciler.scaffold import modeline
from reconciler.yamlwrite import FAST_DUMPER, scalars

_VAR_TOKEN = re.compile(r"\$\{var:([A-Za-z0-9_]+)\}")
_NOT_ALNUM = re.compile("[^A-Za-z0-9]+")
_EMITTERS_AGREE = re.compile("[\t\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd]*")


def _strings(value: Any) -> Iterator[str]:
    """Every key and string in ``value``, however nested; a stack, not a generator per level
    (10,000 channels' items are ~500,000 values)."""
    stack = [value]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            yield value
        elif isinstance(value, Mapping):
            for key, item in reversed(list(value.items())):
                stack += (item, key)
        elif isinstance(value, list):
            stack.extend(reversed(value))


# Shorter values would match inside unrelated words ("a", "nl") and make a file nobody can read.
MIN_TEMPLATE_LENGTH = 3

HEADER = (
    modeline() + EXPORT_MARK + "\n"
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
    # with tenant files: each one's path relative to the export -> the file it is copied from
    tenant_files: Mapping[str, str] = field(default_factory=dict)

    @property
    def endpoint_vars(self) -> list[str]:
        """The variables that hold the endpoints' credentials (written as placeholders, like secrets)."""
        return endpoint_vars(self.text)


def secret_env_name(channel_name: str) -> str:
    """``WhatsApp bridge`` -> ``WHATSAPP_BRIDGE_SECRET``: a stable, valid environment variable name.

    A templated name reads its vars by name: ``${var:brand} SMS`` -> ``BRAND_SMS_SECRET``.
    Different names can give the same variable; ``secret_placeholders`` makes them unique.
    """
    plain = _VAR_TOKEN.sub(r"\1", channel_name) if "${var:" in channel_name else channel_name
    stem = _NOT_ALNUM.sub("_", plain).strip("_").upper() or "CHANNEL"
    if stem[0].isdigit():
        stem = "CHANNEL_" + stem
    return f"{stem}_SECRET"


def secret_placeholders(names: Iterable[str], taken: Collection[str] = ()) -> dict[str, str]:
    """Channel name -> its secret's environment variable, unique among ``names`` and ``taken``.

    'SMS gateway', 'SMS-gateway' and 'SMS gateway 2' would give SMS_GATEWAY_SECRET twice and
    SMS_GATEWAY_2_SECRET, so every name's own variable is reserved first; then, in sorted order,
    the first name of a shared variable keeps it and the others count up to the first free
    ``STEM_N_SECRET``. It depends only on the set of names, so exports of tenants whose templated
    names are the same are identical. ``taken`` are variables already in use (a file being
    imported into), which no new name gets.
    """
    wanted = {name: secret_env_name(name) for name in sorted(set(names))}
    reserved = set(taken) | set(wanted.values())
    owners: dict[str, str] = {}
    out: dict[str, str] = {}
    for name, var in wanted.items():
        if var not in taken and var not in owners:
            owners[var] = name
            out[name] = var
            continue
        stem = var[: -len("_SECRET")]
        n = 2
        while f"{stem}_{n}_SECRET" in reserved:
            n += 1
        out[name] = f"{stem}_{n}_SECRET"
        reserved.add(out[name])
    return out


class Templater:
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
        if not self.by_value and "${" not in text:  # nothing to template or escape: most values
            return text
        out: list[str] = []
        end = 0
        for match in self.pattern.finditer(text):
            out.append(text[end : match.start()])
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
    ignore: Sequence[str] = (),
    tenants_from: str | Sequence[str] | None = None,
) -> Export:
    """Write the custom channels of a tenant as a channels file (text) and say what was templated.

    ``channel_tenants`` maps a channel name to the tenants it is limited to (the ``tenants:`` list
    the channels file gives it), so a channel meant for one tenant stays there. ``ignore`` (the
    file's top-level patterns) and each tenant's own are written as they are; the caller has
    already left the ignored channels out of ``channels``. ``tenants_from``: the folder, glob or
    list of tenant files the channels file's ``tenants:`` names, written as it is instead of the
    tenants (the files go beside the export: ``Export.tenant_files``).
    """
    template = Templater(variables or {})
    limited = channel_tenants or {}
    custom = [c for c in channels if c.is_custom]
    items = [export_item(channel, template) for channel in custom]
    # by the templated name: tenants whose names differ only in their vars list them in one order
    order = sorted(range(len(custom)), key=lambda i: (items[i]["name"], custom[i].name, custom[i].id))
    custom, items = [custom[i] for i in order], [items[i] for i in order]
    # from the templated names, so every tenant's export derives the same variables
    placeholders = secret_placeholders(item["name"] for item in items)
    secret_vars: dict[str, str] = {}
    for channel, item in zip(custom, items, strict=True):
        secret_vars[channel.name] = placeholders[item["name"]]
        item[SECRET_FIELD] = f"${{env:{secret_vars[channel.name]}}}"
        if channel.name in limited:
            item["tenants"] = sorted(limited[channel.name])
    items = [in_file_order(item) for item in items]

    document: dict[str, Any] = {"version": 1, "prune": False}
    if ignore:  # without it, applying the export with prune would delete what the file ignores
        document["ignore"] = list(ignore)
    if tenants_from is not None:
        document["tenants"] = tenants_from if isinstance(tenants_from, str) else list(tenants_from)
    elif tenants:
        document["tenants"] = {
            name: {
                k: v
                for k, v in (
                    ("url", t.url),
                    ("api_key_env", t.api_key_env),
                    ("auth", t.auth),
                    ("vars", dict(t.vars)),
                    ("ignore", list(t.ignore)),
                )
                if v
            }
            for name, t in sorted(tenants.items())
        }
    body = _channels_text(document, items)
    return Export(
        text=HEADER + body,
        replacements=dict(sorted(template.counts.items())),
        secret_vars=secret_vars,
        skipped_vars=tuple(template.skipped),
        left_literal=dict(sorted(template.literal.items())),
    )


def _channels_text(document: dict[str, Any], items: list[dict[str, Any]]) -> str:
    """``document`` with ``channels: items`` last, as ``yaml.safe_dump`` writes it (unsorted, block
    style, unicode as it is). The channels, nearly all of the text, are written here line by line
    with ``yamlwrite.scalars``; a value that takes more than a line sends the whole document to the
    emitter."""
    # libyaml writes a few rare characters (line breaks other than \n, a BOM, astral ones) otherwise
    # than PyYAML's own emitter: then the pure one writes them
    pure = not _EMITTERS_AGREE.fullmatch("".join(_strings([document, items])))
    head = yaml.dump(
        document,
        Dumper=yaml.SafeDumper if pure else FAST_DUMPER,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=10_000,
    )
    if not items:
        return head + "channels: []\n"
    strings = [
        s
        for item in items
        for value in item.values()
        for s in (value if isinstance(value, list) else [value])
        if isinstance(s, str)
    ]
    rendered = scalars(strings, pure=pure)
    if rendered is None or any(isinstance(v, list) and not v for item in items for v in item.values()):
        return yaml.dump(
            {**document, "channels": items},
            Dumper=yaml.SafeDumper if pure else FAST_DUMPER,
            sort_keys=False,
            allow_unicode=True,
            default_flow_style=False,
            width=10_000,
        )
    text = iter(rendered)
    lines = ["channels:"]
    for item in items:
        lead = "- "
        for key, value in item.items():
            if isinstance(value, bool):
                lines.append(f"{lead}{key}: {'true' if value else 'false'}")
            elif isinstance(value, list):
                lines.append(f"{lead}{key}:")
                lines.extend(f"  - {next(text)}" for _ in value)
            else:
                lines.append(f"{lead}{key}: {next(text)}")
            lead = "  "
    return head + "\n".join(lines) + "\n"


_DEFAULTS = tuple((name, FIELDS[name].default) for name in MANAGED_FIELDS)  # what export_item leaves out


def export_item(channel: RemoteChannel, template: Callable[[str], str]) -> dict[str, Any]:
    """A channel's fields as the file writes them: the name, the values that are not defaults, templated."""
    item: dict[str, Any] = {}
    fields = channel.fields
    for name, default in _DEFAULTS:
        value = fields[name]
        if value == default and name != "name":
            continue
        item[name] = template(value) if isinstance(value, str) else value
    if "custom_channel_endpoint" in item:
        item["custom_channel_endpoint"] = endpoint_placeholders(item["custom_channel_endpoint"], item["name"])
    return item


def endpoint_placeholders(endpoint: str, name: str) -> str:
    """``endpoint`` with each credential in its query string as ``${env:STEM_ENDPOINT_PARAM}``, as a
    secret is exported: the value stays in the environment, and the file still applies."""
    params = credential_values(endpoint)
    if not params:
        return endpoint
    stem = secret_env_name(name)[: -len("_SECRET")]
    return fill_credentials(
        endpoint, {p: f"${{env:{stem}_ENDPOINT_{re.sub('[^A-Za-z0-9]+', '_', p).strip('_').upper()}}}" for p in params}
    )


def endpoint_vars(text: str) -> list[str]:
    """The ``${env:...}`` placeholders ``endpoint_placeholders`` wrote into ``text``, sorted."""
    return sorted(set(re.findall(r"\$\{env:([A-Za-z0-9_]+_ENDPOINT_[A-Za-z0-9_]+)\}", text)))


# The tenants list right after the name and the secret after the endpoint, as people write them.
_FIRST = ("name", "tenants", "icon", "custom_channel_endpoint", SECRET_FIELD)
FILE_ORDER: tuple[str, ...] = (*_FIRST, *(n for n in MANAGED_FIELDS if n not in _FIRST))


def in_file_order(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: item[k] for k in FILE_ORDER if k in item}

"""Loading the channels file: read, schema-check, tenants, and the public loaders.

Every problem found is reported at once, located at the value it is about (see ``Problem``).
Reading the YAML is ``reconciler.yamlread``'s job, templates are ``reconciler.interpolation``',
the schema's errors in plain words ``reconciler.config.messages``', and what one tenant sees of
the file ``reconciler.config.views``'.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from reconciler.config.messages import known_tenants, schema_problems, too_many
from reconciler.config.tenantfiles import TenantSources, graft_tenant_files, sources_of, uses_tenant_files
from reconciler.config.views import Cache, resolve
from reconciler.errors import ConfigError, Problem
from reconciler.ignore import patterns_in
from reconciler.model import ChannelsFile, Tenant
from reconciler.printable import quoted
from reconciler.thresholds import safety_overrides
from reconciler.yamlnodes import fatal
from reconciler.yamlread import Document, no_cyclic_gc, read_document
from reconciler.yamlshow import reads_as

_VIEWS_SHOWN = 10  # a problem in 2,000 of 3,000 tenants names ten of them, and how many more
# Which tenants a load reads, by name: a shard's (``Shard.holds``); the others' files stay unread.
Keep = Callable[[str], bool]


@no_cyclic_gc()
def load_channels_file(
    path: str | os.PathLike[str],
    *,
    tenant: str | None = None,
    environ: Mapping[str, str] | None = None,
    text: str | None = None,
    offline: bool = False,
) -> ChannelsFile:
    """Load and validate the file for one tenant (or none); raise ConfigError with every problem.

    With ``text``, that is the file's content (``path`` only names it in messages), e.g. an export
    that ``clone`` plans without writing it anywhere. ``offline`` reads no environment at all
    (no secret either): an unset ``${env:...}`` is then no problem, and the characters beside
    it are still checked.
    """
    parsed = _parse(path, text)
    env = os.environ if environ is None else environ
    loaded, problems = resolve(parsed, tenant, env, Cache(reuse=False), offline=offline)
    _raise_if(parsed.problems + problems, list(loaded.warnings) if loaded else [])
    assert loaded is not None
    return loaded


@no_cyclic_gc()
def load_all_views(
    path: str | os.PathLike[str],
    *,
    environ: Mapping[str, str] | None = None,
    offline: bool = False,
    keep: Keep | None = None,
) -> dict[str | None, ChannelsFile]:
    """Load the file for every tenant and without a tenant (``None``), as ``validate`` does.

    A problem found in only some of the views ends with the views it occurs in, e.g.
    ``[tenant staging]``. Without a tenant, ``${var:...}`` is not an error here: a file with
    tenants is meant to be used with ``--tenant``. ``offline`` as in ``load_channels_file``.
    ``keep``: only the views of the tenants it keeps (a shard's), none without a tenant, and only
    their tenant files read (see ``tenantfiles``); the main file is checked whole all the same.
    """
    parsed = _parse(path, keep=keep)
    env = os.environ if environ is None else environ
    views: list[str | None] = [*parsed.tenants] if keep else [None, *parsed.tenants]
    loaded: dict[str | None, ChannelsFile] = {}
    seen: dict[Problem, list[str | None]] = {}
    cache = Cache()
    for view in views:
        result, problems = resolve(parsed, view, env, cache, vars_need_tenant=False, offline=offline)
        if result is not None:
            loaded[view] = result
        for problem in dict.fromkeys(problems):
            seen.setdefault(problem, []).append(view)
    view_problems = [p if len(found) == len(views) else _tag_views(p, found) for p, found in seen.items()]
    warnings = dict.fromkeys(w for view in loaded.values() for w in view.warnings)
    _raise_if(parsed.problems + view_problems, list(warnings))
    return loaded


def load_tenants(path: str | os.PathLike[str]) -> dict[str, Tenant]:
    """Only the ``tenants:`` section (taken literally; problems inside ``channels`` are ignored)."""
    return load_settings(path)[0]


class Settings(NamedTuple):
    """What a file says beside its channels: its tenants, its top-level ``ignore:`` patterns, and,
    when ``tenants:`` names tenant files, where each tenant came from."""

    tenants: dict[str, Tenant]
    ignore: tuple[str, ...]
    tenant_files: TenantSources | None = None


@no_cyclic_gc()
def load_settings(path: str | os.PathLike[str]) -> Settings:
    """The ``tenants:`` section and the top-level ``ignore:`` patterns, whatever the channels say."""
    parsed = _parse(path)
    _raise_if([p for p in parsed.problems if not p.path.startswith("channels")])
    return Settings(dict(parsed.tenants), patterns_in(parsed.data), parsed.tenant_files)


@no_cyclic_gc()
def load_tenant_share(path: str | os.PathLike[str], keep: Keep) -> tuple[dict[str, Tenant], tuple[str, ...]]:
    """The tenants ``keep`` keeps (a shard's share), reading only their tenant files, and the names
    of the others (``load_tenants``, but for one job of a CI matrix)."""
    parsed = _parse(path, keep=keep)
    _raise_if([p for p in parsed.problems if not p.path.startswith("channels")])
    return dict(parsed.tenants), parsed.others


# ---------------------------------------------------------------------------------------------
# The file as a whole


@dataclass
class Parsed(Document):
    """The file as values, with its tenants (taken literally)."""

    tenants: dict[str, Tenant] = field(default_factory=dict)
    others: tuple[str, ...] = ()  # tenants defined but not loaded: another shard's (``Keep``)
    tenant_files: TenantSources | None = None  # when ``tenants:`` names tenant files


def _raise_if(problems: list[Problem], warnings: list[Problem] | None = None) -> None:
    if problems:
        unique = list(dict.fromkeys(problems))
        unique.sort(key=lambda p: (p.file, p.line or 0, p.column or 0))  # tenant files apart
        raise ConfigError(unique, warnings)


def _tag_views(problem: Problem, views: list[str | None]) -> Problem:
    parts = ["no tenant"] if None in views else []
    named = [v for v in views if v is not None]
    if named:
        more = len(named) - _VIEWS_SHOWN
        shown = ", ".join(named[:_VIEWS_SHOWN]) + (f" and {more} more" if more > 0 else "")
        parts.append(("tenant " if len(named) == 1 else "tenants ") + shown)
    message = f"{problem.message} [{'; '.join(parts)}]"
    return Problem(problem.file, problem.line, problem.column, problem.path, message)


def _parse(path: str | os.PathLike[str], text: str | None = None, keep: Keep | None = None) -> Parsed:
    """Read, parse and schema-check the file; raise ConfigError only when nothing can be checked.
    ``keep``: only those tenants are loaded (the others' names go to ``Parsed.others``)."""
    document, root = read_document(path, text)
    parsed = Parsed(**vars(document))
    file, data = parsed.file, parsed.data
    if root is None:
        raise fatal(file, "the file is empty: start it with `version: 1` and `channels:`")
    if not isinstance(data, dict):
        if parsed.problems:
            raise ConfigError(parsed.problems)
        mark = root.start_mark
        raise fatal(
            file,
            "the file must be a mapping starting with `version: 1`, but " + reads_as(root, data),
            mark.line + 1,
            mark.column + 1,
        )
    others: list[str] = []
    if uses_tenant_files(data):  # one tenant per file: read them in, located in their own files
        spec = data["tenants"]
        others = graft_tenant_files(parsed, keep)
        parsed.tenant_files = sources_of(parsed, spec)
    parsed.problems.extend(schema_problems(parsed))
    if too_many(file, parsed.problems):
        raise ConfigError(parsed.problems)
    parsed.tenants = _tenants(data)
    if keep is not None:
        others += [name for name in parsed.tenants if not keep(name)]  # inline: all read, some kept
        parsed.tenants = {name: t for name, t in parsed.tenants.items() if keep(name)}
    parsed.others = tuple(others)
    parsed.problems.extend(_tenant_reference_problems(parsed))
    parsed.problems.extend(_name_pattern_problems(parsed))
    return parsed


# ---------------------------------------------------------------------------------------------
# Tenants


def _tenants(data: Mapping[str, Any]) -> dict[str, Tenant]:
    section = data.get("tenants")
    if not isinstance(section, dict):
        return {}
    out: dict[str, Tenant] = {}
    for name, body in section.items():
        body = body if isinstance(body, dict) else {}
        raw_vars = body.get("vars")
        raw_vars = raw_vars if isinstance(raw_vars, dict) else {}
        policy = body.get("policy")
        out[name] = Tenant(
            name=name,
            url=body.get("url") if isinstance(body.get("url"), str) else None,
            api_key_env=body.get("api_key_env") if isinstance(body.get("api_key_env"), str) else None,
            vars={k: v for k, v in raw_vars.items() if isinstance(v, str)},
            auth=body.get("auth") if isinstance(body.get("auth"), str) else None,
            ignore=patterns_in(body),
            safety=safety_overrides(body.get("safety")),
            policy=policy if isinstance(policy, dict) else {},
        )
    return out


def _tenant_reference_problems(parsed: Parsed) -> list[Problem]:
    problems: list[Problem] = []
    others = frozenset(parsed.others)
    channels = parsed.data.get("channels")
    for i, raw in enumerate(channels if isinstance(channels, list) else []):
        limited = raw.get("tenants") if isinstance(raw, dict) else None
        for j, name in enumerate(limited if isinstance(limited, list) else []):
            if isinstance(name, str) and name not in parsed.tenants and name not in others:
                hint = known_tenants([*parsed.tenants, *parsed.others], name)
                if not parsed.tenants and not others:
                    hint += ": add a `tenants:` section or remove this list"
                path = ("channels", i, "tenants", j)
                problems.append(parsed.problem(path, f"unknown tenant {quoted(name)} ({hint})"))
    return problems


def _name_pattern_problems(parsed: Parsed) -> list[Problem]:
    """A policy's name_pattern must be a regular expression (the schema only knows it is a string)."""
    sections: list[tuple[tuple[str, ...], Any]] = [(("policy",), parsed.data.get("policy"))]
    tenants = parsed.data.get("tenants")
    for name, body in tenants.items() if isinstance(tenants, dict) else ():
        sections.append((("tenants", name, "policy"), body.get("policy") if isinstance(body, dict) else None))
    problems = []
    for path, section in sections:
        pattern = section.get("name_pattern") if isinstance(section, dict) else None
        if isinstance(pattern, str):
            try:
                re.compile(pattern)
            except re.error as exc:
                message = f"{pattern!r} is not a regular expression ({exc}): fix it, e.g. ^[A-Z][A-Za-z0-9 ]+$"
                problems.append(parsed.problem((*path, "name_pattern"), message))
    return problems

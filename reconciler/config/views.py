"""One view of the channels file: the channels a tenant (or no tenant) keeps, substituted and checked again.

Which channels a load keeps:
    * ``--tenant NAME``: the channels without a ``tenants:`` list, plus those listing NAME;
    * no tenant, and the file defines no tenants: every channel;
    * no tenant, and the file defines tenants: only the channels without a ``tenants:`` list
      (``${var:...}`` then has no values, so using one is an error telling to pass ``--tenant``).

An unset or empty variable in ``custom_channel_secret`` is not an error here: it gives
``SecretRef(value=None, env_var=NAME)`` and the planner decides whether the secret is needed.
Views share what does not depend on the tenant (channels without ``${var:...}``), so validating a
file with many tenants stays linear in its size.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reconciler.config.messages import LITERAL_CREDENTIAL, LITERAL_SECRET, mismatch, unset_message, var_problem
from reconciler.endpoints import ENDPOINT_FIELD, credential_values, mask_endpoint
from reconciler.errors import Problem, TargetError
from reconciler.ignore import ignore_problems, patterns_in
from reconciler.interpolation import Substituted, first_env, substitute, uses_vars
from reconciler.model import (
    FIELDS,
    NAME_PATTERN,
    SECRET_FIELD,
    ChannelsFile,
    DesiredChannel,
    SecretRef,
    normalize_fields,
    pattern_matches,
)
from reconciler.printable import quoted
from reconciler.thresholds import safety_overrides
from reconciler.yamlshow import PathT

if TYPE_CHECKING:
    from reconciler.config.loader import Parsed  # the loader builds views; views only read it

_WHOLE_ENV = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")  # a credential read whole from the environment
# Fields that may hold templates and are checked against their regex after substitution.
_TEMPLATED_FIELDS = tuple(n for n, s in FIELDS.items() if s.kind == "string")
_EMPTY_ALLOWED = frozenset(n for n in _TEMPLATED_FIELDS if FIELDS[n].default == "")
_BOOLEAN_FIELDS = tuple(n for n, s in FIELDS.items() if s.kind == "boolean")
VERSION_KEY = "secret_version"
_PENDING = DesiredChannel({})  # a channel entry's channel until it is made, after its checks


@dataclass
class _Channel:
    """One channel entry as a view sees it, before names are checked against the other channels."""

    channel: DesiredChannel
    problems: list[Problem]
    claims: list[tuple[str, str, PathT]]  # (name, "name" | "previous name", where)
    warnings: list[Problem] = field(default_factory=list)


def _selected(raw: Mapping[str, Any], tenant: str | None, has_tenants: bool) -> bool:
    limited = raw.get("tenants")
    if not isinstance(limited, list):
        return True
    if tenant is None:
        return not has_tenants
    return tenant in limited


@dataclass
class Cache:
    """Channel entries resolved once per load and reused by every view that reads them the same."""

    entries: dict[tuple[int, str | None], _Channel] = field(default_factory=dict)
    uses_vars: dict[int, bool] = field(default_factory=dict)  # channel index -> has a ${var:...}
    reuse: bool = True  # False: one view only, nothing to keep for another


def resolve(
    parsed: Parsed,
    tenant: str | None,
    environ: Mapping[str, str],
    cache: Cache,
    *,
    vars_need_tenant: bool = True,
    offline: bool = False,
) -> tuple[ChannelsFile | None, list[Problem]]:
    """The file as one tenant (or none) sees it, and the problems only substitution reveals.

    ``cache`` keeps channel entries between the views of one load: an entry without
    ``${var:...}`` reads the same for every tenant, so it is resolved once.
    """
    tenants = parsed.tenants
    if tenant is not None and tenant not in tenants:
        unknown = TargetError.unknown_tenant(tenant, tenants)  # the same words as every command's
        if not parsed.problems:
            raise unknown
        return None, [Problem(parsed.file, None, None, "", str(unknown))]  # listed with the file's own
    view = _View(parsed, tenant, {} if offline else environ, vars_need_tenant, offline)
    problems: list[Problem] = []
    warnings: list[Problem] = []
    channels: list[DesiredChannel] = []
    claims: dict[str, tuple[int, str]] = {}
    raw_channels = parsed.data.get("channels")
    for i, raw in enumerate(raw_channels if isinstance(raw_channels, list) else []):
        if not isinstance(raw, dict) or not _selected(raw, tenant, bool(tenants)):
            continue
        entry = _cached(cache, view, i, raw, tenant) if cache.reuse else view.channel(i, raw)
        problems.extend(entry.problems)
        warnings.extend(entry.warnings)
        for name, kind, path in entry.claims:
            if name in claims:  # a name may belong to one channel only
                _claim(parsed, claims, problems, name, i, kind, path)
            else:
                claims[name] = (i, kind)
        channels.append(entry.channel)
    loaded = ChannelsFile(
        path=parsed.file,
        channels=tuple(channels),
        prune=parsed.data.get("prune") is True,
        tenants=tenants,
        tenant=tenant,
        ignore=patterns_in(parsed.data),
        safety=safety_overrides(parsed.data.get("safety")),
        policy=parsed.data.get("policy") if isinstance(parsed.data.get("policy"), dict) else {},
        warnings=tuple(warnings),
    )
    problems.extend(ignore_problems(parsed, tenant, loaded.channels))
    return loaded, problems


def _cached(cache: Cache, view: _View, i: int, raw: Mapping[str, Any], tenant: str | None) -> _Channel:
    """The entry as this view reads it: resolved once for every view that reads it the same."""
    dependent = cache.uses_vars.get(i)
    if dependent is None:
        dependent = cache.uses_vars[i] = _has_vars(raw)
    key = (i, tenant if dependent else None)
    entry = cache.entries.get(key)
    if entry is None:
        entry = cache.entries[key] = view.channel(i, raw)
    return entry


def _has_vars(raw: Mapping[str, Any]) -> bool:
    for name in _TEMPLATED_FIELDS:
        text = raw.get(name)
        if isinstance(text, str) and uses_vars(text):
            return True
    previous = raw.get("previous_names")
    return isinstance(previous, list) and any(isinstance(t, str) and uses_vars(t) for t in previous)


class _View:
    """One tenant's (or no tenant's) reading of channel entries: substitution and the checks after it."""

    def __init__(
        self, parsed: Parsed, tenant: str | None, environ: Mapping[str, str], vars_need_tenant: bool, offline: bool
    ):
        self.parsed = parsed
        # read once per secret of every channel: a plain dict answers without os.environ's encoding
        self.environ = environ if type(environ) is dict else dict(environ)
        self.offline = offline  # no environment: an unset ${env:...} is expected, not an error
        self.vars_need_tenant = vars_need_tenant
        self.tenant = parsed.tenants.get(tenant) if tenant is not None else None
        self.vars = self.tenant.vars if self.tenant is not None else None

    def channel(self, i: int, raw: Mapping[str, Any]) -> _Channel:
        """Substitute one channel entry's templates and check the results against their regexes."""
        base: PathT = ("channels", i)
        out = _Channel(_PENDING, [], [])
        values: dict[str, Any] = {}
        for name in _TEMPLATED_FIELDS:
            text = raw.get(name)
            if isinstance(text, str) and "${" not in text:  # most values: nothing to substitute or check again
                values[name] = text
                if name == "name" and (*base, name) not in self.parsed.bad:
                    out.claims.append((text, "name", (*base, name)))
            elif isinstance(text, str):
                path = (*base, name)
                result = self._sub(out, path, text)
                usable = self._check(out, path, result, FIELDS[name].pattern or "", name in _EMPTY_ALLOWED)
                if usable and name == "name":
                    out.claims.append((result.value, "name", path))
                values[name] = result.value
        for name in _BOOLEAN_FIELDS:
            if isinstance(raw.get(name), bool):
                values[name] = raw[name]

        previous: list[str] = []
        raw_previous = raw.get("previous_names")
        for j, text in enumerate(raw_previous if isinstance(raw_previous, list) else []):
            if isinstance(text, str):
                path = (*base, "previous_names", j)
                result = self._sub(out, path, text)
                if self._check(out, path, result, NAME_PATTERN, False):
                    out.claims.append((result.value, "previous name", path))
                previous.append(result.value)

        secret: SecretRef | None = None
        raw_secret = raw.get(SECRET_FIELD)
        whole = _WHOLE_ENV.fullmatch(raw_secret) if isinstance(raw_secret, str) else None
        if whole:  # most secrets: one ${env:NAME}, an empty value being an unset one (as substitute reads it)
            secret = SecretRef(self.environ.get(whole.group(1)) or None, whole.group(1))
        elif isinstance(raw_secret, str):
            result = self._sub(out, (*base, SECRET_FIELD), raw_secret, secret=True)
            env_var = result.unset_env[0] if result.unset_env else first_env(raw_secret)
            secret = SecretRef(None if result.unset_env else result.value, env_var)
            if raw_secret and env_var is None:
                out.warnings.append(self.parsed.problem((*base, SECRET_FIELD), LITERAL_SECRET))

        version = self._version(base, raw.get(VERSION_KEY)) if secret is not None else None
        line, _ = self.parsed.at(base)
        limited = raw.get("tenants")
        out.channel = DesiredChannel(
            fields=normalize_fields(values),
            secret=secret,
            previous_names=tuple(previous),
            line=line,
            tenants=tuple(t for t in limited if isinstance(t, str)) if isinstance(limited, list) else None,
            endpoint_env=self._endpoint_env(out, base, raw.get(ENDPOINT_FIELD)),
            secret_version=version,
            secret_version_at=self.parsed.problem((*base, VERSION_KEY), "") if version is not None else None,
        )
        return out

    def _version(self, base: PathT, raw: Any) -> int | None:
        """The channel's secret_version; None when it has none, or one the schema refused (and said why)."""
        if isinstance(raw, float) and raw.is_integer():
            raw = int(raw)  # JSON Schema (and so every editor) takes 2.0 for the integer 2
        return raw if type(raw) is int and (*base, VERSION_KEY) not in self.parsed.bad else None

    def _endpoint_env(self, out: _Channel, base: PathT, raw: Any) -> dict[str, str]:
        """The endpoint's credentials and their ${env:NAME}; one written in the file is a warning, as a secret is."""
        if not isinstance(raw, str):
            return {}
        env: dict[str, str] = {}
        for param, value in credential_values(raw).items():
            whole = _WHOLE_ENV.fullmatch(value)
            if whole:
                env[param] = whole.group(1)
            else:
                out.warnings.append(self.parsed.problem((*base, ENDPOINT_FIELD), LITERAL_CREDENTIAL.format(param)))
        return env

    def _sub(self, out: _Channel, path: PathT, text: str, secret: bool = False) -> Substituted:
        result = substitute(text, environ=self.environ, vars=self.vars, secret=secret)
        if result.malformed:
            out.problems.append(self.parsed.problem(path, result.malformed))
        for name in result.missing_vars:
            message = var_problem(name, self.tenant, self.parsed.tenants, self.vars_need_tenant)
            if message:
                out.problems.append(self.parsed.problem(path, message))
        return result

    def _check(self, out: _Channel, path: PathT, result: Substituted, pattern: str, empty_ok: bool) -> bool:
        """Whether the value is usable as a name; reports a mismatch found after substitution."""
        if not result.templated:
            return not result.malformed and path not in self.parsed.bad
        if result.malformed or result.missing_vars or path in self.parsed.bad:
            return False
        if result.unset_env:
            if self.offline:  # the schema checked the characters beside the template; the value is unknown
                return False
            for var in dict.fromkeys(result.unset_env):
                out.problems.append(self.parsed.problem(path, unset_message(var, self.environ)))
            return False
        value = result.value
        if (empty_ok and value == "") or pattern_matches(pattern, value):
            return True
        shown = mask_endpoint(value) if path[-1] == ENDPOINT_FIELD else value  # a credential from ${env:...}
        message = mismatch(shown, pattern, path, note=" (after substitution)")
        out.problems.append(self.parsed.problem(path, message))
        return False


def _claim(
    parsed: Parsed,
    claims: dict[str, tuple[int, str]],
    problems: list[Problem],
    name: str,
    index: int,
    kind: str,
    path: PathT,
) -> None:
    """A name may belong to one channel only, as its name or as one of its previous names."""
    if name not in claims:
        claims[name] = (index, kind)
        return
    other, other_kind = claims[name]
    other_line, _ = parsed.at(("channels", other))
    if other == index:
        message = f"{quoted(name)} is both the name and a previous name of this channel: remove it from previous_names"
    elif kind == other_kind == "name":
        message = (
            f"duplicate channel name {quoted(name)}: channels[{other}] (line {other_line}) has it too; "
            "names must be unique"
        )
    else:
        message = (
            f"{quoted(name)} is claimed twice: it is the {other_kind} of channels[{other}] (line {other_line}) "
            f"and a {kind} of channels[{index}]; a name may belong to one channel only"
        )
    problems.append(parsed.problem(path, message))

"""The channels file: schema check, tenants, which channels a view keeps, and the public loaders.

Every problem found is reported at once, located at the value it is about (see ``Problem``).
Reading the YAML is ``reconciler.yamlread``'s job, templates are ``reconciler.interpolation``'.

Which channels a load keeps:
    * ``--tenant NAME``: the channels without a ``tenants:`` list, plus those listing NAME;
    * no tenant, and the file defines no tenants: every channel;
    * no tenant, and the file defines tenants: only the channels without a ``tenants:`` list
      (``${var:...}`` then has no values, so using one is an error telling to pass ``--tenant``).

The ``tenants:`` section itself is literal (no templates). An unset or empty variable in
``custom_channel_secret`` is not an error here: it gives ``SecretRef(value=None, env_var=NAME)``
and the planner decides whether the secret is needed. Views share what does not depend on the
tenant (the tenants table, channels without ``${var:...}``), so validating a file with many
tenants stays linear in its size.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from reconciler.endpoints import credential_values, mask_endpoint
from reconciler.errors import ConfigError, Problem, TargetError
from reconciler.ignore import ignore_problems, patterns_in
from reconciler.model import (
    EMPTY_ALTERNATIVE,
    FIELDS,
    NAME_PATTERN,
    SECRET_FIELD,
    ChannelsFile,
    DesiredChannel,
    SecretRef,
    Tenant,
    describe_mismatch,
    normalize_fields,
    pattern_matches,
)
from reconciler.thresholds import safety_overrides
from reconciler.schema import is_valid_fast, validator
from reconciler.interpolation import Substituted, first_env, substitute, uses_vars
from reconciler.interpolation import malformed as _malformed_template
from reconciler.yamlread import MAX_FILE_BYTES, Document, PathT, fatal, format_path, no_cyclic_gc, read_document
from reconciler.yamlread import reads_as as _reads_as
from reconciler.yamlread import shown_key
from reconciler.yamlread import show as _show

if TYPE_CHECKING:
    from jsonschema import ValidationError

__all__ = ["MAX_FILE_BYTES", "format_path", "load_all_views", "load_channels_file", "load_settings", "load_tenants"]

# Fields that may hold templates and are checked against their regex after substitution.
_TEMPLATED_FIELDS = tuple(n for n, s in FIELDS.items() if s.kind == "string")
_EMPTY_ALLOWED = frozenset(n for n in _TEMPLATED_FIELDS if FIELDS[n].default == "")
_BOOLEAN_FIELDS = tuple(n for n, s in FIELDS.items() if s.kind == "boolean")
_VIEWS_SHOWN = 10  # a problem in 2,000 of 3,000 tenants names ten of them, and how many more
ENDPOINT_FIELD = "custom_channel_endpoint"
_WHOLE_ENV = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
LITERAL_CREDENTIAL = (
    "the endpoint's {0}= parameter is a credential written in the file, where everyone who can read the "
    "repository sees it: write {0}=${{env:NAME}} and keep the value in the environment (a CI secret)"
)
LITERAL_SECRET = (
    "the secret is written in the file, where everyone who can read the repository sees it: "
    "write ${env:NAME} and keep the value in the environment (a CI secret)"
)


# ---------------------------------------------------------------------------------------------
# Public API


@no_cyclic_gc()
def load_channels_file(
    path: str | os.PathLike[str],
    *,
    tenant: str | None = None,
    environ: Mapping[str, str] | None = None,
    text: str | None = None,
) -> ChannelsFile:
    """Load and validate the file for one tenant (or none); raise ConfigError with every problem.

    With ``text``, that is the file's content (``path`` only names it in messages), e.g. an export
    that ``clone`` plans without writing it anywhere.
    """
    parsed = _parse(path, text)
    loaded, problems = _resolve(parsed, tenant, os.environ if environ is None else environ, _Cache())
    _raise_if(parsed.problems + problems, list(loaded.warnings) if loaded else [])
    assert loaded is not None
    return loaded


@no_cyclic_gc()
def load_all_views(
    path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None
) -> dict[str | None, ChannelsFile]:
    """Load the file for every tenant and without a tenant (``None``), as ``validate`` does.

    A problem found in only some of the views ends with the views it occurs in, e.g.
    ``[tenant staging]``. Without a tenant, ``${var:...}`` is not an error here: a file with
    tenants is meant to be used with ``--tenant``.
    """
    parsed = _parse(path)
    env = os.environ if environ is None else environ
    views: list[str | None] = [None, *parsed.tenants]
    loaded: dict[str | None, ChannelsFile] = {}
    seen: dict[Problem, list[str | None]] = {}
    cache = _Cache()
    for view in views:
        result, problems = _resolve(parsed, view, env, cache, vars_need_tenant=False)
        if result is not None:
            loaded[view] = result
        for problem in dict.fromkeys(problems):
            seen.setdefault(problem, []).append(view)
    view_problems = [
        p if len(found) == len(views) else _tag_views(p, found) for p, found in seen.items()
    ]
    warnings = dict.fromkeys(w for view in loaded.values() for w in view.warnings)
    _raise_if(parsed.problems + view_problems, list(warnings))
    return loaded


def load_tenants(path: str | os.PathLike[str]) -> dict[str, Tenant]:
    """Only the ``tenants:`` section (taken literally; problems inside ``channels`` are ignored)."""
    return load_settings(path)[0]


@no_cyclic_gc()
def load_settings(path: str | os.PathLike[str]) -> tuple[dict[str, Tenant], tuple[str, ...]]:
    """The ``tenants:`` section and the top-level ``ignore:`` patterns, whatever the channels say."""
    parsed = _parse(path)
    _raise_if([p for p in parsed.problems if not p.path.startswith("channels")])
    return dict(parsed.tenants), patterns_in(parsed.data)


# ---------------------------------------------------------------------------------------------
# The file as a whole


@dataclass
class _Parsed(Document):
    tenants: dict[str, Tenant] = field(default_factory=dict)


def _raise_if(problems: list[Problem], warnings: list[Problem] | None = None) -> None:
    if problems:
        unique = list(dict.fromkeys(problems))
        unique.sort(key=lambda p: (p.line or 0, p.column or 0))
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


def _parse(path: str | os.PathLike[str], text: str | None = None) -> _Parsed:
    """Read, parse and schema-check the file; raise ConfigError only when nothing can be checked."""
    document, root = read_document(path, text)
    parsed = _Parsed(**vars(document))
    file, data = parsed.file, parsed.data
    if root is None:
        raise fatal(file, "the file is empty: start it with `version: 1` and `channels:`")
    if not isinstance(data, dict):
        if parsed.problems:
            raise ConfigError(parsed.problems)
        mark = root.start_mark
        raise fatal(
            file,
            "the file must be a mapping starting with `version: 1`, but " + _reads_as(root, data),
            mark.line + 1,
            mark.column + 1,
        )
    parsed.problems.extend(_schema_problems(parsed))
    parsed.tenants = _tenants(data)
    parsed.problems.extend(_tenant_reference_problems(parsed))
    parsed.problems.extend(_name_pattern_problems(parsed))
    return parsed


# ---------------------------------------------------------------------------------------------
# Schema errors, translated into located, plain messages

_REQUIRED_HINTS = {
    "version": "add `version: 1` at the top of the file",
    "channels": "add `channels:` with the list of channels (`channels: []` for none)",
    "name": "every channel needs a name",
    "url": "add the tenant's base URL, like `url: https://acme.omnidesk.com`",
}
_TYPE_NAMES = {
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping (key: value lines)",
    "string": "a string",
}


def _schema_problems(parsed: _Parsed) -> list[Problem]:
    if is_valid_fast(parsed.data):
        return []
    problems: list[Problem] = []
    unreadable = set(parsed.bad)  # already reported by the YAML reader
    for error in validator().iter_errors(parsed.data):
        path = tuple(error.absolute_path)
        if any(path[:i] in unreadable for i in range(len(path) + 1)):
            continue
        problems.extend(_translate(parsed, error, path))
        parsed.bad.add(path)
    return problems


def _is_secret(path: PathT) -> bool:
    return bool(path) and path[-1] == SECRET_FIELD


def _translate(parsed: _Parsed, error: ValidationError, path: PathT) -> list[Problem]:
    kind, instance, node = error.validator, error.instance, parsed.values.get(path)
    if kind == "additionalProperties":
        allowed = list(error.schema.get("properties", {}))
        return [
            parsed.problem(path + (key,), _unknown_key(key, allowed), key=True)
            for key in instance
            if key not in allowed
        ]
    if kind == "required":
        missing = [p for p in error.validator_value if p not in instance]
        hints = {p: f": {_REQUIRED_HINTS[p]}" if p in _REQUIRED_HINTS else "" for p in missing}
        return [parsed.problem(path, f"missing `{p}`{hint}") for p, hint in hints.items()]
    if kind == "const":
        want = error.validator_value
        if isinstance(instance, str):
            message = f"must be the number {want}, not the string {_show(instance)}: remove the quotes"
        else:
            message = f"must be {want} (the only format version), not {instance!r}"
        return [parsed.problem(path, message)]
    if kind == "type":
        return [parsed.problem(path, _type_message(error.validator_value, instance, node, _is_secret(path)))]
    if kind == "pattern":
        shown = _show(instance)
        if "propertyNames" in error.relative_schema_path:
            if shown_key(instance) != instance:  # never list the characters of what may be a secret
                message = f"the name '{shown_key(instance)}' must be one word: a space, ':' or '=' follows it"
                return [parsed.problem(path + (instance,), message, key=True)]
            why = describe_mismatch(error.validator_value, instance)
            return [parsed.problem(path + (instance,), f"the name {shown} {why}", key=True)]
        if path and path[-1] == "url":
            return [parsed.problem(path, f"{shown} is not a URL: write it like https://acme.omnidesk.com")]
        if path and path[-1] == "api_key_env":
            message = f"{shown} is not an environment variable name: use letters, digits and _"
            return [parsed.problem(path, message + " (like OMNIDESK_API_KEY)")]
        malformed = _malformed_template(instance, secret=False)
        if malformed:
            return [parsed.problem(path, malformed)]
        pattern = error.validator_value.removeprefix(EMPTY_ALTERNATIVE)
        return [parsed.problem(path, _mismatch(instance, pattern, path))]
    if kind == "uniqueItems":
        index = next(i for i, item in enumerate(instance) if item in instance[:i])
        return [parsed.problem(path + (index,), f"{instance[index]!r} is listed twice: remove one")]
    if kind == "minLength" and "ignore" in path:
        return [parsed.problem(path, "an empty pattern ignores nothing: remove it")]
    if kind == "minItems":
        message = "lists no tenants: leave `tenants:` out to keep the channel in every tenant"
        return [parsed.problem(path, message)]
    return [parsed.problem(path, error.message)]


def _unknown_key(key: str, allowed: list[str]) -> str:
    import difflib  # only when a key is wrong: a valid file never pays for it

    shown = shown_key(key)
    if shown != key:  # a value ran into the key: name only the key part, the value may be a secret
        head = shown.removesuffix("…")
        if head in allowed:
            return (
                f"`{head}` and its value ran together into one key: "
                f"write `{head}: ` (a colon and a space) and then the value"
            )
        key = head
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if not close and len(key) >= 4:
        close = [a for a in allowed if key.lower() in a]
    if close:
        return f"unknown key '{shown}': did you mean '{close[0]}'?"
    return f"unknown key '{shown}': allowed here are " + ", ".join(allowed)


def _type_message(expected: str, instance: Any, node: yaml.Node | None, secret: bool) -> str:
    want = _TYPE_NAMES.get(expected, expected)
    if expected == "boolean" and isinstance(instance, str):
        if instance.strip().lower() in ("true", "false"):
            return f"expected true or false, not the string {_show(instance)}: remove the quotes"
        return f"expected true or false, not the string {_show(instance)}"
    message = f"expected {want}, but {_reads_as(node, instance, secret=secret)}"
    if expected == "string" and isinstance(node, yaml.ScalarNode) and instance is not None:
        message += ": quote it" if secret else f": quote it: '{node.value}'"
    return message


def _mismatch(value: str, pattern: str, path: PathT, *, note: str = "") -> str:
    if value == "":
        if "name" in path or "previous_names" in path:
            return "must not be empty: a channel name needs at least one character"
        return describe_mismatch(pattern, value)
    message = f"{_show(value)}{note} {describe_mismatch(pattern, value)}"
    if value.endswith("\n"):
        message += (
            "; the value ends with a line break (a `|` or `>` block adds one): "
            "use `>-` or a plain string"
        )
    return message


# ---------------------------------------------------------------------------------------------
# Tenants


def _tenants(data: Mapping[str, Any]) -> dict[str, Tenant]:
    section = data.get("tenants")
    if not isinstance(section, dict):
        return {}
    out: dict[str, Tenant] = {}
    for name, body in section.items():
        body = body if isinstance(body, dict) else {}
        raw_vars = body.get("vars") if isinstance(body.get("vars"), dict) else {}
        out[name] = Tenant(
            name=name,
            url=body.get("url") if isinstance(body.get("url"), str) else None,
            api_key_env=body.get("api_key_env") if isinstance(body.get("api_key_env"), str) else None,
            vars={k: v for k, v in raw_vars.items() if isinstance(v, str)},
            auth=body.get("auth") if isinstance(body.get("auth"), str) else None,
            ignore=patterns_in(body),
            safety=safety_overrides(body.get("safety")),
            policy=body.get("policy") if isinstance(body.get("policy"), dict) else {},
        )
    return out


def _known(tenants: Mapping[str, Tenant], name: str | None = None) -> str:
    if not tenants:
        return "the file defines no tenants"
    close = []
    if name:
        import difflib

        close = difflib.get_close_matches(name, list(tenants), n=1)
        close = close or [t for t in tenants if t.startswith(name)]
    guess = f"; did you mean '{close[0]}'?" if close else ""
    return "known tenants: " + ", ".join(tenants) + guess


def _tenant_reference_problems(parsed: _Parsed) -> list[Problem]:
    problems: list[Problem] = []
    channels = parsed.data.get("channels")
    for i, raw in enumerate(channels if isinstance(channels, list) else []):
        limited = raw.get("tenants") if isinstance(raw, dict) else None
        for j, name in enumerate(limited if isinstance(limited, list) else []):
            if isinstance(name, str) and name not in parsed.tenants:
                hint = _known(parsed.tenants, name)
                if not parsed.tenants:
                    hint += ": add a `tenants:` section or remove this list"
                path = ("channels", i, "tenants", j)
                problems.append(parsed.problem(path, f"unknown tenant {name!r} ({hint})"))
    return problems


def _name_pattern_problems(parsed: _Parsed) -> list[Problem]:
    """A policy's name_pattern must be a regular expression (the schema only knows it is a string)."""
    import re

    sections = [(("policy",), parsed.data.get("policy"))]
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
                message = f"{_show(pattern)} is not a regular expression ({exc}): fix it, e.g. ^[A-Z][A-Za-z0-9 ]+$"
                problems.append(parsed.problem(path + ("name_pattern",), message))
    return problems


# ---------------------------------------------------------------------------------------------
# One view: select channels, substitute, check again


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
class _Cache:
    """Channel entries resolved once per load and reused by every view that reads them the same."""

    entries: dict[tuple[int, str | None], _Channel] = field(default_factory=dict)
    uses_vars: dict[int, bool] = field(default_factory=dict)  # channel index -> has a ${var:...}


def _resolve(
    parsed: _Parsed,
    tenant: str | None,
    environ: Mapping[str, str],
    cache: _Cache,
    *,
    vars_need_tenant: bool = True,
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
    view = _View(parsed, tenant, environ, vars_need_tenant)
    problems: list[Problem] = []
    warnings: list[Problem] = []
    channels: list[DesiredChannel] = []
    claims: dict[str, tuple[int, str]] = {}
    raw_channels = parsed.data.get("channels")
    for i, raw in enumerate(raw_channels if isinstance(raw_channels, list) else []):
        if not isinstance(raw, dict) or not _selected(raw, tenant, bool(tenants)):
            continue
        dependent = cache.uses_vars.get(i)
        if dependent is None:
            dependent = cache.uses_vars[i] = _has_vars(raw)
        key = (i, tenant if dependent else None)
        entry = cache.entries.get(key)
        if entry is None:
            entry = cache.entries[key] = view.channel(i, raw)
        problems.extend(entry.problems)
        warnings.extend(entry.warnings)
        for name, kind, path in entry.claims:
            _claim(parsed, claims, problems, name, i, kind, path)
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


def _has_vars(raw: Mapping[str, Any]) -> bool:
    previous = raw.get("previous_names")
    texts = [raw.get(n) for n in _TEMPLATED_FIELDS] + (previous if isinstance(previous, list) else [])
    return any(isinstance(t, str) and uses_vars(t) for t in texts)


class _View:
    """One tenant's (or no tenant's) reading of channel entries: substitution and the checks after it."""

    def __init__(self, parsed: _Parsed, tenant: str | None, environ: Mapping[str, str], vars_need_tenant: bool):
        self.parsed = parsed
        self.environ = environ
        self.vars_need_tenant = vars_need_tenant
        self.tenant = parsed.tenants.get(tenant) if tenant is not None else None
        self.vars = self.tenant.vars if self.tenant is not None else None

    def channel(self, i: int, raw: Mapping[str, Any]) -> _Channel:
        """Substitute one channel entry's templates and check the results against their regexes."""
        base: PathT = ("channels", i)
        out = _Channel(DesiredChannel({}), [], [])
        values: dict[str, Any] = {}
        for name in _TEMPLATED_FIELDS:
            text = raw.get(name)
            if isinstance(text, str):
                path = base + (name,)
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
                path = base + ("previous_names", j)
                result = self._sub(out, path, text)
                if self._check(out, path, result, NAME_PATTERN, False):
                    out.claims.append((result.value, "previous name", path))
                previous.append(result.value)

        secret: SecretRef | None = None
        raw_secret = raw.get(SECRET_FIELD)
        if isinstance(raw_secret, str):
            result = self._sub(out, base + (SECRET_FIELD,), raw_secret, secret=True)
            env_var = result.unset_env[0] if result.unset_env else first_env(raw_secret)
            secret = SecretRef(None if result.unset_env else result.value, env_var)
            if raw_secret and env_var is None:
                out.warnings.append(self.parsed.problem(base + (SECRET_FIELD,), LITERAL_SECRET))

        line, _ = self.parsed.at(base)
        limited = raw.get("tenants")
        out.channel = DesiredChannel(
            fields=normalize_fields(values), secret=secret, previous_names=tuple(previous), line=line,
            tenants=tuple(t for t in limited if isinstance(t, str)) if isinstance(limited, list) else None,
            endpoint_env=self._endpoint_env(out, base, raw.get(ENDPOINT_FIELD)),
        )
        return out

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
                out.warnings.append(self.parsed.problem(base + (ENDPOINT_FIELD,), LITERAL_CREDENTIAL.format(param)))
        return env

    def _sub(self, out: _Channel, path: PathT, text: str, secret: bool = False) -> Substituted:
        result = substitute(text, environ=self.environ, vars=self.vars, secret=secret)
        if result.malformed:
            out.problems.append(self.parsed.problem(path, result.malformed))
        for name in result.missing_vars:
            message = _var_problem(name, self.tenant, self.parsed.tenants, self.vars_need_tenant)
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
            for var in dict.fromkeys(result.unset_env):
                out.problems.append(self.parsed.problem(path, _unset_message(var, self.environ)))
            return False
        value = result.value
        if (empty_ok and value == "") or pattern_matches(pattern, value):
            return True
        shown = mask_endpoint(value) if path[-1] == ENDPOINT_FIELD else value  # a credential from ${env:...}
        message = _mismatch(shown, pattern, path, note=" (after substitution)")
        out.problems.append(self.parsed.problem(path, message))
        return False


def _unset_message(var: str, environ: Mapping[str, str]) -> str:
    if var in environ:
        return f"environment variable {var} is empty (used as ${{env:{var}}}); an empty value counts as unset"
    return f"environment variable {var} is not set (used as ${{env:{var}}})"


def _var_problem(
    name: str, tenant: Tenant | None, tenants: Mapping[str, Tenant], vars_need_tenant: bool
) -> str | None:
    """Why ``${var:NAME}`` has no value in this view, or None when that is fine (``validate``)."""
    if tenant is not None:
        known = ", ".join(sorted(tenant.vars))
        return (
            f"${{var:{name}}}: tenant {tenant.name!r} has no var {name!r} "
            + (f"(its vars: {known})" if known else "(it defines no vars)")
        )
    if not tenants:
        return (
            f"${{var:{name}}}: the file defines no tenants, so there are no vars: "
            "add a `tenants:` section with `vars:`"
        )
    if vars_need_tenant:
        return f"${{var:{name}}} needs a tenant: pass --tenant ({_known(tenants)})"
    return None


def _claim(
    parsed: _Parsed,
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
        message = (
            f"{name!r} is both the name and a previous name of this channel: "
            "remove it from previous_names"
        )
    elif kind == other_kind == "name":
        message = (
            f"duplicate channel name {name!r}: channels[{other}] (line {other_line}) has it too; "
            "names must be unique"
        )
    else:
        message = (
            f"{name!r} is claimed twice: it is the {other_kind} of channels[{other}] (line {other_line}) "
            f"and a {kind} of channels[{index}]; a name may belong to one channel only"
        )
    problems.append(parsed.problem(path, message))

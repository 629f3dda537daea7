"""Load the channels file: safe YAML, schema check, ``${env:...}``/``${var:...}`` substitution.

Every problem found is reported at once, located at the value it is about (see ``Problem``).

Which channels a load keeps:
    * ``--tenant NAME``: the channels without a ``tenants:`` list, plus those listing NAME;
    * no tenant, and the file defines no tenants: every channel;
    * no tenant, and the file defines tenants: only the channels without a ``tenants:`` list
      (``${var:...}`` then has no values, so using one is an error telling to pass ``--tenant``).

Templates: ``${env:NAME}`` reads the environment, ``${var:NAME}`` the chosen tenant's ``vars``,
``$${`` writes a literal ``${``. Substitution is one pass: a substituted value is not read again.
The ``tenants:`` section itself is literal (no templates). An unset variable in
``custom_channel_secret`` is not an error here: it gives ``SecretRef(value=None, env_var=NAME)``
and the planner decides whether the secret is needed.
"""
from __future__ import annotations

import datetime
import difflib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Union

import yaml
from jsonschema import ValidationError

from reconciler.errors import ConfigError, Problem
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
from reconciler.safety import safety_overrides
from reconciler.schema import validator

MAX_FILE_BYTES = 5 * 1024 * 1024
# Values that aliases may add when expanded; a real file adds a few hundred at most.
MAX_ALIAS_VALUES = 100_000

PathT = tuple[Union[str, int], ...]

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"

# Fields that may hold templates and are checked against their regex after substitution.
_TEMPLATED_FIELDS = tuple(n for n, s in FIELDS.items() if s.kind == "string")
_EMPTY_ALLOWED = frozenset(n for n in _TEMPLATED_FIELDS if FIELDS[n].default == "")
_TEMPLATE_TOKEN = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_TEMPLATE_BODY = re.compile(r"(env|var):([A-Za-z_][A-Za-z0-9_]*)")


# ---------------------------------------------------------------------------------------------
# Public API


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
    loaded, problems = _resolve(parsed, tenant, os.environ if environ is None else environ)
    _raise_if(parsed.problems + problems)
    assert loaded is not None
    return loaded


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
    for view in views:
        result, problems = _resolve(parsed, view, env, vars_need_tenant=False)
        if result is not None:
            loaded[view] = result
        for problem in dict.fromkeys(problems):
            seen.setdefault(problem, []).append(view)
    view_problems = [
        p if len(found) == len(views) else _tag_views(p, found) for p, found in seen.items()
    ]
    _raise_if(parsed.problems + view_problems)
    return loaded


def load_tenants(path: str | os.PathLike[str]) -> dict[str, Tenant]:
    """Only the ``tenants:`` section (taken literally; problems inside ``channels`` are ignored)."""
    return load_settings(path)[0]


def load_settings(path: str | os.PathLike[str]) -> tuple[dict[str, Tenant], tuple[str, ...]]:
    """The ``tenants:`` section and the top-level ``ignore:`` patterns, whatever the channels say."""
    parsed = _parse(path)
    _raise_if([p for p in parsed.problems if not p.path.startswith("channels")])
    return dict(parsed.tenants), patterns_in(parsed.data)


# ---------------------------------------------------------------------------------------------
# Reading and parsing


@dataclass
class _Parsed:
    file: str
    data: dict[str, Any]
    values: dict[PathT, yaml.Node]
    keys: dict[PathT, yaml.Node]
    problems: list[Problem]
    bad: set[PathT]  # values already reported: not checked again after substitution
    tenants: dict[str, Tenant] = field(default_factory=dict)

    def at(self, path: PathT, *, key: bool = False) -> tuple[int | None, int | None]:
        """1-based line and column of the value at ``path`` (or its key), else of its parent."""
        if key and path in self.keys:
            mark = self.keys[path].start_mark
            return mark.line + 1, mark.column + 1
        while path not in self.values and path:
            path = path[:-1]
        node = self.values.get(path)
        if node is None:
            return None, None
        return node.start_mark.line + 1, node.start_mark.column + 1

    def problem(self, path: PathT, message: str, *, key: bool = False) -> Problem:
        line, column = self.at(path, key=key)
        return Problem(self.file, line, column, format_path(path), message)


def format_path(path: Iterable[str | int]) -> str:
    """``('channels', 2, 'name')`` -> ``channels[2].name``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _raise_if(problems: list[Problem]) -> None:
    if problems:
        unique = list(dict.fromkeys(problems))
        unique.sort(key=lambda p: (p.line or 0, p.column or 0))
        raise ConfigError(unique)


def _tag_views(problem: Problem, views: list[str | None]) -> Problem:
    parts = ["no tenant"] if None in views else []
    named = [v for v in views if v is not None]
    if named:
        parts.append(("tenant " if len(named) == 1 else "tenants ") + ", ".join(named))
    message = f"{problem.message} [{'; '.join(parts)}]"
    return Problem(problem.file, problem.line, problem.column, problem.path, message)


def _fatal(file: str, message: str, line: int | None = None, column: int | None = None) -> ConfigError:
    return ConfigError(Problem(file, line, column, "", message))


def _read(file: str) -> str:
    try:
        size = os.path.getsize(file)
        if size > MAX_FILE_BYTES:
            raise _fatal(
                file,
                f"the file is {size / 1024 / 1024:.1f} MiB; a channels file may be at most "
                f"{MAX_FILE_BYTES // 1024 // 1024} MiB",
            )
        with open(file, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise _fatal(file, "no such file") from None
    except IsADirectoryError:
        raise _fatal(file, "is a directory, not a channels file") from None
    except OSError as exc:
        raise _fatal(file, f"cannot read the file: {exc.strerror}") from exc
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise _fatal(file, f"not UTF-8 text (byte {exc.start}): save the file as UTF-8", line) from None


# libyaml's parser (when PyYAML was built with it) gives the same nodes and marks, 2-3x faster.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _compose(file: str, text: str) -> tuple[yaml.SafeLoader, yaml.Node | None]:
    loader = _LOADER(text)
    try:
        return loader, loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = f"YAML syntax error: {exc.problem or exc.context}"
        if exc.context and exc.problem and exc.context_mark is not None:
            message += f" ({exc.context} started on line {exc.context_mark.line + 1})"
        if mark is None:
            raise _fatal(file, message) from None
        raise _fatal(file, message, mark.line + 1, mark.column + 1) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        # libyaml gives the code point, the pure-Python reader the character
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise _fatal(file, f"YAML cannot read the control character U+{char:04X}: remove it", line) from None
    except RecursionError:
        raise _fatal(file, "the YAML is nested too deeply") from None
    except yaml.YAMLError as exc:
        raise _fatal(file, f"YAML error: {exc}") from None


def _check_size(file: str, root: yaml.Node) -> None:
    """Refuse alias bombs: count what aliases add when copied out (linear time).

    Only the values aliases add count, so a long file written out in full is fine (its size is
    capped by MAX_FILE_BYTES) while a few lines of nested aliases are not.
    """
    sizes: dict[int, int] = {}
    active: set[int] = set()
    cap = 10**9  # an exponential bomb would otherwise grow numbers with thousands of digits

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            mark = node.start_mark
            message = "an alias refers to itself (a recursive anchor)"
            raise _fatal(file, message, mark.line + 1, mark.column + 1)
        active.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(item) for item in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        active.discard(key)
        sizes[key] = min(total, cap)
        return sizes[key]

    if size(root) - len(sizes) > MAX_ALIAS_VALUES:
        raise _fatal(
            file,
            f"YAML aliases (*name) expand to more than {MAX_ALIAS_VALUES} extra values: "
            "this looks like an alias bomb; write the values out instead",
        )


def _parse(path: str | os.PathLike[str], text: str | None = None) -> _Parsed:
    """Read, parse and schema-check the file; raise ConfigError only when nothing can be checked."""
    file = os.fspath(path)
    text = _read(file) if text is None else text
    loader, root = _compose(file, text)
    if root is None:
        raise _fatal(file, "the file is empty: start it with `version: 1` and `channels:`")
    _check_size(file, root)
    converter = _Converter(file, loader)
    data = converter.convert(root, ())
    parsed = _Parsed(file, {}, converter.values, converter.keys, converter.problems, converter.bad)
    if not isinstance(data, dict):
        if converter.problems:
            raise ConfigError(converter.problems)
        mark = root.start_mark
        raise _fatal(
            file,
            "the file must be a mapping starting with `version: 1`, but " + _reads_as(root, data),
            mark.line + 1,
            mark.column + 1,
        )
    parsed.data = data
    parsed.problems.extend(_schema_problems(parsed))
    parsed.tenants = _tenants(data)
    parsed.problems.extend(_tenant_reference_problems(parsed))
    return parsed


class _Converter:
    """YAML nodes to Python values, remembering where each value and key is written."""

    def __init__(self, file: str, loader: yaml.SafeLoader) -> None:
        self.file = file
        self.loader = loader
        self.values: dict[PathT, yaml.Node] = {}
        self.keys: dict[PathT, yaml.Node] = {}
        self.problems: list[Problem] = []
        self.bad: set[PathT] = set()

    def _report(self, node: yaml.Node, path: PathT, message: str, *, bad_value: bool = True) -> None:
        mark = node.start_mark
        line, column = mark.line + 1, mark.column + 1
        self.problems.append(Problem(self.file, line, column, format_path(path), message))
        if bad_value:
            self.bad.add(path)

    def convert(self, node: yaml.Node, path: PathT) -> Any:
        self.values[path] = node
        if isinstance(node, yaml.ScalarNode):
            try:
                return self.loader.construct_object(node, deep=True)
            except yaml.constructor.ConstructorError as exc:
                self._report(node, path, f"YAML cannot read this value ({exc.problem}): quote it")
                return None
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ_TAG:
                self._report(node, path, f"unsupported YAML tag {node.tag}: remove it")
                return None
            return [self.convert(item, path + (i,)) for i, item in enumerate(node.value)]
        if node.tag != _MAP_TAG:
            self._report(node, path, f"unsupported YAML tag {node.tag}: remove it")
            return None
        return self._mapping(node, path)

    def _mapping(self, node: yaml.MappingNode, path: PathT) -> dict[str, Any]:
        explicit: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        first_seen: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                # YAML merge keys (<<: *defaults): explicit keys win, earlier merges win.
                many = isinstance(value_node, yaml.SequenceNode)
                sources = value_node.value if many else [value_node]
                for source in sources:
                    if not isinstance(source, yaml.MappingNode):
                        self._report(source, path, "`<<` merges only mappings")
                        continue
                    for k, v in self._mapping(source, path).items():
                        merged.setdefault(k, v)
                self.values[path] = node
                continue
            key = self._key(key_node, path)
            if key is None:
                continue
            if key in first_seen:
                first = first_seen[key].start_mark.line + 1
                mark = key_node.start_mark
                self.problems.append(Problem(
                    self.file, mark.line + 1, mark.column + 1, format_path(path + (key,)),
                    f"duplicate key '{key}' (first on line {first}, again on line {mark.line + 1}): "
                    "YAML would silently keep only the last one; remove one of them",
                ))
                continue
            first_seen[key] = key_node
            self.keys[path + (key,)] = key_node
            explicit[key] = self.convert(value_node, path + (key,))
        return {**merged, **explicit}

    def _key(self, node: yaml.Node, path: PathT) -> str | None:
        if not isinstance(node, yaml.ScalarNode):
            message = "a key must be a plain name, not a list or mapping"
            self._report(node, path, message, bad_value=False)
            return None
        try:
            key = self.loader.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            message = f"YAML cannot read this key ({exc.problem}): quote it"
            self._report(node, path, message, bad_value=False)
            return None
        if not isinstance(key, str):
            message = f"a key must be a string, but {_reads_as(node, key)}: quote it: '{node.value}'"
            self._report(node, path, message, bad_value=False)
            return None
        return key


def _reads_as(node: yaml.Node | None, value: Any, *, secret: bool = False) -> str:
    """How YAML understood a value, for messages (never echoing a secret)."""
    shown = "the secret" if secret else (node.value if isinstance(node, yaml.ScalarNode) else "")
    if isinstance(value, bool):
        return f"YAML reads {shown} as a boolean" + ("" if secret else f" ({str(value).lower()})")
    if isinstance(value, (int, float)):
        return f"YAML reads {shown} as a number" + ("" if secret else f" ({value!r})")
    if isinstance(value, (datetime.date, datetime.datetime)):
        return f"YAML reads {shown} as a date"
    if value is None:
        empty = not isinstance(node, yaml.ScalarNode) or node.value == ""
        return "the value is empty" if empty else f"YAML reads {shown} as null"
    if isinstance(value, list):
        return "it is a list"
    if isinstance(value, dict):
        return "it is a mapping"
    if isinstance(value, str):
        return "it is the secret string" if secret else f"it is the string {_show(value)}"
    return f"it is a {type(value).__name__}"


def _show(value: str, limit: int = 80) -> str:
    if len(value) <= limit:
        return repr(value)
    return repr(value[: limit - 3]) + f"... ({len(value)} characters)"


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
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if not close and len(key) >= 4:
        close = [a for a in allowed if key.lower() in a]
    if close:
        return f"unknown key '{key}': did you mean '{close[0]}'?"
    return f"unknown key '{key}': allowed here are " + ", ".join(allowed)


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
            ignore=patterns_in(body),
            safety=safety_overrides(body.get("safety")),
        )
    return out


def _known(tenants: Mapping[str, Tenant], name: str | None = None) -> str:
    if not tenants:
        return "the file defines no tenants"
    close = []
    if name:
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


# ---------------------------------------------------------------------------------------------
# One view: select channels, substitute, check again


@dataclass
class _Substituted:
    value: str
    problems: list[str]
    unset_env: list[str]
    templated: bool  # had ${...} or $${: check the result against the regex again
    unresolved: bool  # a ${var:...} was left as is (tenant-less view of ``validate``)


def _malformed_template(text: str, *, secret: bool) -> str | None:
    for match in _TEMPLATE_TOKEN.finditer(text):
        token = match.group(0)
        if token == "$${":
            continue
        if match.group(1) is None or not _TEMPLATE_BODY.fullmatch(match.group(1)):
            shown = "the secret has a '${'" if secret else f"unrecognised template {token!r}"
            return f"{shown}: write ${{env:NAME}} or ${{var:NAME}}, or $${{ for a literal ${{"
    return None


def _substitute(
    text: str,
    *,
    environ: Mapping[str, str],
    tenant: Tenant | None,
    tenants: Mapping[str, Tenant],
    vars_need_tenant: bool,
    secret: bool,
) -> _Substituted:
    out = _Substituted("", [], [], templated=False, unresolved=False)
    malformed = _malformed_template(text, secret=secret)
    if malformed:
        out.problems.append(malformed)
        return out

    def replace(match: re.Match[str]) -> str:
        # A literal ${ also counts: the schema let it through as a template, the regex never saw it.
        out.templated = True
        if match.group(0) == "$${":
            return "${"
        source, name = _TEMPLATE_BODY.fullmatch(match.group(1)).groups()  # type: ignore[union-attr]
        if source == "env":
            if name in environ:
                return environ[name]
            out.unset_env.append(name)
            return ""
        if tenant is not None:
            if name in tenant.vars:
                return tenant.vars[name]
            known = ", ".join(sorted(tenant.vars))
            out.problems.append(
                f"${{var:{name}}}: tenant {tenant.name!r} has no var {name!r} "
                + (f"(its vars: {known})" if known else "(it defines no vars)")
            )
        elif not tenants:
            out.problems.append(
                f"${{var:{name}}}: the file defines no tenants, so there are no vars: "
                "add a `tenants:` section with `vars:`"
            )
        elif vars_need_tenant:
            out.problems.append(f"${{var:{name}}} needs a tenant: pass --tenant ({_known(tenants)})")
        out.unresolved = True
        return match.group(0)

    out.value = _TEMPLATE_TOKEN.sub(replace, text)
    return out


def _selected(raw: Mapping[str, Any], tenant: str | None, has_tenants: bool) -> bool:
    limited = raw.get("tenants")
    if not isinstance(limited, list):
        return True
    if tenant is None:
        return not has_tenants
    return tenant in limited


def _resolve(
    parsed: _Parsed,
    tenant: str | None,
    environ: Mapping[str, str],
    *,
    vars_need_tenant: bool = True,
) -> tuple[ChannelsFile | None, list[Problem]]:
    """The file as one tenant (or none) sees it, and the problems only substitution reveals."""
    tenants = parsed.tenants
    if tenant is not None and tenant not in tenants:
        message = f"unknown tenant {tenant!r} ({_known(tenants, tenant)})"
        return None, [Problem(parsed.file, None, None, "", message)]
    chosen = tenants.get(tenant) if tenant is not None else None
    problems: list[Problem] = []
    channels: list[DesiredChannel] = []
    claims: dict[str, tuple[int, str]] = {}
    raw_channels = parsed.data.get("channels")
    for i, raw in enumerate(raw_channels if isinstance(raw_channels, list) else []):
        if not isinstance(raw, dict) or not _selected(raw, tenant, bool(tenants)):
            continue
        base: PathT = ("channels", i)

        def sub(path: PathT, text: str, secret: bool = False) -> _Substituted:
            result = _substitute(
                text, environ=environ, tenant=chosen, tenants=tenants,
                vars_need_tenant=vars_need_tenant, secret=secret,
            )
            problems.extend(parsed.problem(path, m) for m in result.problems)
            return result

        def check(path: PathT, result: _Substituted, pattern: str, empty_ok: bool) -> bool:
            """Whether the value is usable as a name; reports a mismatch found after substitution."""
            if result.problems or result.unresolved or path in parsed.bad:
                return False
            if result.unset_env:
                for var in dict.fromkeys(result.unset_env):
                    message = f"environment variable {var} is not set (used as ${{env:{var}}})"
                    problems.append(parsed.problem(path, message))
                return False
            value = result.value
            if not result.templated or (empty_ok and value == "") or pattern_matches(pattern, value):
                return True
            problems.append(parsed.problem(path, _mismatch(value, pattern, path, note=" (after substitution)")))
            return False

        values: dict[str, Any] = {}
        for name in _TEMPLATED_FIELDS:
            text = raw.get(name)
            if isinstance(text, str):
                result = sub(base + (name,), text)
                spec = FIELDS[name]
                usable = check(base + (name,), result, spec.pattern or "", name in _EMPTY_ALLOWED)
                if usable and name == "name":
                    _claim(parsed, claims, problems, result.value, i, "name", base + (name,))
                values[name] = result.value
        for name in ("include_signature", "custom_channel_available_in_quick_ticket"):
            if isinstance(raw.get(name), bool):
                values[name] = raw[name]

        previous: list[str] = []
        raw_previous = raw.get("previous_names")
        for j, text in enumerate(raw_previous if isinstance(raw_previous, list) else []):
            if isinstance(text, str):
                path = base + ("previous_names", j)
                result = sub(path, text)
                if check(path, result, NAME_PATTERN, False):
                    _claim(parsed, claims, problems, result.value, i, "previous name", path)
                previous.append(result.value)

        secret: SecretRef | None = None
        raw_secret = raw.get(SECRET_FIELD)
        if isinstance(raw_secret, str):
            result = sub(base + (SECRET_FIELD,), raw_secret, secret=True)
            env_var = result.unset_env[0] if result.unset_env else _first_env(raw_secret)
            secret = SecretRef(None if result.unset_env else result.value, env_var)

        line, _ = parsed.at(base)
        limited = raw.get("tenants")
        channels.append(DesiredChannel(
            fields=normalize_fields(values), secret=secret, previous_names=tuple(previous), line=line,
            tenants=tuple(t for t in limited if isinstance(t, str)) if isinstance(limited, list) else None,
        ))
    loaded = ChannelsFile(
        path=parsed.file,
        channels=tuple(channels),
        prune=parsed.data.get("prune") is True,
        tenants=dict(tenants),
        tenant=tenant,
        ignore=patterns_in(parsed.data),
        safety=safety_overrides(parsed.data.get("safety")),
    )
    problems.extend(ignore_problems(parsed, tenant, loaded.channels))
    return loaded, problems


def _first_env(text: str) -> str | None:
    for match in _TEMPLATE_TOKEN.finditer(text):
        body = _TEMPLATE_BODY.fullmatch(match.group(1) or "")
        if body and body.group(1) == "env":
            return body.group(2)
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

"""The channels file's problems in plain words: schema errors, mismatches, unset variables, tenants."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

import yaml

from reconciler.errors import Problem
from reconciler.interpolation import malformed as malformed_template
from reconciler.model import SECRET_FIELD, Tenant, describe_mismatch, field_pattern, without_templates
from reconciler.printable import cut, quoted
from reconciler.schema import is_valid_fast, validator
from reconciler.wording import named
from reconciler.yamlread import Document
from reconciler.yamlshow import PathT, reads_as, show, shown_key

if TYPE_CHECKING:
    from jsonschema import ValidationError

LITERAL_CREDENTIAL = (
    "the endpoint's {0}= parameter is a credential written in the file, where everyone who can read the "
    "repository sees it: write {0}=${{env:NAME}} and keep the value in the environment (a CI secret)"
)
LITERAL_SECRET = (
    "the secret is written in the file, where everyone who can read the repository sees it: "
    "write ${env:NAME} and keep the value in the environment (a CI secret)"
)

_REQUIRED_HINTS = {
    "version": "add `version: 1` at the top of the file",
    "channels": "add `channels:` with the list of channels (`channels: []` for none)",
    "name": "every channel needs a name",
    "url": "add the tenant's base URL, like `url: https://acme.omnidesk.com`",
}
# The schema's problems one file gets reported: the first thousand say what is wrong; reading on
# through a million more would take minutes and say nothing new.
MAX_SCHEMA_PROBLEMS = 1_000
# Booleans in YAML 1.1 only (PyYAML's list): a 1.2 reader sees a string.
_YAML11_BOOLEANS = frozenset({"yes", "no", "on", "off", "y", "n"})
_TYPE_NAMES = {
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping (key: value lines)",
    "string": "a string",
    "integer": "a whole number",
}


def schema_problems(parsed: Document) -> list[Problem]:
    """The schema's complaints in the writer's terms; no more than ``MAX_SCHEMA_PROBLEMS`` (a file
    with more, such as a million empty channels, is not checked further: see ``too_many``)."""
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
        if len(problems) >= MAX_SCHEMA_PROBLEMS:
            break
    return problems


def too_many(file: str, problems: list[Problem]) -> bool:
    """True (and a last problem saying so) when ``problems`` reached the most that is checked."""
    if len(problems) < MAX_SCHEMA_PROBLEMS:
        return False
    problems.append(
        Problem(file, None, None, "", f"checking stopped after {MAX_SCHEMA_PROBLEMS:,} problems: fix these first")
    )
    return True


def _is_secret(path: PathT) -> bool:
    return bool(path) and path[-1] == SECRET_FIELD


def _translate(parsed: Document, error: ValidationError, path: PathT) -> list[Problem]:
    kind, node = error.validator, parsed.values.get(path)
    # jsonschema's stubs allow these to be unset; an error of a validation run always has them
    instance: Any = error.instance
    value: Any = error.validator_value
    if kind == "oneOf":
        return _one_of(parsed, error, path)
    if kind == "additionalProperties":
        schema = error.schema if isinstance(error.schema, Mapping) else {}
        allowed = list(schema.get("properties", {}))
        return [
            parsed.problem((*path, key), _unknown_key(key, allowed), key=True) for key in instance if key not in allowed
        ]
    if kind == "required":
        missing = [p for p in value if p not in instance]
        hints = {p: f": {_REQUIRED_HINTS[p]}" if p in _REQUIRED_HINTS else "" for p in missing}
        return [parsed.problem(path, f"missing `{p}`{hint}") for p, hint in hints.items()]
    if kind == "const":
        want = value
        if isinstance(instance, str):
            message = f"must be the number {want}, not the string {show(instance)}: remove the quotes"
        else:
            message = f"must be {want} (the only format version), not {_item(instance)}"
        return [parsed.problem(path, message)]
    if kind == "type":
        return [parsed.problem(path, _type_message(value, instance, node, _is_secret(path)))]
    if kind == "pattern":
        return _pattern(parsed, error, path, instance, value)
    if kind == "uniqueItems":
        index = next(i for i, item in enumerate(instance) if item in instance[:i])
        return [parsed.problem((*path, index), f"{_item(instance[index])} is listed twice: remove one")]
    if kind == "minLength" and "ignore" in path:
        return [parsed.problem(path, "an empty pattern ignores nothing: remove it")]
    if kind == "dependentRequired":
        return [
            parsed.problem((*path, key), _needs(key, needed), key=True)
            for key, needed in value.items()
            if key in instance and any(n not in instance for n in needed)
        ]
    if kind == "minimum":
        return [
            parsed.problem(
                path, f"must be {value} or more, not {_item(instance)}: versions start at {value} and only go up"
            )
        ]
    if kind == "minItems":
        message = "lists no tenants: leave `tenants:` out to keep the channel in every tenant"
        return [parsed.problem(path, message)]
    return [parsed.problem(path, error.message)]


def _pattern(parsed: Document, error: ValidationError, path: PathT, instance: Any, value: Any) -> list[Problem]:
    """A value that breaks its pattern: which characters, or what the value should look like."""
    shown = show(instance)
    if "propertyNames" in error.relative_schema_path:
        if shown_key(instance) != instance:  # never list the characters of what may be a secret
            message = f"the name '{shown_key(instance)}' must be one word: a space, ':' or '=' follows it"
            return [parsed.problem((*path, instance), message, key=True)]
        why = describe_mismatch(value, instance)
        return [parsed.problem((*path, instance), f"the name {shown} {why}", key=True)]
    if path and path[-1] == "url":
        return [parsed.problem(path, f"{shown} is not a URL: write it like https://acme.omnidesk.com")]
    if path and path[-1] == "api_key_env":
        message = f"{shown} is not an environment variable name: use letters, digits and _"
        return [parsed.problem(path, message + " (like OMNIDESK_API_KEY)")]
    malformed = malformed_template(instance, secret=False)
    if malformed:
        return [parsed.problem(path, malformed)]
    pattern = field_pattern(value)
    outside = without_templates(instance)
    if outside != instance:  # the templates are whole: a character beside them is wrong
        message = f"{show(instance)} {describe_mismatch(pattern, outside, where=' beside its templates')}"
        return [parsed.problem(path, message)]
    return [parsed.problem(path, mismatch(instance, pattern, path))]


def _one_of(parsed: Document, error: ValidationError, path: PathT) -> list[Problem]:
    """A value one of several forms may take (``tenants:``: inline, or tenant files): the problems of
    the form of its own type, not "not valid under any of the given schemas"."""
    branches: dict[Any, list[ValidationError]] = {}
    for sub in error.context or ():
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    own = [
        subs
        for subs in branches.values()
        if not any(s.validator == "type" and len(s.absolute_path) == len(path) for s in subs)
    ]
    if len(own) == 1:
        return [p for sub in own[0] for p in _translate(parsed, sub, tuple(sub.absolute_path))]
    if path == ("tenants",):
        return [
            parsed.problem(
                path,
                f"must be the tenants (name: {{url: ...}} lines) or their files (a folder, a "
                f"glob, or a list of them), not {_item(error.instance)}",
            )
        ]
    return [parsed.problem(path, error.message)]


def _needs(key: str, needed: list[str]) -> str:
    if key == "secret_version":
        return (
            "secret_version rotates the channel's secret, but the channel has no custom_channel_secret: "
            "add custom_channel_secret: ${env:NAME}, or remove secret_version"
        )
    return f"`{key}` needs " + ", ".join(f"`{n}`" for n in needed)


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
        plain = isinstance(node, yaml.ScalarNode) and not node.style
        if plain and instance.lower() in _YAML11_BOOLEANS:
            return (
                f"expected true or false, not {instance}: YAML 1.2 (editors, validators and this tool) "
                f"reads it as the string {show(instance)}: write true or false"
            )
        if plain or instance.strip().lower() not in ("true", "false"):
            return f"expected true or false, not the string {show(instance)}: write true or false"
        return f"expected true or false, not the string {show(instance)}: remove the quotes"
    message = f"expected {want}, but {reads_as(node, instance, secret=secret)}"
    if expected == "integer" and isinstance(instance, str) and instance.strip().isdigit():
        return message + ": remove the quotes"
    if expected == "integer":
        return message + ": write a whole number such as 2"
    if expected == "string" and isinstance(node, yaml.ScalarNode) and instance is not None:
        message += ": quote it" if secret else f": quote it: '{node.value}'"
    return message


def mismatch(value: str, pattern: str, path: PathT, *, note: str = "") -> str:
    if value == "":
        if "name" in path or "previous_names" in path:
            return "must not be empty: a channel name needs at least one character"
        return describe_mismatch(pattern, value)
    message = f"{show(value)}{note} {describe_mismatch(pattern, value)}"
    if value.endswith("\n"):
        message += "; the value ends with a line break (a `|` or `>` block adds one): use `>-` or a plain string"
    return message


def _item(value: Any) -> str:
    """A value of the file for a message: quoted and cut."""
    return quoted(value) if isinstance(value, str) else cut(repr(value))


def known_tenants(tenants: Collection[str], name: str | None = None) -> str:
    """``known tenants: a, b; did you mean 'a'?`` (``tenants``: their names, or the tenants by name)."""
    if not tenants:
        return "the file defines no tenants"
    close = []
    if name and len(name) <= 100:  # a longer one is no tenant's name, and difflib would take long
        import difflib

        close = difflib.get_close_matches(name, list(tenants), n=1)
        close = close or [t for t in tenants if t.startswith(name)]
    guess = f"; did you mean '{close[0]}'?" if close else ""
    return "known tenants: " + ", ".join(tenants) + guess


def unset_message(var: str, environ: Mapping[str, str]) -> str:
    if var in environ:
        return f"environment variable {var} is empty (used as ${{env:{var}}}); an empty value counts as unset"
    return f"environment variable {var} is not set (used as ${{env:{var}}})"


def var_problem(name: str, tenant: Tenant | None, tenants: Mapping[str, Tenant], vars_need_tenant: bool) -> str | None:
    """Why ``${var:NAME}`` has no value in this view, or None when that is fine (``validate``)."""
    if tenant is not None:
        known = ", ".join(sorted(tenant.vars))
        return f"${{var:{cut(name)}}}: tenant {tenant.name!r} has no var {quoted(name)} " + (
            f"(its vars: {known})" if known else "(it defines no vars)"
        )
    if not tenants:
        return (
            f"${{var:{name}}}: the file defines no tenants, so there are no vars: add a `tenants:` section with `vars:`"
        )
    if vars_need_tenant:
        return f"${{var:{name}}} needs a tenant: pass {named('tenant')} ({known_tenants(tenants)})"
    return None

"""Policies: rules over the channels a file wants, each ``off``, ``warn`` or ``deny``, and their findings.

Set for the file and per tenant (a tenant's setting wins, rule by rule), as ``safety:`` is::

    policy:
      rules: {https-endpoint: deny, channel-name: warn}   # every rule not named: its default (warn)
      allowed_hosts: ["*.acme.com"]                        # for endpoint-host
      name_pattern: "^[A-Z][A-Za-z0-9 ]+$"                 # for channel-name
    tenants:
      production:
        policy: {rules: {endpoint-host: deny}, allowed_hosts: [bridge.acme.com]}

A rule is one function registered with ``@rule``: it reads one desired channel (and what the
policy and a probe say) and returns what is wrong, or None. ``findings`` runs every rule that is
not off; ``refuse_denied`` (before apply writes anything) refuses the ``deny`` findings that no
``--allow-policy RULE`` names. Findings are data in the plan, so a saved plan keeps them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from reconciler.endpoints import credential_params, endpoint_host, is_templated
from reconciler.errors import PolicyDenied, Problem
from reconciler.model import SECRET_FIELD, ChannelsFile, DesiredChannel

OFF, WARN, DENY = "off", "warn", "deny"
LEVELS = (OFF, WARN, DENY)
ENDPOINT = "custom_channel_endpoint"


@dataclass(frozen=True)
class Settings:
    """What a file (and its tenant) sets: a level per rule, and the rules' parameters."""

    levels: Mapping[str, str] = field(default_factory=dict)
    allowed_hosts: tuple[str, ...] | None = None  # None: endpoint-host has nothing to check against
    name_pattern: str | None = None

    def level(self, rule_id: str) -> str:
        return self.levels.get(rule_id, RULES[rule_id].default)

    def overridden(self, section: Any) -> Settings:
        """These settings with a ``policy:`` section's on top (the schema has checked its shape)."""
        if not isinstance(section, Mapping):
            return self
        levels = section.get("rules")
        hosts = section.get("allowed_hosts")
        pattern = section.get("name_pattern")
        # YAML 1.1 (the loader's) reads an unquoted `off` as false; editors (YAML 1.2) as "off": both are off
        named = {k: OFF if v is False else v for k, v in levels.items()} if isinstance(levels, Mapping) else {}
        return replace(
            self,
            levels={**self.levels, **named},
            allowed_hosts=tuple(hosts) if isinstance(hosts, list) else self.allowed_hosts,
            name_pattern=pattern if isinstance(pattern, str) else self.name_pattern,
        )


@dataclass(frozen=True)
class Context:
    """What a rule may read besides the channel: the settings, and probe verdicts by endpoint."""

    settings: Settings
    probes: Mapping[str, str | None] | None = None  # endpoint -> why it failed (None: it answered)


Check = Callable[[DesiredChannel, Context], "str | None"]


@dataclass(frozen=True)
class Rule:
    id: str
    rationale: str  # one line: why the rule exists
    fix: str  # one line: what to change
    check: Check
    default: str = WARN


RULES: dict[str, Rule] = {}


def rule(rule_id: str, rationale: str, fix: str, default: str = WARN) -> Callable[[Check], Check]:
    """Register a rule: adding one is this decorator on one function (and one test)."""

    def register(check: Check) -> Check:
        RULES[rule_id] = Rule(rule_id, rationale, fix, check, default)
        return check

    return register


@dataclass(frozen=True)
class Finding:
    """A rule a channel breaks, at the level the policy sets; ``line`` locates the channel in ``file``."""

    rule: str
    level: str  # WARN | DENY
    channel: str
    message: str
    file: str = ""
    line: int | None = None

    @property
    def fix(self) -> str:
        return RULES[self.rule].fix if self.rule in RULES else ""

    def __str__(self) -> str:
        return f"{self.level} [{self.rule}] {self.channel!r}: {self.message} (fix: {self.fix})"

    def as_problem(self) -> Problem:
        """The finding located as a file's problem (validate's text, github and json reports)."""
        return Problem(self.file, self.line, None, "", str(self))

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "rule": self.rule,
            "level": self.level,
            "channel": self.channel,
            "message": self.message,
            "fix": self.fix,
        }
        if self.file:
            data["file"] = self.file
        if self.line is not None:
            data["line"] = self.line
        return data

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Finding:
        return cls(
            data["rule"], data["level"], data["channel"], data["message"], data.get("file", ""), data.get("line")
        )


# -- the rules ---------------------------------------------------------------------------------


@rule(
    "https-endpoint",
    "agents' replies travel to the endpoint; over plain http anyone on the way reads them",
    "write the endpoint as https://",
)
def _https(channel: DesiredChannel, context: Context) -> str | None:
    endpoint = channel.fields[ENDPOINT]
    if not endpoint or is_templated(endpoint) or endpoint.lower().startswith("https://"):
        return None
    return f"the endpoint {endpoint_host(endpoint) or '(no host)'} is not https"


@rule(
    "signature-with-secret",
    "without a signature the bridge cannot tell a forged message from a real one",
    "set include_signature: true, or remove the secret",
)
def _signature(channel: DesiredChannel, context: Context) -> str | None:
    if channel.secret is None or channel.fields["include_signature"]:
        return None
    return f"{SECRET_FIELD} is set but include_signature is false"


@rule(
    "endpoint-credentials",
    "a credential in a URL ends up in proxies' and servers' logs",
    "let the bridge check the signature (include_signature) instead of a key in the URL",
)
def _credentials(channel: DesiredChannel, context: Context) -> str | None:
    names = credential_params(channel.fields[ENDPOINT])
    if not names:
        return None
    return "the endpoint carries a credential in its query string: " + ", ".join(names)


@rule(
    "warning-languages",
    "agents work in English and Dutch: a warning in one language only is missed by half",
    "set both custom_channel_warning_en and custom_channel_warning_nl, or neither",
)
def _languages(channel: DesiredChannel, context: Context) -> str | None:
    en, nl = channel.fields["custom_channel_warning_en"], channel.fields["custom_channel_warning_nl"]
    if bool(en) == bool(nl):
        return None
    return f"a warning in {'English' if en else 'Dutch'} only"


@rule(
    "endpoint-host",
    "agents' replies go to the endpoint: only hosts the team owns may receive them",
    "use a host the policy's allowed_hosts lists, or add it there",
)
def _host(channel: DesiredChannel, context: Context) -> str | None:
    allowed = context.settings.allowed_hosts
    endpoint = channel.fields[ENDPOINT]
    if allowed is None or not endpoint or is_templated(endpoint):
        return None
    host = endpoint_host(endpoint)
    if any(host_matches(host, pattern) for pattern in allowed):
        return None
    return f"the endpoint's host {host or '(none)'} is not in allowed_hosts ({', '.join(allowed) or 'empty'})"


@rule(
    "channel-name",
    "names the team agreed on keep a tenant's channel list readable",
    "rename the channel (previous_names keeps it the same channel) to match the policy's name_pattern",
)
def _name(channel: DesiredChannel, context: Context) -> str | None:
    pattern = context.settings.name_pattern
    if pattern is None or is_templated(channel.name) or re.search(pattern, channel.name):
        return None
    return f"the name does not match {pattern}"


@rule(
    "endpoint-answers",
    "a dead endpoint loses every reply; Omnidesk expects OPTIONS with Allow: POST within 1 s",
    "fix the bridge at the endpoint (see the probe's table), or correct the URL",
)
def _answers(channel: DesiredChannel, context: Context) -> str | None:
    endpoint = channel.fields[ENDPOINT]
    if context.probes is None or endpoint not in context.probes:
        return None
    return context.probes[endpoint]


# -- evaluating and enforcing ------------------------------------------------------------------


def host_matches(host: str, pattern: str) -> bool:
    """``*.example.com`` matches every host below example.com, not example.com itself (as OMNIDESK_ALLOWED_HOSTS)."""
    host, pattern = host.lower(), pattern.lower()
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


def settings_of(channels_file: ChannelsFile) -> Settings:
    """The policy a loaded file sets for the tenant it was loaded for: the tenant's on the file's."""
    tenant = channels_file.tenants.get(channels_file.tenant) if channels_file.tenant else None
    return Settings().overridden(channels_file.policy).overridden(tenant.policy if tenant else None)


def findings(channels_file: ChannelsFile, *, probes: Mapping[str, str | None] | None = None) -> tuple[Finding, ...]:
    """Every rule that is not off, over every channel of the view, in file order."""
    context = Context(settings_of(channels_file), probes)
    # each rule's level once per view, not once per channel (plan --all-tenants asks per tenant, #27)
    rules = [
        (rule_id, registered, level)
        for rule_id, registered in RULES.items()
        if (level := context.settings.level(rule_id)) != OFF
    ]
    found: list[Finding] = []
    for channel in channels_file.channels:
        for rule_id, registered, level in rules:
            message = registered.check(channel, context)
            if message:
                found.append(Finding(rule_id, level, channel.name, message, channels_file.path, channel.line))
    return tuple(found)


def refuse_denied(found: Iterable[Finding], allowed: Collection[str] = ()) -> None:
    """Refuse (``PolicyDenied``) the deny findings that no ``--allow-policy RULE`` names; before any write."""
    denied = [f for f in found if f.level == DENY and f.rule not in allowed]
    if denied:
        raise PolicyDenied([str(f) for f in denied], sorted({f.rule for f in denied}))

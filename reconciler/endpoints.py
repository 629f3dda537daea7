"""Endpoint URLs: their host, and the credentials some carry in the query string (masked wherever shown).

Some of Omnidesk's own hooks carry a key in the URL (``https://bridge.example.com/in?key=...``), so
bridges do too. Such a value is a credential: every output shows it as ``(sensitive)``, as the API
key and the channel secret are, and a plan shows ``(sensitive, changed)`` when only it differs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

ENDPOINT_FIELD = "custom_channel_endpoint"
# Query parameter names that hold a credential (compared case-insensitively).
CREDENTIAL_NAMES = frozenset({"key", "token", "secret", "sig", "password", "apikey"})
MASK = "(sensitive)"
MASK_CHANGED = "(sensitive, changed)"
_PARAM = re.compile(r"(?P<lead>[?&])(?P<name>[^=&#]*)=(?P<value>[^&#]*)")


def is_templated(value: str) -> bool:
    """Still holds a ``${...}`` (a view without a tenant leaves ``${var:...}`` unresolved)."""
    return "${" in value


def endpoint_host(endpoint: str) -> str:
    """The host an endpoint names, lower-case ('' when it has none)."""
    try:
        return (urlsplit(endpoint).hostname or "").lower()
    except ValueError:
        return ""


def _credentials(endpoint: str) -> list[re.Match[str]]:
    query = endpoint.find("?")
    if query < 0:
        return []
    return [m for m in _PARAM.finditer(endpoint, query) if m.group("name").lower() in CREDENTIAL_NAMES]


def credential_params(endpoint: str) -> list[str]:
    """The credential-like query parameter names of ``endpoint`` that carry a value, in order."""
    return [m.group("name") for m in _credentials(endpoint) if m.group("value")]


def credential_values(endpoint: str) -> dict[str, str]:
    """Parameter name -> its value, for the credential parameters of ``endpoint``."""
    return {m.group("name"): m.group("value") for m in _credentials(endpoint) if m.group("value")}


def mask_endpoint(endpoint: str, before: str | None = None) -> str:
    """``endpoint`` with every credential value replaced by ``(sensitive)``; with ``before``, a value
    that differs from ``before``'s value of the same parameter shows as ``(sensitive, changed)``."""
    old = credential_values(before) if isinstance(before, str) else None
    out: list[str] = []
    last = 0
    for match in _credentials(endpoint):
        value = match.group("value")
        if not value:
            continue
        changed = old is not None and old.get(match.group("name")) != value
        out.append(endpoint[last : match.start("value")])
        out.append(MASK_CHANGED if changed else MASK)
        last = match.end("value")
    return "".join(out) + endpoint[last:]


def is_masked(endpoint: str) -> bool:
    return MASK in endpoint or MASK_CHANGED in endpoint


def fill_credentials(endpoint: str, values: Mapping[str, str]) -> str:
    """A masked ``endpoint`` with each credential parameter's value put back from ``values`` (param -> value)."""
    out: list[str] = []
    last = 0
    for match in _credentials(endpoint):
        if match.group("name") in values:
            out.append(endpoint[last : match.start("value")])
            out.append(values[match.group("name")])
            last = match.end("value")
    return "".join(out) + endpoint[last:]


def masked(fields: Mapping[str, Any], before: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A channel's ``fields`` with the endpoint's credentials masked; against ``before``, a credential
    that differs shows as changed. Every rendering of a plan's values goes through here."""
    out = dict(fields)
    if isinstance(out.get(ENDPOINT_FIELD), str):
        out[ENDPOINT_FIELD] = mask_endpoint(out[ENDPOINT_FIELD], before.get(ENDPOINT_FIELD) if before else None)
    return out


def masked_change(field: str, before: Any, after: Any) -> dict[str, Any]:
    """One field change's ``before`` and ``after``, masked (``after`` against ``before``)."""
    if field != ENDPOINT_FIELD:
        return {"before": before, "after": after}
    # an endpoint set or removed is None on one side: only text has credentials to mask
    old = mask_endpoint(before) if isinstance(before, str) else before
    new = mask_endpoint(after, before) if isinstance(after, str) else after
    return {"before": old, "after": new}

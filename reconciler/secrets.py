"""Secret values on their way to apply: where they come from, and salted digests for saved plans.

A plan never holds a secret. ``apply`` gets a ``Secrets`` (channel name -> value) built from the
channels file (``from_channels``) or, for a saved plan, from the environment checked against the
plan's digests (``from_environment``). An empty value is no value: GitHub Actions turns an
undefined secret into "", and sending it would wipe the channel's secret.

Saved plans store, per secret they send, scrypt(value, salt) with a salt drawn per plan and the
cost parameters beside it: an artifact of the plan does not let anyone test guesses cheaply.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets as _random
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from reconciler.diff import FieldChange
from reconciler.endpoints import ENDPOINT_FIELD, credential_params, fill_credentials, is_masked
from reconciler.errors import PlanFileError, SecretInFile, SecretMissingError, StalePlanError
from reconciler.model import DesiredChannel
from reconciler.plan import Change, Create, FrozenMap, Plan, Update

# About 50 ms and 16 MiB per digest: slow to guess, still quick for the tens of secrets of a tenant.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
SCRYPT_MAXMEM = 64 * 1024 * 1024  # the most one digest may take, whatever costs a plan file names


class Secrets(Mapping[str, str]):
    """Secret values by channel name; never shown (``repr`` names the channels only)."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, str] | None = None) -> None:
        self._values = {k: v for k, v in (values or {}).items() if v}

    def __getitem__(self, name: str) -> str:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Secrets(channels={sorted(self._values)!r})"

    @classmethod
    def from_channels(cls, channels: Iterable[DesiredChannel]) -> Secrets:
        """The values a loaded channels file gives (substituted when it was loaded)."""
        return cls({c.name: c.secret.value for c in channels if c.secret is not None and c.secret.value})

    @classmethod
    def from_environment(cls, plan: Plan, environ: Mapping[str, str], digests: SecretDigests | None) -> Secrets:
        """The values a saved plan sends, read from the environment and checked against its digests."""
        values: dict[str, str] = {}
        missing: dict[str, list[str]] = {}
        changed: list[str] = []
        for change in plan.sent_secrets:
            secret = change.secret  # type: ignore[attr-defined]
            if not secret.env_var:
                raise StalePlanError(
                    f"{change.name!r}: the plan sends a secret that is not from ${{env:...}}; "
                    "saved plans read secrets from the environment only"
                )
            value = environ.get(secret.env_var, "")
            if not value:
                missing.setdefault(secret.env_var, []).append(change.name)
            elif digests is not None and not digests.matches(change.name, value):
                changed.append(f"{change.name!r}: ${{env:{secret.env_var}}} differs from the value planned with")
            else:
                values[change.name] = value
        if missing:
            raise SecretMissingError(missing)
        if changed:
            raise StalePlanError("secrets changed since the plan, nothing was changed; plan again", changed)
        return cls(values)

    def require(self, plan: Plan) -> None:
        """Refuse, before any write, a plan that sends a secret this source does not have."""
        missing: dict[str, list[str]] = {}
        for change in plan.sent_secrets:
            if change.name not in self._values:
                var = change.secret.env_var or "(written in the file)"  # type: ignore[attr-defined]
                missing.setdefault(var, []).append(change.name)
        if missing:
            raise SecretMissingError(missing)


@dataclass(frozen=True)
class SecretDigests:
    """Salted scrypt digests of the secrets a saved plan sends, by channel name."""

    salt: str  # hex
    digests: Mapping[str, str]  # channel name -> hex
    n: int = SCRYPT_N
    r: int = SCRYPT_R
    p: int = SCRYPT_P

    @classmethod
    def make(cls, plan: Plan, secrets: Mapping[str, str]) -> SecretDigests:
        """Digests of the secrets the plan sends, and of each endpoint it sends with credentials in it."""
        salt = _random.token_hex(SALT_BYTES)
        digests = {c.name: _scrypt(secrets[c.name], c.name, salt) for c in plan.sent_secrets if c.name in secrets}
        for change, endpoint in sent_endpoints(plan):
            key = ENDPOINT_KEY + change.name
            digests[key] = _scrypt(endpoint, key, salt)
        for change in plan.changes:  # the tenant's endpoint as planned against, to see it change since
            before = getattr(change, "before", {}).get(ENDPOINT_FIELD, "")
            if credential_params(before):
                key = BEFORE_KEY + change.name
                digests[key] = _scrypt(before, key, salt)
        return cls(salt, dict(sorted(digests.items())))

    def endpoint_unchanged(self, channel: str, endpoint: str) -> bool:
        """Whether the tenant's ``endpoint`` of ``channel`` is the one the plan was made against
        (its credentials are masked in the plan, so only this digest can tell)."""
        return self.matches(BEFORE_KEY + channel, endpoint)

    def matches(self, channel: str, value: str) -> bool:
        expected = self.digests.get(channel)
        if expected is None:
            return True  # the variable was unset at planning time: nothing to compare with
        return hmac.compare_digest(expected, _scrypt(value, channel, self.salt, self.n, self.r, self.p))

    def to_data(self) -> dict[str, Any]:
        return {
            "kdf": "scrypt",
            "n": self.n,
            "r": self.r,
            "p": self.p,
            "salt": self.salt,
            "digests": dict(self.digests),
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> SecretDigests:
        try:
            if data["kdf"] != "scrypt":
                raise ValueError(f"unknown kdf {data['kdf']!r}")
            costs = int(data["n"]), int(data["r"]), int(data["p"])
            if not _costs_fit(*costs):
                raise ValueError(f"scrypt costs {costs} out of range")
            return cls(str(data["salt"]), {str(k): str(v) for k, v in data["digests"].items()}, *costs)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise PlanFileError(f"the secret digests are damaged ({type(exc).__name__}); plan again") from None


ENDPOINT_KEY = "endpoint:"  # a digest of the endpoint a change sends, under this prefix and the channel's name
BEFORE_KEY = "endpoint-before:"  # ... and of the tenant's endpoint it was planned against


def sent_endpoints(plan: Plan) -> list[tuple[Change, str]]:
    """The changes that send an endpoint with a credential in its query string, and that endpoint."""
    out = []
    for change in plan.changes:
        for call in change.calls():
            endpoint = call.fields.get(ENDPOINT_FIELD)
            if isinstance(endpoint, str) and credential_params(endpoint):
                out.append((change, endpoint))
                break
    return out


def check_endpoint_credentials(plan: Plan) -> None:
    """A saved plan masks endpoint credentials and reads them from ${env:...} at apply: refuse literal ones."""
    literal = sorted(
        {
            c.name
            for c, endpoint in sent_endpoints(plan)
            if set(credential_params(endpoint)) - set(getattr(c, "endpoint_env", {}))
        }
    )
    if literal:
        raise SecretInFile(
            "a saved plan reads an endpoint's credentials from the environment when applied, but these channels "
            f"have one written in the file: {', '.join(literal)}. Write it as key=${{env:NAME}} instead; "
            "nothing was saved"
        )


def restore_endpoints(plan: Plan, environ: Mapping[str, str], digests: SecretDigests | None) -> Plan:
    """A saved plan's masked endpoint credentials, read back from the environment and checked against
    the digests of the values planned with (``SecretMissingError``/``StalePlanError`` otherwise)."""
    missing: dict[str, list[str]] = {}
    changed: list[str] = []
    changes: list[Change] = []
    for change in plan.changes:
        env = dict(getattr(change, "endpoint_env", {}))
        endpoint = next((e for c, e in sent_endpoints(plan) if c is change), None)
        if endpoint is None or not is_masked(endpoint):
            changes.append(change)
            continue
        values = {param: environ.get(var, "") for param, var in env.items()}
        for param, value in values.items():
            if not value:
                missing.setdefault(env[param], []).append(change.name)
        real = fill_credentials(endpoint, values)
        key = ENDPOINT_KEY + change.name
        if digests is not None and not missing and not digests.matches(key, real):
            changed.append(f"{change.name!r}: a credential of its endpoint differs from the value planned with")
        changes.append(_with_endpoint(change, real))
    if missing:
        raise SecretMissingError(missing)
    if changed:
        raise StalePlanError("secrets changed since the plan, nothing was changed; plan again", changed)
    return replace(plan, changes=tuple(changes))


def _with_endpoint(change: Change, endpoint: str) -> Change:
    if not isinstance(change, (Create, Update)):
        return change  # a delete sends no endpoint
    after = FrozenMap({**change.after, ENDPOINT_FIELD: endpoint})
    if isinstance(change, Update):
        fields = tuple(
            FieldChange(f.field, f.before, endpoint) if f.field == ENDPOINT_FIELD else f for f in change.fields
        )
        return replace(change, after=after, fields=fields)
    return replace(change, after=after)


def _costs_fit(n: int, r: int, p: int) -> bool:
    # hashlib's scrypt takes a power of two n > 1 and 128 * r * (n + p + 2) bytes, and answers any
    # other cost with a bare ValueError: a plan file naming one is damaged, not an internal error.
    return n > 1 and n & (n - 1) == 0 and r > 0 and p > 0 and 128 * r * (n + p + 2) <= SCRYPT_MAXMEM


def _scrypt(value: str, channel: str, salt: str, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    # The channel is part of the input: one value reused for two channels gives two digests.
    material = f"{channel}\0{value}".encode()
    return hashlib.scrypt(material, salt=bytes.fromhex(salt), n=n, r=r, p=p, maxmem=SCRYPT_MAXMEM).hex()

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
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping

from reconciler.errors import PlanFileError, SecretMissingError, StalePlanError
from reconciler.model import DesiredChannel
from reconciler.plan import Plan

# About 50 ms and 16 MiB per digest: slow to guess, still quick for the tens of secrets of a tenant.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16


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
        salt = _random.token_hex(SALT_BYTES)
        digests = {c.name: _scrypt(secrets[c.name], c.name, salt) for c in plan.sent_secrets if c.name in secrets}
        return cls(salt, dict(sorted(digests.items())))

    def matches(self, channel: str, value: str) -> bool:
        expected = self.digests.get(channel)
        if expected is None:
            return True  # the variable was unset at planning time: nothing to compare with
        return hmac.compare_digest(expected, _scrypt(value, channel, self.salt, self.n, self.r, self.p))

    def to_data(self) -> dict[str, Any]:
        return {"kdf": "scrypt", "n": self.n, "r": self.r, "p": self.p, "salt": self.salt,
                "digests": dict(self.digests)}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> SecretDigests:
        try:
            if data["kdf"] != "scrypt":
                raise ValueError(f"unknown kdf {data['kdf']!r}")
            return cls(str(data["salt"]), {str(k): str(v) for k, v in data["digests"].items()},
                       int(data["n"]), int(data["r"]), int(data["p"]))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise PlanFileError(f"the secret digests are damaged ({type(exc).__name__}); plan again") from None


def _scrypt(value: str, channel: str, salt: str, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    # The channel is part of the input: one value reused for two channels gives two digests.
    material = f"{channel}\0{value}".encode()
    return hashlib.scrypt(material, salt=bytes.fromhex(salt), n=n, r=r, p=p, maxmem=64 * 1024 * 1024).hex()

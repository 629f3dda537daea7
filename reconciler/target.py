"""Where a run talks to: the tenant's URL, the key (from which variable), or the local emulator.

A ``Target`` never shows its key (not in ``repr``, not in ``connection()``): a saved plan stores
the key's variable name only, and ``target_from_connection`` reads the key again at apply time.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator, Mapping

from reconciler.client import OmnideskClient
from reconciler.errors import TargetError
from reconciler.model import Tenant

DEFAULT_EMULATOR_STATE = ".omnidesk-emulator.json"
EMULATOR_KEY = "demo"
# The key variable when neither the tenant (api_key_env) nor a saved plan names one.
DEFAULT_KEY_ENV = "OMNIDESK_API_KEY"
URL_ENV = "OMNIDESK_URL"


@dataclass(frozen=True)
class Target:
    """Where a command talks to. ``label`` names it in plans and messages (never the key)."""

    url: str | None
    api_key: str | None = field(repr=False)
    label: str
    emulator_state: str | None = None
    tenant: str | None = None
    api_key_env: str | None = None

    def connection(self) -> dict[str, str]:
        """How to reach the target again, for a saved plan: never the key, only its variable."""
        data = {"label": self.label, "url": self.url, "api_key_env": self.api_key_env,
                "emulator_state": self.emulator_state, "tenant": self.tenant}
        return {k: v for k, v in data.items() if v is not None}


def unknown_tenant(tenant: str, tenants: Mapping[str, Tenant]) -> TargetError:
    """The one message for a tenant the file does not define, with "did you mean"."""
    import difflib

    close = difflib.get_close_matches(tenant, list(tenants), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    known = ", ".join(sorted(tenants)) or "none: the file has no tenants: section"
    return TargetError(f"unknown tenant {tenant!r} (known tenants: {known}){hint}", tenant=tenant)


def resolve_target(
    *,
    url: str | None,
    tenant: str | None,
    emulator_state: str | None,
    tenants: Mapping[str, Tenant],
    environ: Mapping[str, str] | None = None,
) -> Target:
    """Pick url and key from the options, the tenant and the environment; fail loudly if unsure."""
    env = os.environ if environ is None else environ
    chosen: Tenant | None = None
    if tenant is not None:
        if tenant not in tenants:
            raise unknown_tenant(tenant, tenants)
        chosen = tenants[tenant]
    if emulator_state is not None:
        # --tenant still picks the file's vars and channels; only url and key are the emulator's
        if url:
            raise TargetError("--emulator runs against the local emulator: leave out --url")
        return Target(None, EMULATOR_KEY, f"emulator ({emulator_state})", emulator_state=emulator_state)

    url = url or (chosen.url if chosen else None) or env.get(URL_ENV)
    if not url:
        raise TargetError(
            f"no tenant to talk to: pass --url URL, set {URL_ENV}, choose --tenant NAME, "
            "or use --emulator for a local try-out"
        )
    key_var = chosen.api_key_env if chosen and chosen.api_key_env else DEFAULT_KEY_ENV
    key = _key(env, key_var)
    label = f"{tenant} ({url.rstrip('/')})" if tenant else url.rstrip("/")
    return Target(url, key, label, tenant=tenant, api_key_env=key_var)


def target_from_connection(connection: Mapping[str, str], environ: Mapping[str, str] | None = None) -> Target:
    """The target a saved plan was made for."""
    env = os.environ if environ is None else environ
    if "emulator_state" in connection:
        return Target(None, EMULATOR_KEY, connection["label"], emulator_state=connection["emulator_state"])
    key_var = connection.get("api_key_env", DEFAULT_KEY_ENV)
    return Target(connection["url"], _key(env, key_var), connection["label"], tenant=connection.get("tenant"),
                  api_key_env=key_var)


def _key(env: Mapping[str, str], key_var: str) -> str:
    key = env.get(key_var)
    if not key:
        raise TargetError(f"the API key variable {key_var} is not set (export {key_var}=...)", variable=key_var)
    return key


@contextmanager
def open_client(target: Target, *, parallelism: int = 8) -> Iterator[OmnideskClient]:
    """A client for the target; for ``--emulator`` an in-process emulator whose state is saved on exit."""
    if target.emulator_state is None:
        assert target.url is not None and target.api_key is not None
        with OmnideskClient(target.url, target.api_key, parallelism=parallelism) as client:
            yield client
        return
    from reconciler.emulator import Emulator, EmulatorTransport

    emulator = Emulator(state_path=target.emulator_state)
    try:
        with OmnideskClient(
            "http://emulator", EMULATOR_KEY, transport=EmulatorTransport(emulator), parallelism=parallelism
        ) as client:
            yield client
    finally:
        emulator.close()

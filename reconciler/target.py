"""Where a run talks to: the tenant's URL, the key (from which variable), or the local emulator.

A ``Target`` never shows its key (not in ``repr``, not in ``connection()``): a saved plan stores
the key's variable name only, and ``target_from_connection`` reads the key again at apply time.

Where the key goes (``auth``: header, query or authorization) is, first match wins: the ``--auth``
option, the tenant's ``auth:``, ``OMNIDESK_AUTH``, the header. A saved plan keeps the form it was
made with.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping
from urllib.parse import urlsplit

from reconciler.client import OmnideskClient
from reconciler.errors import AuthenticationError, StateFileError, TargetError
from reconciler.model import Tenant
from reconciler.transport import AUTH_FORMS, DEFAULT_AUTH, check_api_key

DEFAULT_EMULATOR_STATE = ".omnidesk-emulator.json"
EMULATOR_KEY = "demo"
# The key variable when neither the tenant (api_key_env) nor a saved plan names one.
DEFAULT_KEY_ENV = "OMNIDESK_API_KEY"
URL_ENV = "OMNIDESK_URL"
AUTH_ENV = "OMNIDESK_AUTH"
DEFAULT_TIMEOUT = 30.0  # seconds for one call, body included


@dataclass(frozen=True)
class Target:
    """Where a command talks to. ``label`` names it in plans and messages (never the key)."""

    url: str | None
    api_key: str | None = field(repr=False)
    label: str
    emulator_state: str | None = None
    tenant: str | None = None
    api_key_env: str | None = None
    auth: str = DEFAULT_AUTH

    def connection(self) -> dict[str, str]:
        """How to reach the target again, for a saved plan: never the key, only its variable."""
        data = {"label": self.label, "url": self.url, "api_key_env": self.api_key_env,
                "emulator_state": self.emulator_state, "tenant": self.tenant,
                "auth": self.auth if self.auth != DEFAULT_AUTH else None}
        return {k: v for k, v in data.items() if v is not None}


def tenant_required(tenants: Mapping[str, Tenant], *, given: str | None = None) -> TargetError:
    """A file with tenants is used for one named tenant only: without ``--tenant`` its view has no
    tenant's channels, so a plan against one tenant's URL would prune that tenant's own channels.
    ``given`` names what was passed instead (``--url``, ``OMNIDESK_URL``, ``--emulator``)."""
    refused = (f" {given} alone is refused for a file with tenants, so that no tenant is planned with "
               "another's channels.") if given else ""
    return TargetError(f"the file defines tenants ({', '.join(tenants)}): choose one with --tenant NAME."
                       f"{refused} Nothing was read or changed")


def resolve_target(
    *,
    url: str | None,
    tenant: str | None,
    emulator_state: str | None,
    tenants: Mapping[str, Tenant],
    environ: Mapping[str, str] | None = None,
    auth: str | None = None,
) -> Target:
    """Pick url, key and auth form from the options, the tenant and the environment; fail loudly if unsure.

    A file that defines ``tenants`` needs ``tenant``: its tenant-less view is not any tenant's.
    """
    env = os.environ if environ is None else environ
    chosen: Tenant | None = None
    if tenant is None and tenants:
        given = "--url" if url else "--emulator" if emulator_state is not None else URL_ENV if env.get(URL_ENV) else None
        raise tenant_required(tenants, given=given)
    if tenant is not None:
        if tenant not in tenants:
            raise TargetError.unknown_tenant(tenant, tenants)
        chosen = tenants[tenant]
    if emulator_state is not None:
        # --tenant still picks the file's vars and channels; only url and key are the emulator's
        if url:
            raise TargetError("--emulator runs against the local emulator: leave out --url")
        return Target(None, EMULATOR_KEY, f"emulator ({emulator_state})", emulator_state=emulator_state)

    where = "--url" if url else f"tenant {tenant}'s url" if chosen and chosen.url else URL_ENV
    url = url or (chosen.url if chosen else None) or env.get(URL_ENV)
    if not url:
        raise TargetError(
            f"no tenant to talk to: pass --url URL, set {URL_ENV}, choose --tenant NAME, "
            "or use --emulator for a local try-out"
        )
    check_url(url, where)
    key_var = chosen.api_key_env if chosen and chosen.api_key_env else DEFAULT_KEY_ENV
    key = _key(env, key_var)
    form = _auth_form(auth, chosen.auth if chosen else None, env)
    label = f"{tenant} ({url.rstrip('/')})" if tenant else url.rstrip("/")
    return Target(url, key, label, tenant=tenant, api_key_env=key_var, auth=form)


def check_url(url: str, where: str) -> None:
    """Refuse, before any call, a URL without its scheme and host (``acme.omnidesk.com``)."""
    try:
        parts = urlsplit(url.strip())
        if parts.scheme in ("http", "https") and parts.hostname:
            return
    except ValueError:  # an unbalanced [ in the host
        pass
    shown = f" {url!r}" if "@" not in url else ""  # never echo what may be credentials
    example = url.strip().split("://")[-1].split("/")[0].split("@")[-1] or "acme.omnidesk.com"
    raise TargetError(
        f"{where}{shown} is not a tenant URL: write it with its scheme, like https://{example}; nothing was called"
    )


def target_from_connection(connection: Mapping[str, str], environ: Mapping[str, str] | None = None,
                           auth: str | None = None) -> Target:
    """The target a saved plan was made for (in the auth form it was made with, unless ``auth``)."""
    env = os.environ if environ is None else environ
    if "emulator_state" in connection:
        return Target(None, EMULATOR_KEY, connection["label"], emulator_state=connection["emulator_state"])
    key_var = connection.get("api_key_env", DEFAULT_KEY_ENV)
    form = _auth_form(auth, connection.get("auth"), env)
    return Target(connection["url"], _key(env, key_var), connection["label"], tenant=connection.get("tenant"),
                  api_key_env=key_var, auth=form)


def _key(env: Mapping[str, str], key_var: str) -> str:
    key = env.get(key_var)
    if not key:
        raise TargetError(f"the API key variable {key_var} is not set (export {key_var}=...)", variable=key_var)
    check_api_key(key, variable=key_var)
    return key


def _auth_form(option: str | None, configured: str | None, env: Mapping[str, str]) -> str:
    """The first of: the option, the tenant's (or saved plan's) ``auth``, ``OMNIDESK_AUTH``, the header."""
    for value, where in ((option, "--auth"), (configured, "the tenant's auth:"), (env.get(AUTH_ENV), AUTH_ENV)):
        if value:
            if value not in AUTH_FORMS:
                raise TargetError(f"{where} is {value!r}; it must be one of: {', '.join(AUTH_FORMS)}",
                                  variable=AUTH_ENV if where == AUTH_ENV else None)
            return value
    return DEFAULT_AUTH


@contextmanager
def open_client(target: Target, **options: Any) -> Iterator[OmnideskClient]:
    """A client for the target (``options`` go to ``_connect``); the errors only the target can
    explain say where to fix them: a refused key names the variable it came from, a damaged
    emulator state says how to start afresh."""
    try:
        with _connect(target, **options) as client:
            yield client
    except AuthenticationError as exc:
        raise AuthenticationError(_refused_key(exc.reason, target), call=exc.call, status=exc.status,
                                  variable=target.api_key_env) from None
    except StateFileError as exc:
        state = target.emulator_state
        raise StateFileError(
            f"{exc}. Unless another emulator is using it: it holds test data only, so delete {state} and "
            f"{state}.journal to start afresh, or pass --emulator-state with another path"
        ) from None


def _refused_key(reason: str, target: Target) -> str:
    source = f"{target.api_key_env}, the variable tenant {target.tenant}'s api_key_env names" if target.tenant \
        else target.api_key_env
    return (f"{reason}; the key comes from {source}: check that it holds a valid API key "
            f"for {target.url}")


@contextmanager
def _connect(target: Target, *, parallelism: int = 8, timeout: float = DEFAULT_TIMEOUT) -> Iterator[OmnideskClient]:
    """A client for the target; for ``--emulator`` an in-process emulator whose state is saved on exit."""
    if target.emulator_state is None:
        assert target.url is not None and target.api_key is not None
        with OmnideskClient(target.url, target.api_key, auth=target.auth, parallelism=parallelism,
                            timeout=timeout) as client:
            yield client
        return
    from reconciler.emulator import Emulator, EmulatorTransport

    emulator = Emulator(state_path=target.emulator_state)
    try:
        with OmnideskClient(
            "http://emulator", EMULATOR_KEY, transport=EmulatorTransport(emulator), parallelism=parallelism,
            timeout=timeout,
        ) as client:
            yield client
    finally:
        emulator.close()

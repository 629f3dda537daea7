"""Where a run talks to: the tenant's URL, the key (from which variable), or the local emulator.

A ``Target`` never shows its key (not in ``repr``, not in ``connection()``): a saved plan stores
the key's variable name only, and ``target_from_connection`` reads the key again at apply time.

Where the key goes (``auth``: header, query or authorization) is, first match wins: the ``--auth``
option, the tenant's ``auth:``, ``OMNIDESK_AUTH``, the header. A saved plan keeps the form it was
made with.

Which hosts the key may reach (``check_destination``, run by both before the key is read): only over
``https://`` (plain ``http://`` to a loopback address aside), only to ``*.omnidesk.com``,
``*.omnidesk.io``, loopback, and the host patterns of ``OMNIDESK_ALLOWED_HOSTS`` in the
environment. Never from the channels file: in CI a pull request edits it, and its ``url:`` would
otherwise send the production key to any host its author likes.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from reconciler.client import OmnideskClient
from reconciler.errors import AuthenticationError, StateFileError, TargetError
from reconciler.model import Tenant
from reconciler.transport import AUTH_FORMS, DEFAULT_AUTH, HostPools, check_api_key, is_loopback
from reconciler.wording import named

DEFAULT_EMULATOR_STATE = ".omnidesk-emulator.json"
# Opens the transport to an in-process server on a state file, closed (the state saved) on exit.
LocalServer = Callable[[str], AbstractContextManager[httpx.BaseTransport]]
EMULATOR_KEY = "demo"
# The key variable when neither the tenant (api_key_env) nor a saved plan names one.
DEFAULT_KEY_ENV = "OMNIDESK_API_KEY"
URL_ENV = "OMNIDESK_URL"
ALLOWED_HOSTS_ENV = "OMNIDESK_ALLOWED_HOSTS"
DEFAULT_ALLOWED_HOSTS = ("*.omnidesk.com", "*.omnidesk.io")
_HOST_NAME = re.compile(r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*")
AUTH_ENV = "OMNIDESK_AUTH"
DEFAULT_TIMEOUT = 30.0  # seconds for one call, body included


@dataclass(frozen=True)
class Target:
    """Where a command talks to. ``label`` names it in plans and messages (never the key)."""

    url: str | None
    api_key: str | None = field(repr=False)
    label: str
    local_state: str | None = None  # a target served in-process, by the ``local`` the caller injects
    tenant: str | None = None
    api_key_env: str | None = None
    auth: str = DEFAULT_AUTH

    def connection(self) -> dict[str, str]:
        """How to reach the target again, for a saved plan: never the key, only its variable."""
        data = {
            "label": self.label,
            "url": self.url,
            "api_key_env": self.api_key_env,
            "local_state": self.local_state,
            "tenant": self.tenant,
            "auth": self.auth if self.auth != DEFAULT_AUTH else None,
        }
        return {k: v for k, v in data.items() if v is not None}


def tenant_required(tenants: Mapping[str, Tenant], *, given: str | None = None) -> TargetError:
    """A file with tenants is used for one named tenant only: without ``--tenant`` its view has no
    tenant's channels, so a plan against one tenant's URL would prune that tenant's own channels.
    ``given`` names what was passed instead (``--url``, ``OMNIDESK_URL``, ``--emulator``)."""
    refused = (
        (f" {given} alone is refused for a file with tenants, so that no tenant is planned with another's channels.")
        if given
        else ""
    )
    return TargetError(
        f"the file defines tenants ({', '.join(tenants)}): choose one with {named('tenant')} NAME."
        f"{refused} Nothing was read or changed"
    )


def resolve_target(
    *,
    url: str | None,
    tenant: str | None,
    local_state: str | None = None,
    tenants: Mapping[str, Tenant],
    environ: Mapping[str, str] | None = None,
    auth: str | None = None,
) -> Target:
    """Pick url, key and auth form from the options, the tenant and the environment; fail loudly if unsure.

    A file that defines ``tenants`` needs ``tenant``: its tenant-less view is not any tenant's.
    ``local_state``: every call goes to the in-process server on that state file (``--emulator``).
    """
    env = os.environ if environ is None else environ
    chosen: Tenant | None = None
    if tenant is None and tenants:
        given = (
            named("url")
            if url
            else named("local_state")
            if local_state is not None
            else URL_ENV
            if env.get(URL_ENV)
            else None
        )
        raise tenant_required(tenants, given=given)
    if tenant is not None:
        if tenant not in tenants:
            raise TargetError.unknown_tenant(tenant, tenants)
        chosen = tenants[tenant]
    if local_state is not None:
        # --tenant still picks the file's vars and channels; only url and key are the emulator's
        if url:
            raise TargetError(f"{named('local_state')} runs against the local emulator: leave out {named('url')}")
        return Target(None, EMULATOR_KEY, f"emulator ({local_state})", local_state=local_state)

    if url:
        source = named("url")
    elif chosen is not None and chosen.url:
        url, source = chosen.url, f"the url: of tenant {tenant!r}"
    else:
        url, source = env.get(URL_ENV), URL_ENV
    if not url:
        raise TargetError(
            f"no tenant to talk to: pass {named('url')} URL, set {URL_ENV}, choose {named('tenant')} NAME, "
            f"or use {named('local_state')} for a local try-out"
        )
    check_destination(url, env, source=source)
    key_var = chosen.api_key_env if chosen and chosen.api_key_env else DEFAULT_KEY_ENV
    key = _key(env, key_var)
    form = _auth_form(auth, chosen.auth if chosen else None, env)
    label = f"{tenant} ({url.rstrip('/')})" if tenant else url.rstrip("/")
    return Target(url, key, label, tenant=tenant, api_key_env=key_var, auth=form)


def check_destination(url: str, environ: Mapping[str, str] | None = None, *, source: str = "the URL") -> str:
    """Refuse, before any connection, a URL the API key must not be sent to; the normalised host.

    ``source`` says where the URL came from (``--url``, a tenant's ``url:``, a saved plan) so the
    refusal points at what to fix. Messages name the host, never the whole URL: it may carry a
    password.
    """
    env = os.environ if environ is None else environ
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise TargetError(f"{source} is not a valid URL: use https://HOST, e.g. https://acme.omnidesk.com") from None
    if parsed.userinfo:
        raise TargetError(
            f"{source} carries credentials (user:password@ before the host): remove them; the API key comes "
            "from its environment variable, never from the URL"
        )
    scheme = parsed.scheme.lower()
    if scheme not in ("http", "https"):
        raise TargetError(f"{source} must start with https:// (e.g. https://acme.omnidesk.com)")
    host = parsed.raw_host.decode("ascii").lower().rstrip(".")
    if not host:
        raise TargetError(f"{source} names no host: use https://HOST, e.g. https://acme.omnidesk.com")
    if is_loopback(host):
        return host
    if not _HOST_NAME.fullmatch(host) and not _is_ip(host):
        raise TargetError(f"{source}: {host!r} is not a valid host name", host=host)
    if scheme != "https":
        raise TargetError(
            f"refusing to send the API key over plain http:// to {host}: use https://{host} "
            "(plain http is allowed only to this machine: localhost, 127.0.0.0/8, ::1)",
            host=host,
        )
    patterns = allowed_host_patterns(env)
    if not any(_host_matches(host, pattern) for pattern in patterns):
        raise TargetError(
            f"refusing to send the API key to {host}: it is not an allowed host "
            f"({', '.join(patterns)}, or this machine). If {host} is yours, allow it in the environment "
            f"(not in the channels file, which a pull request can edit): "
            f"export {ALLOWED_HOSTS_ENV}={_suggested_pattern(host, env)}",
            host=host,
            variable=ALLOWED_HOSTS_ENV,
        )
    return host


def allowed_host_patterns(environ: Mapping[str, str] | None = None) -> list[str]:
    """The default allowed host patterns plus those of ``OMNIDESK_ALLOWED_HOSTS`` (comma-separated)."""
    env = os.environ if environ is None else environ
    patterns = list(DEFAULT_ALLOWED_HOSTS)
    for raw in env.get(ALLOWED_HOSTS_ENV, "").split(","):
        pattern = raw.strip().lower().rstrip(".")
        if not pattern:
            continue
        name = pattern[2:] if pattern.startswith("*.") else pattern
        if not _HOST_NAME.fullmatch(name) and not _is_ip(name):
            raise TargetError(
                f"{ALLOWED_HOSTS_ENV}: {raw.strip()!r} is not a host pattern; write host names such as "
                "api.acme.test or *.staging.example.com (a leading *. matches every subdomain), comma-separated",
                variable=ALLOWED_HOSTS_ENV,
            )
        patterns.append(pattern)
    return patterns


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _host_matches(host: str, pattern: str) -> bool:
    # "*.example.com" matches any depth below example.com, not example.com itself.
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


def _suggested_pattern(host: str, env: Mapping[str, str]) -> str:
    current = env.get(ALLOWED_HOSTS_ENV, "").strip().strip(",")
    return f"{current},{host}" if current else host


def target_from_connection(
    connection: Mapping[str, str], environ: Mapping[str, str] | None = None, auth: str | None = None
) -> Target:
    """The target a saved plan was made for (in the auth form it was made with, unless ``auth``)."""
    env = os.environ if environ is None else environ
    # plans saved by 0.2.0 named the local state "emulator_state"
    local_state = connection.get("local_state", connection.get("emulator_state"))
    if local_state is not None:
        return Target(None, EMULATOR_KEY, connection["label"], local_state=local_state)
    check_destination(connection.get("url", ""), env, source="the saved plan's URL")
    key_var = connection.get("api_key_env", DEFAULT_KEY_ENV)
    form = _auth_form(auth, connection.get("auth"), env)
    return Target(
        connection["url"],
        _key(env, key_var),
        connection["label"],
        tenant=connection.get("tenant"),
        api_key_env=key_var,
        auth=form,
    )


def _key(env: Mapping[str, str], key_var: str) -> str:
    key = env.get(key_var)
    if not key:
        raise TargetError(f"the API key variable {key_var} is not set (export {key_var}=...)", variable=key_var)
    check_api_key(key, variable=key_var)
    return key


def _auth_form(option: str | None, configured: str | None, env: Mapping[str, str]) -> str:
    """The first of: the option, the tenant's (or saved plan's) ``auth``, ``OMNIDESK_AUTH``, the header."""
    for value, where in ((option, named("auth")), (configured, "the tenant's auth:"), (env.get(AUTH_ENV), AUTH_ENV)):
        if value:
            if value not in AUTH_FORMS:
                raise TargetError(
                    f"{where} is {value!r}; it must be one of: {', '.join(AUTH_FORMS)}",
                    variable=AUTH_ENV if where == AUTH_ENV else None,
                )
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
        raise AuthenticationError(
            _refused_key(exc.reason, target), call=exc.call, status=exc.status, variable=target.api_key_env
        ) from None
    except StateFileError as exc:
        state = target.local_state
        if state is None or not os.path.isfile(state):
            raise  # a missing folder, say: its message already says what to do
        raise StateFileError(
            f"{exc}. Unless another emulator is using it: it holds test data only, so delete {state} and "
            f"{state}.journal to start afresh, or pass {named('local_state_path')} with another path"
        ) from None


def _refused_key(reason: str, target: Target) -> str:
    source = (
        f"{target.api_key_env}, the variable tenant {target.tenant}'s api_key_env names"
        if target.tenant
        else target.api_key_env
    )
    return f"{reason}; the key comes from {source}: check that it holds a valid API key for {target.url}"


@contextmanager
def _connect(
    target: Target,
    *,
    parallelism: int = 8,
    timeout: float = DEFAULT_TIMEOUT,
    pools: HostPools | None = None,
    local: LocalServer | None = None,
) -> Iterator[OmnideskClient]:
    """A client for the target (through ``pools``' pool for its host, if given); for a target with
    ``local_state``, through the transport ``local`` opens on that state (the engine knows no
    emulator: the caller injects it, as ``httpx.Client(transport=)`` takes one)."""
    if target.local_state is None:
        assert target.url is not None and target.api_key is not None
        borrowed = pools.transport(target.url) if pools is not None else None
        with OmnideskClient(
            target.url, target.api_key, auth=target.auth, parallelism=parallelism, timeout=timeout, transport=borrowed
        ) as client:
            yield client
        return
    if local is None:
        raise TargetError(
            f"{target.label} is served in-process: give the workflow a local server to reach it "
            "(reconciler.cli.emulated, say)"
        )
    with (
        local(target.local_state) as transport,
        OmnideskClient(
            "http://emulator",
            EMULATOR_KEY,
            transport=transport,
            parallelism=parallelism,
            timeout=timeout,
        ) as client,
    ):
        yield client

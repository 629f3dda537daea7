"""What every command that talks to a tenant shares: where the tenant is, which key, logging."""
from __future__ import annotations

import logging
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

import click

from reconciler.client import OmnideskClient
from reconciler.errors import ReconcilerError
from reconciler.model import Tenant

DEFAULT_EMULATOR_STATE = ".omnidesk-emulator.json"
EMULATOR_KEY = "demo"
# The key variable when neither the tenant (api_key_env) nor a saved plan names one.
DEFAULT_KEY_ENV = "OMNIDESK_API_KEY"


@dataclass(frozen=True)
class Target:
    """Where a command talks to. ``label`` names it in plans and messages (never the key)."""

    url: str | None
    api_key: str | None
    label: str
    emulator_state: str | None = None
    tenant: str | None = None
    api_key_env: str | None = None

    def connection(self) -> dict[str, str]:
        """How to reach the target again, for a saved plan: never the key, only its variable."""
        data = {"label": self.label, "url": self.url, "api_key_env": self.api_key_env,
                "emulator_state": self.emulator_state, "tenant": self.tenant}
        return {k: v for k, v in data.items() if v is not None}


def target_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--url / --tenant / --emulator / --verbose, in that order in --help."""
    func = click.option(
        "-v", "--verbose", is_flag=True, help="Log every HTTP call (method, path, status, time; key redacted)."
    )(func)
    func = click.option(
        "--emulator",
        "emulator_state",
        is_flag=False,
        flag_value=DEFAULT_EMULATOR_STATE,
        default=None,
        metavar="[STATE]",
        help=f"Use the embedded emulator, persisted in STATE (default {DEFAULT_EMULATOR_STATE}), "
        "instead of a tenant. Never picked unless asked.",
    )(func)
    func = click.option(
        "--tenant", metavar="NAME", help="A tenant from the file's tenants: section (its url, key variable, vars)."
    )(func)
    func = click.option(
        "--url", metavar="URL", help="The tenant's base URL [env: OMNIDESK_URL], e.g. https://acme.omnidesk.com."
    )(func)
    return func


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
            known = ", ".join(sorted(tenants)) or "none: the file has no tenants: section"
            raise ReconcilerError(f"unknown tenant {tenant!r} (known tenants: {known})")
        chosen = tenants[tenant]
    if emulator_state is not None:
        # --tenant still picks the file's vars and channels; only url and key are the emulator's
        if url:
            raise click.UsageError("--emulator runs against the local emulator: leave out --url.")
        return Target(None, EMULATOR_KEY, f"emulator ({emulator_state})", emulator_state=emulator_state)

    url = url or (chosen.url if chosen else None) or env.get("OMNIDESK_URL")
    if not url:
        raise ReconcilerError(
            "no tenant to talk to: pass --url URL, set OMNIDESK_URL, choose --tenant NAME, "
            "or use --emulator for a local try-out"
        )
    key_var = chosen.api_key_env if chosen and chosen.api_key_env else DEFAULT_KEY_ENV
    key = env.get(key_var)
    if not key:
        raise ReconcilerError(f"the API key variable {key_var} is not set (export {key_var}=...)")
    label = f"{tenant} ({url.rstrip('/')})" if tenant else url.rstrip("/")
    return Target(url, key, label, tenant=tenant, api_key_env=key_var)


def target_from_connection(connection: Mapping[str, str], environ: Mapping[str, str] | None = None) -> Target:
    """The target a saved plan was made for."""
    env = os.environ if environ is None else environ
    if "emulator_state" in connection:
        return Target(None, EMULATOR_KEY, connection["label"], emulator_state=connection["emulator_state"])
    key_var = connection.get("api_key_env", DEFAULT_KEY_ENV)
    key = env.get(key_var)
    if not key:
        raise ReconcilerError(f"the API key variable {key_var} is not set (export {key_var}=...)")
    return Target(connection["url"], key, connection["label"], tenant=connection.get("tenant"), api_key_env=key_var)


@contextmanager
def open_client(target: Target, *, verbose: bool = False, parallelism: int = 8) -> Iterator[OmnideskClient]:
    """A client for the target; for ``--emulator`` an in-process emulator whose state is saved on exit."""
    if verbose:
        _log_http_to_stderr()
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


def _log_http_to_stderr() -> None:
    logger = logging.getLogger("reconciler.http")
    mine = [h for h in logger.handlers if getattr(h, "_omnidesk", False)]
    if mine:
        # A later run in the same process (tests, embedding) may have another stderr by now.
        mine[0].setStream(sys.stderr)  # type: ignore[attr-defined]
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("http: %(message)s"))
        handler._omnidesk = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def is_tty(stream: Any) -> bool:
    return hasattr(stream, "isatty") and stream.isatty()


def use_color() -> bool:
    """Colour on a terminal only, and never when NO_COLOR is set (https://no-color.org)."""
    return is_tty(sys.stdout) and not os.environ.get("NO_COLOR")

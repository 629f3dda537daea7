"""``omnidesk-channels validate``: check a channels file offline (no API call)."""
from __future__ import annotations

import os
from collections.abc import Mapping

import click


from reconciler.cli.arguments import CHANNELS_FILE, OneFileCommand
from reconciler.config import load_all_views, load_channels_file


def _count(n: int) -> str:
    return f"{n} channel" if n == 1 else f"{n} channels"


def validate(
    path: str | os.PathLike[str], *, tenant: str | None = None, environ: Mapping[str, str] | None = None
) -> str:
    """The success line for ``path``; raises ConfigError listing every problem."""
    shown = os.fspath(path)
    if tenant is not None:
        loaded = load_channels_file(path, tenant=tenant, environ=environ)
        return f"{shown}: valid for tenant {tenant} ({_count(len(loaded.channels))})"
    views = load_all_views(path, environ=environ)
    # Each channel entry has its own line, so lines count the file's channels across all views.
    count = len({channel.line for view in views.values() for channel in view.channels})
    tenants = next(iter(views.values())).tenants
    suffix = f"; tenants: {', '.join(tenants)}" if tenants else ""
    return f"{shown}: valid ({_count(count)}{suffix})"


@click.command("validate", cls=OneFileCommand)
@click.argument("file", type=CHANNELS_FILE)
@click.option("--tenant", metavar="NAME", help="Validate for this tenant only (default: every tenant).")
def validate_cmd(file: str, tenant: str | None) -> None:
    """Check FILE offline: YAML, schema, templates, names. Makes no API call.

    Without --tenant, a file with tenants is checked for every tenant and for no tenant;
    a problem that occurs in only some of them ends with those tenants in brackets.

    \b
    Example:
      omnidesk-channels validate channels.yaml
      OMNIDESK_BRIDGE_SECRET=... omnidesk-channels validate channels.yaml --tenant staging
    """
    click.echo(validate(file, tenant=tenant))

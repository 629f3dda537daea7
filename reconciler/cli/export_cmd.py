"""``omnidesk-channels export``: a tenant's custom channels as a channels file (read-only)."""
from __future__ import annotations

import os
from pathlib import Path

import click

from reconciler.cli import EXIT_OK, cli
from reconciler.cli.common import open_client, resolve_target, target_options
from reconciler.config import load_tenants
from reconciler.export import export_channels


@cli.command("export")
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False))
@target_options
@click.option("--out", type=click.Path(dir_okay=False, writable=True), metavar="FILE",
              help="Write the channels file here instead of standard output.")
def export_command(file: str | None, url: str | None, tenant: str | None, emulator_state: str | None,
                   verbose: bool, out: str | None) -> int:
    """Write the tenant's custom channels as a channels file that 'apply' takes back unchanged.

    FILE is an optional channels file that defines tenants: with --tenant, the tenant's url, key
    variable and vars come from it, every occurrence of a var's value is written as ${var:NAME},
    and the tenants: section is copied. Secrets are never exported (the API does not return them):
    each channel gets a ${env:...} placeholder. Needs only CHANNEL_READ.

    \b
    Example:
      omnidesk-channels export --url https://acme.omnidesk.com --out channels.yaml
      omnidesk-channels export channels.yaml --tenant staging --out exported.yaml
    """
    tenants = load_tenants(file) if file else {}
    target = resolve_target(url=url, tenant=tenant, emulator_state=emulator_state, tenants=tenants)
    with open_client(target, verbose=verbose) as client:
        current = client.list_channels()
    variables = dict(tenants[tenant].vars) if tenant else {}
    result = export_channels(current, variables=variables, tenants=tenants, source=target.label)
    if out:
        tmp = Path(out).with_name(f".{Path(out).name}.tmp")
        tmp.write_text(result.text, encoding="utf-8")
        os.replace(tmp, out)
    else:
        click.echo(result.text, nl=False)
    count = sum(1 for c in current if c.is_custom)
    click.echo(f"Exported {count} custom channel(s) from {target.label}" + (f" to {out}." if out else "."), err=True)
    for name, times in result.replacements.items():
        click.echo(f"  templated: {times} occurrence(s) of the value of {name} -> ${{var:{name}}}", err=True)
    for skipped in result.skipped_vars:
        click.echo(f"  not templated: {skipped}", err=True)
    if result.secret_vars:
        click.echo("  secrets are not exported; set these before creating the channels elsewhere: "
                   + ", ".join(sorted(set(result.secret_vars.values()))), err=True)
    return EXIT_OK

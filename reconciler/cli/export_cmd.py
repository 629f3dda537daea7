"""``omnidesk-channels export``: a tenant's custom channels as a channels file (read-only)."""
from __future__ import annotations

from typing import Mapping

import click

from reconciler.cli import EXIT_OK
from reconciler.cli.common import open_client, resolve_target, target_options
from reconciler.config import load_channels_file, load_tenants
from reconciler.export import Export, export_channels
from reconciler.files import write_atomically
from reconciler.model import RemoteChannel, Tenant


def limited_channels(path: str, tenant: str) -> dict[str, list[str]]:
    """Channel name (as ``tenant`` sees it) -> the tenants the file limits it to.

    Exporting a channel with its ``tenants:`` list keeps a staging-only channel out of production
    when the export is applied there.
    """
    view = load_channels_file(path, tenant=tenant)
    return {c.name: sorted(c.tenants) for c in view.channels if c.tenants is not None}


def export_tenant(
    current: list[RemoteChannel], file: str | None, tenant: str | None, tenants: Mapping[str, Tenant]
) -> Export:
    """The export of ``current``, templated with the tenant's vars when a tenant was chosen."""
    if file is None or tenant is None:
        return export_channels(current, tenants=tenants)
    return export_channels(
        current,
        variables=tenants[tenant].vars,
        tenants=tenants,
        channel_tenants=limited_channels(file, tenant),
    )


def report_export(result: Export) -> None:
    """Say on stderr what was templated, what was not, and which secrets must be set."""
    for name, times in result.replacements.items():
        click.echo(f"  templated: {times} occurrence(s) of the value of {name} -> ${{var:{name}}}", err=True)
    for skipped in result.skipped_vars:
        click.echo(f"  not templated: {skipped}", err=True)
    for name, times in result.left_literal.items():
        click.echo(f"  not templated: {times} occurrence(s) of the value of {name} right after a '$' "
                   "(a '$' before ${...} would read as $${); edit them by hand", err=True)
    if result.secret_vars:
        click.echo("  secrets are not exported; set these before creating the channels elsewhere: "
                   + ", ".join(sorted(set(result.secret_vars.values()))), err=True)


@click.command("export")
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False))
@target_options
@click.option("--out", type=click.Path(dir_okay=False, writable=True), metavar="FILE",
              help="Write the channels file here instead of standard output.")
def export_command(file: str | None, url: str | None, tenant: str | None, emulator_state: str | None,
                   verbose: bool, out: str | None) -> int:
    """Write the tenant's custom channels as a channels file that 'apply' takes back unchanged.

    FILE is an optional channels file that defines tenants: with --tenant, the tenant's url, key
    variable and vars come from it, every occurrence of a var's value is written as ${var:NAME}
    (longest value first; values shorter than 3 characters or shared by two vars are left alone,
    and the output says so), channels FILE limits to some tenants keep their tenants: list, and
    the tenants: section is copied. Secrets are never exported (the API does not return them):
    each channel gets a ${env:NAME_SECRET} placeholder named after it. Needs only CHANNEL_READ.

    \b
    Example:
      omnidesk-channels export --url https://acme.omnidesk.com --out channels.yaml
      omnidesk-channels export channels.yaml --tenant staging --out exported.yaml
    """
    if tenant is not None and file is None:
        raise click.UsageError("--tenant needs the channels FILE that defines the tenants, "
                               "e.g. omnidesk-channels export channels.yaml --tenant staging")
    tenants = load_tenants(file) if file else {}
    target = resolve_target(url=url, tenant=tenant, emulator_state=emulator_state, tenants=tenants)
    with open_client(target, verbose=verbose) as client:
        current = client.list_channels()
    result = export_tenant(current, file, tenant, tenants)
    if out:
        write_atomically(out, result.text)
    else:
        click.echo(result.text, nl=False)
    count = sum(1 for c in current if c.is_custom)
    click.echo(f"Exported {count} custom channel(s) from {target.label}" + (f" to {out}." if out else "."), err=True)
    report_export(result)
    return EXIT_OK

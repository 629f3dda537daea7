"""``omnidesk-channels export``: a tenant's custom channels as a channels file (read-only)."""

from __future__ import annotations

import click

from reconciler.cli import EXIT_OK
from reconciler.cli.arguments import CHANNELS_FILE, OneFileCommand
from reconciler.cli.common import force_option, report_export, target_options, workflow


@click.command("export", cls=OneFileCommand)
@click.argument("file", required=False, type=CHANNELS_FILE)
@target_options
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Write the channels file here instead of standard output. Replaces only an earlier export.",
)
@force_option
def export_command(
    file: str | None,
    url: str | None,
    tenant: str | None,
    emulator_state: str | None,
    verbose: bool,
    out: str | None,
    force: bool,
) -> int:
    """Write the tenant's custom channels as a channels file.

    'apply' takes the file back unchanged.

    FILE is an optional channels file that defines tenants: with --tenant, the tenant's url, key
    variable and vars come from it, every occurrence of a var's value is written as ${var:NAME}
    (longest value first; values shorter than 3 characters or shared by two vars are left alone,
    and the output says so), channels FILE limits to some tenants keep their tenants: list, and
    the tenants: section is copied; when it names tenant files, it is written as it names them
    and --out copies each tenant file beside the export, at the same path (the file FILE reads is
    left as it is). Secrets are never exported (the API does not return them): each channel gets
    a ${env:NAME_SECRET} placeholder named after it. Needs only CHANNEL_READ.

    --out never overwrites FILE, and replaces an existing file only if it is an earlier export
    (it starts with the "# Exported by omnidesk-channels." line); anything else, such as a
    hand-written channels file, only with --force.

    The URL comes from --url, else the tenant's url: (--tenant, required when FILE defines
    tenants), else OMNIDESK_URL; the key from the variable the tenant's api_key_env names, else
    OMNIDESK_API_KEY.

    \b
    Example:
      omnidesk-channels export --url https://acme.omnidesk.com --out channels.yaml
      omnidesk-channels export channels.yaml --tenant staging --out exported.yaml
    """
    if tenant is not None and file is None:
        raise click.UsageError(
            "--tenant needs the channels FILE that defines the tenants, "
            "e.g. omnidesk-channels export channels.yaml --tenant staging"
        )
    engine = workflow(verbose=verbose, emulator_state=emulator_state)
    if out:
        engine.check_export_output(out, inputs=[file], force=force)
    exported = engine.export(file, url=url, tenant=tenant)
    if out:
        engine.write_export(exported, out, force=force)
    else:
        click.echo(exported.export.text, nl=False)
    click.echo(
        f"Exported {exported.custom_count} custom channel(s) from {exported.target.label}"
        + (f" to {out}." if out else "."),
        err=True,
    )
    report_export(exported.export)
    return EXIT_OK

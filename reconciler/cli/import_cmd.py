"""``omnidesk-channels import``: the tenant's custom channels into the channels file, in place (read-only)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from reconciler.cli import EXIT_OK
from reconciler.cli.arguments import CHANNELS_FILE, OneFileCommand
from reconciler.cli.common import report_export, target_options, workflow
from reconciler.endpoints import masked_change

if TYPE_CHECKING:  # a type hint only: the command gets it from the workflow
    from reconciler.importer import Imported


@click.command("import", cls=OneFileCommand)
@click.argument("file", type=CHANNELS_FILE)
@target_options
@click.option(
    "--name",
    "names",
    multiple=True,
    metavar="NAME",
    help="Import only this channel (repeat for more). Default: every channel the file lacks.",
)
@click.option(
    "--update",
    is_flag=True,
    help="Also write the fields of the file's channels that differ on the tenant into the file.",
)
def import_command(
    file: str,
    url: str | None,
    tenant: str | None,
    emulator_state: str | None,
    verbose: bool,
    names: tuple[str, ...],
    update: bool,
) -> int:
    """Add the tenant's channels that FILE lacks to FILE, in place.

    Everything else in FILE stays as it is.

    Comments, blank lines, key order, quoting and indentation outside the added or changed lines
    stay byte for byte. Channels are written as 'export' writes them: the tenant's var values as
    ${var:NAME}, each secret as a ${env:NAME_SECRET} placeholder no other channel uses; in a file
    with tenants, an imported channel gets 'tenants: [TENANT]', so no other tenant's plan changes.
    With --update, the fields of the file's channels that differ on the tenant (drift, e.g. clicks
    in the admin UI) are written into the file too, so 'plan' afterwards shows no change for them.
    Channels the file ignores are never imported. Needs only CHANNEL_READ.

    \b
    Example:
      omnidesk-channels import channels.yaml --tenant production
      omnidesk-channels import channels.yaml --tenant production --name "Old fax"
      omnidesk-channels import channels.yaml --tenant production --update
    """
    done = workflow(verbose=verbose, emulator_state=emulator_state).import_(
        file, url=url, tenant=tenant, names=names, update=update
    )
    report(done.imported, file, done.target.label, update)
    return EXIT_OK


def report(result: Imported, file: str, label: str, update: bool) -> None:
    """What changed in the file, on stdout; what was templated, on stderr."""
    lines: list[str] = []  # written at once: an echo per line took ~60 ms for 10,000 added channels
    for added in result.added:
        limited = f" (tenants: [{', '.join(added.tenants)}])" if added.tenants else ""
        lines.append(f"+ added {added.name!r}{limited}; its secret: ${{env:{added.secret_var}}}")
    for updated in result.updated:
        shown = [masked_change(c.field, c.before, c.after) for c in updated.fields]  # no endpoint credential
        lines.append(
            f"~ updated {updated.name!r}: "
            + ", ".join(
                f"{c.field} {v['before']!r} -> {v['after']!r}" for c, v in zip(updated.fields, shown, strict=True)
            )
        )
        if updated.shared_with:
            lines.append(f"    shared: this also changes what {', '.join(updated.shared_with)} wants")
    lines.extend(f"  note: {note}" for note in result.notes)
    if result.changed:
        lines.append(f"Imported from {label} into {file}: {len(result.added)} added, {len(result.updated)} updated.")
    else:
        matches = " and matches them" if update else ""
        lines.append(f"Nothing to import from {label}: {file} has every custom channel it does not ignore{matches}.")
    click.echo("\n".join(lines))
    report_export(result)

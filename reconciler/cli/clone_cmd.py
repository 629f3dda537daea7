"""``omnidesk-channels clone``: copy one tenant's custom channels to another, through a plan."""
from __future__ import annotations

import os
import tempfile

import click

from reconciler.apply import secrets_from_channels
from reconciler.cli import EXIT_OK
from reconciler.cli.apply_cmd import run_plan
from reconciler.cli.common import open_client, resolve_target, use_color
from reconciler.cli.export_cmd import export_tenant, report_export
from reconciler.config import load_channels_file, load_tenants
from reconciler.errors import UnsafePlanError
from reconciler.files import write_atomically
from reconciler.plan import check_safety, check_secrets, make_plan
from reconciler.planfile import save_plan
from reconciler.render import render_text


@click.command("clone")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--from", "source", required=True, metavar="TENANT", help="The tenant to copy from (read only).")
@click.option("--to", "dest", required=True, metavar="TENANT", help="The tenant to copy to.")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), metavar="PLAN",
              help="Save the plan (no secret values) for 'apply PLAN'.")
@click.option("--export-out", type=click.Path(dir_okay=False, writable=True), metavar="FILE",
              help="Also write the templated export of the source tenant here (to review or commit).")
@click.option("--yes", "-y", is_flag=True, help="Apply the plan. Without --yes (and --out) nothing is written.")
@click.option("--prune", is_flag=True, help="Delete the target's custom channels that the source does not have.")
@click.option("--allow-deletes", type=click.IntRange(min=0), metavar="N",
              help="Allow a plan that deletes more than 30% of the custom channels: N is the exact count.")
@click.option("--parallelism", type=click.IntRange(1, 64), default=8, show_default=True,
              help="Operations in flight at once (shrinks by itself when the API rate-limits).")
@click.option("-v", "--verbose", is_flag=True, help="Log every HTTP call (method, path, status, time; key redacted).")
def clone_command(file: str, source: str, dest: str, out: str | None, export_out: str | None, yes: bool,
                  prune: bool, allow_deletes: int | None, parallelism: int, verbose: bool) -> int:
    """Copy the custom channels of one tenant of FILE to another, as a plan.

    Exports --from (its vars' values become ${var:NAME}), reads that export as --to sees it (the
    target's vars; channels FILE limits to other tenants are left out; channels FILE declares for
    --to only are added, so they are never pruned), and plans it onto --to.
    Without --yes and --out this is a dry run: it prints the plan and changes nothing. --out saves
    the plan for 'apply PLAN'; --yes applies it, with apply's safety: the target's extra channels
    are left alone unless --prune, large deletes need --allow-deletes N. Secrets are never copied
    (the API does not return them): each channel to create needs its ${env:NAME_SECRET} set, and
    every missing one is listed before anything is written.

    \b
    Example:
      export OMNIDESK_STAGING_KEY=... OMNIDESK_PRODUCTION_KEY=...
      omnidesk-channels clone channels.yaml --from staging --to production
      WHATSAPP_BRIDGE_SECRET=... omnidesk-channels clone channels.yaml --from staging --to production --yes
      omnidesk-channels clone channels.yaml --from staging --to production --export-out staging.yaml --out plan.json
    """
    if source == dest:
        raise click.UsageError(f"--from and --to are both {source!r}: name two different tenants.")
    tenants = load_tenants(file)
    source_target = resolve_target(url=None, tenant=source, emulator_state=None, tenants=tenants)
    target = resolve_target(url=None, tenant=dest, emulator_state=None, tenants=tenants)

    with open_client(source_target, verbose=verbose) as client:
        exported = export_tenant(client.list_channels(), file, source, tenants)
    click.echo(f"Exported {len(exported.secret_vars)} custom channel(s) from {source_target.label}"
               + (f" to {export_out}." if export_out else "."), err=True)
    report_export(exported)
    if export_out:
        write_atomically(export_out, exported.text)
        desired = load_channels_file(export_out, tenant=dest)
    else:
        with tempfile.TemporaryDirectory(prefix="omnidesk-clone-") as tmp:
            path = os.path.join(tmp, f"export-of-{source}.yaml")
            write_atomically(path, exported.text)
            desired = load_channels_file(path, tenant=dest)

    # Channels FILE declares for the target only are the target's own: the source cannot have
    # them, so without this --prune would delete what the file says production must keep.
    cloned = {c.name for c in desired.channels}
    own = [c for c in load_channels_file(file, tenant=dest).channels
           if c.tenants is not None and source not in c.tenants and c.name not in cloned]
    wanted = list(desired.channels) + own
    with open_client(target, verbose=verbose, parallelism=parallelism) as client:
        plan = make_plan(wanted, client.list_channels(), prune=prune, target=target.label)
        click.echo(render_text(plan, color=use_color()), nl=False)
        check_secrets(plan)
        if yes:
            check_safety(plan, allow_deletes)
        else:
            try:
                check_safety(plan, allow_deletes)
            except UnsafePlanError as exc:
                click.echo(f"Warning: applying will refuse this plan: {exc}", err=True)
        if out:
            save_plan(plan, target.connection(), out)
            click.echo(f"Saved the plan to {out}; apply exactly it with: omnidesk-channels apply {out}", err=True)
        if not yes:
            if not out and not plan.is_empty:
                click.echo(f"Dry run: nothing was changed on {target.label}. "
                           "Pass --yes to apply this plan, or --out PLAN to save it.", err=True)
            return EXIT_OK
        if plan.is_empty:
            return EXIT_OK
        return run_plan(plan, client, secrets_from_channels(wanted), parallelism)

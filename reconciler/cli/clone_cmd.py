"""``omnidesk-channels clone``: copy one tenant's custom channels to another, through a plan."""

from __future__ import annotations

import os

import click

from reconciler.cli import EXIT_OK
from reconciler.cli.arguments import CHANNELS_FILE, OneFileCommand
from reconciler.cli.common import (
    allow_options,
    apply_with_progress,
    connection_options,
    force_option,
    print_findings,
    report_export,
    use_color,
    workflow,
)
from reconciler.cli.record_options import keep_baselines, record_option
from reconciler.render import render_text
from reconciler.workflow import Workflow


@click.command("clone", cls=OneFileCommand)
@click.argument("file", type=CHANNELS_FILE)
@click.option("--from", "source", required=True, metavar="TENANT", help="The tenant to copy from (read only).")
@click.option("--to", "dest", required=True, metavar="TENANT", help="The tenant to copy to.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    metavar="PLAN",
    help="Save the plan (no secret values) for 'apply PLAN'. Replaces only a saved plan.",
)
@click.option(
    "--export-out",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Also write the templated export of the source tenant here (to review or commit). "
    "Replaces only an earlier export.",
)
@force_option
@click.option("--yes", "-y", is_flag=True, help="Apply the plan. Without --yes (and --out) nothing is written.")
@click.option("--prune", is_flag=True, help="Delete the target's custom channels that the source does not have.")
@allow_options
@click.option(
    "--parallelism",
    type=click.IntRange(1, 64),
    default=8,
    show_default=True,
    help="Operations in flight at once (shrinks by itself when the API rate-limits).",
)
@connection_options
@record_option
@click.option("-v", "--verbose", is_flag=True, help="Log every HTTP call (method, URL, status, time; key redacted).")
def clone_command(
    file: str,
    source: str,
    dest: str,
    out: str | None,
    export_out: str | None,
    force: bool,
    yes: bool,
    prune: bool,
    allow_deletes: int | None,
    allow_updates: int | None,
    allow_policy: tuple[str, ...],
    parallelism: int,
    verbose: bool,
) -> int:
    """Copy one tenant's custom channels to another, as a plan.

    Both tenants are defined in FILE.

    Exports --from (its vars' values become ${var:NAME}), reads that export as --to sees it (the
    target's vars; channels FILE limits to other tenants are left out; channels FILE declares for
    --to only are added, so they are never pruned), and plans it onto --to.
    Without --yes and --out this is a dry run: it prints the plan and changes nothing. --out saves
    the plan for 'apply PLAN'; --yes applies it, with apply's safety: the target's extra channels
    are left alone unless --prune, large updates and deletes need --allow-updates N and
    --allow-deletes N. Secrets are never copied (the API does not return them): each channel to
    create needs its ${env:NAME_SECRET} set (channels that exist on --to keep theirs), and every
    missing one is listed before anything is written. Both outputs are checked before anything is
    read: neither may be FILE, and each replaces only a file of its own kind unless --force.

    Each tenant's URL is its url: in FILE; its key comes from the variable its api_key_env names
    (else OMNIDESK_API_KEY).

    \b
    Example:
      export OMNIDESK_STAGING_KEY=... OMNIDESK_PRODUCTION_KEY=...
      omnidesk-channels clone channels.yaml --from staging --to production
      WHATSAPP_BRIDGE_SECRET=... omnidesk-channels clone channels.yaml --from staging --to production --yes
      omnidesk-channels clone channels.yaml --from staging --to production --export-out staging.yaml --out plan.json
    """
    engine = workflow(verbose=verbose, parallelism=parallelism)
    _check_outputs(engine, file, out, export_out, force)
    cloned = engine.clone(file, source, dest, prune=prune)
    exported, planned = cloned.exported, cloned.planned
    if export_out:
        engine.write_export(exported, export_out, option="--export-out", force=force)
    click.echo(
        f"Exported {exported.custom_count} custom channel(s) from {exported.target.label}"
        + (f" to {export_out}." if export_out else "."),
        err=True,
    )
    report_export(exported.export)
    plan = planned.plan
    click.echo(render_text(plan, color=use_color()), nl=False)
    print_findings(plan)
    if yes:
        engine.check(planned, allow_deletes=allow_deletes, allow_updates=allow_updates, allow_policy=allow_policy)
    else:
        for finding in engine.review(planned):
            if finding.denies:
                click.echo(f"Warning: {finding.warning()}", err=True)
    if out:
        engine.save(planned, out, force=force)
        click.echo(f"Saved the plan to {out}; apply exactly it with: omnidesk-channels apply {out}", err=True)
    if not yes:
        if not out and not plan.is_empty:
            click.echo(
                f"Dry run: nothing was changed on {planned.target.label}. "
                "Pass --yes to apply this plan, or --out PLAN to save it.",
                err=True,
            )
        return EXIT_OK
    if plan.is_empty:
        keep_baselines(engine, planned)
        return EXIT_OK
    return apply_with_progress(engine, planned, allow_deletes, allow_updates, allow_policy)


def _check_outputs(engine: Workflow, file: str, out: str | None, export_out: str | None, force: bool) -> None:
    """Both outputs, before anything is read: neither FILE, nor each other, nor a file of another kind."""
    if out and export_out and os.path.abspath(out) == os.path.abspath(export_out):
        raise click.UsageError("--out and --export-out name the same file; give each its own path")
    if out:
        engine.check_plan_output(out, inputs=[file], force=force)
    if export_out:
        engine.check_export_output(export_out, inputs=[file], force=force, option="--export-out")

"""``omnidesk-channels plan``: show what apply would change; read-only (CHANNEL_READ is enough)."""

from __future__ import annotations

import click

from reconciler.checks import SECRETS
from reconciler.cli import EXIT_CHANGES, EXIT_OK
from reconciler.cli.arguments import CHANNELS_FILE, OneFileCommand
from reconciler.cli.common import (
    SHARD,
    SHARD_HELP,
    force_option,
    print_file_warnings,
    selection_options,
    target_options,
    use_color,
    workflow,
)
from reconciler.cli.record_options import record_option
from reconciler.render import FORMATS, RenderOptions, formats_help, render_plan, render_report
from reconciler.results import Planned
from reconciler.shard import Shard
from reconciler.workflow import Workflow


@click.command("plan", cls=OneFileCommand)
@click.argument("file", type=CHANNELS_FILE)
@target_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(list(FORMATS)),
    default="text",
    show_default=True,
    help=f"{formats_help()} (to read; to apply a plan later, save it with --out).",
)
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False),
    metavar="PLAN",
    help="Save the plan (no secret values) for 'apply PLAN'. Replaces only a saved plan.",
)
@force_option
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes, 0 when none, 1 on error.")
@click.option("--prune", is_flag=True, help="Delete custom channels that are not in the file (as prune: true).")
@click.option("--rotate-secrets", is_flag=True, help="Send every secret of the file, also to existing channels.")
@record_option
@selection_options
@click.option(
    "--probe",
    is_flag=True,
    help="Also probe each endpoint as Omnidesk would (see 'probe'); a failing one is a policy finding.",
)
@click.option(
    "--all-tenants",
    is_flag=True,
    help="Plan every tenant of the file at once (concurrently): one report, the exit code of the worst; "
    "--out needs {tenant} in it.",
)
@click.option("--shard", type=SHARD, metavar="K/N", help=f"With --all-tenants: {SHARD_HELP}")
def plan_command(
    file: str,
    url: str | None,
    tenant: str | None,
    emulator_state: str | None,
    verbose: bool,
    fmt: str,
    out: str | None,
    force: bool,
    detailed_exitcode: bool,
    prune: bool,
    rotate_secrets: bool,
    only: tuple[str, ...],
    exclude: tuple[str, ...],
    probe: bool,
    all_tenants: bool,
    shard: Shard | None,
) -> int:
    """Show what 'apply' would change on the tenant. Changes nothing.

    Reads the tenant through the list endpoint only, so a read-only key (CHANNEL_READ) is enough.
    Secrets are not needed to plan: a secret that apply would send but whose variable is unset or
    empty is named in a warning (apply and 'plan --out' refuse it). A plan past a safety threshold
    (see 'apply') is shown with a warning naming the --allow-updates/--allow-deletes count it needs.

    The URL comes from --url, else the tenant's url: (--tenant, required when FILE defines
    tenants), else OMNIDESK_URL; the key from the variable the tenant's api_key_env names, else
    OMNIDESK_API_KEY.

    \b
    Example:
      export OMNIDESK_URL=https://acme.omnidesk.com OMNIDESK_API_KEY=...
      omnidesk-channels plan channels.yaml
      omnidesk-channels plan channels.yaml --tenant production --format markdown --out plan.json
      omnidesk-channels plan channels.yaml --emulator
      omnidesk-channels plan channels.yaml --only 'web-*' --exclude web-test --out plan.json
      omnidesk-channels plan channels.yaml --all-tenants --format markdown --out 'plans/{tenant}.json'
      omnidesk-channels plan channels.yaml --all-tenants --shard 2/4 --detailed-exitcode
    """
    if shard and not all_tenants:
        raise click.UsageError("--shard splits --all-tenants among CI jobs: add --all-tenants")
    if all_tenants:
        return plan_every_tenant(
            file,
            url=url,
            tenant=tenant,
            emulator_state=emulator_state,
            verbose=verbose,
            fmt=fmt,
            out=out,
            force=force,
            detailed_exitcode=detailed_exitcode,
            prune=prune,
            rotate_secrets=rotate_secrets,
            probe=probe,
            only=only,
            exclude=exclude,
            shard=shard,
        )
    engine = workflow(verbose=verbose, emulator_state=emulator_state)
    if out:
        engine.check_plan_output(out, inputs=[file], force=force)
    planned = engine.plan(
        file,
        url=url,
        tenant=tenant,
        prune=prune,
        rotate_secrets=rotate_secrets,
        probe=probe,
        only=only,
        exclude=exclude,
    )
    show_and_save(engine, planned, fmt, out, force=force)
    if detailed_exitcode and not planned.plan.is_empty:
        return EXIT_CHANGES
    return EXIT_OK


def show_and_save(engine: Workflow, planned: Planned, fmt: str, out: str | None, *, force: bool) -> None:
    """Print one tenant's plan and its warnings; with ``out``, save it (refused with unset secrets)."""
    print_file_warnings(planned)
    findings = engine.review(planned)
    click.echo(render_plan(planned.plan, fmt, RenderOptions(color=use_color(), findings=findings)), nl=False)
    # Unset secrets: a text plan lists them itself, and saving (--out) refuses them with the list.
    secrets_shown = FORMATS[fmt].names_missing_secrets or bool(out)
    for finding in findings:
        if not (finding.check == SECRETS and secrets_shown):
            click.echo(f"Warning: {finding.warning()}", err=True)
    if out:
        engine.save(planned, out, force=force)
        click.echo(f"Saved the plan to {out}; apply exactly it with: omnidesk-channels apply {out}", err=True)


def plan_every_tenant(
    file: str,
    *,
    url: str | None,
    tenant: str | None,
    emulator_state: str | None,
    verbose: bool,
    fmt: str,
    out: str | None,
    force: bool,
    detailed_exitcode: bool,
    prune: bool,
    rotate_secrets: bool,
    probe: bool = False,
    only: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    shard: Shard | None = None,
) -> int:
    """``plan --all-tenants``: each tenant's failure is its own; the exit code is the worst."""
    from reconciler.multitenant import exit_code, plan_tenants, saved_path

    if url or tenant or emulator_state:
        raise click.UsageError(
            "--all-tenants plans every tenant of the file: leave out --url, --tenant and --emulator."
        )
    engine = workflow(verbose=verbose)
    names = engine.tenant_names(file, shard=shard)
    if shard:  # first, so a CI log says which tenants this job took (a shard may hold none)
        click.echo(shard.describe(len(names)), err=True)
    if out:  # every output before any tenant is read
        for name in names:
            engine.check_plan_output(saved_path(out, name, many=len(names) > 1), inputs=[file], force=force)
    results = plan_tenants(
        file,
        names,
        out=out,
        prune=prune,
        rotate_secrets=rotate_secrets,
        engine=engine,
        force=force,
        probe=probe,
        only=only,
        exclude=exclude,
    )
    click.echo(render_report(results, fmt, RenderOptions(color=use_color())), nl=False)
    for result in results:
        for warning in result.warnings:
            click.echo(f"Warning: {result.name}: {warning}", err=True)
        if result.error:
            click.echo(f"Error: {result.name}: {result.error}", err=True)
    return exit_code(results, detailed_exitcode)

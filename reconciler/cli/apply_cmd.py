"""``omnidesk-channels apply``: make the tenant match a channels file or a saved plan."""

from __future__ import annotations

import sys

import click

from reconciler.cli import EXIT_OK
from reconciler.cli.arguments import CHANNELS_FILE_OR_PLAN, OneFileCommand
from reconciler.cli.common import (
    allow_options,
    apply_with_progress,
    confirm,
    is_tty,
    print_file_warnings,
    print_findings,
    selection_options,
    target_options,
    use_color,
    workflow,
)
from reconciler.cli.record_options import keep_baselines, record_option
from reconciler.render import render_text


@click.command("apply", cls=OneFileCommand)
@click.argument("file", type=CHANNELS_FILE_OR_PLAN, metavar="FILE|PLAN")
@target_options
@click.option(
    "--yes",
    "-y",
    is_flag=True,
    help="Apply without asking (a channels file needs it off a terminal; a saved plan does not).",
)
@click.option("--prune", is_flag=True, help="Delete custom channels that are not in the file (as prune: true).")
@allow_options
@click.option("--rotate-secrets", is_flag=True, help="Send every secret of the file, also to existing channels.")
@record_option
@selection_options
@click.option(
    "--parallelism",
    type=click.IntRange(1, 64),
    default=8,
    show_default=True,
    help="Operations in flight at once (shrinks by itself when the API rate-limits).",
)
def apply_command(
    file: str,
    url: str | None,
    tenant: str | None,
    emulator_state: str | None,
    verbose: bool,
    yes: bool,
    prune: bool,
    allow_deletes: int | None,
    allow_updates: int | None,
    allow_policy: tuple[str, ...],
    rotate_secrets: bool,
    only: tuple[str, ...],
    exclude: tuple[str, ...],
    parallelism: int,
) -> int:
    """Make the tenant match FILE (a channels file) or a saved PLAN.

    With a channels file: plans, prints the plan, asks on a terminal ("Apply 2 creates and
    1 delete to https://acme.omnidesk.com?"; off a terminal it needs --yes), then applies.
    With a saved plan from 'plan --out': applies exactly that plan on the tenant it was made for
    (its URL and key variable are in the plan, never the key), after checking that the channels it
    touches have not changed since and that the secrets in the environment are the ones it was
    made with. On a terminal it shows the plan and asks unless --yes; off a terminal (CI) it applies
    without --yes, because a saved plan was reviewed when it was made. Deletes happen only with
    prune. Past the safety thresholds (more than 30% of the tenant's custom channels updated or
    deleted, on tenants with 10 or more; the file's safety: changes them) it needs --allow-updates N
    or --allow-deletes N with the exact count. A policy finding at deny (the file's policy:) refuses
    the apply before any write, unless --allow-policy names its rule.

    The URL comes from --url, else the tenant's url: (--tenant), else OMNIDESK_URL; the key from
    the variable the tenant's api_key_env names, else OMNIDESK_API_KEY.

    --only/--exclude NAME|GLOB apply the changes of some channels only (a partial plan, which
    says so; a pattern matching no change is an error). A saved partial plan holds only its
    changes already, so they belong to 'plan --out'.

    \b
    Example:
      omnidesk-channels apply channels.yaml --emulator --yes
      omnidesk-channels plan channels.yaml --tenant production --out plan.json
      omnidesk-channels apply plan.json
    """
    engine = workflow(verbose=verbose, parallelism=parallelism, emulator_state=emulator_state)
    if engine.is_saved_plan(file):
        if prune or rotate_secrets or only or exclude:
            raise click.UsageError(
                "--prune, --rotate-secrets, --only and --exclude belong to 'plan'; a saved plan is applied as it is."
            )
        planned = engine.load_saved(file, url=url, tenant=tenant)
        if is_tty(sys.stdin) and not yes:
            click.echo(render_text(planned.plan, color=use_color()), nl=False)
        else:
            click.echo(planned.plan.summary() + ".", err=True)
        print_findings(planned.plan)
    else:
        planned = engine.plan(
            file, url=url, tenant=tenant, prune=prune, rotate_secrets=rotate_secrets, only=only, exclude=exclude
        )
        print_file_warnings(planned)
        click.echo(render_text(planned.plan, color=use_color()), nl=False)
    if planned.plan.is_empty:
        keep_baselines(engine, planned)
        return EXIT_OK
    engine.check(planned, allow_deletes=allow_deletes, allow_updates=allow_updates, allow_policy=allow_policy)
    confirm(planned, yes=yes, saved=planned.saved)
    return apply_with_progress(engine, planned, allow_deletes, allow_updates, allow_policy)

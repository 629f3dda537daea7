"""``omnidesk-channels apply``: make the tenant match a channels file or a saved plan."""
from __future__ import annotations

import sys

import click

from reconciler.cli import EXIT_OK
from reconciler.cli.common import (
    apply_with_progress, is_tty, print_file_warnings, target_options, use_color, workflow,
)
from reconciler.errors import ReconcilerError
from reconciler.planfile import is_plan_file
from reconciler.render import render_text


@click.command("apply")
@click.argument("file", type=click.Path(exists=True, dir_okay=False), metavar="FILE|PLAN")
@target_options
@click.option("--yes", "-y", is_flag=True, help="Apply without asking (needed when not on a terminal).")
@click.option("--prune", is_flag=True, help="Delete custom channels that are not in the file (as prune: true).")
@click.option("--allow-deletes", type=click.IntRange(min=0), metavar="N",
              help="Allow a plan that deletes more than 30% of the custom channels: N is the exact count.")
@click.option("--rotate-secrets", is_flag=True, help="Send every secret of the file, also to existing channels.")
@click.option("--parallelism", type=click.IntRange(1, 64), default=8, show_default=True,
              help="Operations in flight at once (shrinks by itself when the API rate-limits).")
def apply_command(file: str, url: str | None, tenant: str | None, emulator_state: str | None, verbose: bool,
                  yes: bool, prune: bool, allow_deletes: int | None, rotate_secrets: bool, parallelism: int) -> int:
    """Make the tenant match FILE (a channels file) or PLAN (a saved plan).

    With a channels file: plans, prints the plan, asks for confirmation on a terminal (off a
    terminal it needs --yes), then applies. With a saved plan from 'plan --out': applies exactly
    that plan on the tenant it was made for (its URL and key variable are in the plan, never the
    key), after checking that the channels it touches have not changed since and that the secrets
    in the environment are the ones it was made with. Deletes happen only with prune.

    \b
    Example:
      omnidesk-channels apply channels.yaml --emulator --yes
      omnidesk-channels plan channels.yaml --tenant production --out plan.json
      omnidesk-channels apply plan.json
    """
    engine = workflow(verbose=verbose, parallelism=parallelism)
    if is_plan_file(file):
        if prune or rotate_secrets:
            raise click.UsageError("--prune and --rotate-secrets belong to 'plan'; a saved plan is applied as it is.")
        planned = engine.load_saved(file, url=url, tenant=tenant, emulator_state=emulator_state)
        click.echo(planned.plan.summary() + ".", err=True)
        return apply_with_progress(engine, planned, allow_deletes)

    planned = engine.plan(file, url=url, tenant=tenant, emulator_state=emulator_state, prune=prune,
                          rotate_secrets=rotate_secrets)
    print_file_warnings(planned)
    click.echo(render_text(planned.plan, color=use_color()), nl=False)
    if planned.plan.is_empty:
        return EXIT_OK
    engine.check(planned, allow_deletes=allow_deletes)
    if not yes:
        if not is_tty(sys.stdin):
            raise ReconcilerError("not on a terminal: pass --yes to apply the plan above (nothing was changed)")
        # "no" is a decision (exit 1, as Terraform); Ctrl-C at the prompt is an interrupt (130)
        if not click.confirm(f"Apply these changes to {planned.target.label}?", err=True):
            raise ReconcilerError("apply cancelled at the prompt; nothing was changed")
    return apply_with_progress(engine, planned, allow_deletes)

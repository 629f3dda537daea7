"""``omnidesk-channels apply``: make the tenant match a channels file or a saved plan."""
from __future__ import annotations

import os
import sys
import threading
from collections import Counter
from typing import Mapping

import click

from reconciler.apply import (
    FAILED, NOT_STARTED, OK, apply_plan, secrets_from_channels, secrets_from_environment, stop_on_interrupt,
)
from reconciler.cli import EXIT_INTERRUPTED, EXIT_OK
from reconciler.cli.common import (
    is_tty, open_client, resolve_target, target_from_connection, target_options, use_color,
)
from reconciler.cli.progress import progress_reporter
from reconciler.client import OmnideskClient
from reconciler.config import load_channels_file
from reconciler.errors import ApplyError, ReconcilerError
from reconciler.plan import Plan, check_fresh, check_safety, check_secrets, make_plan
from reconciler.planfile import is_plan_file, load_plan
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
    if is_plan_file(file):
        if prune or rotate_secrets:
            raise click.UsageError("--prune and --rotate-secrets belong to 'plan'; a saved plan is applied as it is.")
        plan, connection = load_plan(file)
        asked = {"url": url.rstrip("/") if url else None, "tenant": tenant, "emulator_state": emulator_state}
        for key, value in asked.items():
            if value is not None and connection.get(key, "").rstrip("/") != value:
                raise ReconcilerError(
                    f"{file} was planned for {connection['label']}, not for the {key.replace('_', ' ')} "
                    f"{value!r}; nothing was changed (a saved plan applies where it was planned)"
                )
        target = target_from_connection(connection)
        with open_client(target, verbose=verbose, parallelism=parallelism) as client:
            check_fresh(plan, client.list_channels())
            check_safety(plan, allow_deletes)
            secrets = secrets_from_environment(plan, os.environ)
            click.echo(plan.summary() + ".", err=True)
            return run_plan(plan, client, secrets, parallelism)

    channels_file = load_channels_file(file, tenant=tenant)
    target = resolve_target(url=url, tenant=tenant, emulator_state=emulator_state, tenants=channels_file.tenants)
    with open_client(target, verbose=verbose, parallelism=parallelism) as client:
        plan = make_plan(channels_file.channels, client.list_channels(), prune=prune or channels_file.prune,
                         rotate_secrets=rotate_secrets, target=target.label)
        click.echo(render_text(plan, color=use_color()), nl=False)
        if plan.is_empty:
            return EXIT_OK
        check_secrets(plan)
        check_safety(plan, allow_deletes)
        if not yes:
            if not is_tty(sys.stdin):
                raise ReconcilerError("not on a terminal: pass --yes to apply the plan above (nothing was changed)")
            # "no" is a decision (exit 1, as Terraform); Ctrl-C at the prompt is an interrupt (130)
            if not click.confirm(f"Apply these changes to {target.label}?", err=True):
                raise ReconcilerError("apply cancelled at the prompt; nothing was changed")
        return run_plan(plan, client, secrets_from_channels(channels_file.channels), parallelism)


def run_plan(plan: Plan, client: OmnideskClient, secrets: Mapping[str, str], parallelism: int) -> int:
    """Apply with progress and Ctrl-C handling; report every outcome; the exit code."""
    stop = threading.Event()
    with stop_on_interrupt(stop), progress_reporter(len(plan.changes)) as on_outcome:
        outcomes = apply_plan(plan, client, secrets, parallelism=parallelism, on_outcome=on_outcome, stop=stop)
    done = Counter(o.change.action for o in outcomes if o.status == OK)
    click.echo(
        f"Apply: {done['create']} created, {done['update']} updated, {done['delete']} deleted"
        f" (of {len(plan.changes)} planned).",
        err=True,
    )
    not_started = [o for o in outcomes if o.status == NOT_STARTED]
    failed = [(o.change.name, o.message) for o in outcomes if o.status == FAILED]
    if not_started:
        click.echo(f"Interrupted: {len(not_started)} operation(s) not started; run apply again to converge.", err=True)
        if failed:
            click.echo(str(ApplyError(failed, len(outcomes))), err=True)
        return EXIT_INTERRUPTED
    if failed:
        raise ApplyError(failed, len(outcomes))
    return EXIT_OK

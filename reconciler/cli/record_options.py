"""--secret-versions, and what the commands say about the secret-version record (``reconciler.secretversions``)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

from reconciler.results import Planned
from reconciler.workflow import Workflow

# Where record_option leaves --secret-versions for workflow(), in the click context's meta.
RECORD_META = "omnidesk.secret_versions"


def record_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """--secret-versions PATH: the record of the secret_version last applied. ``workflow()`` takes it."""

    @functools.wraps(func)
    def command(*args: Any, secret_versions: str | None, **kwargs: Any) -> Any:
        click.get_current_context().meta[RECORD_META] = secret_versions
        return func(*args, **kwargs)

    return click.option(
        "--secret-versions",
        type=click.Path(dir_okay=False),
        metavar="PATH",
        help="The record of the secret_version last applied to each channel, read by plan and written by "
        "apply (never a secret) [env: OMNIDESK_SECRET_VERSIONS; default: .omnidesk-secret-versions.json]. "
        "Only files that use secret_version touch it.",
    )(command)


def keep_baselines(engine: Workflow, planned: Planned) -> None:
    """A plan without changes is not applied, but the secret_version values it has no record of are recorded."""
    if planned.plan.baselines:
        kept = engine.keep_versions(planned)
        where = engine.record_path
        click.echo(
            f"Recorded the secret_version of {kept} channel(s) in {where} (no record yet; no secret sent).", err=True
        )

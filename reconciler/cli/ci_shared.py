"""What ``ci github`` and ``ci gitlab`` share: their options (each also read from an ``OMNIDESK_CI_*``
variable) and the plan, drift and apply runs, which differ only in the forge they are given."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from reconciler.cli.common import SHARD, SHARD_HELP
from reconciler.render import FORMATS
from reconciler.transport import AUTH_FORMS

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def opt(*names: str, env: str, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(*names, envvar=f"OMNIDESK_CI_{env}", show_envvar=True, **kwargs)


file_opt = opt(
    "--file",
    env="FILE",
    default="channels.yaml",
    show_default=True,
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="The channels file.",
)
tenant_opt = opt(
    "--tenant",
    env="TENANT",
    metavar="NAME",
    help="One tenant of the file: its url, and its key from the variable its api_key_env names "
    "(default: OMNIDESK_URL and OMNIDESK_API_KEY).",
)
all_opt = opt("--all-tenants", env="ALL_TENANTS", is_flag=True, help="Every tenant of the file, concurrently.")
shard_opt = opt("--shard", env="SHARD", type=SHARD, metavar="K/N", help=f"With --all-tenants: {SHARD_HELP}")
auth_opt = opt(
    "--auth",
    env="AUTH",
    type=click.Choice(AUTH_FORMS),
    help="Where the API key goes (header, query, authorization); default: as plan and apply decide.",
)
apply_opts = [
    opt("--all-tenants", env="ALL_TENANTS", is_flag=True, help="Every tenant of the file, one after the other."),
    opt(
        "--apply-unreviewed",
        env="APPLY_UNREVIEWED",
        is_flag=True,
        help="Also apply changes that no reviewed plan showed (a direct push to the protected branch).",
    ),
]
drift_opts = [
    opt(
        "--drift-after",
        env="DRIFT_AFTER",
        type=click.IntRange(min=1),
        default=1,
        show_default=True,
        metavar="N",
        help="Open a tenant's drift issue only once it drifted in N checks in a row (a change made "
        "and undone in the admin UI pages nobody). Above 1 the count is kept in omnidesk-drift/, which the "
        "job keeps as its artifact, and read back from the previous job's.",
    ),
    opt(
        "--detailed-exitcode",
        env="DETAILED_EXITCODE",
        is_flag=True,
        help="Exit 2 when some tenant's drift issue is open after this check (0: none; 1: an error).",
    ),
]
format_opt = opt(
    "--format",
    "fmt",
    env="FORMAT",
    type=click.Choice(list(FORMATS)),
    default="text",
    show_default=True,
    help="How plans are printed in the job log.",
)


def with_options(options: list[Decorator]) -> Decorator:
    """Several options as one decorator (the ones apply shares between forges)."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


def _engine(environ: Any, file: str, tenants: list[str | None], auth: str | None) -> Any:
    """The workflow the flow runs in-process, with the action's api-key under the tenant's variable."""
    from reconciler.ci import with_api_key
    from reconciler.workflow import Workflow

    return Workflow(environ=with_api_key(environ, file, tenants), auth=auth)


def _chosen(file: str, tenant: str | None, all_tenants: bool, shard: Any) -> list[str | None]:
    """The tenants of this job; a shard's job says first which shard it is and how many it took."""
    from reconciler.ci import chosen_tenants

    tenants = chosen_tenants(file, tenant, all_tenants, shard)
    if shard:
        click.echo(shard.describe(len(tenants)))
    return tenants


def run_plan(
    forge: Any,
    file: str,
    tenant: str | None,
    all_tenants: bool,
    fmt: str,
    out_dir: str,
    comment: bool,
    auth: str | None,
    shard: Any = None,
) -> int:
    from reconciler.ci import flow, forkplan, plan_template
    from reconciler.workflow import Workflow

    try:
        tenants = _chosen(file, tenant, all_tenants, shard)
        if forge.from_fork():  # no key there, none is looked for: the committed snapshots instead
            return forkplan.plan(forge, Workflow(environ={}, auth=auth), file, tenants, fmt, click.echo)
        return flow.plan(
            forge,
            _engine(forge.environ, file, tenants, auth),
            file,
            tenants,
            plan_template(out_dir),
            fmt,
            comment,
            click.echo,
        )
    finally:
        forge.close()


def run_drift(
    forge: Any,
    file: str,
    tenant: str | None,
    all_tenants: bool,
    fmt: str,
    auth: str | None,
    drift_after: int,
    detailed_exitcode: bool,
    run_url: str = "",
    shard: Any = None,
) -> int:
    from reconciler.ci import flow

    try:
        tenants = _chosen(file, tenant, all_tenants, shard)
        return flow.drift(
            forge,
            _engine(forge.environ, file, tenants, auth),
            file,
            tenants,
            fmt,
            click.echo,
            run_url,
            drift_after=drift_after,
            detailed_exitcode=detailed_exitcode,
        )
    finally:
        forge.close()


def run_apply(
    forge: Any,
    file: str,
    tenant: str | None,
    all_tenants: bool,
    plan_path: str | None,
    apply_unreviewed: bool,
    auth: str | None,
    shard: Any = None,
) -> int:
    from reconciler.ci import flow, saved_plans

    try:
        tenants = _chosen(file, tenant, all_tenants, shard)
        engine = _engine(forge.environ, file, tenants, auth)
        if plan_path:
            return flow.apply_saved(forge, engine, saved_plans(plan_path), tenant, click.echo)
        return flow.apply_reviewed(forge, engine, file, tenants, allow_unreviewed=apply_unreviewed, log=click.echo)
    finally:
        forge.close()

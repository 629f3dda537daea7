"""``omnidesk-channels ci github|gitlab ...``: the CI integrations (``reconciler.ci``) as commands.

Every option also reads an ``OMNIDESK_CI_*`` variable, so ``action.yml`` passes its inputs as
environment (no input is ever spliced into a shell line).
"""
from __future__ import annotations

from typing import Any, Callable

import click

from reconciler.cli import FullSummaryGroup
from reconciler.cli.common import SHARD, SHARD_HELP
from reconciler.render import FORMATS
from reconciler.transport import AUTH_FORMS


def _opt(*names: str, env: str, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(*names, envvar=f"OMNIDESK_CI_{env}", show_envvar=True, **kwargs)


file_opt = _opt("--file", env="FILE", default="channels.yaml", show_default=True, metavar="FILE",
                type=click.Path(dir_okay=False), help="The channels file.")
tenant_opt = _opt("--tenant", env="TENANT", metavar="NAME",
                  help="One tenant of the file: its url, and its key from the variable its api_key_env names "
                  "(default: OMNIDESK_URL and OMNIDESK_API_KEY).")
all_opt = _opt("--all-tenants", env="ALL_TENANTS", is_flag=True, help="Every tenant of the file, concurrently.")
shard_opt = _opt("--shard", env="SHARD", type=SHARD, metavar="K/N", help=f"With --all-tenants: {SHARD_HELP}")
auth_opt = _opt("--auth", env="AUTH", type=click.Choice(AUTH_FORMS),
                help="Where the API key goes (header, query, authorization); default: as plan and apply decide.")
apply_opts = [
    _opt("--all-tenants", env="ALL_TENANTS", is_flag=True, help="Every tenant of the file, one after the other."),
    _opt("--apply-unreviewed", env="APPLY_UNREVIEWED", is_flag=True,
         help="Also apply changes that no reviewed plan showed (a direct push to the protected branch)."),
]
drift_opts = [
    _opt("--drift-after", env="DRIFT_AFTER", type=click.IntRange(min=1), default=1, show_default=True,
         metavar="N", help="Open a tenant's drift issue only once it drifted in N checks in a row (a change made "
         "and undone in the admin UI pages nobody). Above 1 the count is kept in omnidesk-drift/, which the "
         "job keeps as its artifact, and read back from the previous job's."),
    _opt("--detailed-exitcode", env="DETAILED_EXITCODE", is_flag=True,
         help="Exit 2 when some tenant's drift issue is open after this check (0: none; 1: an error)."),
]
format_opt = _opt("--format", "fmt", env="FORMAT", type=click.Choice(list(FORMATS)), default="text",
                  show_default=True, help="How plans are printed in the job log.")


@click.group("ci", cls=FullSummaryGroup)
def ci_group() -> None:
    """Run in CI: plan comments, drift issues, the reviewed apply.

    Also job summaries and the saved plan's artifact.

    \b
    GitHub Actions: use this repository's action (examples/github/), which runs
    'omnidesk-channels ci github COMMAND'. GitLab CI: include the template
    examples/gitlab/omnidesk-channels.gitlab-ci.yml, which runs 'omnidesk-channels ci gitlab COMMAND'.
    Both run one flow: plan on the request, apply on the protected branch only, of changes that
    reviewed plans showed, drift issues on a schedule.

    \b
    Example:
      omnidesk-channels ci github plan --tenant production
      omnidesk-channels ci gitlab plan --all-tenants
    """


Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _with(options: list[Decorator]) -> Decorator:
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


def _plan(forge: Any, file: str, tenant: str | None, all_tenants: bool, fmt: str, out_dir: str, comment: bool,
          auth: str | None, shard: Any = None) -> int:
    from reconciler.ci import flow, forkplan, plan_template
    from reconciler.workflow import Workflow

    try:
        tenants = _chosen(file, tenant, all_tenants, shard)
        if forge.from_fork():  # no key there, none is looked for: the committed snapshots instead
            return forkplan.plan(forge, Workflow(environ={}, auth=auth), file, tenants, fmt, click.echo)
        return flow.plan(forge, _engine(forge.environ, file, tenants, auth), file, tenants, plan_template(out_dir),
                         fmt, comment, click.echo)
    finally:
        forge.close()


def _drift(forge: Any, file: str, tenant: str | None, all_tenants: bool, fmt: str, auth: str | None,
           drift_after: int, detailed_exitcode: bool, run_url: str = "", shard: Any = None) -> int:
    from reconciler.ci import flow

    try:
        tenants = _chosen(file, tenant, all_tenants, shard)
        return flow.drift(forge, _engine(forge.environ, file, tenants, auth), file, tenants, fmt, click.echo, run_url,
                          drift_after=drift_after, detailed_exitcode=detailed_exitcode)
    finally:
        forge.close()


def _apply(forge: Any, file: str, tenant: str | None, all_tenants: bool, plan_path: str | None,
           apply_unreviewed: bool, auth: str | None, shard: Any = None) -> int:
    from reconciler.ci import flow, saved_plans

    try:
        tenants = _chosen(file, tenant, all_tenants, shard)
        engine = _engine(forge.environ, file, tenants, auth)
        if plan_path:
            return flow.apply_saved(forge, engine, saved_plans(plan_path), tenant, click.echo)
        return flow.apply_reviewed(forge, engine, file, tenants, allow_unreviewed=apply_unreviewed, log=click.echo)
    finally:
        forge.close()


@ci_group.group("github", cls=FullSummaryGroup)
def github_group() -> None:
    """GitHub Actions (reads GITHUB_* variables; what action.yml runs).

    \b
    Example:
      omnidesk-channels ci github validate --file channels.yaml
    """


@github_group.command("validate")
@file_opt
@tenant_opt
@_opt("--strict", env="STRICT", is_flag=True, help="Warnings (such as a secret written in the file) are errors too.")
def gh_validate(file: str, tenant: str | None, strict: bool) -> int:
    """Validate the file; each problem becomes an annotation on its line.

    Makes no API call.

    \b
    Example:
      omnidesk-channels ci github validate --file channels.yaml
    """
    from reconciler.ci import github

    return github.validate(github.GitHub(), file, tenant, strict, click.echo)


@github_group.command("plan")
@file_opt
@tenant_opt
@all_opt
@shard_opt
@format_opt
@_opt("--out-dir", env="PLAN_DIR", default="omnidesk-plan", show_default=True, metavar="DIR",
      help="Save each tenant's plan here as TENANT.json (upload it as the artifact the apply uses).")
@_opt("--comment/--no-comment", env="COMMENT", default=True, show_default=True,
      help="On a pull request, keep one comment per tenant with its plan, updated in place.")
@auth_opt
def gh_plan(file: str, tenant: str | None, all_tenants: bool, shard: Any, fmt: str, out_dir: str, comment: bool,
            auth: str | None) -> int:
    """Plan; a job summary, outputs and pull-request comments.

    The outputs are exitcode, has_changes and plan_path.

    \b
    Example:
      omnidesk-channels ci github plan --tenant production --out-dir omnidesk-plan
    """
    from reconciler.ci import github

    return _plan(github.GitHub(), file, tenant, all_tenants, fmt, out_dir, comment, auth, shard)


@github_group.command("drift")
@file_opt
@tenant_opt
@all_opt
@shard_opt
@format_opt
@_with(drift_opts)
@auth_opt
def gh_drift(file: str, tenant: str | None, all_tenants: bool, shard: Any, fmt: str, drift_after: int,
             detailed_exitcode: bool, auth: str | None) -> int:
    """Plan; keep one issue per drifted tenant, open while it drifts.

    The issue is opened or updated on drift (with --drift-after N, once the tenant drifted in N
    checks in a row) and closed when the tenant matches again. The outputs include
    drifted_tenants, reported_tenants (those with an open issue) and state_path (the folder to
    upload as the artifact omnidesk-drift-state when N is above 1).

    \b
    Example:
      omnidesk-channels ci github drift --all-tenants --drift-after 2
    """
    from reconciler.ci import driftcount, github

    forge = github.GitHub(state_artifact=driftcount.artifact_name(shard))  # each shard keeps its own count
    return _drift(forge, file, tenant, all_tenants, fmt, auth, drift_after, detailed_exitcode, forge.run_url(), shard)


@github_group.command("apply")
@file_opt
@tenant_opt
@_with(apply_opts)
@shard_opt
@_opt("--plan", "plan_path", env="PLAN", metavar="PATH",
      help="A saved plan or a folder of them, applied exactly (default: what the protected branch says, "
      "checked against the reviewed plans).")
@_opt("--artifact", env="ARTIFACT", default="omnidesk-plan", show_default=True, metavar="NAME",
      help="The plan job's artifact that holds a pull request's reviewed plans.")
@_opt("--branch", env="BRANCH", metavar="NAME",
      help="The protected branch apply runs on (default: the repository's default branch).")
@auth_opt
def gh_apply(file: str, tenant: str | None, all_tenants: bool, shard: Any, apply_unreviewed: bool,
             plan_path: str | None, artifact: str, branch: str | None, auth: str | None) -> int:
    """Apply on the protected branch what reviewed plans showed.

    Refused in a pull_request run. Without --plan it plans the tenant from the checked-out branch
    and applies that plan when every change in it was in the reviewed plan of a pull request
    merged since the last successful apply (so cancelled or queued runs lose nothing); otherwise
    it applies nothing and comments on those pull requests. The summary names the pull requests
    whose changes it applied.

    \b
    Example:
      omnidesk-channels ci github apply --tenant production
      omnidesk-channels ci github apply --plan omnidesk-plan/production.json
    """
    from reconciler.ci import github

    forge = github.GitHub(artifact=artifact, branch=branch)
    return _apply(forge, file, tenant, all_tenants, plan_path, apply_unreviewed, auth, shard)


@ci_group.group("gitlab", cls=FullSummaryGroup)
def gitlab_group() -> None:
    """GitLab CI (reads CI_* variables and GITLAB_API_TOKEN).

    This is what the template runs.

    \b
    Example:
      omnidesk-channels ci gitlab plan --tenant production
    """


@gitlab_group.command("plan")
@file_opt
@tenant_opt
@all_opt
@shard_opt
@format_opt
@_opt("--out-dir", env="PLAN_DIR", default="omnidesk-plan", show_default=True, metavar="DIR",
      help="Save each tenant's plan here as TENANT.json (the job's artifact).")
@_opt("--note/--no-note", env="COMMENT", default=True, show_default=True,
      help="In a merge request pipeline, keep one note per tenant with its plan, updated in place.")
@auth_opt
def gl_plan(file: str, tenant: str | None, all_tenants: bool, shard: Any, fmt: str, out_dir: str, note: bool,
            auth: str | None) -> int:
    """Plan, save the plans, and write a merge request note per tenant.

    \b
    Example:
      omnidesk-channels ci gitlab plan --tenant production
    """
    from reconciler.ci import gitlab

    return _plan(gitlab.GitLab(click.echo), file, tenant, all_tenants, fmt, out_dir, note, auth, shard)


@gitlab_group.command("drift")
@file_opt
@tenant_opt
@all_opt
@shard_opt
@format_opt
@_with(drift_opts)
@auth_opt
def gl_drift(file: str, tenant: str | None, all_tenants: bool, shard: Any, fmt: str, drift_after: int,
             detailed_exitcode: bool, auth: str | None) -> int:
    """Plan; keep one issue per drifted tenant, open while it drifts.

    The issue is opened or updated on drift (with --drift-after N, once the tenant drifted in N
    checks in a row) and closed when the tenant matches again. Above 1, keep omnidesk-drift/ as
    the job's artifacts (when: always): the next drift job reads its count from there.

    \b
    Example:
      omnidesk-channels ci gitlab drift --all-tenants --drift-after 2 --detailed-exitcode
    """
    from reconciler.ci import gitlab

    return _drift(gitlab.GitLab(click.echo), file, tenant, all_tenants, fmt, auth, drift_after, detailed_exitcode,
                  shard=shard)


@gitlab_group.command("apply")
@file_opt
@tenant_opt
@_with(apply_opts)
@shard_opt
@_opt("--job", "job_name", env="PLAN_JOB", default="omnidesk-plan", show_default=True, metavar="NAME",
      help="The merge request pipeline's plan job whose artifacts hold the reviewed plans.")
@_opt("--out-dir", env="PLAN_DIR", default="omnidesk-plan", show_default=True, metavar="DIR",
      help="The folder of the plan job's artifacts that holds the plans.")
@auth_opt
def gl_apply(file: str, tenant: str | None, all_tenants: bool, shard: Any, apply_unreviewed: bool, job_name: str,
             out_dir: str, auth: str | None) -> int:
    """Apply on the protected default branch what reviewed plans showed.

    As 'ci github apply': refused in merge request pipelines and on unprotected branches; applies
    the branch's plan when every change in it was in the reviewed plan of a merge request merged
    since the environment's last successful deployment, else applies nothing and notes why on
    those merge requests. Makes Omnidesk calls only with the write key of the apply job.

    \b
    Example:
      omnidesk-channels ci gitlab apply --tenant production
    """
    from reconciler.ci import gitlab

    forge = gitlab.GitLab(click.echo, plan_job=job_name, plan_dir=out_dir)
    return _apply(forge, file, tenant, all_tenants, None, apply_unreviewed, auth, shard)

"""``omnidesk-channels ci github|gitlab ...``: the CI integrations (``reconciler.ci``) as commands.

Every option also reads an ``OMNIDESK_CI_*`` variable, so ``action.yml`` passes its inputs as
environment (no input is ever spliced into a shell line).
"""
from __future__ import annotations

from typing import Any, Callable

import click

from reconciler.cli import EXIT_OK, FullSummaryGroup
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
auth_opt = _opt("--auth", env="AUTH", type=click.Choice(AUTH_FORMS),
                help="Where the API key goes (header, query, authorization); default: as plan and apply decide.")
format_opt = _opt("--format", "fmt", env="FORMAT", type=click.Choice(list(FORMATS)), default="text",
                  show_default=True, help="How plans are printed in the job log.")


@click.group("ci", cls=FullSummaryGroup)
def ci_group() -> None:
    """Run in CI: plan comments, drift issues, the reviewed apply.

    Also job summaries and the saved plan's artifact.

    \b
    GitHub Actions: use this repository's action (examples/github/), which runs 'omnidesk-channels ci github COMMAND'. GitLab CI: include the template
    examples/gitlab/omnidesk-channels.gitlab-ci.yml, which runs 'omnidesk-channels ci gitlab COMMAND'.

    \b
    Example:
      omnidesk-channels ci github plan --tenant production
      omnidesk-channels ci gitlab plan --all-tenants
    """


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

    return github.validate(github.Runner(), file, tenant, strict, click.echo)


@github_group.command("plan")
@file_opt
@tenant_opt
@all_opt
@format_opt
@_opt("--out-dir", env="PLAN_DIR", default="omnidesk-plan", show_default=True, metavar="DIR",
      help="Save each tenant's plan here as TENANT.json (upload it as the artifact the apply uses).")
@_opt("--comment/--no-comment", env="COMMENT", default=True, show_default=True,
      help="On a pull request, keep one comment per tenant with its plan, updated in place.")
@auth_opt
def gh_plan(file: str, tenant: str | None, all_tenants: bool, fmt: str, out_dir: str, comment: bool,
            auth: str | None) -> int:
    """Plan; a job summary, outputs and pull-request comments.

    The outputs are exitcode, has_changes and plan_path.

    \b
    Example:
      omnidesk-channels ci github plan --tenant production --out-dir omnidesk-plan
    """
    from reconciler.ci import github

    return github.plan(github.Runner(), file, tenant, all_tenants, out_dir, fmt, comment, click.echo, auth)


@github_group.command("drift")
@file_opt
@tenant_opt
@all_opt
@format_opt
@auth_opt
def gh_drift(file: str, tenant: str | None, all_tenants: bool, fmt: str, auth: str | None) -> int:
    """Plan; keep one issue per drifted tenant, open while it drifts.

    The issue is opened or updated on drift and closed when the tenant matches again.

    \b
    Example:
      omnidesk-channels ci github drift --all-tenants
    """
    from reconciler.ci import github

    return github.drift(github.Runner(), file, tenant, all_tenants, fmt, click.echo, auth)


@github_group.command("apply")
@file_opt
@tenant_opt
@_opt("--plan", "plan_path", env="PLAN", metavar="PATH",
      help="A saved plan or a folder of them (default: the reviewed plan of the merged pull request).")
@_opt("--artifact", env="ARTIFACT", default="omnidesk-plan", show_default=True, metavar="NAME",
      help="The plan job's artifact to download when --plan is not given.")
@_opt("--download-dir", env="DOWNLOAD_DIR", default="omnidesk-reviewed-plan", show_default=True, metavar="DIR",
      help="Where the downloaded artifact is unpacked.")
@auth_opt
def gh_apply(file: str, tenant: str | None, plan_path: str | None, artifact: str, download_dir: str,
             auth: str | None) -> int:
    """Apply exactly the reviewed plan(s).

    Refuses if the merged file is not the planned one.

    \b
    Example:
      omnidesk-channels ci github apply --tenant production
      omnidesk-channels ci github apply --plan omnidesk-plan/production.json
    """
    from reconciler.ci import github

    extra = ["--auth", auth] if auth else []
    return github.apply(github.Runner(), file, plan_path, tenant, artifact, download_dir, extra, click.echo)


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
@format_opt
@_opt("--out-dir", env="PLAN_DIR", default="omnidesk-plan", show_default=True, metavar="DIR",
      help="Save each tenant's plan here as TENANT.json (the job's artifact).")
@_opt("--note/--no-note", env="COMMENT", default=True, show_default=True,
      help="In a merge request pipeline, keep one note per tenant with its plan, updated in place.")
@auth_opt
def gl_plan(file: str, tenant: str | None, all_tenants: bool, fmt: str, out_dir: str, note: bool,
            auth: str | None) -> int:
    """Plan, save the plans, and write a merge request note per tenant.

    \b
    Example:
      omnidesk-channels ci gitlab plan --tenant production
    """
    from reconciler.ci import gitlab

    return gitlab.plan(gitlab.Job(), file, tenant, all_tenants, out_dir, fmt, note, click.echo, auth)


@gitlab_group.command("fetch")
@file_opt
@_opt("--job", "job_name", env="PLAN_JOB", default="omnidesk-plan", show_default=True, metavar="NAME",
      help="The merge request pipeline's plan job whose artifacts hold the plans.")
@_opt("--out-dir", env="PLAN_DIR", default="omnidesk-plan", show_default=True, metavar="DIR",
      help="Where the plan job's artifacts are unpacked.")
def gl_fetch(file: str, job_name: str, out_dir: str) -> int:
    """Download the merged merge request's reviewed plans.

    Refuses if the merged file differs.

    Makes no Omnidesk API call (it reads GitLab's, with GITLAB_API_TOKEN).

    \b
    Example:
      omnidesk-channels ci gitlab fetch
      omnidesk-channels apply omnidesk-plan/production.json
    """
    from reconciler.ci import gitlab

    gitlab.fetch_reviewed_plan(gitlab.Job(), file, job_name, out_dir, click.echo)
    return EXIT_OK

"""``omnidesk-channels ci github|gitlab ...``: the CI integrations (``reconciler.ci``) as commands.

Every option also reads an ``OMNIDESK_CI_*`` variable, so ``action.yml`` passes its inputs as
environment (no input is ever spliced into a shell line).
"""

from __future__ import annotations

from typing import Any

import click

from reconciler.cli import FullSummaryGroup
from reconciler.cli.ci_shared import (
    all_opt,
    apply_opts,
    auth_opt,
    drift_opts,
    file_opt,
    format_opt,
    opt,
    run_apply,
    run_drift,
    run_plan,
    shard_opt,
    tenant_opt,
    with_options,
)


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
@opt("--strict", env="STRICT", is_flag=True, help="Warnings (such as a secret written in the file) are errors too.")
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
@opt(
    "--out-dir",
    env="PLAN_DIR",
    default="omnidesk-plan",
    show_default=True,
    metavar="DIR",
    help="Save each tenant's plan here as TENANT.json (upload it as the artifact the apply uses).",
)
@opt(
    "--comment/--no-comment",
    env="COMMENT",
    default=True,
    show_default=True,
    help="On a pull request, keep one comment per tenant with its plan, updated in place.",
)
@opt(
    "--artifact",
    env="ARTIFACT",
    default="omnidesk-plan",
    show_default=True,
    metavar="NAME",
    help="The artifact the saved plans go to (its apply keeps the secret-version record as NAME-secret-versions).",
)
@auth_opt
def gh_plan(
    file: str,
    tenant: str | None,
    all_tenants: bool,
    shard: Any,
    fmt: str,
    out_dir: str,
    comment: bool,
    artifact: str,
    auth: str | None,
) -> int:
    """Plan; a job summary, outputs and pull-request comments.

    The outputs are exitcode, has_changes and plan_path.

    \b
    Example:
      omnidesk-channels ci github plan --tenant production --out-dir omnidesk-plan
    """
    from reconciler.ci import github

    forge = github.GitHub(artifact=artifact)  # its apply keeps the secret-version record by that name
    return run_plan(forge, file, tenant, all_tenants, fmt, out_dir, comment, auth, shard)


@github_group.command("drift")
@file_opt
@tenant_opt
@all_opt
@shard_opt
@format_opt
@with_options(drift_opts)
@auth_opt
def gh_drift(
    file: str,
    tenant: str | None,
    all_tenants: bool,
    shard: Any,
    fmt: str,
    drift_after: int,
    detailed_exitcode: bool,
    auth: str | None,
) -> int:
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
    return run_drift(
        forge, file, tenant, all_tenants, fmt, auth, drift_after, detailed_exitcode, forge.run_url(), shard
    )


@github_group.command("apply")
@file_opt
@tenant_opt
@with_options(apply_opts)
@shard_opt
@opt(
    "--plan",
    "plan_path",
    env="PLAN",
    metavar="PATH",
    help="A saved plan or a folder of them, applied exactly (default: what the protected branch says, "
    "checked against the reviewed plans).",
)
@opt(
    "--artifact",
    env="ARTIFACT",
    default="omnidesk-plan",
    show_default=True,
    metavar="NAME",
    help="The plan job's artifact that holds a pull request's reviewed plans.",
)
@opt(
    "--branch",
    env="BRANCH",
    metavar="NAME",
    help="The protected branch apply runs on (default: the repository's default branch).",
)
@auth_opt
def gh_apply(
    file: str,
    tenant: str | None,
    all_tenants: bool,
    shard: Any,
    apply_unreviewed: bool,
    plan_path: str | None,
    artifact: str,
    branch: str | None,
    auth: str | None,
) -> int:
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
    return run_apply(forge, file, tenant, all_tenants, plan_path, apply_unreviewed, auth, shard)


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
@opt(
    "--out-dir",
    env="PLAN_DIR",
    default="omnidesk-plan",
    show_default=True,
    metavar="DIR",
    help="Save each tenant's plan here as TENANT.json (the job's artifact).",
)
@opt(
    "--note/--no-note",
    env="COMMENT",
    default=True,
    show_default=True,
    help="In a merge request pipeline, keep one note per tenant with its plan, updated in place.",
)
@auth_opt
def gl_plan(
    file: str, tenant: str | None, all_tenants: bool, shard: Any, fmt: str, out_dir: str, note: bool, auth: str | None
) -> int:
    """Plan, save the plans, and write a merge request note per tenant.

    \b
    Example:
      omnidesk-channels ci gitlab plan --tenant production
    """
    from reconciler.ci import gitlab

    return run_plan(gitlab.GitLab(click.echo), file, tenant, all_tenants, fmt, out_dir, note, auth, shard)


@gitlab_group.command("drift")
@file_opt
@tenant_opt
@all_opt
@shard_opt
@format_opt
@with_options(drift_opts)
@auth_opt
def gl_drift(
    file: str,
    tenant: str | None,
    all_tenants: bool,
    shard: Any,
    fmt: str,
    drift_after: int,
    detailed_exitcode: bool,
    auth: str | None,
) -> int:
    """Plan; keep one issue per drifted tenant, open while it drifts.

    The issue is opened or updated on drift (with --drift-after N, once the tenant drifted in N
    checks in a row) and closed when the tenant matches again. Above 1, keep omnidesk-drift/ as
    the job's artifacts (when: always): the next drift job reads its count from there.

    \b
    Example:
      omnidesk-channels ci gitlab drift --all-tenants --drift-after 2 --detailed-exitcode
    """
    from reconciler.ci import gitlab

    return run_drift(
        gitlab.GitLab(click.echo), file, tenant, all_tenants, fmt, auth, drift_after, detailed_exitcode, shard=shard
    )


@gitlab_group.command("apply")
@file_opt
@tenant_opt
@with_options(apply_opts)
@shard_opt
@opt(
    "--job",
    "job_name",
    env="PLAN_JOB",
    default="omnidesk-plan",
    show_default=True,
    metavar="NAME",
    help="The merge request pipeline's plan job whose artifacts hold the reviewed plans.",
)
@opt(
    "--out-dir",
    env="PLAN_DIR",
    default="omnidesk-plan",
    show_default=True,
    metavar="DIR",
    help="The folder of the plan job's artifacts that holds the plans.",
)
@auth_opt
def gl_apply(
    file: str,
    tenant: str | None,
    all_tenants: bool,
    shard: Any,
    apply_unreviewed: bool,
    job_name: str,
    out_dir: str,
    auth: str | None,
) -> int:
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

    forge = gitlab.GitLab(click.echo, plan_job=job_name, plan_dir=out_dir, applying=True)
    return run_apply(forge, file, tenant, all_tenants, None, apply_unreviewed, auth, shard)

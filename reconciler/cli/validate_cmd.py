"""``omnidesk-channels validate``: check a channels file offline (no API call)."""

from __future__ import annotations

import click

from reconciler.cli.arguments import CHANNELS_FILE
from reconciler.diagnostics import github_annotations, json_report
from reconciler.errors import ConfigError, Problem
from reconciler.policy import DENY, Finding
from reconciler.workflow import Workflow


@click.command("validate")
@click.argument("files", nargs=-1, required=True, type=CHANNELS_FILE, metavar="FILE...")
@click.option("--tenant", metavar="NAME", help="Validate for this tenant only (default: every tenant).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "github", "json", "sarif"]),
    default="text",
    show_default=True,
    help="github: ::error/::warning lines that GitHub shows on the file's lines; "
    "json: data; sarif: SARIF 2.1.0 for code scanning.",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Treat warnings (such as a secret written in the file) as errors; a policy finding keeps the "
    "level its policy: gives it.",
)
@click.option(
    "--offline",
    is_flag=True,
    help="Read no environment variable (no secret either): an unset ${env:...} is no error, "
    "the characters beside it are still checked. For pre-commit hooks.",
)
def validate_cmd(files: tuple[str, ...], tenant: str | None, fmt: str, strict: bool, offline: bool) -> None:
    """Check each FILE offline: YAML, schema, templates, names.

    Makes no API call. Without --tenant, a file with tenants is checked for every tenant and for no tenant;
    a problem that occurs in only some of them ends with those tenants in brackets.
    The file's policy: rules are checked too: a finding at deny is an error, at warn a warning.
    Every file is checked; exits 1 on any problem (and, with --strict, on any warning).

    \b
    Example:
      omnidesk-channels validate channels.yaml
      omnidesk-channels validate channels.yaml --strict --format github
      omnidesk-channels validate --offline --strict channels.yaml
      OMNIDESK_BRIDGE_SECRET=... omnidesk-channels validate channels.yaml --tenant staging
    """
    engine = Workflow()
    summaries: list[str] = []
    errors: list[Problem] = []
    warnings: list[Problem] = []
    policy: list[Finding] = []
    for file in files:
        try:
            validated = engine.validate(file, tenant=tenant, offline=offline)
            summary, found, file_findings = validated.summary, list(validated.warnings), list(validated.findings)
            problems: list[Problem] = []
            policy += file_findings
        except ConfigError as exc:
            summary, found, problems, file_findings = "", exc.warnings, exc.problems, []
        if strict:
            problems, found = sorted(problems + found, key=lambda p: (p.line or 0, p.column or 0)), []
        # the policy's own levels decide, --strict or not: deny is an error, warn stays a warning
        problems += [f.as_problem() for f in file_findings if f.level == DENY]
        found += [f.as_problem() for f in file_findings if f.level != DENY]
        if not problems:
            summaries.append(summary)
        errors += problems
        warnings += found
    if fmt in ("json", "sarif"):
        if fmt == "json":
            click.echo(json_report(files, errors, warnings, policy), nl=False)
        else:
            from reconciler.sarif import render_sarif

            shown = {f.as_problem() for f in policy}  # a finding is its own result, with its rule
            click.echo(
                render_sarif(
                    policy,
                    errors=[p for p in errors if p not in shown],
                    warnings=[p for p in warnings if p not in shown],
                ),
                nl=False,
            )
        if errors:
            raise click.exceptions.Exit(1)
        return
    if fmt == "github":
        click.echo(github_annotations(errors, warnings), nl=False)
    else:
        for warning in warnings:
            click.echo(f"Warning: {warning}", err=True)
    for summary in summaries:
        click.echo(summary)
    if errors:
        raise ConfigError(errors)

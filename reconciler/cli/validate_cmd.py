"""``omnidesk-channels validate``: check a channels file offline (no API call)."""
from __future__ import annotations

import os
from collections.abc import Mapping

import click

from reconciler.diagnostics import github_annotations, json_report
from reconciler.cli.arguments import CHANNELS_FILE
from reconciler.config import load_all_views, load_channels_file
from reconciler.errors import ConfigError, Problem


def _count(n: int) -> str:
    return f"{n} channel" if n == 1 else f"{n} channels"


def validate(
    path: str | os.PathLike[str], *, tenant: str | None = None, environ: Mapping[str, str] | None = None
) -> str:
    """The success line for ``path``; raises ConfigError listing every problem."""
    return check(path, tenant=tenant, environ=environ)[0]


def check(
    path: str | os.PathLike[str], *, tenant: str | None = None, environ: Mapping[str, str] | None = None
) -> tuple[str, list[Problem]]:
    """The success line for ``path`` and its warnings; raises ConfigError listing every problem."""
    shown = os.fspath(path)
    if tenant is not None:
        loaded = load_channels_file(path, tenant=tenant, environ=environ)
        return f"{shown}: valid for tenant {tenant} ({_count(len(loaded.channels))})", list(loaded.warnings)
    views = load_all_views(path, environ=environ)
    # Each channel entry has its own line, so lines count the file's channels across all views.
    count = len({channel.line for view in views.values() for channel in view.channels})
    tenants = next(iter(views.values())).tenants
    suffix = f"; tenants: {', '.join(tenants)}" if tenants else ""
    warnings = dict.fromkeys(w for view in views.values() for w in view.warnings)
    return f"{shown}: valid ({_count(count)}{suffix})", list(warnings)


@click.command("validate")
@click.argument("files", nargs=-1, required=True, type=CHANNELS_FILE, metavar="FILE...")
@click.option("--tenant", metavar="NAME", help="Validate for this tenant only (default: every tenant).")
@click.option("--format", "fmt", type=click.Choice(["text", "github", "json"]), default="text", show_default=True,
              help="github: ::error/::warning lines that GitHub shows on the file's lines; json: data.")
@click.option("--strict", is_flag=True, help="Treat warnings (such as a secret written in the file) as errors.")
def validate_cmd(files: tuple[str, ...], tenant: str | None, fmt: str, strict: bool) -> None:
    """Check each FILE offline: YAML, schema, templates, names.

    Makes no API call. Without --tenant, a file with tenants is checked for every tenant and for no tenant;
    a problem that occurs in only some of them ends with those tenants in brackets.
    Every file is checked; exits 1 on any problem (and, with --strict, on any warning).

    \b
    Example:
      omnidesk-channels validate channels.yaml
      omnidesk-channels validate channels.yaml --strict --format github
      OMNIDESK_BRIDGE_SECRET=... omnidesk-channels validate channels.yaml --tenant staging
    """
    summaries: list[str] = []
    errors: list[Problem] = []
    warnings: list[Problem] = []
    for file in files:
        try:
            summary, found = check(file, tenant=tenant)
            problems: list[Problem] = []
        except ConfigError as exc:
            summary, found, problems = "", exc.warnings, exc.problems
        if strict:
            problems, found = sorted(problems + found, key=lambda p: (p.line or 0, p.column or 0)), []
        if not problems:
            summaries.append(summary)
        errors += problems
        warnings += found
    if fmt == "json":
        click.echo(json_report(files, errors, warnings), nl=False)
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

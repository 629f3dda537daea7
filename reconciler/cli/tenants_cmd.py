"""``omnidesk-channels tenants``: the tenants a channels file defines, for scripts and CI matrices."""

from __future__ import annotations

import json

import click

from reconciler.cli import EXIT_OK
from reconciler.cli.arguments import CHANNELS_FILE, OneFileCommand
from reconciler.target import DEFAULT_KEY_ENV
from reconciler.workflow import Workflow


@click.command("tenants", cls=OneFileCommand)
@click.argument("file", type=CHANNELS_FILE)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help='text: one name per line; json: a GitHub Actions matrix ({"include": [...]}).',
)
def tenants_command(file: str, fmt: str) -> int:
    """List the tenants FILE defines in its tenants: section.

    Makes no API call. The text format prints the names, one per line, in file order (tenants
    from tenant files: in the order of their paths). The json format prints a
    matrix that GitHub Actions takes as it is, with each tenant's key variable so that every job
    can pick its own key secret:

    \b
      {"include": [{"tenant": "staging", "api_key_env": "OMNIDESK_STAGING_KEY"}, ...]}

    A file without tenants is an error: a fan-out over nothing is almost always a mistake.

    \b
    Example:
      omnidesk-channels tenants channels.yaml
      echo "matrix=$(omnidesk-channels tenants channels.yaml --format json)" >> "$GITHUB_OUTPUT"
      # in the workflow: strategy: {matrix: ${{ fromJSON(needs.tenants.outputs.matrix) }}}
    """
    tenants = Workflow().tenants(file, required=True)
    if fmt == "json":
        include = [{"tenant": name, "api_key_env": t.api_key_env or DEFAULT_KEY_ENV} for name, t in tenants.items()]
        click.echo(json.dumps({"include": include}, separators=(",", ":")))
    else:
        for name in tenants:
            click.echo(name)
    return EXIT_OK

"""``omnidesk-channels schema``: print a shipped JSON Schema, for a schemas folder of one's own."""

from __future__ import annotations

import click

from reconciler.schema import SCHEMA_FILES, schema_text


@click.command("schema")
@click.argument("kind", default="channels", type=click.Choice(list(SCHEMA_FILES)))
def schema_command(kind: str) -> None:
    """Print the JSON Schema of a channels file or a saved plan.

    The argument is channels (the default) or plan. Makes no API call.

    The channels schema is what editors check channels files with; `init` writes it beside a new
    file. Refresh your copy after an upgrade.

    \b
    Example:
      omnidesk-channels schema > channels.schema.json
      omnidesk-channels schema plan > plan.schema.json
    """
    click.echo(schema_text(kind), nl=False)

"""``omnidesk-channels init``: a starter channels file and its schema, for editor support anywhere."""

from __future__ import annotations

import click

from reconciler.scaffold import write_starter


@click.command("init")
@click.argument("folder", default=".", type=click.Path(file_okay=False))
@click.option("--force", is_flag=True, help="Replace channels.yaml and channels.schema.json if they exist.")
def init_command(folder: str, force: bool) -> None:
    """Write a starter channels.yaml and its schema into FOLDER.

    The starter is commented and valid, and applies as it is (try it with --emulator).

    The file's first line points editors at channels.schema.json by a relative path, so the YAML
    extensions of VS Code, Neovim, Helix and JetBrains check and complete it in your own
    repository. Existing files are left alone unless --force is given. Makes no API call.

    \b
    Example:
      omnidesk-channels init
      omnidesk-channels init deploy/omnidesk
    """
    written = write_starter(folder, force=force)
    click.echo(f"Wrote {written.channels_file} and {written.schema_file}.")
    click.echo(f"Next: edit {written.channels_file}, then: omnidesk-channels validate {written.channels_file}")

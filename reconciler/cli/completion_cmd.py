"""``omnidesk-channels completion``: the shell completion script, produced by click."""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

from reconciler.cli import EXIT_OK, cli

PROG_NAME = "omnidesk-channels"
# click derives this variable from the program name; the shell script calls back through it.
COMPLETE_VAR = "_OMNIDESK_CHANNELS_COMPLETE"


@click.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion_command(shell: str) -> int:
    """Print the shell completion script for SHELL.

    Load it from your shell's start-up file. Makes no API call.

    The same script comes from click's own variable:
    _OMNIDESK_CHANNELS_COMPLETE=bash_source omnidesk-channels (zsh_source, fish_source).

    \b
    Example:
      eval "$(omnidesk-channels completion bash)"      # in ~/.bashrc
      eval "$(_OMNIDESK_CHANNELS_COMPLETE=zsh_source omnidesk-channels)"   # in ~/.zshrc
      omnidesk-channels completion fish > ~/.config/fish/completions/omnidesk-channels.fish
    """
    completion_class = get_completion_class(shell)
    assert completion_class is not None  # click ships bash, zsh and fish
    source = completion_class(cli, {}, PROG_NAME, COMPLETE_VAR).source()
    # click 8.5 ends the script with a newline, earlier versions do not: print exactly one
    click.echo(source, nl=not source.endswith("\n"))
    return EXIT_OK

"""File arguments the commands share, light enough for ``validate`` (no engine, no HTTP imports).

Every command reports a missing file, a folder, or a file of the wrong kind (a saved plan where a
channels file goes) with the same words, from ``reconciler.filekinds``.
"""

from __future__ import annotations

from typing import Any

import click

from reconciler.errors import InputFileError
from reconciler.filekinds import CHANNELS, EXPORT, SAVED_PLAN, describe, require_input


class InputFile(click.ParamType):
    """A file the command reads: it must exist and be one of the kinds ``takes``."""

    name = "file"

    def __init__(self, *takes: str) -> None:
        self.takes = takes or (CHANNELS, EXPORT)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            require_input(value, takes=self.takes)
        except InputFileError as exc:
            # "Error: <message>" like every other error, without the usage lines of a BadParameter
            raise click.ClickException(str(exc)) from None
        return str(value)

    def shell_complete(self, ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
        from click.shell_completion import CompletionItem

        return [CompletionItem(incomplete, type="file")]


class OneFileCommand(click.Command):
    """A command that takes one file: more files (two files in the wrong order, say) are named
    with their kinds instead of click's bare "unexpected extra argument"."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["context_settings"] = {**kwargs.get("context_settings", {}), "allow_extra_args": True}
        super().__init__(*args, **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        if ctx.args:
            given = [ctx.params.get("file"), *ctx.args]
            files = ", ".join(describe(f) for f in given if f)
            raise click.UsageError(
                f"'{ctx.command_path}' takes one file, but got {len(given)}: {files}. "
                "Give only the one this command is for (see --help)",
                ctx,
            )
        return super().invoke(ctx)


CHANNELS_FILE = InputFile(CHANNELS, EXPORT)
CHANNELS_FILE_OR_PLAN = InputFile(CHANNELS, EXPORT, SAVED_PLAN)

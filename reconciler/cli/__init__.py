"""The ``omnidesk-channels`` command line: one module per command, this one decides exit codes.

The exit codes and their meanings are ``EXIT_CODES``; the docs site's reference page is generated
from it.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import traceback

import click

from reconciler import __version__
from reconciler.errors import ReconcilerError

# httpx imports its own command line, ``httpx._main``, whenever click and rich are installed, as they
# are with this tool: rich and pygments, a sixth of a plan's start-up, for a tool never run here.
# Marked absent before httpx loads, httpx takes its own ImportError path and defines a stub ``main``.
# Only the command line does this; a program using the library imports httpx as it likes.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_INTERRUPTED = 130

EXIT_CODES: dict[int, str] = {
    EXIT_OK: "success (with `plan --detailed-exitcode`: success and no changes)",
    EXIT_ERROR: "error: bad input, a refused call, a failed operation, an unsafe or stale plan, a usage error "
    '(an unknown option included), a refused output path, "no" or Ctrl-D at the apply prompt, an internal '
    "error (one line; `--debug` shows the traceback)",
    EXIT_CHANGES: "changes pending (only with `plan --detailed-exitcode`, for drift checks)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C): run apply again to converge (after deletes: plan again, the count "
    "changed)",
}

DEBUG_OPTION = "--debug"


# name -> "module:attribute"; a command's module is imported only when that command runs, so
# ``--version`` and ``validate`` never pay for the emulator, uvicorn or httpx (click's "Lazily
# Loading Subcommands"). Order here is the order in --help.
COMMANDS: dict[str, str] = {
    "init": "reconciler.cli.init_cmd:init_command",
    "validate": "reconciler.cli.validate_cmd:validate_cmd",
    "plan": "reconciler.cli.plan_cmd:plan_command",
    "apply": "reconciler.cli.apply_cmd:apply_command",
    "probe": "reconciler.cli.probe_cmd:probe_command",
    "export": "reconciler.cli.export_cmd:export_command",
    "clone": "reconciler.cli.clone_cmd:clone_command",
    "import": "reconciler.cli.import_cmd:import_command",
    "tenants": "reconciler.cli.tenants_cmd:tenants_command",
    "message": "reconciler.cli.message_cmd:message_group",
    "emulator": "reconciler.cli.emulator_cmd:emulator",
    "completion": "reconciler.cli.completion_cmd:completion_command",
    "schema": "reconciler.cli.schema_cmd:schema_command",
    "ci": "reconciler.cli.ci_cmd:ci_group",
}


class FullSummaryGroup(click.Group):
    """A group whose --help lists each command with the whole first sentence of its help (click's
    default cuts it at 45 characters, mid-sentence)."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=200)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class LazyGroup(FullSummaryGroup):
    """A group whose commands live in ``COMMANDS`` and are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = COMMANDS.get(cmd_name)
        if spec is None:
            return None
        module_name, _, attribute = spec.partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(command, click.Command), spec
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in COMMANDS:
            import difflib

            close = difflib.get_close_matches(name, list(COMMANDS), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise click.UsageError(f"No such command {name!r}.{hint} Commands: {', '.join(COMMANDS)}.", ctx)
        return super().resolve_command(ctx, args)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="omnidesk-channels", message="%(prog)s %(version)s")
@click.option(
    DEBUG_OPTION,
    is_flag=True,
    expose_value=False,
    help="Show the traceback of an internal error (also accepted after the command).",
)
def cli() -> None:
    """Omnidesk custom channels as code: describe channels in YAML, review a plan, apply it.

    \b
    Example:
      omnidesk-channels validate channels.yaml
      omnidesk-channels plan channels.yaml --emulator
      omnidesk-channels apply channels.yaml --emulator --yes
    """


def all_commands() -> dict[str, click.Command]:
    """Every command, imported (for tests and documentation tools)."""
    return {name: cli.get_command(click.Context(cli), name) for name in COMMANDS}  # type: ignore[misc]


def _take_debug(args: list[str]) -> tuple[list[str], bool]:
    """``--debug`` anywhere before a ``--``: users append it to the command they just ran."""
    end = args.index("--") if "--" in args else len(args)
    debug = DEBUG_OPTION in args[:end]
    return [a for i, a in enumerate(args) if i >= end or a != DEBUG_OPTION], debug


def main(argv: list[str] | None = None) -> None:
    """Run the CLI and turn its outcome into the one documented exit code.

    An exception that is not ours is a bug: one line names its type, never its text (which may
    hold a secret or a key); ``--debug`` shows the traceback.
    """
    args, debug = _take_debug(list(sys.argv[1:] if argv is None else argv))
    from reconciler.filekinds import forget_pipes  # a run reads each pipe once: a new run, anew

    forget_pipes()
    from reconciler.cli.flags import FLAGS
    from reconciler.wording import names

    try:
        with names(FLAGS):  # the engine's messages name the flags, not the parameters
            rv = cli.main(args=args, prog_name="omnidesk-channels", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("Aborted: nothing more was started.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.NoSuchOption as exc:
        from reconciler.cli.usage import answer_unknown_option

        answer_unknown_option(exc).show()
        sys.exit(EXIT_ERROR)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_ERROR)
    except ReconcilerError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except BrokenPipeError:
        _silence_stdout()  # the reader (`| head`) has gone; nothing more can be said to it
        sys.exit(EXIT_ERROR)
    except OSError as exc:
        # the machine's trouble (a full disk, a permission), not a bug: its errno text is safe to show
        where = f"{exc.filename}: " if exc.filename else ""
        click.echo(f"Error: {where}{exc.strerror or type(exc).__name__}", err=True)
        sys.exit(EXIT_ERROR)
    except Exception as exc:
        if debug:
            traceback.print_exc()
        click.echo(
            f"internal error, please report: {type(exc).__name__}; rerun with {DEBUG_OPTION} for the traceback",
            err=True,
        )
        sys.exit(EXIT_ERROR)
    sys.exit(rv if isinstance(rv, int) else EXIT_OK)


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so Python's exit flush does not hit the closed pipe again."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())

"""The ``omnidesk-channels`` command line: one module per command, this one decides exit codes.

Exit codes (documented in the README):
    0  success; with --detailed-exitcode: success and no changes
    1  error (bad input, refused call, failed operation, unsafe or stale plan, usage error,
       "no" at the apply prompt)
    2  changes pending (only with ``plan --detailed-exitcode``)
  130  interrupted (Ctrl-C)
"""
from __future__ import annotations

import sys

import click

from reconciler import __version__
from reconciler.errors import ReconcilerError

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_INTERRUPTED = 130


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="omnidesk-channels")
def cli() -> None:
    """Omnidesk custom channels as code: describe channels in YAML, review a plan, apply it.

    \b
    Example:
      omnidesk-channels validate channels.yaml
      omnidesk-channels plan channels.yaml --emulator
      omnidesk-channels apply channels.yaml --emulator --yes
    """


def _register() -> None:
    # each module adds its command to ``cli``
    from reconciler.cli import emulator_cmd  # noqa: F401
    from reconciler.cli import plan_cmd, apply_cmd, export_cmd  # noqa: F401
    from reconciler.cli import validate_cmd  # noqa: F401
    from reconciler.cli import tenants_cmd  # noqa: F401
    from reconciler.cli import message_cmd  # noqa: F401
    from reconciler.cli import clone_cmd  # noqa: F401
    from reconciler.cli import completion_cmd  # noqa: F401


def main(argv: list[str] | None = None) -> None:
    """Run the CLI and turn its outcome into the one documented exit code."""
    _register()
    try:
        rv = cli.main(args=argv, prog_name="omnidesk-channels", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("Aborted: nothing more was started.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_ERROR)
    except ReconcilerError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(rv if isinstance(rv, int) else EXIT_OK)

"""What the commands share: the target options, HTTP logging, terminal checks, apply with progress."""
from __future__ import annotations

import functools
import logging
import os
import sys
import threading
from typing import Any, Callable

import click

from reconciler.cli import EXIT_INTERRUPTED, EXIT_OK
from reconciler.target import DEFAULT_EMULATOR_STATE, DEFAULT_KEY_ENV, URL_ENV
from reconciler.workflow import Planned, Workflow


def emulator_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--emulator (a flag) and --emulator-state PATH; the command gets one ``emulator_state``:
    the state file's path when the emulator was asked for, else None."""

    @functools.wraps(func)
    def command(*args: Any, emulator: bool, emulator_state_path: str | None, **kwargs: Any) -> Any:
        asked = emulator or emulator_state_path is not None
        kwargs["emulator_state"] = (emulator_state_path or DEFAULT_EMULATOR_STATE) if asked else None
        return func(*args, **kwargs)

    command = click.option(
        "--emulator-state", "emulator_state_path", metavar="PATH", type=click.Path(dir_okay=False),
        help=f"The embedded emulator's state file (default {DEFAULT_EMULATOR_STATE}); implies --emulator.",
    )(command)
    return click.option(
        "--emulator", is_flag=True,
        help="Use the embedded emulator instead of a tenant (a local try-out). Never picked unless asked.",
    )(command)


def target_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--url / --tenant / --emulator / --emulator-state / --verbose, in that order in --help."""
    func = click.option(
        "-v", "--verbose", is_flag=True, help="Log every HTTP call (method, path, status, time; key redacted)."
    )(func)
    func = emulator_options(func)
    func = click.option(
        "--tenant", metavar="NAME",
        help="A tenant from the file's tenants: section: its url, its key from the variable its api_key_env "
        "names, its vars. Required when the file defines tenants.",
    )(func)
    func = click.option(
        "--url", metavar="URL",
        help=f"The tenant's base URL, e.g. https://acme.omnidesk.com [env: {URL_ENV}]; "
        f"its key comes from {DEFAULT_KEY_ENV}.",
    )(func)
    return func


def workflow(*, verbose: bool = False, parallelism: int = 8) -> Workflow:
    """The engine, with ``--verbose`` HTTP logging sent to standard error."""
    if verbose:
        _log_http_to_stderr()
    return Workflow(parallelism=parallelism)


def _log_http_to_stderr() -> None:
    logger = logging.getLogger("reconciler.http")
    mine = [h for h in logger.handlers if getattr(h, "_omnidesk", False)]
    if mine:
        # A later run in the same process (tests, embedding) may have another stderr by now.
        mine[0].setStream(sys.stderr)  # type: ignore[attr-defined]
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("http: %(message)s"))
        handler._omnidesk = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def is_tty(stream: Any) -> bool:
    return hasattr(stream, "isatty") and stream.isatty()


def use_color() -> bool:
    """Colour on a terminal only, and never when NO_COLOR is set (https://no-color.org)."""
    return is_tty(sys.stdout) and not os.environ.get("NO_COLOR")


def apply_with_progress(engine: Workflow, planned: Planned, allow_deletes: int | None) -> int:
    """Apply with progress and Ctrl-C handling; report every outcome; the exit code."""
    from reconciler.apply import stop_on_interrupt
    from reconciler.cli.progress import progress_reporter

    stop = threading.Event()
    with stop_on_interrupt(stop), progress_reporter(len(planned.plan.changes)) as on_outcome:
        report = engine.apply(planned, allow_deletes=allow_deletes, on_outcome=on_outcome, stop=stop)
    click.echo(report.summary(), err=True)
    error = report.error()
    if report.interrupted:
        not_started = sum(1 for o in report.outcomes if o.status == "not started")
        click.echo(f"Interrupted: {not_started} operation(s) not started; run apply again to converge.", err=True)
        if error is not None:
            click.echo(str(error), err=True)
        return EXIT_INTERRUPTED
    if error is not None:
        raise error
    return EXIT_OK


def report_export(result: Any) -> None:
    """Say on stderr what an export templated, what it did not, and which secrets must be set."""
    for name, times in result.replacements.items():
        click.echo(f"  templated: {times} occurrence(s) of the value of {name} -> ${{var:{name}}}", err=True)
    for skipped in result.skipped_vars:
        click.echo(f"  not templated: {skipped}", err=True)
    for name, times in result.left_literal.items():
        click.echo(f"  not templated: {times} occurrence(s) of the value of {name} right after a '$' "
                   "(a '$' before ${...} would read as $${); edit them by hand", err=True)
    if result.secret_vars:
        click.echo("  secrets are not exported; set these before creating the channels elsewhere: "
                   + ", ".join(sorted(set(result.secret_vars.values()))), err=True)

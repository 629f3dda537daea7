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
from reconciler.target import AUTH_ENV, DEFAULT_EMULATOR_STATE, DEFAULT_TIMEOUT
from reconciler.transport import AUTH_FORMS
from reconciler.workflow import Planned, Workflow


# Where connection_options leaves --auth and --timeout for workflow(), in the click context's meta.
CONNECTION_META = "omnidesk.connection"


def connection_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--auth / --timeout: how to talk to a tenant. The command never sees them: ``workflow()`` does."""

    @functools.wraps(func)
    def command(*args: Any, auth: str | None, timeout: float, **kwargs: Any) -> Any:
        click.get_current_context().meta[CONNECTION_META] = {"auth": auth, "timeout": timeout}
        return func(*args, **kwargs)

    command = click.option(
        "--timeout", type=click.FloatRange(min=0, min_open=True), default=DEFAULT_TIMEOUT, show_default=True,
        metavar="SECONDS", help="Give up on one HTTP call after this long, its answer included.",
    )(command)
    return click.option(
        "--auth", type=click.Choice(AUTH_FORMS),
        help=f"Where the API key goes: the apiKey header (default), the apiKey query parameter, or "
        f"'Authorization: apikey KEY'. Else the tenant's auth:, else ${AUTH_ENV}.",
    )(command)


def target_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--url / --tenant / --emulator / --auth / --timeout / --verbose, in that order in --help."""
    func = click.option(
        "-v", "--verbose", is_flag=True, help="Log every HTTP call (method, URL, status, time; key redacted)."
    )(func)
    func = connection_options(func)
    func = click.option(
        "--emulator",
        "emulator_state",
        is_flag=False,
        flag_value=DEFAULT_EMULATOR_STATE,
        default=None,
        metavar="[STATE]",
        help=f"Use the embedded emulator, persisted in STATE (default {DEFAULT_EMULATOR_STATE}), "
        "instead of a tenant. Never picked unless asked.",
    )(func)
    func = click.option(
        "--tenant", metavar="NAME", help="A tenant from the file's tenants: section (its url, key variable, vars)."
    )(func)
    func = click.option(
        "--url", metavar="URL", help="The tenant's base URL [env: OMNIDESK_URL], e.g. https://acme.omnidesk.com. "
        "https only (http to this machine aside); hosts outside *.omnidesk.com and *.omnidesk.io need "
        "OMNIDESK_ALLOWED_HOSTS."
    )(func)
    return func


def workflow(*, verbose: bool = False, parallelism: int = 8) -> Workflow:
    """The engine, with ``--verbose`` HTTP logging sent to standard error."""
    if verbose:
        _log_http_to_stderr()
    connection = click.get_current_context().meta.get(CONNECTION_META, {})
    return Workflow(parallelism=parallelism, timeout=connection.get("timeout", DEFAULT_TIMEOUT),
                    auth=connection.get("auth"))


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


def print_file_warnings(planned: Planned) -> None:
    """The channels file's warnings (such as a secret written in it) on stderr; they stop nothing."""
    for warning in planned.channels_file.warnings if planned.channels_file else ():
        click.echo(f"Warning: {warning}", err=True)


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
    error = report.error(planned.target.api_key_env)
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

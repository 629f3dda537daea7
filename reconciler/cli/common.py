"""What the commands share: the target options, HTTP logging, terminal checks, apply with progress."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import click

from reconciler.cli import EXIT_INTERRUPTED, EXIT_OK
from reconciler.cli.record_options import RECORD_META
from reconciler.errors import NotConfirmed
from reconciler.plan import Delete, Plan
from reconciler.policy import Finding
from reconciler.results import Planned
from reconciler.shard import Shard
from reconciler.target import AUTH_ENV, DEFAULT_EMULATOR_STATE, DEFAULT_KEY_ENV, DEFAULT_TIMEOUT, URL_ENV
from reconciler.transport import AUTH_FORMS
from reconciler.workflow import Workflow

if TYPE_CHECKING:
    import httpx


def emulator_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--emulator (a flag) and --emulator-state PATH; the command gets one ``emulator_state``:
    the state file's path when the emulator was asked for, else None."""

    @functools.wraps(func)
    def command(*args: Any, emulator: bool, emulator_state_path: str | None, **kwargs: Any) -> Any:
        asked = emulator or emulator_state_path is not None
        kwargs["emulator_state"] = (emulator_state_path or DEFAULT_EMULATOR_STATE) if asked else None
        return func(*args, **kwargs)

    command = click.option(
        "--emulator-state",
        "emulator_state_path",
        metavar="PATH",
        type=click.Path(dir_okay=False),
        help=f"The embedded emulator's state file (default {DEFAULT_EMULATOR_STATE}); implies --emulator.",
    )(command)
    return click.option(
        "--emulator",
        is_flag=True,
        help="Use the embedded emulator instead of a tenant (a local try-out). Never picked unless asked.",
    )(command)


# Where connection_options leaves --auth and --timeout for workflow(), in the click context's meta.
CONNECTION_META = "omnidesk.connection"


def connection_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--auth / --timeout: how to talk to a tenant. The command never sees them: ``workflow()`` does."""

    @functools.wraps(func)
    def command(*args: Any, auth: str | None, timeout: float, **kwargs: Any) -> Any:
        click.get_current_context().meta[CONNECTION_META] = {"auth": auth, "timeout": timeout}
        return func(*args, **kwargs)

    command = click.option(
        "--timeout",
        type=click.FloatRange(min=0, min_open=True),
        default=DEFAULT_TIMEOUT,
        show_default=True,
        metavar="SECONDS",
        help="Give up on one HTTP call after this long, its answer included.",
    )(command)
    return click.option(
        "--auth",
        type=click.Choice(AUTH_FORMS),
        help=f"Where the API key goes: the apiKey header (default), the apiKey query parameter, or "
        f"'Authorization: apikey KEY'. Else the tenant's auth:, else ${AUTH_ENV}.",
    )(command)


def target_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--url / --tenant / --emulator / --emulator-state / --auth / --timeout / --verbose, in --help's order."""
    func = click.option(
        "-v", "--verbose", is_flag=True, help="Log every HTTP call (method, URL, status, time; key redacted)."
    )(func)
    func = connection_options(func)
    func = emulator_options(func)
    func = click.option(
        "--tenant",
        metavar="NAME",
        help="A tenant from the file's tenants: section: its url, its key from the variable its api_key_env "
        "names, its vars. Required when the file defines tenants.",
    )(func)
    func = click.option(
        "--url",
        metavar="URL",
        help=f"The tenant's base URL, e.g. https://acme.omnidesk.com [env: {URL_ENV}]; "
        f"its key comes from {DEFAULT_KEY_ENV}. https only (http to this machine aside); hosts outside "
        "*.omnidesk.com and *.omnidesk.io need OMNIDESK_ALLOWED_HOSTS.",
    )(func)
    return func


def workflow(*, verbose: bool = False, parallelism: int = 8, emulator_state: str | None = None) -> Workflow:
    """The engine, with ``--verbose`` HTTP logging sent to standard error; with ``emulator_state``
    (``--emulator``), every call goes to the in-process emulator on that state file."""
    if verbose:
        _log_http_to_stderr()
    connection = click.get_current_context().meta.get(CONNECTION_META, {})
    return Workflow(
        parallelism=parallelism,
        timeout=connection.get("timeout", DEFAULT_TIMEOUT),
        auth=connection.get("auth"),
        local=emulated,
        local_state=emulator_state,
        secret_versions=click.get_current_context().meta.get(RECORD_META),
    )


@contextlib.contextmanager
def emulated(state: str) -> Iterator[httpx.BaseTransport]:
    """The in-process emulator on ``state`` as a transport, its state saved on exit: what ``--emulator``
    (and a plan saved with it) connects through. The engine never imports the emulator: it is given this."""
    from reconciler.emulator import Emulator, EmulatorTransport

    emulator = Emulator(state_path=state)
    try:
        yield EmulatorTransport(emulator)
    finally:
        emulator.close()


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
    """The channels file's warnings (such as a secret written in it) and the policy's findings on
    stderr; a finding at deny says that apply refuses it."""
    for warning in planned.channels_file.warnings if planned.channels_file else ():
        click.echo(f"Warning: {warning}", err=True)
    print_findings(planned.plan)


SHOWN_CHANNELS = 5  # one line per rule and message names this many channels, then "and N more"


def print_findings(plan: Plan) -> None:
    """One line per rule, level and message (40 channels without a signature are one line, not 40)."""
    groups: dict[tuple[str, str, str], list[Finding]] = {}
    for finding in plan.findings:
        groups.setdefault((finding.rule, finding.level, finding.message), []).append(finding)
    for (rule, level, message), found in groups.items():
        first = found[0]
        where = f"{first.file}:{first.line}: " if first.file and first.line else ""
        names = ", ".join(repr(f.channel) for f in found[:SHOWN_CHANNELS])
        more = f" and {len(found) - SHOWN_CHANNELS} more" if len(found) > SHOWN_CHANNELS else ""
        click.echo(f"Warning: {where}{level} [{rule}] {names}{more}: {message} (fix: {first.fix})", err=True)


def is_tty(stream: Any) -> bool:
    return hasattr(stream, "isatty") and stream.isatty()


def use_color() -> bool:
    """Colour on a terminal only, and never when NO_COLOR is set (https://no-color.org)."""
    return is_tty(sys.stdout) and not os.environ.get("NO_COLOR")


def allow_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--allow-updates N / --allow-deletes N: the exact counts a plan past a safety threshold needs;
    --allow-policy RULE: a policy rule at deny that a reviewer accepted (a rule, never a blanket force)."""
    from reconciler.policy import RULES

    func = click.option(
        "--allow-policy",
        "allow_policy",
        multiple=True,
        type=click.Choice(list(RULES)),
        metavar="RULE",
        help="Apply although this policy rule is at deny and the plan breaks it (repeat for more rules).",
    )(func)
    for option, verb in (("--allow-deletes", "deletes"), ("--allow-updates", "updates")):
        func = click.option(
            option,
            type=click.IntRange(min=0),
            metavar="N",
            help=f"Allow a plan that {verb} more than the file's safety share (default 30%) of the tenant's "
            "custom channels: N is the exact count.",
        )(func)
    return func


def selection_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--only / --exclude NAME|GLOB (repeatable): a partial plan of some channels; the workflow filters."""
    func = click.option(
        "--exclude",
        "exclude",
        multiple=True,
        metavar="NAME|GLOB",
        help="Leave out the changes of the channels this name or glob matches (repeatable; case-sensitive).",
    )(func)
    return click.option(
        "--only",
        "only",
        multiple=True,
        metavar="NAME|GLOB",
        help="Keep only the changes of the channels this name or glob matches, e.g. 'web-*' (repeatable; "
        "case-sensitive). The plan says it is partial; a pattern that matches no change is an error.",
    )(func)


def force_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--force",
        is_flag=True,
        help="Replace an existing output file of another kind (never the input file itself).",
    )(func)


def counts(plan: Plan) -> str:
    """'2 creates, 1 update and 600 deletes': what a plan does, for the question and hints."""
    parts = [
        f"{n} {word}{'s' if n != 1 else ''}"
        for n, word in ((len(plan.creates), "create"), (len(plan.updates), "update"), (len(plan.deletes), "delete"))
        if n
    ]
    return " and ".join(parts) if len(parts) < 3 else f"{parts[0]}, {parts[1]} and {parts[2]}"


def confirm(planned: Planned, *, yes: bool, saved: bool = False) -> None:
    """Ask on a terminal before applying; refuse off a terminal without --yes (a file apply) or go on
    (a saved plan: it was reviewed when it was made, as Terraform applies a saved plan).

    The question restates what will happen and where. "no", an empty answer and Ctrl-D (end of
    input) are all a "no": exit 1, nothing changed. Ctrl-C is an interrupt (130).
    """
    if yes:
        return
    if not is_tty(sys.stdin):
        if saved:
            return
        raise NotConfirmed("not on a terminal: pass --yes to apply the plan above (nothing was changed)")
    sys.stdout.flush()  # the plan goes before the question, also when stdout is a pipe
    question = f"Apply {counts(planned.plan)} to {planned.target.label}?"
    if not _ask(question):
        raise NotConfirmed("apply cancelled at the prompt; nothing was changed")


def _ask(question: str) -> bool:
    while True:
        click.echo(f"{question} [y/N]: ", nl=False, err=True)
        line = sys.stdin.readline()
        if not line:  # Ctrl-D: the end of input is an answer, and it is not a yes
            click.echo("", err=True)
            return False
        answer = line.strip().lower()
        if answer in ("y", "yes"):
            return True
        if answer in ("", "n", "no"):
            return False
        click.echo("Please answer y or n.", err=True)


def apply_with_progress(
    engine: Workflow,
    planned: Planned,
    allow_deletes: int | None,
    allow_updates: int | None = None,
    allow_policy: tuple[str, ...] = (),
) -> int:
    """Apply with progress and Ctrl-C handling; report every outcome; the exit code."""
    from reconciler.apply import NOT_STARTED, OK, stop_on_interrupt
    from reconciler.cli.progress import progress_reporter

    stop = threading.Event()
    with stop_on_interrupt(stop), progress_reporter(len(planned.plan.changes)) as on_outcome:
        report = engine.apply(
            planned,
            allow_deletes=allow_deletes,
            allow_updates=allow_updates,
            allow_policy=allow_policy,
            on_outcome=on_outcome,
            stop=stop,
        )
    click.echo(report.summary(), err=True)
    error = report.error(planned.target.api_key_env)
    if report.interrupted:
        not_started = sum(1 for o in report.outcomes if o.status == NOT_STARTED)
        deleted = sum(1 for o in report.outcomes if o.status == OK and isinstance(o.change, Delete))
        if deleted:
            hint = (
                f"{deleted} of {len(planned.plan.deletes)} deletes were done, so the delete count changed: "
                "plan again to review what is left (an --allow-deletes must name the new count)"
            )
        elif planned.saved:
            hint = "plan again: the saved plan no longer matches the tenant"
        else:
            hint = "run apply again to converge"
        click.echo(f"Interrupted: {not_started} operation(s) not started; {hint}.", err=True)
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
        click.echo(
            f"  not templated: {times} occurrence(s) of the value of {name} right after a '$' "
            "(a '$' before ${...} would read as $${); edit them by hand",
            err=True,
        )
    if result.endpoint_vars:
        click.echo(
            "  endpoint credentials are not exported (written as ${env:...}); set these before applying "
            "the file: " + ", ".join(result.endpoint_vars),
            err=True,
        )
    if result.secret_vars:
        click.echo(
            "  secrets are not exported; set these before creating the channels elsewhere: "
            + ", ".join(sorted(set(result.secret_vars.values()))),
            err=True,
        )


class ShardType(click.ParamType):
    """``K/N`` -> ``Shard``; a bad one is a usage error that says the form. ``/1`` and ``/`` are no
    shard: GitLab makes ``/1`` of ``$CI_NODE_INDEX/$CI_NODE_TOTAL`` in a job without ``parallel:``
    (CI_NODE_INDEX unset, CI_NODE_TOTAL 1), other runners ``/``, so a template can always pass it."""

    name = "K/N"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Shard | None:
        if isinstance(value, Shard):
            return value
        if str(value).replace(" ", "") in ("/", "/1"):
            return None
        try:
            return Shard.parse(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


SHARD = ShardType()
SHARD_HELP = (
    "Only shard K of N of the tenants (e.g. 2/4, one per CI job: GitHub's strategy.matrix, GitLab's "
    "parallel:). A tenant's shard comes from its name alone: the same in every run, whatever the file "
    "order; adding a tenant moves no other."
)

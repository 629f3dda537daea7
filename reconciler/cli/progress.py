"""Apply progress: a bar on a terminal, one plain line per operation elsewhere (pipeline logs)."""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Callable, Iterator

import click
from rich.console import Console
from rich.text import Text
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from reconciler.apply import FAILED, INCOMPLETE, OK, Outcome
from reconciler.plan import Create
from reconciler.cli.common import is_tty
from reconciler.describe import headline


@contextmanager
def progress_reporter(total: int) -> Iterator[Callable[[Outcome], None]]:
    if is_tty(sys.stderr):
        console = Console(stderr=True)
        with Progress(TextColumn("Applying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, transient=True) as bar:
            task = bar.add_task("apply", total=total)

            def on_outcome(outcome: Outcome) -> None:
                bar.advance(task)
                if outcome.status in (FAILED, INCOMPLETE):
                    bar.console.print(Text.assemble((f"{outcome.status} ", "red"), f"{headline(outcome.change)}: {outcome.message}"))

            yield on_outcome
        return
    done = 0

    def on_line(outcome: Outcome) -> None:
        nonlocal done
        done += 1
        text = f"[{done}/{total}] {headline(outcome.change)}: {outcome.status}"
        if outcome.status != OK or isinstance(outcome.change, Create):
            text += f": {outcome.detail}"  # the id of a created channel, or what went wrong
        click.echo(text, err=True)

    yield on_line

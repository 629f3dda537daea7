"""Apply progress: a bar on a terminal, one plain line per operation elsewhere (pipeline logs).

A cause is said once: the first outcome of a failure (or of a create another run made) is printed,
later ones with the same cause are counted and named, folded, in one line at the end.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from reconciler.apply import FAILED, INCOMPLETE, OK, Outcome
from reconciler.cli.common import is_tty
from reconciler.describe import headline
from reconciler.folding import cause, folded
from reconciler.plan import Create


class _Folder:
    """Remembers each cause's first outcome; later ones with that cause are only named at the end."""

    def __init__(self) -> None:
        self._groups: dict[str, tuple[str, str, list[str]]] = {}

    def says(self, outcome: Outcome) -> bool:
        """Whether to print this outcome: a plain success, or the first of its cause."""
        if outcome.by_other_run:
            key = "created by another run"
        elif outcome.status in (FAILED, INCOMPLETE):
            key = f"{outcome.status}: {cause(outcome.message, outcome.change.name)}"
        else:
            return True
        if key in self._groups:
            self._groups[key][2].append(outcome.change.name)
            return False
        self._groups[key] = (outcome.status, outcome.change.name, [])
        return True

    def lines(self) -> list[str]:
        return [
            f"{status}: {len(names)} more the same as {first!r}: {folded(names)}"
            for status, first, names in self._groups.values()
            if names
        ]


@contextmanager
def progress_reporter(total: int) -> Iterator[Callable[[Outcome], None]]:
    folder = _Folder()
    if is_tty(sys.stderr):
        console = Console(stderr=True)
        with Progress(
            TextColumn("Applying"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task("apply", total=total)

            def on_outcome(outcome: Outcome) -> None:
                bar.advance(task)
                if outcome.status in (FAILED, INCOMPLETE) and folder.says(outcome):
                    bar.console.print(
                        Text.assemble((f"{outcome.status} ", "red"), f"{headline(outcome.change)}: {outcome.message}")
                    )

            try:
                yield on_outcome
            finally:
                for line in folder.lines():
                    bar.console.print(line)
        return
    done = 0

    def on_line(outcome: Outcome) -> None:
        nonlocal done
        done += 1
        if not folder.says(outcome):
            return
        text = f"[{done}/{total}] {headline(outcome.change)}: {outcome.status}"
        if outcome.status != OK or isinstance(outcome.change, Create):
            text += f": {outcome.detail}"  # the id of a created channel, or what went wrong
        click.echo(text, err=True)

    try:
        yield on_line
    finally:
        for line in folder.lines():
            click.echo(line, err=True)

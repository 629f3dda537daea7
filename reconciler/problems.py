"""A channels file's problems: ``Problem`` (one, located as precisely as the YAML allows) and how a
list of them is printed (each message once with its count, at most ``SHOWN_PROBLEMS`` of them).

``ConfigError`` (``reconciler.errors``) carries them; ``errors`` re-exports every name here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from reconciler.printable import printable

# A channels file's problems as printed: each message at most MESSAGE_CHARS long, at most
# SHOWN_PROBLEMS different ones (a message repeated on many lines is printed once, with the count).
MESSAGE_CHARS = 1_000
SHOWN_PROBLEMS = 50


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a channels file, located as precisely as the YAML allows."""

    file: str
    line: int | None
    column: int | None
    path: str
    message: str

    def __post_init__(self) -> None:
        # A message quotes what the file says: escaped and bounded here, whichever check wrote it.
        for name in ("file", "path", "message"):
            object.__setattr__(self, name, printable(getattr(self, name), MESSAGE_CHARS))

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


def fold(problems: Iterable[Problem]) -> list[tuple[Problem, int]]:
    """Each problem once, the first of those with its message in its file, and how many there are."""
    groups: dict[tuple[str, str], list[Any]] = {}
    for problem in problems:
        groups.setdefault((problem.file, problem.message), [problem, 0])[1] += 1
    return [(problem, count) for problem, count in groups.values()]


def repeats(count: int) -> str:
    """What follows a folded problem: how many more like it were found."""
    return f" (and {count - 1:,} more like it)" if count > 1 else ""


def left_out(folded: list[tuple[Problem, int]]) -> str:
    """'3 more problems (2 different)': what a bounded list of folded problems leaves out."""
    total = sum(count for _, count in folded)
    return f"{total:,} more problem{'s' if total != 1 else ''} ({len(folded):,} different)"

"""Repeated failures said once: outcomes grouped by cause, the names of a group folded.

Two applies racing, or a tenant refusing every write the same way, can fail hundreds of channels
for one reason; a log of hundreds of near-identical lines hides the one line that differs. A cause
is a message with what names the channel (its name, ids and other numbers) taken out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

SHOWN_NAMES = 5  # names listed before "… and N more"
FOLD_FROM = 4  # a cause shared by fewer channels is said for each: a few lines read better than a fold
_NUMBERS = re.compile(r"\d+")


def cause(message: str, name: str) -> str:
    """The message about channel ``name`` without what names that channel (its quoted name, ids, counts)."""
    return _NUMBERS.sub("…", message.replace(repr(name), "…"))


def folded(names: Iterable[str], shown: int = SHOWN_NAMES) -> str:
    """``'a', 'b', 'c' … and 240 more``."""
    listed = list(names)
    head = ", ".join(repr(n) for n in listed[:shown])
    return head if len(listed) <= shown else f"{head} … and {len(listed) - shown} more"


def grouped(failed: Iterable[tuple[str, str]]) -> list[tuple[str, str, list[str]]]:
    """(first name, its message, the other names with the same cause), in order of first appearance;
    a cause shared by fewer than ``FOLD_FROM`` channels gives one entry per channel."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for name, message in failed:
        groups.setdefault(cause(message, name), []).append((name, message))
    out: list[tuple[str, str, list[str]]] = []
    for members in groups.values():
        if len(members) >= FOLD_FROM:
            out.append((members[0][0], members[0][1], [name for name, _ in members[1:]]))
        else:
            out += [(name, message, []) for name, message in members]
    return out


def failure_lines(failed: list[tuple[str, str]]) -> list[str]:
    """One line per cause: the first channel's reason, then the others with that cause, folded."""
    lines = []
    for name, reason, others in grouped(failed):
        lines.append(f"  {name}: {reason}")
        if others:
            lines.append(f"  the same for {len(others)} more: {folded(others)}")
    return lines

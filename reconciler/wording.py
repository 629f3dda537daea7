"""How the engine's messages name a parameter: as the library's keyword, unless a front end gave its own.

The engine speaks of its parameters (``tenant``, ``allow_deletes``); the CLI names them as its
flags (``--tenant``, ``--allow-deletes``) by running its command inside ``names(FLAGS)``
(``reconciler/cli/flags.py``). The names are a context variable: a Python caller in the same
process is not affected, and threads that run engine work for a command (every tenant at once)
are started in a copy of its context (``contextvars.copy_context``), so a report words its errors
as the terminal does.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

_NAMES: ContextVar[Mapping[str, str] | None] = ContextVar("reconciler_names", default=None)


@contextmanager
def names(table: Mapping[str, str]) -> Iterator[None]:
    """Word every message made inside with ``table`` (parameter -> what the front end calls it)."""
    token = _NAMES.set(table)
    try:
        yield
    finally:
        _NAMES.reset(token)


def named(parameter: str, library: str | None = None) -> str:
    """What ``parameter`` is called where the message is read: for a Python caller ``library``, else
    ``tenant=`` (the keyword)."""
    table = _NAMES.get() or {}
    return table.get(parameter, library if library is not None else f"{parameter}=")

"""Text that came from outside (a server's answer, a channels file), made safe to print.

Anything a server or a file says is data: shown in a terminal, a log, Markdown or a CI annotation,
a line break in it would start a line of its own (a GitHub workflow command such as
``::add-mask::``), an escape sequence would drive the terminal, a carriage return would hide what
came before it. ``printable`` shows every character that is not printable as its Python escape
(``\\n``, ``\\x1b``, ``\\u202e``), so none of them reaches an output as itself, and the ``#`` of
``##[`` (the runner's older command form, acted on anywhere in a line) as ``\\x23``; ``cut`` bounds
a value's length and says how long it was.
"""

from __future__ import annotations

# A value in a message is cut here: enough to recognise it, never enough to flood a log.
VALUE_CHARS = 200


def printable(text: str, limit: int | None = None) -> str:
    """``text`` with every unprintable character escaped (``str.isprintable``: control and format
    characters, line and paragraph separators, ...); cut to ``limit`` characters first if given."""
    if limit is not None:
        text = cut(text, limit)
    if "##[" in text:
        text = text.replace("##[", "#\\x23[")
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in text)


def quoted(value: str, limit: int = VALUE_CHARS) -> str:
    """``value`` in quotes for a message (``repr``: every unprintable character escaped), its first
    ``limit`` characters only and then how long it was."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}… ({len(value):,} characters)"


def cut(text: str, limit: int = VALUE_CHARS) -> str:
    """``text`` itself, or its first ``limit`` characters and how long the whole was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} characters)"


def _escape(ch: str) -> str:
    code = ord(ch)
    if ch in "\n\r\t":
        return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch]
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"

"""What a YAML syntax error means, in the words of the person who wrote the file.

libyaml names the token it stopped at; these hints name the cause: a tab in the indentation, a key
without a space after its colon, a mapping's keys or a list's items that lost their alignment, a
quote never closed, an alias without its anchor. Only the reader (``reconciler.yamlread``) calls
``explain``, and only when a file does not parse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml


def explain(text: str, exc: yaml.MarkedYAMLError, max_depth: int) -> tuple[str, int | None, int | None]:
    """The message, 1-based line and column for a syntax error in ``text``."""
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or ""
    lines = text.splitlines()
    if mark is not None:
        explained = (
            _tab_hint(lines, mark.line)
            or _no_space_hint(lines, mark.line, problem)
            or _indentation_hint(lines, mark.line, problem)
        )
        if explained is not None:
            return explained
    context = exc.context or ""
    opened = exc.context_mark
    if "quoted scalar" in context and opened is not None:
        message = f"a quote opened on line {opened.line + 1} is never closed: add the closing quote"
        return message, opened.line + 1, opened.column + 1
    message = f"YAML syntax error: {problem or context}"
    if context and problem and opened is not None:
        message += f" ({context} started on line {opened.line + 1})"
    if "mapping values are not allowed" in problem:
        message += ": a value that contains ': ' (a colon and a space) must be quoted"
    elif "could not find expected ':'" in problem:
        message += ": a key needs a colon after it, and a plain value must stay on its key's line or be quoted"
    elif "undefined alias" in problem and mark is not None:
        alias = re.match(r"\*[^\s,\[\]{}]*", text[mark.index :]) if mark.index is not None else None
        name = alias.group(0) if alias else "*name"
        message = f"the alias {name} refers to no anchor (&{name[1:]}) defined before it: define the anchor first"
    elif "nesting depth" in problem:
        message = f"the YAML is nested too deeply: a channels file needs at most {max_depth} levels"
    if mark is None:
        return message, None, None
    return message, mark.line + 1, mark.column + 1


_KEY_WITHOUT_SPACE = re.compile(r"(?:- +)*([A-Za-z_][A-Za-z0-9_]*):(?![/\s])\S")


def _no_space_hint(lines: list[str], error_line: int, problem: str) -> tuple[str, int, int] | None:
    """``name:value`` on the failing line or the content line before it: YAML reads it as text.

    Only the key is quoted in the message: the value may be a secret.
    """
    if "mapping values are not allowed" not in problem and "could not find expected ':'" not in problem:
        return None
    candidates = [error_line]
    before = error_line - 1
    while before >= 0 and (not lines[before].strip() or lines[before].lstrip().startswith("#")):
        before -= 1
    if before >= 0:
        candidates.insert(0, before)
    for number in candidates:
        if number >= len(lines):
            continue
        line = lines[number]
        indent = len(line) - len(line.lstrip(" "))
        found = _KEY_WITHOUT_SPACE.match(line[indent:])
        if found:
            key = found.group(1)
            column = indent + found.end(1) + 1
            message = (
                f"`{key}:` on line {number + 1} has no space after the colon, so YAML reads the line as text, "
                f"not as a key: write `{key}: ` and then the value"
            )
            return message, number + 1, column
    return None


def _tab_hint(lines: list[str], error_line: int) -> tuple[str, int, int] | None:
    """A tab in the indentation of the failing line (libyaml stops on the line of the tab)."""
    if error_line >= len(lines):
        return None
    line = lines[error_line]
    indent = line[: len(line) - len(line.lstrip(" \t-"))]
    if "\t" not in indent or not line.strip(" \t-"):
        return None
    column = indent.index("\t") + 1
    message = (
        f"YAML does not allow tabs for indentation: replace the tab at line {error_line + 1} col {column} with spaces"
    )
    return message, error_line + 1, column


@dataclass(frozen=True)
class _Level:
    column: int  # 0-based column of the key or of the `-`
    dash: bool  # a list item's `-` rather than a mapping key
    line: int  # 0-based line it was seen on
    token: str  # the key (or `-`) as written, for messages


_STRUCTURAL = (
    "did not find expected key",
    "did not find expected '-' indicator",
    "expected <block end>",
    "mapping values are not allowed",
    "could not find expected ':'",
)


def _line_levels(line: str, number: int) -> list[_Level]:
    """The block structure a line opens: each `- ` in front, then the key, if any."""
    levels: list[_Level] = []
    column = len(line) - len(line.lstrip(" "))
    rest = line[column:]
    while rest == "-" or rest.startswith("- "):
        levels.append(_Level(column, True, number, "-"))
        skipped = len(rest[1:]) - len(rest[1:].lstrip(" "))
        column += 1 + skipped
        rest = rest[1 + skipped :]
    if rest and rest[0] not in "#[{'\"" and (":" in rest):
        key = rest.split(":", 1)[0].strip()
        if key:
            levels.append(_Level(column, False, number, key + ":"))
    return levels


def _indentation_hint(lines: list[str], error_line: int, problem: str) -> tuple[str, int, int] | None:
    """Where a mapping's keys or a list's items lost their alignment, if that is the error."""
    if not any(p in problem for p in _STRUCTURAL) or error_line >= len(lines):
        return None
    open_levels: list[_Level] = []
    block_scalar_at: int | None = None  # column of the key whose `|`/`>` block we are in
    for number in range(error_line):
        line = lines[number]
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or stripped == "---":
            continue
        column = len(line) - len(line.lstrip(" "))
        if block_scalar_at is not None:
            if column > block_scalar_at:
                continue
            block_scalar_at = None
        levels = _line_levels(line, number)
        if not levels:
            continue
        open_levels = [lv for lv in open_levels if lv.column < levels[0].column] + levels
        value = stripped.split(":", 1)[1].strip() if ":" in stripped else ""
        if value[:1] in ("|", ">"):
            block_scalar_at = levels[-1].column
    here = _line_levels(lines[error_line], error_line)
    if not here or not open_levels:
        return None
    first = here[0]
    same_kind = [lv for lv in open_levels if lv.dash == first.dash]
    if not same_kind or any(lv.column == first.column for lv in same_kind):
        return None
    # The nearest column wins; on a tie, the innermost (the most recent) level.
    target = min(reversed(same_kind), key=lambda lv: abs(lv.column - first.column))
    what = "list item" if first.dash else f"`{first.token}`"
    kind = "list" if first.dash else "mapping"
    rule = "a list's `-` must line up" if first.dash else "the keys of one mapping must line up"
    message = (
        f"wrong indentation: {what} on line {error_line + 1} {_indented(first.column)}, "
        f"but the {kind} it seems to belong to (`{target.token}` on line {target.line + 1}) "
        f"{_indented(target.column)}: "
        + (f"indent it {_spaces(target.column)}" if target.column else "remove its indentation")
        + f" ({rule})"
    )
    return message, error_line + 1, first.column + 1


def _spaces(n: int) -> str:
    return "1 space" if n == 1 else f"{n} spaces"


def _indented(n: int) -> str:
    return f"is indented {_spaces(n)}" if n else "is not indented"

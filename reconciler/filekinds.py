"""The files a command reads and writes: one message for a missing input, the kind of file a command
takes, and outputs that never destroy inputs.

Kinds are told apart by their first few kilobytes: a saved plan (``plan --out``) is JSON with
``"kind": "omnidesk-channels-plan"``; a plan printed by ``plan --format json`` is JSON with
``format_version`` and ``changes`` but no kind; an export starts with the ``EXPORT_MARK`` comment;
anything else is taken for a channels file (the loader says what is wrong with it).

A pipe or a FIFO (``validate /dev/stdin``, ``validate <(sops -d ...)``) can be read once only: it is
read whole the first time (``read_input``) and kept, so telling its kind and loading it read the
same bytes. A FIFO that no one writes to is given up on after ``PIPE_WAIT`` seconds.

An output (``--out``, ``--export-out``) is checked before any work is done, so a run never prints a
plan or reads a tenant only to fail at the end: its folder must exist, it may not be one of the
command's inputs, and an existing file is replaced only by a file of the same kind (a saved plan by
a saved plan, an export by an export), unless ``force``.
"""

from __future__ import annotations

import os
import select
import stat
from collections.abc import Iterable
from pathlib import Path

from reconciler.errors import InputFileError, OutputFileError
from reconciler.wording import named

PLAN_KIND = "omnidesk-channels-plan"
# The line every export starts with (after the editor's modeline): how an export is recognised.
EXPORT_MARK = "# Exported by omnidesk-channels."

CHANNELS = "channels file"
SAVED_PLAN = "saved plan"
JSON_PLAN = "JSON plan"
EXPORT = "export"


def _described(kind: str) -> str:
    """What a file of ``kind`` is, naming what makes it as the reader calls that (``wording``)."""
    return {
        CHANNELS: "a channels file or another file",
        SAVED_PLAN: f"a saved plan from '{named('save_plan_short', 'Workflow.save')}'",
        JSON_PLAN: f"a plan printed by '{named('json_plan', 'render_json')}'",
        EXPORT: "an export from 'export'",
    }[kind]


_HEAD = 4096
PIPE_WAIT = 10.0  # seconds a pipe or FIFO may stay silent (no writer, or a writer that stopped)
PIPE_LIMIT = 64 * 1024 * 1024  # bytes kept of a pipe: more than any input a command takes
_piped: dict[str, bytes] = {}  # pipes and FIFOs read so far, by path: a second read would find them empty
_LISTED = 2000  # entries of a folder read for "did you mean": a huge folder must not slow an error


def describe(path: str | os.PathLike[str]) -> str:
    """``p.json (a saved plan from 'plan --out')``: a file named with its kind, for messages."""
    shown = os.fspath(path)
    if not os.path.exists(shown):
        return f"{shown} (no such file)"
    kind = file_kind(shown)
    if kind == CHANNELS:
        # "a channels file or another file" says nothing when two files are listed side by side
        return f"{shown} ({'a channels file' if _is_yaml(shown) else 'not a plan or an export'})"
    return f"{shown} ({_described(kind)})"


def _is_yaml(path: str) -> bool:
    return Path(path).suffix.lower() in (".yaml", ".yml")


def file_kind(path: str | os.PathLike[str]) -> str:
    """``SAVED_PLAN``, ``JSON_PLAN``, ``EXPORT`` or ``CHANNELS`` (anything else), from the file's head."""
    try:
        head = read_input(path, _HEAD).decode("utf-8", "replace")[:_HEAD]
    except OSError:
        return CHANNELS
    stripped = head.lstrip()
    if stripped.startswith("{"):
        if f'"{PLAN_KIND}"' in head:
            return SAVED_PLAN
        if '"format_version"' in head and '"changes"' in head:
            return JSON_PLAN
    if any(line.strip() == EXPORT_MARK for line in head.splitlines()[:5]):
        return EXPORT
    return CHANNELS


def read_input(path: str | os.PathLike[str], limit: int) -> bytes:
    """The first ``limit`` bytes (and one more, to tell a longer file) of an input: a regular file is
    read from its start each time, a pipe or FIFO once (whole, up to ``PIPE_LIMIT``) and then kept."""
    shown = os.fspath(path)
    if shown not in _piped:
        if stat.S_ISREG(os.stat(shown).st_mode) or os.path.isdir(shown):
            with open(shown, "rb") as handle:
                return handle.read(limit + 1)
        _piped[shown] = _read_pipe(shown)
    return _piped[shown][: limit + 1]


def forget_pipes() -> None:
    """Start a new run: a FIFO given again is read again (by a new writer)."""
    _piped.clear()


def _read_pipe(path: str) -> bytes:
    """Everything a pipe or FIFO gives until its writer closes it; silence for PIPE_WAIT is an error."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO's open would wait for a writer
    try:
        # Linux reports no hang-up on a FIFO that never had a writer: poll waits for one to come.
        poller = select.poll()
        poller.register(descriptor, select.POLLIN | select.POLLHUP)
        chunks: list[bytes] = []
        size = 0
        while size <= PIPE_LIMIT:
            if not poller.poll(PIPE_WAIT * 1000):
                who = "its writer stopped writing" if chunks else "no one wrote to it (a FIFO without a writer?)"
                raise InputFileError(f"{path}: nothing came in {PIPE_WAIT:g} s: {who}", path=path)
            try:
                chunk = os.read(descriptor, 1024 * 1024)
            except BlockingIOError:
                continue
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(descriptor)


def missing_file(path: str | os.PathLike[str]) -> InputFileError:
    """The one message for an input that does not exist, with "did you mean" from its folder."""
    shown = os.fspath(path)
    target = Path(shown)
    folder = target.parent
    if not folder.is_dir():
        return InputFileError(
            f"{shown}: no such file (the folder {os.fspath(folder)} does not exist either)", path=shown
        )
    names: list[str] = []
    try:
        with os.scandir(folder) as entries:
            for i, entry in enumerate(entries):
                if i >= _LISTED:
                    break
                if entry.is_file():
                    names.append(entry.name)
    except OSError:
        pass
    close = _closest(target.name, names)
    hint = f"; did you mean {os.fspath(folder / close) if str(folder) != '.' else close}?" if close else ""
    return InputFileError(f"{shown}: no such file{hint}", path=shown)


def _closest(name: str, names: list[str]) -> str | None:
    """The file ``name`` was probably meant to be, judged on the names without their extensions: with
    them, every ``.yaml`` looks alike (``channels.yaml`` came out close to ``a.yaml``)."""
    import difflib

    stem = Path(name).stem.lower()
    by_stem: dict[str, str] = {}
    for candidate in sorted(names):
        by_stem.setdefault(Path(candidate).stem.lower(), candidate)
    close = difflib.get_close_matches(stem, list(by_stem), n=1, cutoff=0.75)
    return by_stem[close[0]] if close else None


def require_input(path: str | os.PathLike[str], *, takes: Iterable[str] = (CHANNELS, EXPORT)) -> str:
    """``path`` if it is a readable file of a kind the command ``takes``; its kind is returned."""
    shown = os.fspath(path)
    if not os.path.exists(shown):
        raise missing_file(shown)
    if os.path.isdir(shown):
        raise InputFileError(f"{shown}: is a folder, not a file", path=shown)
    kind = file_kind(shown)
    wanted = tuple(takes)
    if kind in wanted:
        return kind
    if kind == JSON_PLAN:
        raise InputFileError(
            f"{shown} is {_described(JSON_PLAN)}: that output is for reading, not for applying. "
            f"Save a plan to apply with '{named('save_plan_command', 'Workflow.save')}', then run "
            "'omnidesk-channels apply plan.json'",
            path=shown,
        )
    if kind == SAVED_PLAN:
        raise InputFileError(
            f"{shown} is {_described(SAVED_PLAN)}, not a channels file: apply it with "
            f"'omnidesk-channels apply {shown}', or give the channels file it was planned from",
            path=shown,
        )
    raise InputFileError(f"{shown} is {_described(kind)}, not {_described(wanted[0])}", path=shown)


def check_output(
    path: str | os.PathLike[str],
    *,
    kind: str,
    inputs: Iterable[str | os.PathLike[str] | None] = (),
    force: bool = False,
    option: str | None = None,
) -> None:
    """Refuse, before any work, an output that cannot be written or would destroy a file.

    ``kind`` is what will be written (``SAVED_PLAN`` or ``EXPORT``); ``inputs`` are the files the
    command reads, which are never overwritten, not even with ``force``. ``option`` names the output
    in messages (default: the ``out`` parameter, as the front end calls it).
    """
    option = option or named("out")
    shown = os.fspath(path)
    target = Path(shown)
    for given in inputs:
        if given is not None and _same_file(target, Path(given)):
            raise OutputFileError(
                f"{option} {shown} is the input file {os.fspath(given)}: writing there would destroy it; "
                f"nothing was done. Choose another {option} path",
                path=shown,
            )
    folder = target.parent
    if not folder.is_dir():
        # the same words as the writer's (files.write_atomically), which says it when too late
        raise OutputFileError(
            f"the folder {os.fspath(folder)} does not exist: create it or choose another {option}", path=shown
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputFileError(
            f"cannot write {shown}: the folder {os.fspath(folder)} takes no new file; choose another {option}",
            path=shown,
        )
    if target.is_dir():
        raise OutputFileError(f"{option} {shown} is a folder; give a file path; nothing was done", path=shown)
    if not target.exists() or force:
        return
    found = file_kind(target)
    if found != kind:
        raise OutputFileError(
            f"{option} {shown} already exists and is {_described(found)}, not {_described(kind)}; nothing was "
            f"done and it stays as it is. Choose another path, or pass {named('force')} to replace it",
            path=shown,
        )


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()

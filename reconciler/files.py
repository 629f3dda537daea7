"""Reading and writing files the user keeps (plans, exported and imported channels files).

A write never leaves a torn file (a killed run leaves the old one), keeps the file's permissions,
and writes through a symlink to the file it points at.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path


def read_text(path: str | os.PathLike[str]) -> str:
    """The file's exact text (a byte-order mark stays, as the first character), for editing in place."""
    return Path(path).read_bytes().decode("utf-8")


def write_atomically(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``."""
    target = Path(os.path.realpath(path))
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(text, encoding="utf-8", newline="")
    try:
        os.chmod(tmp, stat.S_IMODE(target.stat().st_mode))
    except FileNotFoundError:
        pass  # a new file: the umask decides, as for any file the user creates
    os.replace(tmp, target)

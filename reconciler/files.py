"""Reading and writing files the user keeps (plans, exported and imported channels files, the
emulator's state), so a killed run leaves no torn file.

``write_atomically`` is the package's one writer: a temporary file with an unpredictable name is
created exclusively in the target's folder (``O_CREAT|O_EXCL|O_NOFOLLOW``: a symlink planted
beside the output is never followed), written, fsynced, renamed over the target, and the folder
is fsynced so the rename survives a crash. A replaced file keeps its mode; a new one gets
0644 minus the umask, or 0600 when it can hold secrets (``private=True``). A symlink at the
target itself is written through, to the file it points at (a channels file kept elsewhere).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path

from reconciler.errors import FileWriteError
from reconciler.wording import named

PUBLIC_MODE = 0o644
PRIVATE_MODE = 0o600
_TEMP_ATTEMPTS = 16


def read_text(path: str | os.PathLike[str]) -> str:
    """The file's exact text (a byte-order mark stays, as the first character), for editing in place."""
    return Path(path).read_bytes().decode("utf-8")


def write_atomically(
    path: str | os.PathLike[str], data: str | bytes, *, private: bool = False, option: str | None = None
) -> None:
    """Replace ``path`` with ``data`` (text is UTF-8) all at once; ``option`` names the output in errors
    (default: the ``out`` parameter, as the front end calls it)."""
    option = option or named("out")
    target = Path(os.path.realpath(path))
    folder = target.parent
    if not folder.is_dir():
        given = folder if Path(path).parent.is_dir() else Path(path).parent  # a link may point into it
        raise FileWriteError(
            f"the folder {given} does not exist: create it or choose another {option}", path=os.fspath(path)
        )
    payload = data.encode("utf-8") if isinstance(data, str) else data
    mode = PRIVATE_MODE if private else _kept_mode(target)
    fd, tmp = _create_temp(target, PRIVATE_MODE if private else PUBLIC_MODE)
    try:
        try:
            # The umask shapes the open mode only: a kept mode (or 0600) is set exactly.
            if mode is not None:
                os.fchmod(fd, mode)
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
        fsync_folder(folder)
    except OSError as exc:
        _unlink_quietly(tmp)
        raise FileWriteError(f"cannot write {target}: {os_error_text(exc)}", path=os.fspath(target)) from None
    except BaseException:
        _unlink_quietly(tmp)
        raise


def open_private_append(path: str | os.PathLike[str]) -> int:
    """A descriptor appending to ``path``, created 0600 (made 0600 if it exists); never follows a symlink."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, PRIVATE_MODE)
    try:
        os.fchmod(fd, PRIVATE_MODE)
    except OSError:
        os.close(fd)
        raise
    return fd


def os_error_text(exc: OSError) -> str:
    """What went wrong, for a message; a refused symlink (``O_NOFOLLOW``) says so plainly."""
    if exc.errno == errno.ELOOP:
        return "it is a symbolic link, which is never followed: remove it"
    return exc.strerror or str(exc)


def fsync_folder(folder: str | os.PathLike[str]) -> None:
    """Make a rename or a new file in ``folder`` durable: it is only once the directory entry is."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _kept_mode(target: Path) -> int | None:
    """The mode of the regular file being replaced; None for a new file (the open mode and umask decide)."""
    try:
        info = os.lstat(target)
    except OSError:
        return None
    return stat.S_IMODE(info.st_mode) if stat.S_ISREG(info.st_mode) else None


def _create_temp(target: Path, mode: int) -> tuple[int, Path]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(_TEMP_ATTEMPTS):
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
        try:
            return os.open(tmp, flags, mode), tmp
        except FileExistsError:
            continue
        except OSError as exc:
            raise FileWriteError(f"cannot write {target}: {os_error_text(exc)}", path=os.fspath(target)) from None
    raise FileWriteError(f"cannot write {target}: no free temporary name beside it", path=os.fspath(target))


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)

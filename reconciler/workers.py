"""Worker processes: one list of work split across forked children, the results merged in order.

``plan --all-tenants`` is CPU-bound under one GIL once the network waiting overlaps (issue 27:
~1.9 ms of CPU per tenant against 20 ms of waiting), so one process uses one core however many
threads it runs. Each child takes every n-th item (``items[k::n]``) and runs the same code the
single process would, with its share of the threads; the parent only waits, reads each child's
results (pickled, through a pipe of its own) and puts them back in the items' order, so what a
caller gets is what one process would have returned.

A child inherits the parent's memory (the file already parsed, the modules already imported), so
a split costs a fork and the pickled results, not a new interpreter. On Linux only (``processes_for``);
elsewhere, or with one process, the work runs here.

Ctrl-C reaches every process of the terminal's group: a child then ends at once (the default
action of SIGINT, nothing of it to clean up), and the parent stops the children left and raises
``KeyboardInterrupt`` as the single process would. An exception in a child is raised again in the
parent: ``ReconcilerError`` as it was (its message is the user's), anything else as a bug.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

# Below this many items per process a fork and the pickled results cost more than a core saves.
MIN_ITEMS_PER_PROCESS = 100


def usable_cores() -> int:
    """Cores this process may run on (a container's or ``taskset``'s limit, not the machine's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1


def processes_for(items: int, cores: int | None = None) -> int:
    """How many processes to split ``items`` across: one per usable core, each with at least
    ``MIN_ITEMS_PER_PROCESS`` items; one but on Linux (Windows has no ``fork``; on macOS a forked
    child may crash in a system framework its parent had loaded, so Python itself spawns there)."""
    if not sys.platform.startswith("linux"):
        return 1
    return max(1, min(cores if cores is not None else usable_cores(), items // MIN_ITEMS_PER_PROCESS))


def split_map(work: Callable[[Sequence[Item]], list[Result]], items: Sequence[Item], processes: int) -> list[Result]:
    """``work(share)`` for each share ``items[k::processes]`` in a child of its own; the results in
    ``items``' order. ``work`` returns one result per item of its share, in the share's order."""
    if processes <= 1 or len(items) <= 1:
        return work(items)
    processes = min(processes, len(items))
    sys.stdout.flush()  # nothing buffered here may be written twice, once by each copy
    sys.stderr.flush()
    children: list[tuple[int, int]] = []
    shares: list[list[Any]] = []
    reaped = 0
    try:
        for k in range(processes):
            children.append(_fork(work, items[k::processes]))
        for pid, fd in children:
            data, status = _wait(pid, fd)
            reaped += 1
            shares.append(_outcome(data, status))
    except BaseException:
        _stop([pid for pid, _ in children[reaped:]])  # a child failed, or Ctrl-C: the rest are not needed
        raise
    finally:
        for _, fd in children:
            os.close(fd)
    merged: list[Any] = [None] * len(items)
    for k, share in enumerate(shares):
        if len(share) != len(items[k::processes]):
            raise RuntimeError(f"a worker process returned {len(share)} results for {len(items[k::processes])}")
        merged[k::processes] = share
    return merged


def _fork(work: Callable[[Sequence[Item]], list[Result]], share: Sequence[Item]) -> tuple[int, int]:
    """Start a child running ``work`` on ``share``; its pid and the pipe its outcome comes through."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid:
        os.close(write_end)
        return pid, read_end
    os.close(read_end)  # the child, from here on: it never returns
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        data = pickle.dumps((True, work(share)), protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException as exc:  # the parent decides what it means
        data = _failure(exc)
    try:
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(data)
    finally:
        sys.stderr.flush()
        os._exit(0)


def _failure(exc: BaseException) -> bytes:
    """``exc`` pickled for the parent; one that cannot be (a bug's odd exception) by its type alone."""
    try:
        data = pickle.dumps((False, exc), protocol=pickle.HIGHEST_PROTOCOL)
        pickle.loads(data)  # an exception whose __init__ refuses its own args fails here, not in the parent
    except Exception:
        data = pickle.dumps((False, RuntimeError(f"{type(exc).__name__} in a worker process")))
    return data


def _wait(pid: int, fd: int) -> tuple[bytes, int]:
    """What a child wrote through its pipe, and its exit status, once it has ended."""
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks), os.waitpid(pid, 0)[1]


def _outcome(data: bytes, status: int) -> list[Any]:
    """A child's results, or its exception raised here."""
    if not data:
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGINT:
            raise KeyboardInterrupt
        raise RuntimeError(f"a worker process ended without a result (status {status})")
    ok, value = pickle.loads(data)  # written by our own child, through our own pipe
    if not ok:
        raise value
    assert isinstance(value, list)
    return value


def _stop(pids: Sequence[int]) -> None:
    """End and reap these children (after Ctrl-C, or a failure in another one)."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGINT)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass  # it had ended already

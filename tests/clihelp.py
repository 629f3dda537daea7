"""Run the real CLI entry point (``reconciler.cli.main``) in-process, as a user's shell would.

Exit codes come from ``main`` itself (the one place that decides them), and the emulator it talks
to is a real HTTP server from the ``emulator`` fixture. ``run_cli_subprocess`` is the slower,
fully separate-process variant for what needs a real process (signals, TTY checks);
``run_on_terminal`` runs it on a pseudo-terminal and answers its prompt.
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from click.testing import CliRunner

from reconciler.cli import main
from reconciler.emulator import Emulator
from reconciler.schema import plan_validator


@dataclass
class RunningEmulator:
    """An emulator being served: ``url`` to call, ``emu`` to inspect or tune, ``key`` to use."""

    url: str
    emu: Emulator
    key: str = "demo"


def assert_plan_valid(data: object) -> None:
    """``data`` is a plan as plan.schema.json describes it (the assertion lists every violation)."""
    errors = sorted(plan_validator().iter_errors(data), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_cli(args: Sequence[str], env: Mapping[str, str] | None = None, input: str | None = None) -> Result:
    """``omnidesk-channels ARGS`` in this process; ``env`` replaces the OMNIDESK_* variables."""
    runner = CliRunner()
    clean = {k: None for k in os.environ if k.startswith("OMNIDESK_")}
    clean.update(env or {})
    with runner.isolation(input=input, env=clean) as (out, err, _):
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        stdout, stderr = out.getvalue().decode(), err.getvalue().decode()
    return Result(code, stdout, stderr)


def run_cli_subprocess(
    args: Sequence[str],
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    timeout: float = 120,
    cwd: str | None = None,
) -> Result:
    base = {k: v for k, v in os.environ.items() if not k.startswith("OMNIDESK_")}
    base.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        env=base,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def clean_env(env: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without OMNIDESK_* and NO_COLOR, plus ``env``."""
    return {k: v for k, v in os.environ.items() if not k.startswith("OMNIDESK_") and k != "NO_COLOR"} | env


def run_on_terminal(
    args: Sequence[str], env: Mapping[str, str], typed: bytes | None = None, *, piped_output: bool = False
) -> tuple[int, str]:
    """Run the CLI with a pseudo-terminal as stdin (and as stdout/stderr unless ``piped_output``:
    then both go to one pipe, as ``omnidesk-channels apply ... 2>&1 | tee log`` does), typing
    ``typed`` once the question is on the screen."""
    leader, follower = pty.openpty()
    out = subprocess.PIPE if piped_output else follower
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", *args],
        stdin=follower,
        stdout=out,
        stderr=subprocess.STDOUT if piped_output else follower,
        env=clean_env(env),
        close_fds=True,
    )
    os.close(follower)
    screen = b""
    if piped_output:
        assert proc.stdout is not None
        os.set_blocking(proc.stdout.fileno(), False)
    deadline = time.monotonic() + 60
    source = proc.stdout.fileno() if piped_output else leader  # type: ignore[union-attr]
    while typed is not None and b"[y/N]" not in screen and time.monotonic() < deadline:
        try:
            chunk = os.read(source, 4096)
        except BlockingIOError:
            time.sleep(0.05)
            continue
        except OSError:
            break
        if not chunk and proc.poll() is not None:
            break
        screen += chunk
    if typed is not None:
        os.write(leader, typed)
    if piped_output:
        os.set_blocking(source, True)
    while True:
        try:
            chunk = os.read(source, 4096)
        except OSError:
            break
        if not chunk:
            break
        screen += chunk
    proc.wait(timeout=60)
    os.close(leader)
    return proc.returncode, screen.decode(errors="replace").replace("\r\n", "\n")

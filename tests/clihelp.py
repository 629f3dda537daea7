"""Run the real CLI entry point (``reconciler.cli.main``) in-process, as a user's shell would.

Exit codes come from ``main`` itself (the one place that decides them), and the emulator it talks
to is a real HTTP server from the ``emulator`` fixture. ``run_cli_subprocess`` is the slower,
fully separate-process variant for what needs a real process (signals, TTY checks).
"""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Mapping, Sequence

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
    args: Sequence[str], env: Mapping[str, str] | None = None, input: str | None = None, timeout: float = 120,
    cwd: str | None = None,
) -> Result:
    base = {k: v for k, v in os.environ.items() if not k.startswith("OMNIDESK_")}
    base.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "reconciler", *args], env=base, input=input, capture_output=True, text=True,
        timeout=timeout, cwd=cwd,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)

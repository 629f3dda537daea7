"""Start-up: ``--version`` and ``validate`` of a valid file import only what they use.

Timings on a shared machine are noise, so these tests pin the cause instead: the modules a fresh
process imports (``python -X importtime``). ``bench/run.py`` prints the times against the floor.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from clihelp import RunningEmulator, run_cli

from reconciler import __version__
from reconciler.config import load_channels_file

ROOT = Path(__file__).parent.parent
QUICKSTART = ROOT / "examples" / "quickstart.yaml"
# Heavy modules a valid file's validate has no use for: error wording, terminal styling, HTTP, the emulator.
NOT_FOR_VALIDATE = (
    "jsonschema",
    "rich",
    "httpx",
    "uvicorn",
    "deepdiff",
    "reconciler.emulator",
    "difflib",
    "reconciler.client",
)


# What a plan of a converged tenant has no use for: the field diff's DeepDiff (only a pair that
# differs needs it), the write paths (apply, import, export) and what they use, and the terminal
# styling httpx would import for its own command line (rich, pygments: the CLI marks it absent).
NOT_FOR_PLAN = (
    "rich",
    "pygments",
    "deepdiff",
    "ruamel",
    "reconciler.apply",
    "reconciler.importer",
    "reconciler.yamledit",
    "reconciler.export",
    "reconciler.emulator",
    "jsonschema",
    "difflib",
)


def imported(*args: str, env: dict[str, str] | None = None) -> tuple[str, set[str]]:
    """stdout of ``python -X importtime -m reconciler ARGS`` and every module it imported."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "reconciler", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        env={**os.environ, **(env or {})},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    modules = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    return proc.stdout, modules


def test_version_answers_without_loading_the_cli() -> None:
    out, modules = imported("--version")
    assert out == run_cli(["--version"]).stdout == f"omnidesk-channels {__version__}\n"
    assert not {m for m in modules if m.split(".")[0] in ("click", "yaml")}
    assert "reconciler.cli" not in modules


def test_validate_of_a_valid_file_imports_no_error_wording_nor_http() -> None:
    out, modules = imported("validate", str(QUICKSTART))
    assert out.endswith("valid (2 channels)\n")
    loaded = {name for name in NOT_FOR_VALIDATE if any(m == name or m.startswith(name + ".") for m in modules)}
    assert not loaded, f"validate imported {sorted(loaded)}"
    assert "jsonschema_rs" in modules


def test_validate_of_an_invalid_file_still_words_every_error(tmp_path: Path) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text("version: 1\nchannels:\n  - name: SMS gateway\n    icno: chat\n", encoding="utf-8")
    result = run_cli(["validate", str(path)])
    assert result.exit_code == 1
    assert "channels.yaml:4:5: channels[0].icno: unknown key 'icno': did you mean 'icon'?" in result.stderr


def test_plan_of_a_converged_tenant_imports_no_diff_library_and_no_write_path(emulator: RunningEmulator) -> None:
    emulator.emu.seed_channels([dict(c.fields) for c in load_channels_file(QUICKSTART, environ={}).channels])
    out, modules = imported("plan", str(QUICKSTART), "--url", emulator.url, env={"OMNIDESK_API_KEY": emulator.key})
    assert "No changes." in out
    loaded = {name for name in NOT_FOR_PLAN if any(m == name or m.startswith(name + ".") for m in modules)}
    assert not loaded, f"plan imported {sorted(loaded)}"

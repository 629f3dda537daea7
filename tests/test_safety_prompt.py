"""Issue 11: the apply prompt and its neighbours, on a real pseudo-terminal where it matters."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from clihelp import clean_env, run_cli, run_on_terminal

SECRET = "s3cr3t-canary-value"

BASE = """\
version: 1
channels:
  - name: SMS gateway
    custom_channel_endpoint: https://sms.example.com/hook
    custom_channel_secret: ${env:SMS_GATEWAY_SECRET}
  - name: Instagram DM
"""


@pytest.fixture
def env(emulator):
    return {"OMNIDESK_URL": emulator.url, "OMNIDESK_API_KEY": emulator.key, "SMS_GATEWAY_SECRET": SECRET}


def write(tmp_path: Path, text: str, name: str = "channels.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def writes(emu) -> int:
    return sum(emu.stats[k] for k in ("create", "update", "delete"))


def test_the_question_restates_the_counts_and_the_target(tmp_path, emulator, env):
    emulator.emu.seed_channels([{"name": "Instagram DM", "icon": "camera"}, {"name": "Old fax"}])
    path = write(tmp_path, "version: 1\nprune: true\n" + BASE.removeprefix("version: 1\n"))
    code, screen = run_on_terminal(["apply", path], env, b"n\n")
    assert code == 1
    assert f"Apply 1 create, 1 update and 1 delete to {emulator.url}? [y/N]: " in screen
    assert "Error: apply cancelled at the prompt; nothing was changed" in screen
    assert writes(emulator.emu) == 0


def test_piped_output_shows_the_plan_before_the_question(tmp_path, emulator, env):
    path = write(tmp_path, BASE)
    code, screen = run_on_terminal(["apply", path], env, b"y\n", piped_output=True)
    assert code == 0, screen
    plan_at = screen.index("Plan: 2 to create, 0 to update, 0 to delete.")
    question_at = screen.index(f"Apply 2 creates to {emulator.url}? [y/N]: ")
    assert plan_at < screen.index("+ create 'SMS gateway'") < question_at
    assert "Apply: 2 created" in screen[question_at:]


def test_ctrl_d_at_the_prompt_is_a_no(tmp_path, emulator, env):
    path = write(tmp_path, BASE)
    code, screen = run_on_terminal(["apply", path], env, b"\x04")
    assert code == 1, screen
    assert "Error: apply cancelled at the prompt; nothing was changed" in screen
    assert "Aborted" not in screen and "Interrupted" not in screen
    assert writes(emulator.emu) == 0


def test_a_saved_plan_on_a_terminal_is_shown_and_asked(tmp_path, emulator, env):
    path = write(tmp_path, BASE)
    saved = str(tmp_path / "plan.json")
    assert run_cli(["plan", path, "--out", saved], env).exit_code == 0
    code, screen = run_on_terminal(["apply", saved], env, b"n\n")
    assert code == 1
    assert "+ create 'SMS gateway'" in screen and "(sensitive) will be sent" in screen
    assert f"Apply 2 creates to {emulator.url}? [y/N]: " in screen
    assert writes(emulator.emu) == 0
    code, screen = run_on_terminal(["apply", saved], env, b"y\n")
    assert code == 0, screen
    assert "Apply: 2 created" in screen


def test_a_saved_plan_off_a_terminal_applies_without_yes(tmp_path, emulator, env):
    """It was reviewed when it was made (Terraform applies a saved plan without asking); CI has no TTY."""
    path = write(tmp_path, BASE)
    saved = str(tmp_path / "plan.json")
    assert run_cli(["plan", path, "--out", saved], env).exit_code == 0
    result = run_cli(["apply", saved], env)
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("Plan: 2 to create, 0 to update, 0 to delete.\n")
    assert writes(emulator.emu) == 2


def test_a_file_off_a_terminal_still_needs_yes(tmp_path, emulator, env):
    result = run_cli(["apply", write(tmp_path, BASE)], env)
    assert result.exit_code == 1
    assert "not on a terminal: pass --yes to apply the plan above (nothing was changed)" in result.stderr
    assert writes(emulator.emu) == 0


def test_a_long_not_managed_list_shows_ten_names_and_how_many_more(tmp_path, emulator, env):
    emulator.emu.seed_channels([{"name": f"Legacy {i:02d}"} for i in range(25)])
    result = run_cli(["plan", write(tmp_path, BASE)], env)
    names = ", ".join(f"'Legacy {i:02d}'" for i in range(10))
    assert (
        "Not managed here (25, left alone; list them in the file, or prune them with --prune or prune: true): "
        f"{names} and 15 more\n"
    ) in result.stdout


def test_an_interrupted_prune_says_to_plan_again(tmp_path, make_emulator):
    running = make_emulator(latency_ms=60)
    running.emu.seed_channels([{"name": f"Old {i:02d}"} for i in range(40)])
    path = write(tmp_path, "version: 1\nprune: true\nchannels: []\n")
    env = {"OMNIDESK_URL": running.url, "OMNIDESK_API_KEY": "demo"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "apply", path, "--yes", "--allow-deletes", "40", "--parallelism", "2"],
        env=clean_env(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if re.match(r"\[5/40\]", line):
            proc.send_signal(signal.SIGINT)
            break
    lines += proc.stderr.readlines()
    code = proc.wait(timeout=60)
    stderr = "".join(lines)
    assert code == 130, stderr
    done = int(re.search(r"Apply: 0 created, 0 updated, (\d+) deleted", stderr).group(1))
    left = 40 - done
    assert 5 <= done < 40
    assert (
        f"Interrupted: {left} operation(s) not started; {done} of 40 deletes were done, so the delete count "
        "changed: plan again to review what is left (an --allow-deletes must name the new count)."
    ) in stderr
    again = run_cli(["apply", path, "--yes", "--allow-deletes", "40"], env)
    assert again.exit_code == 1
    assert f"--allow-deletes 40 was given but the plan deletes {left} channel(s)" in again.stderr

"""A channels file written by an attacker (a pull request controls it): what it says is printed
bounded and escaped, and no file makes a run do unbounded work. Through the CLI, as CI runs it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from reconciler import filekinds
from tests.clihelp import run_cli
from tests.test_hostile_server import executed

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "examples" / "quickstart.yaml"


def write(tmp_path: Path, text: str, name: str = "channels.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def alias_file(length: int, copies: int) -> str:
    """One long value, anchored once and aliased ``copies`` times (the issue's 100 KB x 200)."""
    return "version: 1\nx: &v " + "x" * length + "\nchannels:\n" + "".join("  - name: *v\n" for _ in range(copies))


@pytest.mark.parametrize("fmt", ["text", "github", "json"])
@pytest.mark.parametrize("length, copies", [(100_000, 200), (1_000_000 - 100, 2_000), (20_000, 60)])
def test_aliases_count_by_the_size_they_expand_to(length: int, copies: int, fmt: str, tmp_path: Path) -> None:
    path = write(tmp_path, alias_file(length, copies))
    started = time.process_time()  # this process's CPU: a loaded machine stretches wall time, not this
    result = run_cli(["validate", path, "--format", fmt])
    took = time.process_time() - started
    assert result.exit_code == 1
    assert "YAML aliases (*name) expand to more than 100,000 extra values or 1,000,000 characters" in result.output
    assert len(result.output) < 2_000, len(result.output)  # 19.9 MB (39.9 MB with github) before
    assert took < 1.0, took


def test_values_in_messages_are_cut_and_escaped(tmp_path: Path) -> None:
    name = "ab" * 50_000
    evil = r"a\e[31mb\u2028::error title=x::pwned\r\n::add-mask::y"
    text = (
        "version: 1\ntenants:\n  staging: {url: https://s.omnidesk.com}\nchannels:\n"
        f"  - name: {name}\n  - name: {name}\n"
        f'  - name: "{evil}"\n  - name: "{evil}"\n'
        f'  - name: A\n    tenants: ["{evil}"]\n'
        f'  - name: B\n    custom_channel_warning_en: "${{{evil}}}"\n'
    )
    path = write(tmp_path, text)
    for fmt in ("text", "github"):
        result = run_cli(["validate", path, "--format", fmt])
        assert result.exit_code == 1
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]", result.output)
        assert all(re.match(r"::(error|warning)( file=[^:]*)?::", c) for c in executed(result.output))
        assert f"duplicate channel name '{'ab' * 100}'… (100,000 characters)" in result.output
        assert r"'a\x1b[31mb\u2028::error title=x::pwned\r\n::add-mask::y'" in result.output
        assert len(result.output) < 10_000


def test_each_problem_is_printed_once_with_its_count(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nchannels:\n" + "  - icon: sms\n" * 900)
    result = run_cli(["validate", path])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "Error: 900 problems in the channels file:",
        f"  {path}:3:5: channels[0]: missing `name`: every channel needs a name (and 899 more like it)",
    ]


@pytest.mark.parametrize("fmt", ["text", "github", "json"])
def test_the_output_of_a_run_is_bounded_and_says_what_it_left_out(fmt: str, tmp_path: Path) -> None:
    tenants = "".join(f"  - name: C{i}\n    tenants: [nowhere{i}]\n" for i in range(400))
    path = write(tmp_path, "version: 1\ntenants:\n  staging: {url: https://s.omnidesk.com}\nchannels:\n" + tenants)
    result = run_cli(["validate", path, "--format", fmt])
    assert result.exit_code == 1
    if fmt == "json":
        assert '"left_out"' not in result.stdout  # 400 problems: JSON lists them all (up to 1,000)
        assert result.stdout.count('"message"') == 400
    else:
        assert "… and 350 more problems (350 different) not shown: fix these first" in result.stderr
        assert result.stderr.count("unknown tenant") == 50
    if fmt == "github":
        assert result.stdout.count("::error ") == 50
        assert "::error::350 more problems (350 different) not shown: fix these first" in result.stdout


def test_a_file_of_a_million_values_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nchannels: [" + ",".join(["{}"] * 1_500_000) + "]\n")
    started = time.process_time()  # this process's CPU, as above
    result = run_cli(["validate", path])
    assert time.process_time() - started < 1.0
    assert result.exit_code == 1
    assert result.stderr.splitlines()[1].endswith(
        "the file holds up to 1,500,001 values (lines and commas); a channels file has at most 500,000 "
        "(20,000 channels of ten fields fit in half of that)"
    )


def test_a_schema_check_stops_after_a_thousand_problems(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nchannels:\n" + "- {}\n" * 100_000)
    started = time.monotonic()
    result = run_cli(["validate", path])
    assert time.monotonic() - started < 15  # 53 s, 490 MB and 20 MB of output before
    assert result.stderr.splitlines()[1:] == [
        f"  {path}:3:3: channels[0]: missing `name`: every channel needs a name (and 999 more like it)",
        f"  {path}: checking stopped after 1,000 problems: fix these first",
    ]


@pytest.mark.parametrize(
    "value",
    ["0x" + "f" * 3600, "-0x" + "F" * 3700, "1" + ":0" * 3000, "0x" + "f_" * 3700, "0" + "7" * 4301, "9" * 4301],
)
def test_a_long_integer_in_any_base_is_a_clear_error(value: str, tmp_path: Path) -> None:
    path = write(tmp_path, f"version: {value}\nchannels: []\n")
    result = run_cli(["validate", path])
    assert result.exit_code == 1
    # YAML 1.2 (the loader's reading) takes 0x… for an integer, and -0x…, 1:0:… for strings: either
    # way one clear line, cut, never "internal error: ValueError"
    too_long = r"a number of more than 4300 (decimal )?digits is too long to read: quote the value to make it a string"
    wrong = r"must be the number 1, not the string '.*'\.\.\. \([0-9,]+ characters\): remove the quotes"
    assert re.fullmatch(
        rf"Error: 1 problem in the channels file:\n  {re.escape(path)}:1:10: version: "
        rf"({too_long}|{wrong})\n",
        result.stderr,
    ), result.stderr


@pytest.mark.parametrize("how", ["stdin pipe", "process substitution"])
def test_a_pipe_is_read_once(how: str) -> None:
    command = {
        "stdin pipe": f"cat {QUICKSTART} | {sys.executable} -m reconciler validate /dev/stdin",
        "process substitution": f"{sys.executable} -m reconciler validate <(cat {QUICKSTART})",
    }[how]
    result = subprocess.run(
        ["bash", "-c", command],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("OMNIDESK_")},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith(": valid (2 channels)\n")


def test_a_fifo_is_read_once_and_one_without_a_writer_times_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fifo = tmp_path / "channels.fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(QUICKSTART.read_bytes()))
    writer.start()
    result = run_cli(["plan", str(fifo), "--emulator-state", str(tmp_path / "emulator.json")])
    writer.join(timeout=10)
    assert result.exit_code == 0 and "Plan: 2 to create" in result.stdout, result.output
    monkeypatch.setattr(filekinds, "PIPE_WAIT", 0.5)
    started = time.monotonic()
    result = run_cli(["validate", str(fifo)])
    assert time.monotonic() - started < 5
    assert result.exit_code == 1
    assert result.stderr == f"Error: {fifo}: nothing came in 0.5 s: no one wrote to it (a FIFO without a writer?)\n"

"""A hostile server behind a tenant URL: what it sends is data, never a command, a misdirection or a flood.

Each test runs the CLI as a user (or a GitHub job) would, against ``tests.hostile.HostileServer``
over real HTTP. ``executed`` reads a job log the way the GitHub runner does, so a test sees which
workflow commands a line of output would make it run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clihelp import run_cli
from tests.hostile import KEY, HostileServer, Reply, channel, listing

FILE = """\
version: 1
channels:
  - name: SMS gateway
    icon: sms
    custom_channel_warning_en: Replies by SMS can take a few minutes
"""
# A server's text: workflow commands on lines of their own (LF, CR, a Unicode line separator), the
# old ##[ form, terminal escapes (7-bit and the 8-bit CSI), a right-to-left override.
EVIL = (
    "nope\n::add-mask::x\n::error title=pwned::owned\r::warning::cr\u2028::notice::ls\r\nsee ##[error]old "
    "\x1b[2J\x1b]8;;http://x\x07\x9b31m\u202e"
)
OURS = re.compile(r"::(group|endgroup|stop-commands|error title=omnidesk-channels|warning title=omnidesk-channels)\b")


def executed(log: str) -> list[str]:
    """The workflow commands the GitHub runner would execute reading ``log``: each ``::name`` at a
    line's start (spaces aside) and each ``##[name`` anywhere, except between ``::stop-commands::T``
    and ``::T::``. Lines end at any line break (the runner's reader ends them at CR too)."""
    commands: list[str] = []
    stopped_by: str | None = None
    for line in log.splitlines():
        found = re.match(r"::([^\s:]+)", line.lstrip()) or re.search(r"##\[([^\]\s]+)", line)
        if found is None:
            continue
        name = found.group(1)
        if stopped_by is not None:
            if name == stopped_by:
                stopped_by = None
            continue
        if name == "stop-commands":
            stopped_by = line.lstrip()[len("::stop-commands::") :]
        commands.append(line.lstrip() if line.lstrip().startswith("::") else found.group(0))
    return commands


def assert_inert(output: str) -> None:
    """No terminal control, no line break but LF, and every command the runner would run is ours."""
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e]", output), output
    for command in executed(output):
        assert OURS.match(command) or re.fullmatch(r"::omnidesk-[0-9a-f]{32}::", command), command


@pytest.fixture
def channels_file(tmp_path: Path) -> str:
    path = tmp_path / "channels.yaml"
    path.write_text(FILE)
    return str(path)


def github_env(tmp_path: Path) -> dict[str, Any]:
    (tmp_path / "event.json").write_text("{}")
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(tmp_path / "out"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "sum"),
        "GITHUB_EVENT_PATH": str(tmp_path / "event.json"),
        "GITHUB_EVENT_NAME": "push",
        "GITHUB_REPOSITORY": "acme/config",
        "GITHUB_WORKSPACE": str(tmp_path),
    }


def evil_text_server(method: str, path: str, query: dict[str, str]) -> Reply:
    """Lists one custom channel whose name and values are hostile; refuses every write with hostile text."""
    if method == "GET":
        return listing([channel(41, "old" + EVIL, icon="x" + EVIL, custom_channel_warning_en=EVIL)], total=1)
    return Reply(400, {"status": "error", "message": EVIL, "field": "name" + EVIL})


def evil_error_server(method: str, path: str, query: dict[str, str]) -> Reply:
    return Reply(403, {"status": "error", "message": EVIL}, headers={"X-Note": "x"})


COMMANDS = {
    "plan": ["plan", "{file}", "--url", "{url}", "--prune"],
    "plan-markdown": ["plan", "{file}", "--url", "{url}", "--prune", "--format", "markdown"],
    "plan-json": ["plan", "{file}", "--url", "{url}", "--prune", "--format", "json"],
    "apply": ["apply", "{file}", "--url", "{url}", "--prune", "--yes", "--allow-deletes", "1"],
    "export": ["export", "--url", "{url}"],
    "ci-github-plan": ["ci", "github", "plan", "--file", "{file}", "--out-dir", "{out}"],
    "ci-github-plan-markdown": [
        "ci",
        "github",
        "plan",
        "--file",
        "{file}",
        "--out-dir",
        "{out}",
        "--format",
        "markdown",
    ],
}


@pytest.mark.parametrize("server", [evil_text_server, evil_error_server], ids=["names-values-writes", "errors"])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_servers_text_reaches_no_output_as_a_command_an_escape_or_a_line_break(
    server: Any, command: str, channels_file: str, tmp_path: Path
) -> None:
    with HostileServer(server) as hostile:
        args = [a.format(file=channels_file, url=hostile.url, out=tmp_path / "plans") for a in COMMANDS[command]]
        env = {
            "OMNIDESK_API_KEY": KEY,
            "OMNIDESK_URL": hostile.url,
            **(github_env(tmp_path) if command.startswith("ci-") else {}),
        }
        result = run_cli(args, env)
    assert result.exit_code in (0, 1, 2), result.output
    assert "internal error" not in result.output
    assert_inert(result.output)
    if command.startswith("ci-"):
        assert_inert((tmp_path / "sum").read_text())
    # The text is shown (escaped), not dropped: a reader still sees what the server said.
    assert "::add-mask::x" in result.output or (command == "plan-json" and server is evil_text_server)


def test_the_runner_reading_helper_sees_a_raw_command() -> None:
    """``executed`` must be able to fail: the raw text holds commands the runner would run."""
    assert "::add-mask::x" in executed(EVIL) and "##[error" in executed(EVIL)
    with pytest.raises(AssertionError):
        assert_inert(EVIL)


@pytest.mark.parametrize(
    "bad, shown",
    [
        (True, "true"),
        (6.5, "6.5"),
        ("7", '"7"'),
        (1e308, "1e+308"),
        (0, "0"),
        (-3, "-3"),
        (2**64, "18446744073709551616"),
        (None, "null"),
    ],
)
@pytest.mark.parametrize("command", ["plan", "apply", "export"])
def test_an_id_that_is_not_a_positive_integer_is_refused_naming_the_call_and_field(
    bad: Any, shown: str, command: str, channels_file: str
) -> None:
    writes: list[str] = []

    def server(method: str, path: str, query: dict[str, str]) -> Reply:
        if method != "GET":
            writes.append(f"{method} {path}")
        return listing([channel(12, "ok"), channel(bad, "old")], total=2)

    with HostileServer(server) as hostile:
        args = {
            "plan": ["plan", channels_file, "--prune"],
            "apply": ["apply", channels_file, "--prune", "--yes", "--allow-deletes", "2"],
            "export": ["export"],
        }[command]
        result = run_cli([*args, "--url", hostile.url], {"OMNIDESK_API_KEY": KEY})
    assert result.exit_code == 1
    assert writes == []
    assert (
        f"Error: GET /api/v2/channel?itemStart=0&itemLimit=99: the answer's items[1].id is {shown}, "
        "not a positive integer id"
    ) in result.stderr, result.stderr
    assert "delete" not in result.stdout


def test_a_create_answered_with_a_boolean_id_is_not_taken_as_channel_1(channels_file: str) -> None:
    def server(method: str, path: str, query: dict[str, str]) -> Reply:
        if method == "POST":
            return Reply(body={"type": "item", "item": channel(True, "SMS gateway")})
        return listing([], total=0)

    with HostileServer(server) as hostile:
        result = run_cli(["apply", channels_file, "--url", hostile.url, "--yes"], {"OMNIDESK_API_KEY": KEY})
    assert result.exit_code == 1
    assert "item.id is true, not a positive integer id" in result.stderr
    assert not any(call.startswith("PUT /api/v2/channel/1") for call in hostile.calls), hostile.calls


@pytest.mark.parametrize(
    "body, said",
    [
        (b'{"items":' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
        (b'{"type":"list","items":[' + b"{}," * 3_000_000 + b"{}]}", "JSON objects and lists"),
        (b'{"type":"list","items":[' + b"1.5," * 3_000_000 + b"1]}", "commas"),
    ],
)
def test_deep_or_huge_json_is_refused_naming_the_call(body: bytes, said: str, channels_file: str) -> None:
    with HostileServer(lambda m, p, q: Reply(body=body)) as hostile:
        result = run_cli(["plan", channels_file, "--url", hostile.url], {"OMNIDESK_API_KEY": KEY})
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: GET /api/v2/channel?itemStart=0&itemLimit=99: ")
    assert said in result.stderr and "internal error" not in result.stderr


def fresh_pages(per_page: int, filler: int, total: int | None = None, pages: int = 10) -> Any:
    """A list (without itemTotal unless given) whose every page brings ``per_page`` new channels,
    each with ``filler`` characters of warning, for ``pages`` pages (the test's page budget, so that
    a client without a budget of its own ends too, with all of it in memory)."""

    def answer(method: str, path: str, query: dict[str, str]) -> Reply:
        start = int(query.get("itemStart", "0"))
        count = per_page if start < per_page * pages else 0
        return Reply(body=page_stream(start, count, filler, total=total))

    return answer


def page_stream(start: int, count: int, filler: int, tail: str = "", total: int | None = None) -> Iterator[bytes]:
    yield b'{"type":"list",' + (b'"itemTotal":%d,' % total if total is not None else b"") + b'"items":['
    warning = "w" * filler + tail
    for n in range(start + 1, start + count + 1):
        item = channel(n, f"c{n}", custom_channel_warning_en=warning)
        yield (b"," if n > start + 1 else b"") + json.dumps(item, ensure_ascii=False).encode()
    yield b"]}"


def test_a_list_read_has_a_total_budget_of_bytes(channels_file: str) -> None:
    with HostileServer(fresh_pages(per_page=99, filler=200_000)) as hostile:
        result = run_cli(["plan", channels_file, "--url", hostile.url], {"OMNIDESK_API_KEY": KEY})
    assert result.exit_code == 1
    assert "the channel list's answers passed 64.0 MiB in all" in result.stderr, result.stderr
    assert len(hostile.calls) < 20


def astral_page(method: str, path: str, query: dict[str, str]) -> Reply:
    """One 30 MB page whose strings each hold one character beyond U+FFFF: Python keeps such a
    string at 4 bytes a character, so a careless reader holds 4 times what came over the wire."""
    start = int(query.get("itemStart", "0"))
    return Reply(body=page_stream(start, 99 if start < 99 * 3 else 0, 300_000 - 1, tail="\U0001f600"))


HOSTILE = {
    "fresh 30 MB pages, no itemTotal": fresh_pages(per_page=99, filler=300_000),
    "fresh 30 MB pages, itemTotal 100000 (read ahead)": fresh_pages(per_page=99, filler=300_000, total=100_000),
    "astral strings": astral_page,
    "32 MB of empty objects": lambda m, p, q: Reply(body=b'{"items":[' + b"{}," * 10_000_000 + b"{}]}"),
    "deep JSON": lambda m, p, q: Reply(body=b'{"items":' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
}


# The CLI, saying its own peak resident memory as it exits: VmHWM, which starts again at exec
# (ru_maxrss would carry over the forking test process's own).
MEASURED = """\
import atexit, re, sys
def peak():
    status = open("/proc/self/status").read()
    sys.stderr.write("peak KiB: " + re.search(r"VmHWM:\\s+(\\d+)", status).group(1))
atexit.register(peak)
from reconciler.cli import main
main(sys.argv[1:])
"""


@pytest.mark.parametrize("hostile", list(HOSTILE))
def test_peak_memory_against_a_hostile_server_stays_under_300_mib(hostile: str, channels_file: str) -> None:
    with HostileServer(HOSTILE[hostile]) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIDESK_")} | {"OMNIDESK_API_KEY": KEY}
        proc = subprocess.run(
            [sys.executable, "-c", MEASURED, "plan", channels_file, "--url", server.url],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    err, _, peak = proc.stderr.rpartition("peak KiB: ")
    print(f"{hostile}: peak {int(peak) / 1024:.0f} MiB; {err.strip()}")
    assert proc.returncode == 1 and err.startswith("Error: GET /api/v2/channel"), err
    assert int(peak) / 1024 < 300


@pytest.mark.parametrize("ticket", ["51", True, 51.0, 2**60])
def test_message_send_refuses_an_answer_whose_ticket_id_is_not_an_integer(ticket: Any) -> None:
    def server(method: str, path: str, query: dict[str, str]) -> Reply:
        if method == "POST":
            return Reply(body={"type": "item", "item": {"ticketID": ticket, "messageID": 907}})
        return listing([channel(12, "SMS gateway")], total=1)

    with HostileServer(server) as hostile:
        result = run_cli(
            ["message", "send", "--url", hostile.url, "--channel", "SMS gateway", "--message", "hi"],
            {"OMNIDESK_API_KEY": KEY},
        )
    assert result.exit_code == 1
    assert "POST /api/v2/channel/customChannelMessage: the answer's item.ticketID is " in result.stderr, result.stderr

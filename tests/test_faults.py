"""A bad day, through the real CLI against the emulator over real HTTP.

Transient errors, rate limits and lost create answers; ``apply`` interrupted (SIGINT) and killed
(SIGKILL) midway; two appliers racing on one tenant; a server answering garbage. Each test checks
the emulator's state, not only the exit code: no duplicates, no lost values, every failure named.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from clihelp import Result, run_cli
from conftest import RunningEmulator

from reconciler.emulator import GARBAGE_MODES, Emulator
from reconciler.model import FIELDS, MANAGED_FIELDS, SECRET_FIELD

SECRET_VAR = "FAULTS_CHANNEL_SECRET"
SECRET = "s3cret-value"
PROGRESS = re.compile(r"^\[(\d+)/(\d+)\] ")
SUMMARY = re.compile(
    r"Apply: (\d+) created(?:, \d+ created by another run)?, (\d+) updated, (\d+) deleted "
    r"\(of (\d+) planned\)"
)


def wanted(i: int) -> dict[str, Any]:
    """Channel ``i`` as the file writes it; every field away from its default on some channels."""
    return {
        "name": f"Fault channel {i:04d}",
        "icon": "sms" if i % 2 else "whatsapp",
        "custom_channel_endpoint": f"https://hook{i}.example.com/omnidesk/api/message",
        "custom_channel_warning_en": f"Replies take up to {i % 7 + 1} days" if i % 3 else "",
        "custom_channel_warning_nl": "",
        "include_signature": i % 2 == 0,
        "custom_channel_available_in_quick_ticket": i % 5 == 0,
    }


def write_file(path: Path, n: int) -> Path:
    lines = ["version: 1", "prune: false", "channels:"]
    for i in range(n):
        lines.append(f"  - name: {wanted(i)['name']}")
        for key, value in wanted(i).items():
            if key == "name" or value == FIELDS[key].default:
                continue
            shown = ("true" if value else "false") if isinstance(value, bool) else f'"{value}"'
            lines.append(f"    {key}: {shown}")
        lines.append(f"    {SECRET_FIELD}: ${{env:{SECRET_VAR}}}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def env(running: RunningEmulator) -> dict[str, str]:
    return {"OMNIDESK_API_KEY": running.key, SECRET_VAR: SECRET}


def apply_args(path: Path, running: RunningEmulator, *extra: str) -> list[str]:
    return ["apply", str(path), "--url", running.url, "--yes", *extra]


def customs(emu: Emulator) -> list[dict[str, Any]]:
    return [c for c in emu.channels() if c["type"] == "custom"]


def assert_converged(emu: Emulator, n: int) -> None:
    """Exactly the file's channels, once each, every field (the secret too) as the file says."""
    have = customs(emu)
    names = [c["name"] for c in have]
    assert len(names) == len(set(names)), f"duplicate channels: {sorted(n for n in names if names.count(n) > 1)}"
    assert sorted(names) == sorted(wanted(i)["name"] for i in range(n))
    by_name = {c["name"]: c for c in have}
    lost = [
        f"{w['name']}.{field}"
        for w in map(wanted, range(n))
        for field in (*MANAGED_FIELDS, SECRET_FIELD)
        if by_name[w["name"]][field] != w.get(field, SECRET)
    ]
    assert not lost, f"field values lost: {lost[:10]}"


def failed_names(result: Result) -> set[str]:
    """The channels the output reports as failed, from the ApplyError list ("  NAME: reason")."""
    block = result.stderr.split("operations failed:", 1)
    if len(block) < 2:
        return set()
    names = set()
    for line in block[1].splitlines():
        match = re.match(r"^  (Fault channel \d{4}): ", line)
        if match:
            names.add(match.group(1))
    return names


def not_converged(emu: Emulator, n: int) -> set[str]:
    by_name = {c["name"]: c for c in customs(emu)}
    return {
        w["name"]
        for w in map(wanted, range(n))
        if w["name"] not in by_name
        or any(by_name[w["name"]][f] != w.get(f, SECRET) for f in (*MANAGED_FIELDS, SECRET_FIELD))
    }


# -- transient faults ---------------------------------------------------------------------------


def test_apply_converges_under_errors_rate_limits_and_lost_creates(
    make_emulator: Callable[..., RunningEmulator], tmp_path: Path
) -> None:
    running = make_emulator(error_rate=0.1, rate_limit=200, lose_create_responses=0.2, seed=6)
    path = write_file(tmp_path / "channels.yaml", 500)

    first = run_cli(apply_args(path, running), env=env(running))
    runs = [first]
    if first.exit_code != 0:
        assert first.exit_code == 1, first.output[-2000:]
        # Whatever did not converge is named as failed, in the summary and on its progress line.
        missing = not_converged(running.emu, 500)
        reported = failed_names(first)
        assert missing <= reported, f"not reported: {sorted(missing - reported)}"
        for name in reported:
            assert re.search(rf"^\[\d+/500\] create {name!r}: (failed|incomplete): ", first.stderr, re.M), name
        runs.append(run_cli(apply_args(path, running), env=env(running)))
    assert runs[-1].exit_code == 0, runs[-1].output[-2000:]
    assert_converged(running.emu, 500)
    # The faults really happened: lost answers were resolved by re-reading the list, not by re-posting.
    assert running.emu.stats["status:503"] > 0 and running.emu.stats["status:504"] > 0

    running.emu.error_rate = running.emu.lose_create_responses = 0
    again = run_cli(["plan", str(path), "--url", running.url, "--detailed-exitcode"], env=env(running))
    assert again.exit_code == 0, again.output[-2000:]


def test_every_failed_operation_is_reported_by_name(
    make_emulator: Callable[..., RunningEmulator], tmp_path: Path
) -> None:
    # The server refuses the creates of two channels; the others go through.
    doomed = {wanted(3)["name"], wanted(7)["name"]}
    running = make_emulator()
    original = running.emu.handle

    def handle(method: str, path: str, query: dict[str, str], headers: Any, body: bytes) -> Any:
        if method == "POST" and any(name.encode() in body for name in doomed):
            return 400, {"content-type": "application/json"}, b'{"status": "error", "message": "no", "field": "icon"}'
        return original(method, path, query, headers, body)

    running.emu.handle = handle  # type: ignore[method-assign]
    path = write_file(tmp_path / "channels.yaml", 10)
    result = run_cli(apply_args(path, running, "--parallelism", "2"), env=env(running))
    assert result.exit_code == 1
    assert "2 of 10 operations failed:" in result.stderr
    assert failed_names(result) == doomed
    assert not_converged(running.emu, 10) == doomed


# -- interrupted and killed -----------------------------------------------------------------------


class Applier:
    """``omnidesk-channels apply`` in its own process; stderr lines arrive on a queue as printed."""

    def __init__(self, path: Path, running: RunningEmulator, out: Path, *extra: str) -> None:
        base = {k: v for k, v in os.environ.items() if not k.startswith("OMNIDESK_")}
        self.out = out.open("w")  # the plan on stdout is larger than a pipe's buffer
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler", *apply_args(path, running, *extra)],
            env={**base, **env(running)},
            stdout=self.out,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for_progress(self, count: int, timeout: float = 60) -> None:
        """Block until ``count`` operations were reported done."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, "apply ended before the progress expected:\n" + "".join(self.stderr)
            self.stderr.append(line)
            match = PROGRESS.match(line)
            if match and int(match.group(1)) >= count:
                return

    def finish(self, timeout: float = 60) -> tuple[int, str]:
        code = self.proc.wait(timeout=timeout)
        while (line := self.lines.get(timeout=10)) is not None:
            self.stderr.append(line)
        self.out.close()
        return code, "".join(self.stderr)


def test_sigint_stops_starting_lets_running_finish_and_a_rerun_converges(
    make_emulator: Callable[..., RunningEmulator], tmp_path: Path
) -> None:
    running = make_emulator(latency_ms=40)
    path = write_file(tmp_path / "channels.yaml", 200)
    applier = Applier(path, running, tmp_path / "out.txt", "--parallelism", "4")
    applier.wait_for_progress(20)
    applier.proc.send_signal(signal.SIGINT)
    code, stderr = applier.finish()

    assert code == 130, stderr
    summary = SUMMARY.search(stderr)
    assert summary, stderr
    created = int(summary.group(1))
    not_started = int(re.search(r"Interrupted: (\d+) operation\(s\) not started", stderr).group(1))
    assert 20 <= created < 200 and created + not_started == 200
    # Running operations finished: every create it reports is on the tenant, and nothing more.
    assert settled_count(running.emu) == created
    # ... and each progress line of a create names the id it got
    assert created == len(
        [line for line in stderr.splitlines() if PROGRESS.match(line) and re.search(r": ok: created, id \d+$", line)]
    )

    again = run_cli(apply_args(path, running), env=env(running))
    assert again.exit_code == 0, again.output[-2000:]
    assert f"Apply: {200 - created} created" in again.stderr
    assert_converged(running.emu, 200)


def test_sigkill_midway_then_a_rerun_converges_without_duplicates(
    make_emulator: Callable[..., RunningEmulator], tmp_path: Path
) -> None:
    running = make_emulator(latency_ms=40)
    path = write_file(tmp_path / "channels.yaml", 200)
    applier = Applier(path, running, tmp_path / "out.txt", "--parallelism", "8")
    applier.wait_for_progress(30)
    applier.proc.kill()  # creates in flight land on the server with nobody left to read the answer
    code, _ = applier.finish()
    assert code == -signal.SIGKILL
    landed = settled_count(running.emu)
    assert 30 <= landed < 200

    again = run_cli(apply_args(path, running), env=env(running))
    assert again.exit_code == 0, again.output[-2000:]
    assert f"Apply: {200 - landed} created" in again.stderr
    assert_converged(running.emu, 200)


def settled_count(emu: Emulator) -> int:
    """Custom channels once the requests a killed process left in flight have landed."""
    count = -1
    while count != (count := len(customs(emu))):
        time.sleep(0.3)  # several times the emulator's latency
    return count


# -- two appliers at once -------------------------------------------------------------------------


def test_two_applies_at_once_never_create_a_channel_twice(
    make_emulator: Callable[..., RunningEmulator], tmp_path: Path
) -> None:
    # The tenant starts with its 5 built-ins only: each applier reads the list in one page.
    list_reads = 2

    def both_plan_first(method: str, path: str, query: dict[str, str]) -> None:
        # Hold every create until both appliers have read the list: both plan all 150 creates,
        # so each name is raced for. Waiting only for the second list request to *arrive* was not
        # enough: a released create could be answered before it, and the loser planned fewer
        # creates. ``stats`` counts a request under the lock it is answered in, so once it shows
        # both reads, no create can land before their answers.
        if method == "POST":
            deadline = time.monotonic() + 30
            while running.emu.stats["list"] < list_reads and time.monotonic() < deadline:
                time.sleep(0.005)

    running = make_emulator(latency_ms=10, before_request=both_plan_first)
    path = write_file(tmp_path / "channels.yaml", 150)
    appliers = [Applier(path, running, tmp_path / f"out{i}.txt") for i in range(2)]
    finished = [a.finish(timeout=120) for a in appliers]

    assert_converged(running.emu, 150)
    created = [int(SUMMARY.search(stderr).group(1)) for _, stderr in finished]  # type: ignore[union-attr]
    assert sum(created) == 150, created  # no channel is claimed by both
    for (code, stderr), count in zip(finished, created, strict=True):
        # A create refused by the name check is looked up, never retried into a copy: the other run
        # made it, so racing is not failing.
        assert code == 0, stderr[-2000:]
        if count < 150:
            assert f"Apply: {count} created, {150 - count} created by another run, 0 updated" in stderr
    assert running.emu.stats["create"] == 300 and running.emu.stats["status:400"] == 150

    settled = run_cli(["plan", str(path), "--url", running.url, "--detailed-exitcode"], env=env(running))
    assert settled.exit_code == 0, settled.output[-2000:]


# -- garbage from the server ----------------------------------------------------------------------

GARBAGE_SAYS = {
    "html": "expected JSON but the answer is HTML",
    "truncated": "expected JSON but the answer is not valid JSON (truncated?)",
    "wrong-envelope": "expected a 'list' envelope, got:",
    "error-200": "expected a 'list' envelope, got an error envelope ('internal') with status 200",
}


@pytest.mark.parametrize("mode", GARBAGE_MODES)
def test_garbage_from_the_list_is_a_clear_error_and_nothing_is_written(
    make_emulator: Callable[..., RunningEmulator], tmp_path: Path, mode: str
) -> None:
    running = make_emulator(garbage=mode)
    running.emu.seed_channels([{"name": "Fault channel 0000", "icon": "chat"}])  # an update is due too
    path = write_file(tmp_path / "channels.yaml", 5)
    result = run_cli(apply_args(path, running), env=env(running))
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: GET /api/v2/channel?itemStart=0&itemLimit=99: " + GARBAGE_SAYS[mode]), (
        result.stderr
    )
    assert "Traceback" not in result.output
    assert not {"create", "update", "delete"} & set(running.emu.stats)


def test_a_create_is_not_sent_again_when_the_list_turns_unreadable(
    make_emulator: Callable[..., RunningEmulator], tmp_path: Path
) -> None:
    # Every create's answer is lost, and from the first create on the list answers an HTML page:
    # whether the create happened cannot be checked, so it must be reported, not sent again.
    def garble_after_first_create(method: str, path: str, query: dict[str, str]) -> None:
        if method == "POST":
            running.emu.garbage = "html"

    running = make_emulator(lose_create_responses=1.0, before_request=garble_after_first_create)
    path = write_file(tmp_path / "channels.yaml", 3)
    result = run_cli(apply_args(path, running, "--parallelism", "1"), env=env(running))
    assert result.exit_code == 1
    assert running.emu.stats["create"] == 3  # one attempt per channel, none repeated
    assert "3 of 3 operations failed:" in result.stderr
    for i in range(3):
        assert re.search(
            rf"^  Fault channel {i:04d}: unknown whether created \(POST /api/v2/channel: the server answered 504 "
            r"\(HTTP 504\); the channel list could not be read: GET /api/v2/channel\?itemStart=0&itemLimit=99: "
            r"expected JSON but the answer is HTML .*\); run plan to see$",
            result.stderr,
            re.M,
        ), result.stderr
    assert len(customs(running.emu)) == 3  # they did land: a blind retry would have hit the name check

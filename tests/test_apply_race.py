"""Races that are not failures (#19): two applies of one file at once converge and exit 0; a create
refused because another run just made the same channel is "created by another run", said once;
a channel of that name with other values is one conflict line; a cause shared by many channels is
printed once with the names folded."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from clihelp import Result, run_cli, run_cli_subprocess
from conftest import RunningEmulator

N = 500


def channel(i: int) -> dict[str, Any]:
    ch: dict[str, Any] = {"name": f"Race {i:03d}", "icon": "sms"}
    if i % 10 == 0:
        ch["custom_channel_warning_en"] = "Replies within 1 hour"  # PUT-only: a POST, then a PUT
    return ch


def write_file(tmp_path: Path, channels: list[dict[str, Any]]) -> str:
    lines = ["version: 1", "channels:"]
    for ch in channels:
        lines.append(f"  - name: {ch['name']}")
        lines += [f"    {k}: {v}" for k, v in ch.items() if k != "name"]
    path = tmp_path / "channels.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def custom(running: RunningEmulator) -> list[dict[str, Any]]:
    return [c for c in running.emu.channels() if c["type"] == "custom"]


SUMMARY = re.compile(
    r"^Apply: (\d+) created(?:, (\d+) created by another run)?, (\d+) updated, 0 deleted "
    r"\(of (\d+) planned\)\.$",
    re.M,
)


def test_two_applies_of_one_file_at_once_exit_0_and_converge(
    make_emulator: Callable[..., RunningEmulator], tmp_path: Path
) -> None:
    # Creates wait until both runs have read the list (one page: the tenant is empty), so both plan
    # every create and race for each name. ``stats`` counts a request under the lock it is answered
    # in: once it shows both reads, no create can land before their answers.
    def hold_creates(method: str, path: str, query: dict[str, str]) -> None:
        deadline = time.monotonic() + 30
        while method == "POST" and running.emu.stats["list"] < 2 and time.monotonic() < deadline:
            time.sleep(0.005)

    running = make_emulator(before_request=hold_creates, latency_ms=2)
    path = write_file(tmp_path, [channel(i) for i in range(N)])
    args = ["apply", path, "--url", running.url, "--yes"]
    with ThreadPoolExecutor(2) as pool:
        runs: list[Result] = list(pool.map(lambda _: run_cli_subprocess(args, {"OMNIDESK_API_KEY": "demo"}), range(2)))
    for result in runs:
        assert result.exit_code == 0, result.stderr[-3000:]
        assert "failed" not in result.stderr, result.stderr[-3000:]
    made = custom(running)
    assert sorted(c["name"] for c in made) == [f"Race {i:03d}" for i in range(N)], "each channel once"
    assert all(c["custom_channel_warning_en"] == "Replies within 1 hour" for c in made if int(c["name"][5:]) % 10 == 0)
    created = []
    for result in runs:
        match = SUMMARY.search(result.stderr)
        assert match, result.stderr[-2000:]
        made_here, by_other, updated, planned = (int(g or 0) for g in match.groups())
        assert (made_here + by_other, updated, planned) == (N, 0, N), "both planned every create"
        created.append(made_here)
        # Said once: the first channel another run made, then one folded line for the rest.
        assert len(re.findall(r"created by another run, id", result.stderr)) <= 1
        if by_other > 1:
            assert re.search(
                rf"^ok: {by_other - 1} more the same as 'Race \d+': 'Race \d+', .*$", result.stderr, re.M
            ), result.stderr[-2000:]
        assert len(result.stderr.splitlines()) <= made_here + updated + 5, "a line per channel made, not per race"
    assert sum(created) == N, "every channel made by exactly one of the runs"
    assert running.emu.stats["create"] == 2 * N, "each run sent each create once: a refused one was looked up"
    again = run_cli(["plan", path, "--url", running.url, "--detailed-exitcode"], {"OMNIDESK_API_KEY": "demo"})
    assert again.exit_code == 0, again.output


def test_a_name_taken_meanwhile_with_the_same_values_is_done_with_other_values_one_conflict(
    make_emulator: Callable[..., RunningEmulator], tmp_path: Path
) -> None:
    twins = {"Race 001": channel(1), "Race 010": channel(10)}  # the second one without its PUT yet
    twins["Race 010"] = {k: v for k, v in twins["Race 010"].items() if k != "custom_channel_warning_en"}
    # two fields differ, one of them PUT-only: still a conflict, and the message names both
    rivals = {"Race 002": {"name": "Race 002", "icon": "phone", "custom_channel_warning_en": "Other"}}

    def another_run(method: str, path: str, query: dict[str, str]) -> None:
        if method == "POST" and not custom(running):
            running.emu.seed_channels([*twins.values(), *rivals.values()])

    running = make_emulator(before_request=another_run)
    path = write_file(tmp_path, [channel(i) for i in (1, 2, 10)])
    result = run_cli(["apply", path, "--url", running.url, "--yes", "--parallelism", "1"], {"OMNIDESK_API_KEY": "demo"})
    assert result.exit_code == 1, result.output
    assert "Apply: 0 created, 2 created by another run, 0 updated, 0 deleted (of 3 planned)." in result.stderr
    assert re.search(
        r"^Error: 1 of 3 operations failed:\n  Race 002: the name is taken by channel \d+, made meanwhile "
        r"with other values \(icon, custom_channel_warning_en\); run plan to see the update\n",
        result.stderr,
        re.M,
    ), result.stderr
    made = {c["name"]: c for c in custom(running)}
    # the progress line of a twin says "ok", and gives the id of the other run's channel
    assert f"[1/3] create 'Race 001': ok: created by another run, id {made['Race 001']['id']}\n" in result.stderr
    assert made["Race 010"]["custom_channel_warning_en"] == "Replies within 1 hour", "this run completed it"
    plan = run_cli(["plan", path, "--url", running.url], {"OMNIDESK_API_KEY": "demo"})
    assert "Plan: 0 to create, 1 to update, 0 to delete." in plan.stdout and "~ update 'Race 002'" in plan.stdout


def test_one_cause_for_many_channels_is_printed_once_with_the_names_folded(
    make_emulator: Callable[..., RunningEmulator], tmp_path: Path
) -> None:
    running = make_emulator()
    path = write_file(tmp_path, [channel(i) for i in range(1, 40)])

    def unavailable(method: str, path: str, query: dict[str, str]) -> None:
        running.emu.error_rate = 1.0 if method == "POST" else 0.0

    running.emu.before_request = unavailable
    result = run_cli(["apply", path, "--url", running.url, "--yes"], {"OMNIDESK_API_KEY": "demo"})
    assert result.exit_code == 1
    progress = [line for line in result.stderr.splitlines() if re.match(r"^\[\d+/39\]", line)]
    assert len(progress) == 1, progress
    assert re.search(r"^failed: 38 more the same as 'Race 0\d\d': 'Race 0\d\d', .* and 33 more$", result.stderr, re.M)
    assert re.search(r"^  the same for 38 more: 'Race 0\d\d', .* and 33 more$", result.stderr, re.M), result.stderr

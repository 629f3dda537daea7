"""``--verbose`` logs every HTTP call on stderr (method, URL with its host, status, duration,
retries), never the key."""

from __future__ import annotations

import random
import re
from pathlib import Path

from clihelp import run_cli

KEY = "sk-live-5c1e7d0a9b"
LINE = re.compile(r"^http: (GET|POST|PUT|DELETE) http://127\.0\.0\.1:\d+(/api/v2/channel\S*) -> (\d{3}) \((\d+) ms\)$")
RETRY = re.compile(r"^http: retry (\d+)/\d+ for (GET|POST|PUT|DELETE) (\S+) after (\d{3}) in [\d.]+ s$")


def channels_file(tmp_path: Path) -> str:
    path = tmp_path / "channels.yaml"
    path.write_text(
        "version: 1\nchannels:\n  - name: SMS gateway\n    icon: phone\n  - name: Instagram DM\n", encoding="utf-8"
    )
    return str(path)


def first_call_fails(error_rate: float) -> int:
    """A seed whose first request gets a 503 and whose next one does not."""
    return next(s for s in range(1000) if (r := random.Random(s)).random() < error_rate <= r.random())


def test_each_call_is_logged_with_method_path_status_and_time(make_emulator, tmp_path: Path):
    running = make_emulator(api_keys={KEY: {"CHANNEL_READ", "CHANNEL_CUD"}})
    running.emu.seed_channels([{"name": "SMS gateway"}])
    env = {"OMNIDESK_URL": running.url, "OMNIDESK_API_KEY": KEY}
    result = run_cli(["apply", channels_file(tmp_path), "--yes", "--verbose"], env)
    assert result.exit_code == 0, result.output
    calls = [LINE.match(line) for line in result.stderr.splitlines() if line.startswith("http: ")]
    assert all(calls), result.stderr
    seen = sorted((m.group(1), re.sub(r"/\d+$", "/{id}", m.group(2).split("?")[0]), m.group(3)) for m in calls)
    assert seen == [
        ("GET", "/api/v2/channel", "200"),
        ("POST", "/api/v2/channel", "200"),
        ("PUT", "/api/v2/channel/{id}", "200"),
    ]
    assert sum(v for k, v in running.emu.stats.items() if k.startswith("status:")) == len(calls)
    assert KEY not in result.output and "apiKey" not in result.output


def test_retries_are_logged(make_emulator, tmp_path: Path):
    running = make_emulator(api_keys={KEY: {"CHANNEL_READ"}}, error_rate=0.5, seed=first_call_fails(0.5))
    env = {"OMNIDESK_URL": running.url, "OMNIDESK_API_KEY": KEY}
    result = run_cli(["plan", channels_file(tmp_path), "--verbose"], env)
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("http: ")]
    assert LINE.match(lines[0]).group(3) == "503"
    retry = RETRY.match(lines[1])
    assert retry and retry.group(1, 2, 4) == ("1", "GET", "503"), lines
    assert LINE.match(lines[2]).group(3) == "200"
    assert KEY not in result.output


def test_quiet_without_verbose(emulator, tmp_path: Path):
    result = run_cli(["plan", channels_file(tmp_path)], {"OMNIDESK_URL": emulator.url, "OMNIDESK_API_KEY": "demo"})
    assert result.exit_code == 0 and "http: " not in result.stderr

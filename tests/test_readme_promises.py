"""What the README promises about apply and the connection, each checked the way a user meets it.

- An empty answer at the prompt is a no (exit 1, nothing written).
- ``--timeout`` defaults to 30 seconds; ``--parallelism`` defaults to 8 (seen by the server: never
  more than 8 requests in flight, and 8 reached).
- A refused key is reported with the variable it came from: the tenant's ``api_key_env``.
- apply's order: every delete, then every update, then every create (names are freed first).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from clihelp import run_cli, run_on_terminal

from reconciler.emulator import Emulator, serve_in_thread


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "channels.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_an_empty_answer_at_the_prompt_is_a_no(tmp_path: Path, emulator) -> None:
    path = write(tmp_path, "version: 1\nchannels:\n  - name: SMS gateway\n")
    code, screen = run_on_terminal(
        ["apply", path], {"OMNIDESK_URL": emulator.url, "OMNIDESK_API_KEY": emulator.key}, b"\n"
    )
    assert code == 1, screen
    assert "[y/N]: " in screen
    assert "Error: apply cancelled at the prompt; nothing was changed" in screen
    assert emulator.emu.stats["create"] == 0


def test_the_timeout_defaults_to_30_seconds_per_call(tmp_path: Path, emulator, monkeypatch) -> None:
    """The CLI's help says so, and the workflow every command builds gets exactly that."""
    from reconciler import workflow as engine

    seen: list[float] = []
    original = engine.Workflow.__init__

    def recording(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        seen.append(self.timeout)

    monkeypatch.setattr(engine.Workflow, "__init__", recording)
    path = write(tmp_path, "version: 1\nchannels: []\n")
    result = run_cli(["plan", path, "--url", emulator.url], {"OMNIDESK_API_KEY": emulator.key})
    assert result.exit_code == 0, result.output
    assert seen == [30]
    help_text = run_cli(["plan", "--help"]).stdout
    assert "--timeout" in help_text and "[default: 30" in " ".join(help_text.split())


class InFlight(Emulator):
    """Counts the requests being answered at once (each takes 50 ms)."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0
        self.most = 0
        self.counter = threading.Lock()

    def handle(self, method, path, query, headers, body):  # type: ignore[override]
        with self.counter:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            time.sleep(0.05)
            return super().handle(method, path, query, headers, body)
        finally:
            with self.counter:
                self.now -= 1


@pytest.mark.parametrize("flag, expected", [((), 8), (("--parallelism", "3"), 3)])
def test_apply_runs_at_most_parallelism_requests_at_once_8_by_default(tmp_path: Path, flag, expected) -> None:
    path = write(tmp_path, "version: 1\nchannels:\n" + "".join(f"  - name: C{i}\n" for i in range(40)))
    emu = InFlight()
    with serve_in_thread(emu) as server:
        result = run_cli(["apply", path, "--url", server.url, "--yes", *flag], {"OMNIDESK_API_KEY": "demo"})
    assert result.exit_code == 0, result.output
    assert emu.stats["create"] == 40
    assert emu.most == expected
    emu.close()


def test_a_refused_key_names_the_variable_the_tenant_reads_it_from(tmp_path: Path, emulator) -> None:
    path = write(
        tmp_path,
        f"""\
version: 1
tenants:
  staging:
    url: {emulator.url}
    api_key_env: OMNIDESK_STAGING_KEY
channels: []
""",
    )
    result = run_cli(["plan", path, "--tenant", "staging"], {"OMNIDESK_STAGING_KEY": "not-the-key"})
    assert result.exit_code == 1
    assert "401" in result.stderr
    assert "OMNIDESK_STAGING_KEY" in result.stderr
    assert "not-the-key" not in result.output


class Recording(Emulator):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def handle(self, method, path, query, headers, body):  # type: ignore[override]
        answer = super().handle(method, path, query, headers, body)
        if method in ("POST", "PUT", "DELETE"):
            self.writes.append(method)
        return answer


def test_apply_deletes_then_updates_then_creates(tmp_path: Path) -> None:
    emu = Recording()
    emu.seed_channels([{"name": f"Old {i}"} for i in range(6)] + [{"name": f"Kept {i}"} for i in range(6)])
    path = write(
        tmp_path,
        "version: 1\nprune: true\nchannels:\n"
        + "".join(f"  - name: Kept {i}\n    icon: star\n" for i in range(6))
        + "".join(f"  - name: New {i}\n" for i in range(6)),
    )
    with serve_in_thread(emu) as server:
        result = run_cli(
            ["apply", path, "--url", server.url, "--yes", "--allow-deletes", "6", "--allow-updates", "6"],
            {"OMNIDESK_API_KEY": "demo"},
        )
    assert result.exit_code == 0, result.output
    assert emu.writes == ["DELETE"] * 6 + ["PUT"] * 6 + ["POST"] * 6
    emu.close()

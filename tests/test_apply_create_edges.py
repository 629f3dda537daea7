"""Apply's create rounds at their edges, over real HTTP, each asserting what a user sees: the
outcome line, the exit code and the channels on the server.

Each server is scripted (a subclass of the emulator) so the timing is exact, not left to chance:
- an earlier POST that lands late, after the list said its channel was absent;
- a server that loses every create's answer and never creates (the rounds run out);
- an interrupt while a create's answer is uncertain (the create is "unknown", never "not started");
- a create's PUT refused with 403 (the key lost its permission): incomplete, and apply stops there.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

from clihelp import run_cli

from reconciler.emulator import Emulator, serve_in_thread

FILE = "version: 1\nchannels:\n  - name: Late bird\n    custom_channel_warning_en: Hello\n"
LOST = (504, {"content-type": "text/html"}, b"<html>Gateway Timeout</html>")


def custom(emu: Emulator) -> list[dict[str, Any]]:
    return [c for c in emu.channels() if c["type"] == "custom"]


def apply(tmp_path: Path, emu: Emulator, *extra: str):
    (tmp_path / "c.yaml").write_text(FILE)
    with serve_in_thread(emu) as server:
        return run_cli(
            ["apply", str(tmp_path / "c.yaml"), "--url", server.url, "--yes", *extra], {"OMNIDESK_API_KEY": "demo"}
        )


class LandsLate(Emulator):
    """The first POST's answer is lost and the channel is not there yet when the list is read; it
    lands right after that read, so the POST sent again meets a taken name (a slow write behind a
    proxy that timed out)."""

    def __init__(self) -> None:
        super().__init__()
        self.posts = 0
        self.late: tuple[Any, bytes] | None = None

    def handle(self, method, path, query, headers, body):  # type: ignore[override]
        if method == "POST" and path == "/api/v2/channel":
            self.posts += 1
            if self.posts == 1:
                self.late = (headers, body)
                return LOST
        answer = super().handle(method, path, query, headers, body)
        if method == "GET" and self.late is not None:
            (late_headers, late_body), self.late = self.late, None
            assert super().handle("POST", path, {}, late_headers, late_body)[0] == 200
        return answer


def test_an_earlier_create_landing_late_is_this_runs_channel_not_a_failure(tmp_path: Path) -> None:
    emu = LandsLate()
    result = apply(tmp_path, emu)
    assert result.exit_code == 0, result.output
    assert "Apply: 1 created, 0 updated, 0 deleted (of 1 planned)." in result.stderr
    made = custom(emu)
    assert [c["name"] for c in made] == ["Late bird"]
    assert made[0]["custom_channel_warning_en"] == "Hello"  # its PUT was made to the late channel
    assert emu.posts == 2
    assert emu.stats["status:400"] == 1  # the POST sent again met the late one's name
    emu.close()


class NeverCreates(Emulator):
    """Every create's answer is lost, and nothing is ever created."""

    def __init__(self) -> None:
        super().__init__()
        self.posts = 0

    def handle(self, method, path, query, headers, body):  # type: ignore[override]
        if method == "POST" and path == "/api/v2/channel":
            self.posts += 1
            return LOST
        return super().handle(method, path, query, headers, body)


def test_a_create_still_uncertain_after_every_round_is_reported_unknown(tmp_path: Path) -> None:
    emu = NeverCreates()
    result = apply(tmp_path, emu)
    assert result.exit_code == 1, result.output
    assert "still uncertain after 3 checks); run plan to see" in result.stderr
    assert "Late bird: unknown whether created (" in result.stderr
    assert "Apply: 0 created, 0 updated, 0 deleted (of 1 planned)." in result.stderr
    assert emu.posts == 4  # the first POST, then once after each of the 3 list reads said absent
    assert custom(emu) == []
    emu.close()


class InterruptedWhileUncertain(Emulator):
    """Ctrl-C arrives while the one create is in flight, and that create's answer is lost."""

    def __init__(self) -> None:
        super().__init__()
        self.posts = 0

    def handle(self, method, path, query, headers, body):  # type: ignore[override]
        if method == "POST" and path == "/api/v2/channel":
            self.posts += 1
            super().handle(method, path, query, headers, body)  # it did land
            if threading.current_thread() is not threading.main_thread():
                os.kill(os.getpid(), signal.SIGINT)  # apply's handler only sets its stop flag
            return LOST
        return super().handle(method, path, query, headers, body)


def test_an_interrupt_leaves_an_uncertain_create_unknown_not_not_started(tmp_path: Path) -> None:
    emu = InterruptedWhileUncertain()
    result = apply(tmp_path, emu, "--parallelism", "1")
    assert result.exit_code != 0, result.output
    assert "Late bird: unknown whether created (" in result.stderr
    assert "interrupted before it was checked); run plan to see" in result.stderr
    assert "not started" not in result.stderr
    assert emu.posts == 1  # never sent again after the interrupt
    assert [c["name"] for c in custom(emu)] == ["Late bird"]
    emu.close()


def test_the_late_landing_channel_is_found_by_name_not_taken_from_the_answer(tmp_path: Path) -> None:
    """The re-sent POST's 400 names the field; the outcome is still one created channel, whose id the
    progress line gives."""
    emu = LandsLate()
    result = apply(tmp_path, emu)
    channel_id = custom(emu)[0]["id"]
    assert f"create 'Late bird': ok: created, id {channel_id}" in result.stderr, result.output
    emu.close()


class RevokedAfterFirstCreate(Emulator):
    """The key loses its write permission right after the first create lands (an admin revokes it
    while apply runs): that create's PUT is refused with 403, as every later write would be."""

    def handle(self, method, path, query, headers, body):  # type: ignore[override]
        answer = super().handle(method, path, query, headers, body)
        if method == "POST" and path == "/api/v2/channel" and answer[0] == 200:
            self.api_keys["demo"] = frozenset({"CHANNEL_READ"})
        return answer


def test_a_403_on_a_creates_put_stops_the_apply_and_names_the_permission(tmp_path: Path) -> None:
    emu = RevokedAfterFirstCreate()
    (tmp_path / "c.yaml").write_text(
        "version: 1\nchannels:\n"
        + "".join(f"  - name: Gated {i}\n    custom_channel_warning_en: Hello {i}\n" for i in range(3))
    )
    with serve_in_thread(emu) as server:
        result = run_cli(
            ["apply", str(tmp_path / "c.yaml"), "--url", server.url, "--yes", "--parallelism", "1"],
            {"OMNIDESK_API_KEY": "demo"},
        )
    assert result.exit_code == 1, result.output
    [made] = custom(emu)  # the one create that landed; the other two were not sent
    assert (made["name"], made["custom_channel_warning_en"]) == ("Gated 0", "")
    assert (
        f"[1/3] create 'Gated 0': incomplete: created (id {made['id']}) but incomplete: "
        "custom_channel_warning_en not set ("
    ) in result.stderr
    assert "(HTTP 403)); run apply again to set them\n" in result.stderr
    assert "Apply: 0 created, 0 updated, 0 deleted (of 3 planned); 1 created incomplete." in result.stderr
    assert (
        "Error: the API key in OMNIDESK_API_KEY lacks the CHANNEL_CUD permission: 1 of 3 operations were "
        "refused (403) and apply stopped there; 2 not started."
    ) in result.stderr
    emu.close()

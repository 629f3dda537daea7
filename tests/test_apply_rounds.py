"""Apply's create phase when answers are uncertain: a create confirmed absent is sent again, once;
an answer that claims success but names no channel that exists fails by name. Over real HTTP."""

from __future__ import annotations

import collections
from pathlib import Path

from clihelp import run_cli

from reconciler.emulator import Emulator, serve_in_thread
from reconciler.emulator.forms import parse_body

FILE = "version: 1\nchannels:\n" + "".join(
    f"  - name: Round {i}\n    custom_channel_warning_en: Note {i}\n" for i in range(4)
)


class FirstPostRefused(Emulator):
    """Answers the first POST of each name with a 503 before doing anything (a proxy in the way)."""

    def __init__(self) -> None:
        super().__init__()
        self.posts: collections.Counter[str] = collections.Counter()

    def handle(self, method, path, query, headers, body):  # type: ignore[override]
        if method == "POST" and path == "/api/v2/channel":
            name = parse_body(headers.get("content-type", ""), body)["name"]
            self.posts[name] += 1
            if self.posts[name] == 1:
                return 503, {"content-type": "text/html"}, b"<html>Service Unavailable</html>"
        return super().handle(method, path, query, headers, body)


class AnswersWithoutCreating(Emulator):
    """Answers a POST with a bare result envelope and creates nothing (a broken server)."""

    def handle(self, method, path, query, headers, body):  # type: ignore[override]
        if method == "POST" and path == "/api/v2/channel":
            return 200, {"content-type": "application/json"}, b'{"type": "result", "message": "ok"}'
        return super().handle(method, path, query, headers, body)


def test_a_create_confirmed_absent_is_sent_again_once_and_completed(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(FILE)
    emu = FirstPostRefused()
    with serve_in_thread(emu) as server:
        result = run_cli(
            ["apply", str(tmp_path / "c.yaml"), "--url", server.url, "--yes"], {"OMNIDESK_API_KEY": "demo"}
        )
    assert result.exit_code == 0, result.output
    made = {c["name"]: c for c in emu.channels() if c["type"] == "custom"}
    assert sorted(made) == [f"Round {i}" for i in range(4)]
    assert all(made[f"Round {i}"]["custom_channel_warning_en"] == f"Note {i}" for i in range(4))
    assert set(emu.posts.values()) == {2}  # each sent again exactly once, after the list said absent
    assert emu.stats["list"] <= 3
    emu.close()


def test_an_answer_without_an_id_whose_channel_is_not_listed_fails_by_name(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(FILE)
    emu = AnswersWithoutCreating()
    with serve_in_thread(emu) as server:
        result = run_cli(
            ["apply", str(tmp_path / "c.yaml"), "--url", server.url, "--yes"], {"OMNIDESK_API_KEY": "demo"}
        )
    assert result.exit_code == 1, result.output
    assert (
        "  Round 0: POST /api/v2/channel: the create was answered without an id and no custom "
        "channel named 'Round 0' is listed\n"
        "  the same for 3 more: 'Round 1', 'Round 2', 'Round 3'\n"
    ) in result.stderr  # one cause, said once
    assert "Apply: 0 created, 0 updated, 0 deleted (of 4 planned)." in result.stderr
    assert not [c for c in emu.channels() if c["type"] == "custom"]
    emu.close()

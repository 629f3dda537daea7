"""A server that is not there (#19): nothing listening, or a connection closed before any answer, is
retried at most once, briefly, and then says what to check; never six retries and 29 s of silence."""

from __future__ import annotations

import contextlib
import re
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from clihelp import run_cli

from reconciler.client import OmnideskClient
from reconciler.errors import ApiError

LOCAL_HINT = "is the emulator running, is the port right?"
REMOTE_HINT = "is the URL right, is the tenant reachable from here?"


def channels_file(tmp_path: Path) -> str:
    path = tmp_path / "channels.yaml"
    path.write_text("version: 1\nchannels:\n  - name: SMS gateway\n", encoding="utf-8")
    return str(path)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Hangup:
    """Accepts connections, reads the request, and closes without a word: with a reset (RST) or a
    plain close (FIN)."""

    def __init__(self, reset: bool) -> None:
        self.reset = reset
        self.accepted = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port = int(self._sock.getsockname()[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.settimeout(2)
            with contextlib.suppress(OSError):
                conn.recv(65536)
            if self.reset:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()


@pytest.fixture(params=["reset", "close"])
def hangup(request: pytest.FixtureRequest) -> Iterator[Hangup]:
    server = Hangup(reset=request.param == "reset")
    yield server
    server.close()


@pytest.mark.parametrize("command", ["plan", "apply", "export"])
def test_nothing_listening_answers_within_3_s_with_what_to_check(tmp_path: Path, command: str) -> None:
    port = free_port()
    args = {
        "plan": ["plan", channels_file(tmp_path)],
        "apply": ["apply", channels_file(tmp_path), "--yes"],
        "export": ["export", "--out", str(tmp_path / "out.yaml")],
    }[command]
    started = time.monotonic()
    result = run_cli([*args, "--url", f"http://127.0.0.1:{port}", "--verbose"], {"OMNIDESK_API_KEY": "demo"})
    elapsed = time.monotonic() - started
    assert result.exit_code == 1, result.output
    assert elapsed < 3, elapsed
    assert f"nothing listens on 127.0.0.1:{port}: {LOCAL_HINT}" in result.stderr
    assert "Traceback" not in result.output
    attempts = re.findall(r"^http: GET \S+ -> ConnectError", result.stderr, flags=re.M)
    assert len(attempts) == 2, result.stderr  # one retry, in case it was starting


def test_a_connection_closed_before_any_answer_is_retried_once_with_what_to_check(
    tmp_path: Path, hangup: Hangup
) -> None:
    started = time.monotonic()
    result = run_cli(
        ["plan", channels_file(tmp_path), "--url", f"http://127.0.0.1:{hangup.port}"], {"OMNIDESK_API_KEY": "demo"}
    )
    assert result.exit_code == 1, result.output
    assert time.monotonic() - started < 3
    assert f"127.0.0.1:{hangup.port} closed the connection before any answer: {LOCAL_HINT}" in result.stderr
    assert hangup.accepted == 2
    assert "Traceback" not in result.output


def refusing(request: httpx.Request) -> httpx.Response:
    error = httpx.ConnectError("[Errno 111] Connection refused", request=request)
    error.__cause__ = ConnectionRefusedError(111, "Connection refused")
    raise error


def test_a_remote_host_refusing_says_to_check_the_url_and_the_network() -> None:
    sleeps: list[float] = []
    client = OmnideskClient(
        "https://acme.omnidesk.com", "k3y-0123456789", transport=httpx.MockTransport(refusing), sleep=sleeps.append
    )
    with pytest.raises(ApiError) as info:
        client.list_channels()
    assert str(info.value).startswith(
        f"GET /api/v2/channel?itemStart=0&itemLimit=99: nothing listens on acme.omnidesk.com:443: {REMOTE_HINT}"
    )
    assert client.stats["list_page"] == 2 and len(sleeps) == 1 and sleeps[0] <= 0.5


def test_a_create_refused_a_connection_is_sent_again_once_not_looked_up() -> None:
    client = OmnideskClient(
        "https://acme.omnidesk.com", "k3y-0123456789", transport=httpx.MockTransport(refusing), sleep=lambda s: None
    )
    with pytest.raises(
        ApiError, match=f"^POST /api/v2/channel: nothing listens on acme.omnidesk.com:443: {REMOTE_HINT}"
    ):
        client.create_channel({"name": "A"})
    assert client.stats["create"] == 2 and client.stats["list_page"] == 0, "nothing was sent: nothing to look up"

"""A key sent over plain http to loopback (an ssh tunnel, the emulator) never goes through a proxy."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

from clihelp import run_cli

ROOT = Path(__file__).resolve().parent.parent


def test_loopback_bypasses_the_environments_proxy(emulator) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(5)
    seen: list[bytes] = []

    def record() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(2)
            seen.append(conn.recv(4096))

    thread = threading.Thread(target=record, daemon=True)
    thread.start()
    proxy = f"http://127.0.0.1:{listener.getsockname()[1]}"
    result = run_cli(
        ["plan", str(ROOT / "examples" / "quickstart.yaml"), "--url", emulator.url, "--timeout", "2"],
        {
            "OMNIDESK_API_KEY": emulator.key,
            "HTTP_PROXY": proxy,
            "http_proxy": proxy,
            "ALL_PROXY": proxy,
            "NO_PROXY": "",
        },
    )
    listener.close()
    thread.join(timeout=6)
    assert result.exit_code == 0, result.output
    assert "Plan: 2 to create" in result.stdout
    assert seen == []

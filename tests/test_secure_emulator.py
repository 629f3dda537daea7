"""The emulator as a server facing hostile clients, over real HTTP and real processes.

Bodies are limited to 1 MiB and refused before they are read; the key and its permission are
checked before the body; deep JSON is a 400; one emulator per state file; keys given on the
command line are never printed; binding beyond loopback warns.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from clihelp import RunningEmulator, run_cli

from reconciler.emulator import Emulator, StateFileError
from reconciler.emulator.forms import MAX_BODY_BYTES

CHANNELS = "/api/v2/channel"


def raw_request(url: str, head: str, body: bytes = b"", wait: float = 5) -> bytes:
    """Send a hand-written request (head without the blank line), return what arrives within ``wait`` s."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=wait) as sock:
        sock.sendall(head.encode("latin-1") + b"\r\n\r\n" + body)
        answer = b""
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
                if b"\r\n\r\n" in answer:
                    headers, _, rest = answer.partition(b"\r\n\r\n")
                    length = next(
                        (
                            int(line.split(b":")[1])
                            for line in headers.split(b"\r\n")
                            if line.lower().startswith(b"content-length:")
                        ),
                        None,
                    )
                    if length is not None and len(rest) >= length:
                        break
        except TimeoutError:
            pass
    return answer


def post_head(key: str, length: int, extra: str = "") -> str:
    return (
        f"POST {CHANNELS} HTTP/1.1\r\nHost: emulator\r\napiKey: {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}{extra}"
    )


@pytest.fixture
def keyed(make_emulator) -> RunningEmulator:
    return make_emulator(api_keys={"rw-key": {"CHANNEL_READ", "CHANNEL_CUD"}, "ro-key": {"CHANNEL_READ"}})


def test_a_declared_body_over_1_mib_is_refused_before_it_is_read(keyed: RunningEmulator) -> None:
    # Not one byte of the body is sent: a server that waited for it would answer nothing in 5 s.
    answer = raw_request(keyed.url, post_head("rw-key", MAX_BODY_BYTES + 1))
    assert answer.startswith(b"HTTP/1.1 413 ") and b"connection: close" in answer.lower()
    assert b"larger than 1048576 bytes" in answer
    assert keyed.emu.stats["create"] == 0


def test_a_chunked_body_is_counted_while_it_arrives(keyed: RunningEmulator) -> None:
    sent = 0

    def endless() -> Iterator[bytes]:
        nonlocal sent
        yield b'{"name": "Big", "pad": "'
        for _ in range(4 * 1024):  # 4 MiB offered; the server stops listening past 1 MiB
            sent += 1024
            yield b"x" * 1024

    with httpx.Client(base_url=keyed.url, headers={"apiKey": "rw-key"}, timeout=10) as c:
        try:
            status = c.post(CHANNELS, content=endless(), headers={"content-type": "application/json"}).status_code
        except httpx.TransportError:
            status = None  # the server may close the connection while the client still writes
        assert status in (413, None)
        assert [ch["name"] for ch in keyed.emu.channels()][-1] == "Facebook"
        if status == 413:
            assert sent < 4 * 1024 * 1024
        # The server is fine afterwards, and a body just under the limit is taken.
        padding = "x" * (MAX_BODY_BYTES - len('{"name": "Just fits", "pad": ""}'))
        fits = json.dumps({"name": "Just fits", "pad": padding}).encode()
        assert len(fits) == MAX_BODY_BYTES
        assert c.post(CHANNELS, content=fits, headers={"content-type": "application/json"}).status_code == 200
        over = c.post(CHANNELS, content=fits + b" ", headers={"content-type": "application/json"})
        assert over.status_code == 413 and over.json()["status"] == "error"


def test_the_key_and_its_permission_are_checked_before_the_body(keyed: RunningEmulator) -> None:
    """A refused sender's body is never waited for: the answer comes though the body never does."""
    for key, status in (("wrong-key", b"401"), ("ro-key", b"403")):
        answer = raw_request(keyed.url, post_head(key, 500))  # the promised 500 bytes never come
        assert answer.startswith(b"HTTP/1.1 " + status), answer
        assert b"connection: close" in answer.lower()
    missing = raw_request(keyed.url, f"POST {CHANNELS} HTTP/1.1\r\nHost: e\r\nContent-Length: 500")
    assert missing.startswith(b"HTTP/1.1 401 ")
    # The control: with a good key the server does wait for the body it was promised.
    assert raw_request(keyed.url, post_head("rw-key", 500), wait=1.0) == b""
    answered = raw_request(keyed.url, post_head("rw-key", 17), b'{"name": "Whole"}')
    assert answered.startswith(b"HTTP/1.1 200 ") and keyed.emu.channels()[-1]["name"] == "Whole"


def test_json_nested_too_deep_is_a_400_not_a_500(emulator: RunningEmulator) -> None:
    deep = b'{"name": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with httpx.Client(base_url=emulator.url, headers={"apiKey": "demo"}, timeout=10) as c:
        r = c.post(CHANNELS, content=deep, headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json() == {"status": "error", "message": "the JSON body is nested too deeply"}
        assert c.get(CHANNELS).status_code == 200


# -- one emulator per state file, real processes ---------------------------------------------------


def start_emulator(*args: str) -> tuple[subprocess.Popen[str], str, str]:
    """``omnidesk-channels emulator --port 0 ARGS`` in its own process; its URL and banner."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "emulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    banner = ""
    while not banner.endswith("Press Ctrl-C to stop.\n"):
        line = proc.stdout.readline()
        assert line, banner + (proc.stderr.read() if proc.stderr else "")
        banner += line
    return proc, banner.split()[4], banner


def stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.communicate(timeout=10)
    finally:
        proc.kill()


def emulator_args(state: Path) -> list[str]:
    if "--emulator-state" in run_cli(["plan", "--help"]).stdout:
        return ["--emulator-state", str(state)]
    return ["--emulator", str(state)]


def test_a_second_emulator_or_emulator_run_on_the_same_state_refuses(tmp_path: Path) -> None:
    state = tmp_path / "tenant.json"
    channels = tmp_path / "channels.yaml"
    channels.write_text("version: 1\nchannels:\n  - name: From the CLI\n")
    first, url, _ = start_emulator("--state", str(state))
    try:
        with httpx.Client(base_url=url, headers={"apiKey": "demo"}, timeout=10) as c:
            assert c.post(CHANNELS, data={"name": "Acknowledged"}).status_code == 200
        second = subprocess.run(
            [sys.executable, "-m", "reconciler", "emulator", "--port", "0", "--state", str(state)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert second.returncode == 1 and second.stdout == ""
        assert second.stderr == (
            f"Error: the emulator state {state} is in use by another emulator or --emulator "
            "run (it holds tenant.json.lock): stop that one first, or use another state file\n"
        )
        applied = run_cli(["apply", str(channels), "--yes", *emulator_args(state)])
        assert applied.exit_code == 1 and "is in use by another emulator" in applied.stderr
        with httpx.Client(base_url=url, headers={"apiKey": "demo"}, timeout=10) as c:
            assert c.post(CHANNELS, data={"name": "Still served"}).status_code == 200
    finally:
        _out, err = stop(first)
    assert first.returncode == 0, err
    # Once the first one is gone, the state is free and holds every acknowledged write.
    assert run_cli(["apply", str(channels), "--yes", *emulator_args(state)]).exit_code == 0
    names = [c["name"] for c in Emulator(state_path=state).channels()]
    assert names[5:] == ["Acknowledged", "Still served", "From the CLI"]


def test_the_lock_holds_within_one_process_and_is_released_on_close(tmp_path: Path) -> None:
    state = tmp_path / "tenant.json"
    first = Emulator(state_path=state)
    with pytest.raises(StateFileError, match="is in use by another emulator"):
        Emulator(state_path=state)
    first.close()
    Emulator(state_path=state).close()


def test_keys_given_on_the_command_line_are_never_printed() -> None:
    proc, _, banner = start_emulator("--api-key", "sk-canary-4471=CHANNEL_READ,CHANNEL_CUD")
    out, err = stop(proc)
    assert "sk-canary-4471" not in banner + out + err
    assert "API keys: the 1 given with --api-key (not shown)\n" in banner and "demo" not in banner
    demo, _, demo_banner = start_emulator()
    stop(demo)
    assert "API key: demo (CHANNEL_READ, CHANNEL_CUD, MESSAGE_CREATE)\n" in demo_banner


def test_binding_beyond_loopback_warns() -> None:
    local, _, _ = start_emulator("--host", "127.0.0.1")
    _, local_err = stop(local)
    assert "Warning" not in local_err
    # Bound for the moment it takes to read the warning, then stopped.
    wide, url, _banner = start_emulator("--host", "0.0.0.0")
    _, err = stop(wide)
    assert url.startswith("http://0.0.0.0:")
    assert err.startswith(
        "Warning: listening on 0.0.0.0, beyond this machine: anyone who can reach it can use "
        "the demo key, printed above."
    )

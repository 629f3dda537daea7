"""The wire's edges against a hostile network: loopback names, the key's encodings, a key too short
to redact, numbers the emulator cannot read, a server that never answers. Through the CLI, over real HTTP.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest

from tests.clihelp import run_cli
from tests.hostile import HostileServer, Reply, listing

FILE = str(Path(__file__).resolve().parent.parent / "examples" / "quickstart.yaml")


@pytest.fixture
def proxy() -> Iterator[tuple[str, list[bytes]]]:
    """A proxy that records what reaches it and answers nothing."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    seen: list[bytes] = []
    stop = threading.Event()

    def record() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1)
                with contextlib.suppress(OSError):
                    seen.append(conn.recv(4096))

    thread = threading.Thread(target=record, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", seen
    stop.set()
    thread.join(timeout=2)
    listener.close()


@pytest.mark.parametrize("host", ["localhost.", "LOCALHOST.", "LocalHost", "localhost"])
def test_a_loopback_name_goes_neither_to_the_proxy_nor_to_a_resolver(
    host: str, emulator, proxy: tuple[str, list[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    looked_up: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(name: Any, *args: Any, **kwargs: Any) -> Any:
        looked_up.append(str(name))
        return real(name, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    url, seen = proxy
    port = emulator.url.rsplit(":", 1)[1]
    result = run_cli(
        ["plan", FILE, "--url", f"http://{host}:{port}", "--timeout", "3"],
        {
            "OMNIDESK_API_KEY": emulator.key,
            "HTTP_PROXY": url,
            "http_proxy": url,
            "ALL_PROXY": url,
            "NO_PROXY": "",
            "no_proxy": "",
        },
    )
    assert result.exit_code == 0, result.output
    assert "Plan: 2 to create" in result.stdout
    assert seen == []
    assert [name for name in looked_up if not re.fullmatch(r"[0-9.:]+", name)] == []


KEY = "wire key+/8f=Q"


def encodings(key: str) -> dict[str, str]:
    upper = quote(key, safe="")
    return {
        "as written": key,
        "percent, upper-case hex": upper,
        "percent, lower-case hex": re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), upper),
        "percent, mixed": re.sub(r"%2F", "%2f", upper),
        "form": quote_plus(key, safe=""),
        "every character percent-encoded": "".join(f"%{b:02x}" for b in key.encode()),
    }


@pytest.mark.parametrize("auth", ["header", "query"])
def test_the_key_echoed_in_any_encoding_is_redacted(auth: str) -> None:
    echoed = " | ".join(encodings(KEY).values())

    def server(method: str, path: str, query: dict[str, str]) -> Reply:
        return Reply(400, {"status": "error", "message": f"bad key: {echoed}", "field": echoed})

    with HostileServer(server) as hostile:
        result = run_cli(["plan", FILE, "--url", hostile.url, "--auth", auth, "--verbose"], {"OMNIDESK_API_KEY": KEY})
    assert result.exit_code == 1
    assert "[redacted]" in result.stderr
    for name, form in encodings(KEY).items():
        assert form not in result.output, name
    assert "wire" not in result.output and "8f" not in result.output.replace("%28", "")


@pytest.mark.parametrize("key", ["k", "ab", "abc"])
def test_a_key_too_short_to_redact_is_refused_before_any_call(key: str) -> None:
    with HostileServer(lambda m, p, q: listing([], total=0)) as hostile:
        result = run_cli(
            ["plan", FILE, "--url", hostile.url, "--verbose", "--auth", "query"], {"OMNIDESK_API_KEY": key}
        )
    plural = "" if len(key) == 1 else "s"
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: an API key of {len(key)} character{plural} cannot be right: check the value of OMNIDESK_API_KEY\n"
    )
    assert hostile.calls == []


BIG = "9" * 5000


@pytest.mark.parametrize(
    "method, path, form",
    [
        ("GET", f"/api/v2/channel/{BIG}", None),
        ("DELETE", f"/api/v2/channel/{BIG}", None),
        ("GET", f"/api/v2/channel?itemStart={BIG}", None),
        ("GET", f"/api/v2/channel?itemLimit={BIG}", None),
        ("POST", "/api/v2/channel/customChannelMessage", {"channelID": BIG, "message": "hi"}),
        ("POST", "/api/v2/channel/customChannelMessage", {"channelID": "{custom}", "ticketID": BIG, "message": "hi"}),
        ("POST", "/api/v2/channel/customChannelMessage", {"channelID": "{custom}", "userID": BIG, "message": "hi"}),
    ],
)
def test_the_emulator_checks_the_key_first_and_refuses_huge_numbers_with_400(
    method: str, path: str, form: dict[str, str] | None, make_emulator
) -> None:
    running = make_emulator(rate_limit=1000, error_rate=0.0)
    with httpx.Client(base_url=running.url, timeout=10) as http:
        made = http.post("/api/v2/channel", data={"name": "Bridge"}, headers={"apiKey": running.key}).json()
        form = {k: v.replace("{custom}", str(made["item"]["id"])) for k, v in (form or {}).items()} or None
        anonymous = http.request(method, path, data=form)
        keyed = http.request(method, path, data=form, headers={"apiKey": running.key})
    assert anonymous.status_code == 401, anonymous.text
    assert keyed.status_code == 400, keyed.text
    assert "digits" in keyed.json()["message"]


def test_the_emulator_refuses_a_keyless_call_before_its_faults(make_emulator) -> None:
    running = make_emulator(redirect_to="https://elsewhere.example/")
    with httpx.Client(base_url=running.url, timeout=10) as http:
        assert http.get("/api/v2/channel").status_code == 401
        assert http.get("/api/v2/channel", headers={"apiKey": running.key}).status_code == 307


def test_a_silent_server_is_given_up_on_within_three_timeouts() -> None:
    started: list[float] = []

    def silent(method: str, path: str, query: dict[str, str]) -> Reply:
        started.append(time.monotonic())
        time.sleep(8)
        return Reply(body={})

    with HostileServer(silent) as hostile:
        result = run_cli(["plan", FILE, "--url", hostile.url, "--timeout", "1.5"], {"OMNIDESK_API_KEY": "silent-key"})
        ended = time.monotonic()
    assert result.exit_code == 1 and "timed out" in result.stderr
    assert ended - started[0] <= 3 * 1.5 + 0.2, ended - started[0]

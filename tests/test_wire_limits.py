"""Limits against a broken or hostile server, each staged over real HTTP and met through the CLI: a
list claiming 10^9 channels, a body over 32 MiB, a redirect, a server that drips, and connection
failures no retry can fix (DNS, TLS to a plain-HTTP port, a refused certificate)."""

from __future__ import annotations

import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from clihelp import run_cli

from reconciler.client import OmnideskClient
from reconciler.errors import ProtocolError
from reconciler.transport import MAX_BODY_BYTES, DeadlineTransport, environment_proxy, needs_tls, trusting_none
from tests.eco_tools import require_tool

ENV = {"OMNIDESK_API_KEY": "demo"}
FIRST_PAGE = "GET /api/v2/channel?itemStart=0&itemLimit=99"


def channels_file(tmp_path: Path) -> str:
    path = tmp_path / "channels.yaml"
    path.write_text("version: 1\nchannels:\n  - name: SMS gateway\n", encoding="utf-8")
    return str(path)


def plan(tmp_path: Path, url: str, *extra: str, env: dict[str, str] | None = None) -> tuple[int, str, float]:
    started = time.monotonic()
    result = run_cli(["plan", channels_file(tmp_path), "--url", url, "--verbose", *extra], {**ENV, **(env or {})})
    assert "Traceback" not in result.output
    return result.exit_code, result.stderr, time.monotonic() - started


def test_a_list_claiming_a_billion_channels_is_refused_after_one_page(make_emulator, tmp_path: Path) -> None:
    running = make_emulator(claimed_total=10**9)
    code, err, took = plan(tmp_path, running.url)
    assert code == 1
    assert (
        f"Error: {FIRST_PAGE}: the channel list claims 1,000,000,000 channels; this tool reads at most "
        "100,000 (a broken or hostile server?)"
    ) in err
    assert running.emu.stats["list"] == 1 and took < 5


def test_a_body_over_32_mib_stops_the_read_and_names_the_call(make_emulator, tmp_path: Path) -> None:
    running = make_emulator(body_padding=MAX_BODY_BYTES + 1024 * 1024)
    code, err, _ = plan(tmp_path, running.url)
    assert code == 1
    assert (
        f"Error: {FIRST_PAGE}: the answer is larger than 32.0 MiB and declares 33.0 MiB, so it was not read "
        "(a broken or hostile server?)"
    ) in err
    assert running.emu.stats["list"] == 1  # never retried, never read twice


def test_a_body_just_under_the_limit_is_read(make_emulator, tmp_path: Path) -> None:
    running = make_emulator(body_padding=MAX_BODY_BYTES - 64 * 1024)
    code, err, _ = plan(tmp_path, running.url)
    assert code == 0, err


def test_a_redirect_is_never_followed_with_the_key(make_emulator, tmp_path: Path) -> None:
    elsewhere = make_emulator()
    running = make_emulator(redirect_to=elsewhere.url + "/api/v2/channel")
    code, err, _ = plan(tmp_path, running.url, "--auth", "query")
    assert code == 1
    assert (
        f"Error: {FIRST_PAGE}: the server redirects to {elsewhere.url}/api/v2/channel; redirects are never "
        "followed, since the API key would go along: use the final address as the tenant's URL (HTTP 307)"
    ) in err
    assert sum(elsewhere.emu.stats.values()) == 0


def test_a_server_that_drips_cannot_hold_a_call_past_its_deadline(make_emulator, tmp_path: Path) -> None:
    running = make_emulator(drip_ms=50)  # a ~1 KB page would take a minute
    code, err, took = plan(tmp_path, running.url, "--timeout", "0.4")
    assert code == 1
    assert re.search(rf"Error: {re.escape(FIRST_PAGE)}: ReadTimeout: .* \(gave up after [23] attempts\)", err), err
    assert took < 4, took  # three timeouts of budget, plus backoff
    attempts = re.findall(r"^http: GET \S+ -> timeout \((\d+) ms\)$", err, flags=re.M)
    # the last attempt gets what is left of the three timeouts, so it may end sooner
    assert 2 <= len(attempts) <= 3 and all(350 <= int(ms) < 1000 for ms in attempts[:-1]), err
    assert int(attempts[-1]) < 1000, err


@pytest.mark.parametrize("proxy", [None, "http://127.0.0.1:3128"])
def test_the_deadline_holds_on_the_real_transport_direct_or_through_a_proxy(proxy: str | None) -> None:
    # httpx offers no way to pass a network backend: ours is put into its pool.
    transport = DeadlineTransport(max_connections=2, proxy=proxy)
    assert type(transport._pool._network_backend).__name__ == "_DeadlineBackend"
    transport.close()


def test_the_environment_proxy_is_still_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example")
    assert environment_proxy("https://acme.omnidesk.com") == "http://proxy.example:3128"
    assert environment_proxy("https://x.internal.example") is None


def test_dns_failure_is_retried_once_and_says_what_to_check(tmp_path: Path) -> None:
    code, err, _ = plan(tmp_path, "https://no-such-tenant.invalid", env={"OMNIDESK_ALLOWED_HOSTS": "*.invalid"})
    assert code == 1
    assert (
        "Error: GET /api/v2/channel?itemStart=0&itemLimit=99: the host name 'no-such-tenant.invalid' cannot be "
        "resolved (DNS): check the URL's host (is it https://<account>.omnidesk.com?)"
    ) in err
    assert len(re.findall(r"^http: GET .* -> ConnectError", err, flags=re.M)) == 2


def test_tls_to_a_plain_http_port_is_retried_once_and_asks_about_the_url(emulator, tmp_path: Path) -> None:
    url = emulator.url.replace("http://", "https://")
    code, err, _ = plan(tmp_path, url)
    assert code == 1
    assert "the TLS handshake with 127.0.0.1:" in err and "is the URL https://... pointing at an HTTPS port?" in err
    assert len(re.findall(r"^http: GET .* -> ConnectError", err, flags=re.M)) == 2


@pytest.fixture
def self_signed_server(tmp_path: Path) -> Iterator[str]:
    """A TLS server with a certificate nobody trusts; it only ever handshakes."""
    require_tool("openssl (to make a self-signed certificate)", shutil.which("openssl") is not None)
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            try:
                with context.wrap_socket(conn, server_side=True):
                    pass
            except (OSError, ssl.SSLError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"https://localhost:{listener.getsockname()[1]}"
    stop.set()
    thread.join(timeout=2)
    listener.close()


def test_a_refused_certificate_is_retried_once_and_says_what_to_check(self_signed_server: str, tmp_path: Path) -> None:
    code, err, _ = plan(tmp_path, self_signed_server)
    assert code == 1
    assert "the TLS certificate of 'localhost' was refused (self-signed certificate)" in err
    assert "or this machine's CA certificates (SSL_CERT_FILE)" in err
    assert len(re.findall(r"^http: GET .* -> ConnectError", err, flags=re.M)) == 2


def test_a_pool_made_for_plain_http_fails_closed_if_it_ever_makes_a_tls_connection(self_signed_server: str) -> None:
    # A plain-http URL's pool loads no CA bundle (needs_tls); one that somehow made a TLS connection
    # anyway must refuse it, never trust it.
    assert not needs_tls("http://127.0.0.1:8080", None)
    assert needs_tls("http://127.0.0.1:8080", "http://proxy.example:3128") and needs_tls("https://t.omnidesk.com", None)
    pool = DeadlineTransport(max_connections=1, tls=False)
    with pytest.raises(httpx.ConnectError) as info:
        pool.handle_request(httpx.Request("GET", self_signed_server + "/api/v2/channel"))
    pool.close()
    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value)
    context = trusting_none()  # verifies, and trusts no authority at all
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname and not context.get_ca_certs()


def test_an_endless_body_without_a_length_is_read_no_further_than_the_limit() -> None:
    sent = []

    def endless() -> Iterator[bytes]:
        yield b'{"type": "list", "items": ["'
        while True:
            sent.append(1)
            yield b"x" * (1024 * 1024)

    def server(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=endless())

    client = OmnideskClient("https://t.omnidesk.com", "k3y-0123456789", transport=httpx.MockTransport(server))
    with pytest.raises(ProtocolError) as info:
        client.list_channels()
    assert str(info.value) == (
        f"{FIRST_PAGE}: the answer is larger than 32.0 MiB and was read no further than "
        "32.0 MiB (a broken or hostile server?)"
    )
    assert len(sent) == 32  # the chunk that passed the limit was the last one asked for

"""Where the API key may go: https only (loopback aside), allowed hosts only, no credentials in URLs.

Every refusal is proved to happen before any connection: the environment routes all HTTP(S) through
a recording proxy on 127.0.0.1, so any attempt to reach a refused host would show up there. The
positive controls show the same proxy does see the attempt once the host is allowed.
"""
from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Iterator

import pytest

from clihelp import RunningEmulator, run_cli

from reconciler.errors import TargetError
from reconciler.target import check_destination
from reconciler.workflow import Workflow

KEY = "canary-key-7f3a9"
CHANNELS = """\
version: 1
tenants:
  production:
    url: {url}
    api_key_env: PROD_KEY
channels:
  - name: SMS gateway
    icon: sms
    custom_channel_endpoint: https://sms.example.com/hook
"""


class RecordingProxy:
    """An HTTP proxy that records each request line it gets and answers 502: nothing gets through."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen()
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    self.lines.append(conn.recv(65536).decode("latin-1"))
                    conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                except OSError:
                    pass

    def env(self) -> dict[str, str]:
        return {"HTTPS_PROXY": self.url, "HTTP_PROXY": self.url, "ALL_PROXY": self.url, "NO_PROXY": ""}

    def close(self) -> None:
        self._sock.close()


@pytest.fixture
def proxy() -> Iterator[RecordingProxy]:
    recording = RecordingProxy()
    yield recording
    recording.close()


def test_an_allowed_host_is_reached_the_control_for_every_refusal_below(proxy: RecordingProxy) -> None:
    env = {**proxy.env(), "OMNIDESK_API_KEY": KEY, "OMNIDESK_ALLOWED_HOSTS": "api.acme.test,*.staging.example.com"}
    for url in ("https://acme.omnidesk.com", "https://eu.acme.omnidesk.io", "https://api.acme.test",
                "https://shop.staging.example.com"):
        result = run_cli(["export", "--url", url], env)
        assert result.exit_code == 1 and "ProxyError" in result.stderr, result.output
    assert [line.split("\r\n")[0] for line in proxy.lines] == [
        "CONNECT acme.omnidesk.com:443 HTTP/1.1", "CONNECT eu.acme.omnidesk.io:443 HTTP/1.1",
        "CONNECT api.acme.test:443 HTTP/1.1", "CONNECT shop.staging.example.com:443 HTTP/1.1",
    ]


@pytest.mark.parametrize("url, host", [
    ("https://prod.example.com", "prod.example.com"),
    ("https://acme.omnidesk.com.evil.example", "acme.omnidesk.com.evil.example"),
    ("https://evilomnidesk.com", "evilomnidesk.com"),
    ("https://staging.example.com", "staging.example.com"),  # *.staging.example.com is below it, not it
])
def test_a_host_that_is_not_allowed_is_refused_before_any_connection(
    tmp_path: Path, proxy: RecordingProxy, url: str, host: str
) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text("version: 1\nchannels: []\n")
    env = {**proxy.env(), "OMNIDESK_API_KEY": KEY, "OMNIDESK_ALLOWED_HOSTS": "*.staging.example.com"}
    result = run_cli(["plan", str(path), "--url", url], env)
    assert result.exit_code == 1 and proxy.lines == []
    assert result.stderr.startswith(f"Error: refusing to send the API key to {host}: it is not an allowed host")
    assert f"export OMNIDESK_ALLOWED_HOSTS=*.staging.example.com,{host}" in result.stderr
    assert KEY not in result.output and "Traceback" not in result.output


def test_plain_http_is_refused_beyond_loopback_even_for_an_allowed_host(proxy: RecordingProxy) -> None:
    env = {**proxy.env(), "OMNIDESK_API_KEY": KEY, "OMNIDESK_ALLOWED_HOSTS": "api.acme.test"}
    for url, host in (("http://acme.omnidesk.com", "acme.omnidesk.com"), ("http://api.acme.test:8080", "api.acme.test"),
                      ("http://10.0.0.7", "10.0.0.7")):
        result = run_cli(["export", "--url", url], env)
        assert result.exit_code == 1, result.output
        assert result.stderr.startswith(f"Error: refusing to send the API key over plain http:// to {host}: "
                                        f"use https://{host}")
    assert proxy.lines == []


def test_loopback_over_plain_http_is_fine(emulator: RunningEmulator) -> None:
    port = emulator.url.rsplit(":", 1)[1]
    for url in (emulator.url, f"http://localhost:{port}"):
        result = run_cli(["export", "--url", url], {"OMNIDESK_API_KEY": "demo"})
        assert result.exit_code == 0, result.output
    assert emulator.emu.stats["list"] == 2


def test_credentials_in_the_url_are_refused_and_never_echoed(proxy: RecordingProxy) -> None:
    env = {**proxy.env(), "OMNIDESK_API_KEY": KEY}
    for url in ("https://ops:hunter2-canary@acme.omnidesk.com", "https://hunter2-canary@acme.omnidesk.com",
                "https://evil.example\\@acme.omnidesk.com"):
        result = run_cli(["export", "--url", url], env)
        assert result.exit_code == 1
        assert result.stderr == ("Error: --url carries credentials (user:password@ before the host): remove them; "
                                 "the API key comes from its environment variable, never from the URL\n")
        assert "hunter2" not in result.output and "evil" not in result.output
    assert proxy.lines == []


def test_the_channels_file_cannot_send_the_key_elsewhere_nor_allow_a_host(
    tmp_path: Path, proxy: RecordingProxy
) -> None:
    """A pull request edits the tenant's url: the plan job holding the key must not follow it."""
    path = tmp_path / "channels.yaml"
    path.write_text(CHANNELS.format(url="https://collector.attacker.example"))
    env = {**proxy.env(), "PROD_KEY": KEY}
    result = run_cli(["plan", str(path), "--tenant", "production"], env)
    assert result.exit_code == 1 and proxy.lines == []
    assert result.stderr.startswith("Error: refusing to send the API key to collector.attacker.example")
    assert "not in the channels file" in result.stderr and KEY not in result.output
    # A var or an ${env:...} in the file is no way around it: only the process environment counts.
    path.write_text(CHANNELS.format(url="https://collector.attacker.example").replace(
        "    api_key_env: PROD_KEY\n", "    api_key_env: PROD_KEY\n    vars: {OMNIDESK_ALLOWED_HOSTS: '*.example'}\n"))
    again = run_cli(["plan", str(path), "--tenant", "production"], env)
    assert again.exit_code == 1 and "refusing to send the API key" in again.stderr and proxy.lines == []


def test_a_saved_plan_is_checked_again_at_apply(tmp_path: Path, emulator: RunningEmulator,
                                               proxy: RecordingProxy) -> None:
    """The plan job may allow a host the apply job does not: apply decides with its own environment."""
    path = tmp_path / "channels.yaml"
    path.write_text(CHANNELS.format(url=emulator.url))
    plan_file = tmp_path / "plan.json"
    env = {"PROD_KEY": "demo"}
    assert run_cli(["plan", str(path), "--tenant", "production", "--out", str(plan_file)], env).exit_code == 0
    # Someone rewrites the plan's URL; the digest would catch it, so they rewrite that too: only the
    # destination check stands between the key and their host.
    import json

    from reconciler.planfile import _document_digest

    document = json.loads(plan_file.read_text())
    document["connection"]["url"] = "https://collector.attacker.example"
    document["digest"] = _document_digest(document["plan"], document["connection"], document["secrets"])
    plan_file.write_text(json.dumps(document))
    emulator.emu.reset_stats()
    result = run_cli(["apply", str(plan_file)], {**env, **proxy.env()})
    assert result.exit_code == 1 and proxy.lines == [] and not emulator.emu.stats
    assert result.stderr.startswith("Error: refusing to send the API key to collector.attacker.example")
    document["connection"]["url"] = "http://api.acme.test"
    document["digest"] = _document_digest(document["plan"], document["connection"], document["secrets"])
    plan_file.write_text(json.dumps(document))
    plain = run_cli(["apply", str(plan_file)], {**env, **proxy.env(), "OMNIDESK_ALLOWED_HOSTS": "api.acme.test"})
    assert plain.exit_code == 1 and "over plain http:// to api.acme.test" in plain.stderr and proxy.lines == []


def test_the_library_enforces_it_too() -> None:
    """A Python user of the engine gets the same refusal as the command line, before the key is read."""
    engine = Workflow(environ={})
    with pytest.raises(TargetError) as refused:
        engine.target(url="https://prod.example.com")
    assert refused.value.host == "prod.example.com" and refused.value.variable == "OMNIDESK_ALLOWED_HOSTS"
    allowed = Workflow(environ={"OMNIDESK_ALLOWED_HOSTS": "prod.example.com", "OMNIDESK_API_KEY": KEY})
    assert allowed.target(url="https://prod.example.com").url == "https://prod.example.com"
    assert check_destination("https://ACME.Omnidesk.COM./", {}) == "acme.omnidesk.com"
    assert check_destination("http://[::1]:8080", {}) == "::1"
    assert check_destination("http://127.3.2.1", {}) == "127.3.2.1"


@pytest.mark.parametrize("url, message", [
    ("acme.omnidesk.com", "--url must start with https://"),
    ("ftp://acme.omnidesk.com", "--url must start with https://"),
    ("https://acme.omnidesk.com%2f.evil.example", "is not a valid host name"),
    ("https://", "--url names no host"),
])
def test_urls_that_are_not_urls_are_clear_errors(url: str, message: str) -> None:
    result = run_cli(["export", "--url", url], {"OMNIDESK_API_KEY": KEY})
    assert result.exit_code == 1 and message in result.stderr and "Traceback" not in result.output


def test_a_bad_allowed_hosts_pattern_is_named() -> None:
    result = run_cli(["export", "--url", "https://api.acme.test"],
                     {"OMNIDESK_API_KEY": KEY, "OMNIDESK_ALLOWED_HOSTS": "api.acme.test, https://x.test"})
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: OMNIDESK_ALLOWED_HOSTS: 'https://x.test' is not a host pattern")

"""Where the API key may go: https only (loopback aside), allowed hosts only, no credentials in URLs.

Every refusal is proved to happen before any connection. The witness is a TCP server on 127.0.0.1
that records every connection, reached by the name ``127.1``: the resolver maps it to 127.0.0.1,
but it is no loopback literal, so the destination check treats it as any outside host. The
positive control shows the same server does get the connection once ``127.1`` is allowed.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from clihelp import RunningEmulator, run_cli

from reconciler.errors import TargetError
from reconciler.planfile import _document_digest
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


class Witness:
    """A TCP server on 127.0.0.1 that records each connection's first bytes and closes it."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen()
        self.port = self._sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def url(self, scheme: str = "https", userinfo: str = "") -> str:
        return f"{scheme}://{userinfo}127.1:{self.port}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    self.received.append(conn.recv(65536))
                except OSError:
                    self.received.append(b"")

    def close(self) -> None:
        self._sock.close()


@pytest.fixture
def witness() -> Iterator[Witness]:
    server = Witness()
    yield server
    server.close()


def empty_file(tmp_path: Path) -> str:
    path = tmp_path / "empty.yaml"
    path.write_text("version: 1\nchannels: []\n")
    return str(path)


def test_the_control_an_allowed_host_is_connected_to(tmp_path: Path, witness: Witness) -> None:
    result = run_cli(
        ["plan", empty_file(tmp_path), "--url", witness.url()],
        {"OMNIDESK_API_KEY": KEY, "OMNIDESK_ALLOWED_HOSTS": "127.1"},
    )
    assert result.exit_code == 1 and witness.received, result.output
    assert witness.received[0].startswith(b"\x16\x03"), "a TLS handshake: the key would follow inside it"


def test_a_host_that_is_not_allowed_is_refused_before_any_connection(tmp_path: Path, witness: Witness) -> None:
    result = run_cli(
        ["plan", empty_file(tmp_path), "--url", witness.url()],
        {"OMNIDESK_API_KEY": KEY, "OMNIDESK_ALLOWED_HOSTS": "*.staging.example.com"},
    )
    assert result.exit_code == 1 and witness.received == []
    assert result.stderr == (
        "Error: refusing to send the API key to 127.1: it is not an allowed host (*.omnidesk.com, *.omnidesk.io, "
        "*.staging.example.com, or this machine). If 127.1 is yours, allow it in the environment (not in the "
        "channels file, which a pull request can edit): export OMNIDESK_ALLOWED_HOSTS=*.staging.example.com,127.1\n"
    )
    assert KEY not in result.output


@pytest.mark.parametrize(
    "url, host",
    [
        ("https://prod.example.com", "prod.example.com"),
        ("https://acme.omnidesk.com.evil.example", "acme.omnidesk.com.evil.example"),
        ("https://evilomnidesk.com", "evilomnidesk.com"),
        ("https://staging.example.com", "staging.example.com"),  # *.staging.example.com is below it, not it
    ],
)
def test_lookalike_hosts_are_not_allowed(tmp_path: Path, url: str, host: str) -> None:
    env = {"OMNIDESK_API_KEY": KEY, "OMNIDESK_ALLOWED_HOSTS": "*.staging.example.com"}
    result = run_cli(["plan", empty_file(tmp_path), "--url", url], env)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: refusing to send the API key to {host}: it is not an allowed host")
    assert f"export OMNIDESK_ALLOWED_HOSTS=*.staging.example.com,{host}" in result.stderr
    assert KEY not in result.output and "Traceback" not in result.output


def test_allowed_hosts_by_default_and_by_pattern() -> None:
    env = {"OMNIDESK_ALLOWED_HOSTS": " api.acme.test , *.staging.example.com,"}
    for url, host in (
        ("https://acme.omnidesk.com", "acme.omnidesk.com"),
        ("https://eu.acme.omnidesk.io/", "eu.acme.omnidesk.io"),
        ("https://API.acme.test:8443", "api.acme.test"),
        ("https://a.b.staging.example.com", "a.b.staging.example.com"),
    ):
        assert check_destination(url, env) == host


def test_plain_http_is_refused_beyond_loopback_even_for_an_allowed_host(tmp_path: Path, witness: Witness) -> None:
    env = {"OMNIDESK_API_KEY": KEY, "OMNIDESK_ALLOWED_HOSTS": "127.1"}
    result = run_cli(["plan", empty_file(tmp_path), "--url", witness.url("http")], env)
    assert result.exit_code == 1 and witness.received == []
    assert result.stderr.startswith(
        "Error: refusing to send the API key over plain http:// to 127.1: use https://127.1"
    )
    other = run_cli(["plan", empty_file(tmp_path), "--url", "http://acme.omnidesk.com"], env)
    assert other.stderr.startswith("Error: refusing to send the API key over plain http:// to acme.omnidesk.com")


def test_loopback_over_plain_http_is_fine(emulator: RunningEmulator) -> None:
    port = emulator.url.rsplit(":", 1)[1]
    for url in (emulator.url, f"http://localhost:{port}"):
        result = run_cli(["export", "--url", url], {"OMNIDESK_API_KEY": "demo"})
        assert result.exit_code == 0, result.output
    assert emulator.emu.stats["list"] == 2


def test_credentials_in_the_url_are_refused_and_never_echoed(tmp_path: Path, witness: Witness) -> None:
    env = {"OMNIDESK_API_KEY": KEY, "OMNIDESK_ALLOWED_HOSTS": "127.1"}
    for userinfo in ("ops:hunter2-canary@", "hunter2-canary@", "evil.example\\@"):
        result = run_cli(["plan", empty_file(tmp_path), "--url", witness.url(userinfo=userinfo)], env)
        assert result.exit_code == 1
        assert result.stderr == (
            "Error: --url carries credentials (user:password@ before the host): remove them; "
            "the API key comes from its environment variable, never from the URL\n"
        )
        assert "hunter2" not in result.output and "evil" not in result.output
    assert witness.received == []


def test_the_channels_file_cannot_send_the_key_elsewhere_nor_allow_a_host(tmp_path: Path, witness: Witness) -> None:
    """A pull request edits the tenant's url: the plan job holding the key must not follow it."""
    path = tmp_path / "channels.yaml"
    path.write_text(CHANNELS.format(url=witness.url()))
    result = run_cli(["plan", str(path), "--tenant", "production"], {"PROD_KEY": KEY})
    assert result.exit_code == 1 and witness.received == []
    assert result.stderr.startswith("Error: refusing to send the API key to 127.1")
    assert "not in the channels file" in result.stderr and KEY not in result.output
    # A var named like the variable is no way around it: only the process environment counts.
    path.write_text(
        CHANNELS.format(url=witness.url()).replace(
            "    api_key_env: PROD_KEY\n", "    api_key_env: PROD_KEY\n    vars: {OMNIDESK_ALLOWED_HOSTS: '127.1'}\n"
        )
    )
    again = run_cli(["plan", str(path), "--tenant", "production"], {"PROD_KEY": KEY})
    assert again.exit_code == 1 and "refusing to send the API key to 127.1" in again.stderr
    assert witness.received == []


def test_a_saved_plan_is_checked_again_at_apply(tmp_path: Path, emulator: RunningEmulator, witness: Witness) -> None:
    """apply decides with its own environment; a plan rewritten to point elsewhere gets nothing."""
    path = tmp_path / "channels.yaml"
    path.write_text(CHANNELS.format(url=emulator.url))
    plan_file = tmp_path / "plan.json"
    env = {"PROD_KEY": "demo"}
    assert run_cli(["plan", str(path), "--tenant", "production", "--out", str(plan_file)], env).exit_code == 0
    # Someone rewrites the plan's URL and its digest (a digest is no signature): only the
    # destination check stands between the key and their host.
    document = json.loads(plan_file.read_text())

    def point_to(url: str) -> None:
        document["connection"]["url"] = url
        document["digest"] = _document_digest(
            document["plan"], document["connection"], document["secrets"], document.get("safety")
        )
        plan_file.write_text(json.dumps(document))

    point_to(witness.url())
    emulator.emu.reset_stats()
    result = run_cli(["apply", str(plan_file), "--yes"], env)
    assert result.exit_code == 1 and witness.received == [] and not emulator.emu.stats
    assert result.stderr.startswith("Error: refusing to send the API key to 127.1")
    point_to(witness.url("http"))
    plain = run_cli(["apply", str(plan_file), "--yes"], {**env, "OMNIDESK_ALLOWED_HOSTS": "127.1"})
    assert plain.exit_code == 1 and "over plain http:// to 127.1" in plain.stderr and witness.received == []
    point_to(witness.url())
    allowed = run_cli(["apply", str(plan_file), "--yes"], {**env, "OMNIDESK_ALLOWED_HOSTS": "127.1"})
    assert allowed.exit_code == 1 and witness.received, "the control: allowed, it is reached"


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


@pytest.mark.parametrize(
    "url, message",
    [
        ("acme.omnidesk.com", "--url must start with https://"),
        ("ftp://acme.omnidesk.com", "--url must start with https://"),
        ("https://acme.omnidesk.com%2f.evil.example", "is not a valid host name"),
        ("https://", "--url names no host"),
    ],
)
def test_urls_that_are_not_urls_are_clear_errors(url: str, message: str) -> None:
    result = run_cli(["export", "--url", url], {"OMNIDESK_API_KEY": KEY})
    assert result.exit_code == 1 and message in result.stderr and "Traceback" not in result.output


def test_a_bad_allowed_hosts_pattern_is_named() -> None:
    result = run_cli(
        ["export", "--url", "https://api.acme.test"],
        {"OMNIDESK_API_KEY": KEY, "OMNIDESK_ALLOWED_HOSTS": "api.acme.test, https://x.test"},
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: OMNIDESK_ALLOWED_HOSTS: 'https://x.test' is not a host pattern")

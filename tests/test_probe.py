"""``probe`` and ``plan --probe`` against local HTTPS bridges (127.0.0.1 only): the right verdict for a
good, a slow, a silent, an OPTIONS-refusing, a badly certified and a missing endpoint, each within its
timeout; no POST and no secret ever reaches a bridge; a failing probe is an endpoint-answers finding."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from clihelp import RunningEmulator, run_cli
from probeservers import Bridge, Servers

SECRET = "canary-probe-secret-61d0"
TIMEOUT = 2.0


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    started = Servers(tmp_path)
    yield started
    started.stop()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"https://127.0.0.1:{port}/omnidesk/in"


def channels(tmp_path: Path, endpoints: dict[str, str], policy: str = "") -> str:
    body = "".join(
        f"  - name: {name}\n    custom_channel_endpoint: {url}\n"
        f"    custom_channel_secret: ${{env:BRIDGE_SECRET}}\n    include_signature: true\n"
        for name, url in endpoints.items()
    )
    path = tmp_path / "channels.yaml"
    path.write_text(f"version: 1\n{policy}channels:\n{body}")
    return str(path)


def env(servers: Servers, **more: str) -> dict[str, str]:
    return {"SSL_CERT_FILE": servers.ca_file, "OMNIDESK_PROBE_LOOPBACK": "1", "BRIDGE_SECRET": SECRET, **more}


def row(out: str, url: str) -> str:
    (line,) = [line for line in out.splitlines() if line.startswith(url)]
    return line


def test_each_bridge_gets_its_verdict_within_the_timeout(tmp_path: Path, servers: Servers) -> None:
    good, slow, silent = servers.start(), servers.start(delay=1.3), servers.start(delay=30)
    refusing, untrusted = servers.start("refuse"), servers.start(trusted=False)
    missing = closed_port_url()
    endpoints = {
        "Good": good.url,
        "Slow": slow.url,
        "Silent": silent.url,
        "Refusing": refusing.url,
        "Untrusted": untrusted.url,
        "Missing": missing,
    }
    started = time.monotonic()
    result = run_cli(["probe", channels(tmp_path, endpoints), "--timeout", str(TIMEOUT)], env(servers))
    elapsed = time.monotonic() - started
    assert result.exit_code == 0, result.output  # endpoint-answers is at warn by default
    assert elapsed < TIMEOUT + 5, "each endpoint within the timeout (the rest: the CLI starting on a busy machine)"
    out = result.stdout
    assert out.startswith("endpoint ") and "Allow: POST" in out.splitlines()[0]
    assert row(out, good.url).endswith("  ok") and " 204 " in row(out, good.url)
    assert "FAIL: the first byte came after 1." in row(out, slow.url) and "(Omnidesk waits 1 s)" in row(out, slow.url)
    assert "FAIL: no answer to OPTIONS within the timeout" in row(out, silent.url)
    assert "FAIL: OPTIONS answered 405" in row(out, refusing.url)
    assert "FAIL: the TLS certificate is refused" in row(out, untrusted.url)
    assert "FAIL: cannot connect to port" in row(out, missing)
    assert result.stderr.count("warn [endpoint-answers]") == 5
    assert "Probed 6 endpoint(s): 1 answered, 5 failed." in result.stderr
    sent = [request for bridge in (good, slow, silent, refusing) for request in bridge.seen]
    assert sent and all(request.startswith("OPTIONS /omnidesk/in HTTP/1.1") for request in sent)
    assert not any(SECRET in request for request in sent)


def test_endpoints_are_probed_concurrently_and_bounded(servers: Servers) -> None:
    import ssl

    from reconciler.probe import probe_endpoints

    silent = [servers.start(delay=30).url for _ in range(3)]
    context = ssl.create_default_context(cafile=servers.ca_file)
    started = time.monotonic()
    results = probe_endpoints(
        silent, timeout=1.0, parallelism=3, environ={"OMNIDESK_PROBE_LOOPBACK": "1"}, context=context
    )
    assert time.monotonic() - started < 2.5, "three 1 s timeouts at once, not one after another"
    assert {r.problem for r in results.values()} == {"no answer to OPTIONS within the timeout"}
    started = time.monotonic()
    probe_endpoints(silent, timeout=1.0, parallelism=1, environ={"OMNIDESK_PROBE_LOOPBACK": "1"}, context=context)
    assert time.monotonic() - started >= 3.0, "parallelism bounds how many run at once"


def test_unreachable_endpoints_are_refused_without_a_connection(tmp_path: Path, servers: Servers) -> None:
    good = servers.start()
    file = channels(
        tmp_path, {"Local": good.url, "Plain": "http://bridge.example.com/in", "Private": "https://10.20.30.40/in"}
    )
    result = run_cli(["probe", file, "--timeout", str(TIMEOUT)], env(servers, OMNIDESK_PROBE_LOOPBACK=""))
    assert "FAIL: 127.0.0.1 is this machine (127.0.0.1): Omnidesk cannot reach it" in row(result.stdout, good.url)
    assert "not an https:// URL" in row(result.stdout, "http://bridge.example.com/in")
    assert "non-public address (10.20.30.40)" in row(result.stdout, "https://10.20.30.40/in")
    assert good.seen == [], "a loopback endpoint is not probed unless the environment allows it"


def test_a_credential_in_the_endpoint_is_masked_in_the_table(tmp_path: Path, servers: Servers) -> None:
    good = servers.start()
    file = channels(tmp_path, {"Keyed": good.url + "?key=${env:BRIDGE_KEY}"})
    result = run_cli(["probe", file], env(servers, BRIDGE_KEY="canary-probe-key-0e2a"))
    assert result.exit_code == 0 and row(result.stdout, good.url + "?key=(sensitive)").endswith("  ok")
    assert "canary-probe-key-0e2a" not in result.output
    assert good.seen[0].startswith("OPTIONS /omnidesk/in?key=canary-probe-key-0e2a HTTP/1.1"), (
        "the probe asks the endpoint Omnidesk would call"
    )


def test_plan_probe_turns_a_failing_endpoint_into_a_finding_that_deny_enforces(
    tmp_path: Path, servers: Servers, emulator: RunningEmulator
) -> None:
    good, refusing = servers.start(), servers.start("refuse")
    file = channels(
        tmp_path, {"Good": good.url, "Refusing": refusing.url}, policy="policy: {rules: {endpoint-answers: deny}}\n"
    )
    tenant = env(servers, OMNIDESK_URL=emulator.url, OMNIDESK_API_KEY=emulator.key)
    data = json.loads(run_cli(["plan", file, "--probe", "--format", "json"], tenant).stdout)
    assert [(f["rule"], f["level"], f["channel"]) for f in data["findings"]] == [
        ("endpoint-answers", "deny", "Refusing")
    ]
    without = json.loads(run_cli(["plan", file, "--format", "json"], tenant).stdout)
    assert without["findings"] == [], "no probe, no endpoint-answers finding"
    assert run_cli(["probe", file], tenant).exit_code == 1
    saved = str(tmp_path / "plan.json")
    assert run_cli(["plan", file, "--probe", "--out", saved], tenant).exit_code == 0
    refused = run_cli(["apply", saved], tenant)
    assert refused.exit_code == 1 and "deny [endpoint-answers] 'Refusing'" in refused.stderr
    assert not [c for c in emulator.emu.channels() if c.get("type") == "custom"]
    assert run_cli(["apply", saved, "--allow-policy", "endpoint-answers"], tenant).exit_code == 0
    assert all(request.startswith("OPTIONS ") for bridge in (good, refusing) for request in bridge.seen)


def test_plan_all_tenants_probes_each_tenants_endpoints(
    tmp_path: Path, servers: Servers, emulator: RunningEmulator
) -> None:
    good, refusing = servers.start(), servers.start("refuse")
    path = tmp_path / "channels.yaml"
    path.write_text(
        "version: 1\npolicy: {rules: {endpoint-answers: deny}}\ntenants:\n"
        f"  staging:\n    url: {emulator.url}\n    vars: {{bridge: '{good.url}'}}\n"
        f"  production:\n    url: {emulator.url}\n    vars: {{bridge: '{refusing.url}'}}\n"
        "channels:\n  - name: SMS\n    custom_channel_endpoint: ${var:bridge}\n"
    )
    result = run_cli(
        ["plan", str(path), "--all-tenants", "--probe", "--format", "json"], env(servers, OMNIDESK_API_KEY=emulator.key)
    )
    plans = {t["tenant"]: t["plan"] for t in json.loads(result.stdout)["tenants"]}
    assert plans["staging"]["findings"] == []
    assert [(f["rule"], f["level"]) for f in plans["production"]["findings"]] == [("endpoint-answers", "deny")]


def test_probe_without_endpoints_says_so(tmp_path: Path) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text("version: 1\nchannels:\n  - name: A\n")
    result = run_cli(["probe", str(path)])
    assert (result.exit_code, result.stdout) == (0, "No endpoints to probe.\n")


def test_the_bridges_record_what_they_get(servers: Servers) -> None:
    bridge: Bridge = servers.start()
    assert bridge.url.startswith("https://127.0.0.1:") and bridge.seen == []

"""``plan --all-tenants`` builds the TLS context once and shares one connection pool per host.

Both were measured costs (issue 27): threads racing on a ``functools.cache`` built the context
(which loads the CA bundle) 14-48 times for 1,000 tenants, and each tenant opened its own
connections. Counted here: contexts built, and TCP connections opened per host.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from clihelp import RunningEmulator, run_cli

from reconciler import transport
from reconciler.multitenant import plan_tenants

TENANTS = 24


def channels_file(tmp_path: Path, urls: list[str]) -> Path:
    lines = ["version: 1", "tenants:"]
    for i, url in enumerate(urls):
        lines += [f"  t{i:02d}:", f"    url: {url}", "    api_key_env: THE_KEY"]
    lines += ["channels:", "  - name: SMS gateway", "    icon: sms"]
    path = tmp_path / "channels.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def two_hosts(make_emulator: Callable[..., RunningEmulator], tmp_path: Path) -> tuple[list[RunningEmulator], Path]:
    """Two emulators (two hosts), each holding half of the file's tenants, each answering after 20 ms."""
    hosts = [make_emulator(latency_ms=20), make_emulator(latency_ms=20)]
    for host in hosts:
        host.emu.seed_channels([{"name": "SMS gateway", "icon": "sms"}])
    return hosts, channels_file(tmp_path, [hosts[i % 2].url for i in range(TENANTS)])


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The threads that built the TLS context (loading the CA bundle), each build made slow as that
    is, so that threads asking at once pile up."""
    threads: list[int] = []
    real = httpx.create_ssl_context

    def slow_build(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.get_ident())
        time.sleep(0.05)
        return real(*args, **kwargs)

    monkeypatch.setattr(transport, "_TLS", [])
    monkeypatch.setattr(transport.httpx, "create_ssl_context", slow_build)
    return threads


def test_the_tls_context_is_built_once_for_every_tenant(
    two_hosts: tuple[list[RunningEmulator], Path], built: list[int], tmp_path: Path
) -> None:
    hosts, _ = two_hosts
    # https to the emulators' plain-HTTP ports: every tenant needs TLS (and fails its handshake)
    path = channels_file(tmp_path, [hosts[i % 2].url.replace("http://", "https://") for i in range(TENANTS)])
    result = run_cli(["plan", str(path), "--all-tenants"], {"THE_KEY": "demo"})
    assert result.exit_code == 1, result.output
    assert result.stdout.rstrip().endswith(f"{TENANTS} tenant(s): 0 with changes, {TENANTS} failed.")
    assert "is the URL https://... pointing at an HTTPS port?" in result.stdout
    assert len(built) == 1


def test_plain_http_tenants_never_load_the_ca_bundle(
    two_hosts: tuple[list[RunningEmulator], Path], built: list[int]
) -> None:
    _, path = two_hosts
    result = run_cli(["plan", str(path), "--all-tenants"], {"THE_KEY": "demo"})
    assert result.exit_code == 0, result.output
    assert result.stdout.rstrip().endswith(f"{TENANTS} tenant(s): 0 with changes, 0 failed.")
    assert built == []
    one = run_cli(["plan", str(path), "--tenant", "t00"], {"THE_KEY": "demo"})
    assert one.exit_code == 0 and "No changes." in one.stdout, one.output
    assert built == []


@pytest.fixture
def builds_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A file each TLS context build appends its process id to, whichever process it happens in."""
    log = tmp_path / "tls-builds.log"
    log.touch()
    real = httpx.create_ssl_context

    def logged(*args: Any, **kwargs: Any) -> Any:
        with log.open("a") as handle:
            handle.write(f"{os.getpid()}\n")
        return real(*args, **kwargs)

    monkeypatch.setattr(transport, "_TLS", [])
    monkeypatch.setattr(transport.httpx, "create_ssl_context", logged)
    return log


@pytest.mark.parametrize("scheme", ["https", "http"])
def test_worker_processes_inherit_the_tls_context_instead_of_building_one(
    two_hosts: tuple[list[RunningEmulator], Path], builds_log: Path, tmp_path: Path, scheme: str
) -> None:
    # A context built in a forked child calls into OpenSSL there, which hung for good in a child of
    # a process whose other threads held OpenSSL's locks; and each child loaded the CA bundle again.
    hosts, _ = two_hosts
    urls = [hosts[i % 2].url.replace("http://", f"{scheme}://") for i in range(TENANTS)]
    path = channels_file(tmp_path, urls)
    results = plan_tenants(path, [f"t{i:02d}" for i in range(TENANTS)], environ={"THE_KEY": "demo"}, processes=2)
    assert all(r.failed for r in results) if scheme == "https" else not any(r.failed for r in results)
    builds = builds_log.read_text().split()
    assert builds == ([str(os.getpid())] if scheme == "https" else []), builds
    assert transport.trusting_none() is transport.trusting_none()  # plain http: made once, at import


def test_tenants_on_one_host_share_its_connections(
    two_hosts: tuple[list[RunningEmulator], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    hosts, path = two_hosts
    opened: Counter[int] = Counter()
    real = socket.create_connection

    def counting(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        opened[address[1]] += 1
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", counting)
    workers = 4  # at most 4 requests in flight, so 4 connections at most when they are shared
    results = plan_tenants(path, [f"t{i:02d}" for i in range(TENANTS)], environ={"THE_KEY": "demo"}, workers=workers)
    assert not any(r.failed for r in results), [r.error for r in results]
    ports = {int(h.url.rsplit(":", 1)[1]) for h in hosts}
    assert set(opened) == ports
    assert all(opened[port] <= workers for port in ports), opened  # one each would be 12 per host
    assert sum(h.emu.stats["list"] for h in hosts) == TENANTS

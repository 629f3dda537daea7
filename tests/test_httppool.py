"""The connection pool's bookkeeping in one pass (``reconciler.httppool``), held to httpcore's.

httpcore's ``_assign_requests_to_connections`` runs twice per request; its cost grew with the
square of the pool (issue 27: a fifth of a create's CPU at parallelism 64). ``scan_once`` must
close, drop and hand out exactly what httpcore's own method does (checked side by side on many
pools), touching each connection a bounded number of times. A create's body leaves in one piece.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpcore
import pytest
from clihelp import RunningEmulator, run_cli

from reconciler import transport
from reconciler.client import OmnideskClient
from reconciler.httppool import CHECKED_VERSIONS, linear, scan_once

A = httpcore.Origin(b"http", b"a.example", 80)
B = httpcore.Origin(b"http", b"b.example", 80)


@dataclass(eq=False)
class FakeConnection:
    """What the pool asks a connection, answered from fields; every question is counted."""

    origin: httpcore.Origin
    idle: bool = False
    closed: bool = False
    expired: bool = False
    asked: dict[str, int] = field(default_factory=dict)

    def _ask(self, what: str) -> None:
        self.asked[what] = self.asked.get(what, 0) + 1

    def is_closed(self) -> bool:
        self._ask("is_closed")
        return self.closed

    def has_expired(self) -> bool:
        self._ask("has_expired")
        return self.expired

    def is_idle(self) -> bool:
        self._ask("is_idle")
        return self.idle

    def is_available(self) -> bool:
        self._ask("is_available")
        return self.idle

    def can_handle_request(self, origin: httpcore.Origin) -> bool:
        return origin == self.origin


class FakePool(httpcore.ConnectionPool):
    def create_connection(self, origin: httpcore.Origin) -> Any:
        return FakeConnection(origin, asked={"created": 1})


def pool_of(
    connections: list[FakeConnection], origins: list[httpcore.Origin], *, max_connections: int, keepalive: int
) -> FakePool:
    pool = FakePool(max_connections=max_connections, max_keepalive_connections=keepalive)
    pool._connections = list(connections)  # type: ignore[assignment]
    pool._requests = [
        httpcore._sync.connection_pool.PoolRequest(
            httpcore.Request("GET", httpcore.URL(scheme=o.scheme, host=o.host, port=o.port, target=b"/"))
        )
        for o in origins
    ]
    return pool


def outcome(pool: FakePool, closing: list[Any], names: dict[int, str]) -> tuple[list[str], list[str], list[str]]:
    def name(connection: Any) -> str:
        return names.get(id(connection), f"new:{connection.origin.host.decode()}")

    assigned = [name(r.connection) if r.connection is not None else "queued" for r in pool._requests]
    return [name(c) for c in pool._connections], [name(c) for c in closing], assigned


def random_pool(rng: random.Random) -> tuple[list[FakeConnection], list[httpcore.Origin], int, int]:
    connections = [
        FakeConnection(rng.choice([A, B]), idle=rng.random() < 0.5, closed=rng.random() < 0.15)
        for _ in range(rng.randrange(0, 12))
    ]
    origins = [rng.choice([A, B]) for _ in range(rng.randrange(0, 5))]
    return connections, origins, rng.randrange(1, 14), rng.randrange(0, 10)


@pytest.mark.parametrize("seed", range(200))
def test_scan_once_closes_and_hands_out_what_httpcore_does(seed: int) -> None:
    rng = random.Random(seed)
    connections, origins, max_connections, keepalive = random_pool(rng)
    outcomes = []
    for assign in (httpcore.ConnectionPool._assign_requests_to_connections, scan_once):
        twins = [FakeConnection(c.origin, c.idle, c.closed) for c in connections]
        names = {id(c): f"c{i}" for i, c in enumerate(twins)}
        pool = pool_of(twins, origins, max_connections=max_connections, keepalive=keepalive)
        outcomes.append(outcome(pool, assign(pool), names))
    assert outcomes[1] == outcomes[0]


def test_an_expired_connection_is_closed_when_it_would_be_handed_out() -> None:
    expired, fresh = FakeConnection(A, idle=True, expired=True), FakeConnection(A, idle=True)
    pool = pool_of([expired, fresh], [A], max_connections=4, keepalive=4)
    closing = scan_once(pool)
    assert closing == [expired]
    assert pool._connections == [fresh]
    assert pool._requests[0].connection is fresh


def test_one_pass_asks_each_connection_a_bounded_number_of_questions() -> None:
    connections = [FakeConnection(A, idle=True) for _ in range(64)]
    pool = linear(pool_of(connections, [A], max_connections=64, keepalive=64))
    pool._assign_requests_to_connections()
    assert pool._requests[0].connection is connections[0]
    assert max(sum(c.asked.values()) for c in connections) <= 4  # httpcore asked each idle one 65 times
    assert sum(c.asked.get("has_expired", 0) for c in connections) == 1  # a poll of the socket each


def test_every_transport_of_the_client_uses_it() -> None:
    pool = transport.DeadlineTransport(max_connections=8)._pool
    assert pool._assign_requests_to_connections.__func__ is scan_once  # type: ignore[attr-defined]
    through_proxy = transport.DeadlineTransport(max_connections=8, proxy="http://proxy.invalid:3128")._pool
    assert through_proxy._assign_requests_to_connections.__func__ is scan_once  # type: ignore[attr-defined]


def test_an_httpcore_it_was_not_checked_against_keeps_its_own_bookkeeping(monkeypatch: pytest.MonkeyPatch) -> None:
    """A newer httpcore (say 1.1) may change the private method scan_once replaces: then the pool is
    left as httpcore made it, and the tool still works, only without the speed-up."""
    monkeypatch.setattr(httpcore, "__version__", "1.1.0")
    pool = transport.DeadlineTransport(max_connections=8)._pool
    assert getattr(pool._assign_requests_to_connections, "__func__", None) is not scan_once
    assert type(pool)._assign_requests_to_connections is httpcore.ConnectionPool._assign_requests_to_connections


def test_the_locked_httpcore_is_one_scan_once_was_checked_against() -> None:
    """The lock file's httpcore must be a checked one, or every install would run without the speed-up."""
    assert httpcore.__version__.startswith(CHECKED_VERSIONS)
    locked = (Path(__file__).parent.parent / "requirements.lock").read_text(encoding="utf-8")
    assert "\nhttpcore==1.0." in locked


def test_a_create_leaves_in_one_write_after_its_headers(
    emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes: list[int] = []
    real = transport._DeadlineStream.write

    def counted(self: Any, buffer: bytes, timeout: float | None = None) -> None:
        writes.append(len(buffer))
        real(self, buffer, timeout)

    monkeypatch.setattr(transport._DeadlineStream, "write", counted)
    with OmnideskClient(emulator.url, "demo") as client:
        created = client.try_create(
            {
                "name": "SMS gateway",
                "icon": "sms",
                "custom_channel_endpoint": "",
                "custom_channel_secret": "s3cret-value",
            }
        )
    assert not hasattr(created, "error"), created
    sent = [size for size in writes if size]  # h11 ends a message with an empty write
    assert len(sent) == 2, writes  # the request line with its headers, then the whole form (was 22 writes)


def test_a_wide_apply_keeps_its_connections_open(
    emulator: RunningEmulator, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At parallelism 32 an apply holds 32 connections and keeps each open between its requests
    (httpx's 20 kept alive closed every answered connection beyond them: 975 opened for 1,000 creates)."""
    opened: list[int] = []
    real = transport._DeadlineBackend.connect_tcp

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(transport._DeadlineBackend, "connect_tcp", counted)
    emulator.emu.latency_ms = 5
    path = tmp_path / "channels.yaml"
    path.write_text(
        "version: 1\nchannels:\n" + "".join(f"  - name: C{i}\n    icon: sms\n" for i in range(160)), encoding="utf-8"
    )
    result = run_cli(
        ["apply", str(path), "--url", emulator.url, "--yes", "--parallelism", "32"], {"OMNIDESK_API_KEY": emulator.key}
    )
    assert result.exit_code == 0, result.output
    assert len([c for c in emulator.emu.channels() if c["type"] == "custom"]) == 160
    assert len(opened) <= 32 + 2, len(opened)  # the plan's list read, the apply's check of it

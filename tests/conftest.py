"""Shared fixtures: emulators served over real HTTP on free ports, stopped at teardown."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from clihelp import RunningEmulator

from reconciler.emulator import Emulator, serve_in_thread
from tests.fakeforge import FakeGitHub, FakeGitLab


@pytest.fixture(scope="session")
def _stopper() -> Iterator[ThreadPoolExecutor]:
    """Stops servers in the background: uvicorn needs ~0.2 s to stop, which no test should wait for."""
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="emulator-stop") as pool:
        yield pool


@pytest.fixture
def make_emulator(_stopper: ThreadPoolExecutor) -> Iterator[Callable[..., RunningEmulator]]:
    """``make_emulator(**Emulator kwargs)`` -> a RunningEmulator; each is stopped and closed at teardown."""
    started: list[tuple[serve_in_thread, Emulator]] = []

    def make(**kwargs: Any) -> RunningEmulator:
        emu = Emulator(**kwargs)
        server = serve_in_thread(emu).start()
        started.append((server, emu))
        return RunningEmulator(url=server.url, emu=emu)

    yield make
    for server, emu in started:
        _stopper.submit(_stop, server, emu)


def _stop(server: serve_in_thread, emu: Emulator) -> None:
    server.stop()
    emu.close()  # after the server: no request may reach a closed emulator


@pytest.fixture
def emulator(make_emulator: Callable[..., RunningEmulator]) -> RunningEmulator:
    """A fresh tenant (built-in channels only, key ``demo`` with every permission) over real HTTP."""
    return make_emulator()


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    """A fake GitHub on a free port (a test module needing another repository defines its own)."""
    fake = FakeGitHub().start()
    yield fake
    fake.stop()


@pytest.fixture
def gitlab() -> Iterator[FakeGitLab]:
    """A fake GitLab on a free port."""
    fake = FakeGitLab().start()
    yield fake
    fake.stop()

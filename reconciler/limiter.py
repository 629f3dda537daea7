"""The client's concurrency limit: at most N requests in flight, halved by a 429, grown back by successes."""

from __future__ import annotations

import threading
from collections.abc import Callable

GROW_AFTER = 10  # successes in a row before one more request may be in flight


class Limiter:
    """At most ``limit`` requests in flight; a 429 halves the limit and pauses every thread.

    The pause is slept with the client's ``sleep`` (so tests can inject it); each thread sleeps a
    given pause at most once, so an injected no-op sleep cannot make a thread spin.
    """

    def __init__(self, parallelism: int, sleep: Callable[[float], None], clock: Callable[[], float]) -> None:
        self.maximum = max(1, parallelism)
        self.limit = self.maximum
        self._sleep = sleep
        self._clock = clock
        self._cond = threading.Condition()
        self._in_flight = 0
        self._successes = 0
        self._generation = 0  # bumped by each cut, so one wave of 429s cuts only once
        self._pause_until = 0.0
        self._waited = threading.local()

    def acquire(self) -> int:
        """Wait for a slot (and out any pause not yet waited); returns the cut generation."""
        while True:
            with self._cond:
                waited = getattr(self._waited, "until", 0.0)
                while self._in_flight >= self.limit and self._pause_until <= waited:
                    self._cond.wait()
                pause_until = self._pause_until
                if pause_until <= waited:
                    self._in_flight += 1
                    return self._generation
                remaining = pause_until - self._clock()
            self._waited.until = pause_until
            if remaining > 0:
                self._sleep(remaining)

    def release(self, generation: int, *, ok: bool, throttled: bool = False, pause: float = 0.0) -> bool:
        """Give the slot back; returns True when this 429 cut the concurrency."""
        with self._cond:
            self._in_flight -= 1
            cut = False
            if throttled:
                self._successes = 0
                until = self._clock() + pause
                self._pause_until = max(self._pause_until, until)
                # This thread sleeps its own pause before retrying; only a longer one is left to wait.
                self._waited.until = until
                if generation == self._generation and self.limit > 1:
                    self._generation += 1
                    self.limit //= 2
                    cut = True
            elif ok:
                self._successes += 1
                if self._successes >= GROW_AFTER and self.limit < self.maximum:
                    self.limit += 1
                    self._successes = 0
            else:
                self._successes = 0
            self._cond.notify_all()
            return cut

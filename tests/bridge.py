"""A test bridge: the service behind a custom channel, on 127.0.0.1, verifying every delivery with the
Standard Webhooks reference library (``standardwebhooks``), as a bridge developer's would.

It answers the ``OPTIONS`` probe with ``Allow: POST`` (unless told not to), and each ``POST`` with
204 when the signature verifies, 401 when it does not; ``fail_first`` answers the first N POSTs 500,
``delay`` holds every answer. Every request is kept in ``seen``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from quietserver import QuietServer

from tests.eco_tools import python_tool


@dataclass
class Seen:
    method: str
    headers: dict[str, str]
    body: bytes
    at: float
    verified: bool | None = None  # None: not checked (no secret given to the bridge)
    error: str = ""


@dataclass
class Bridge:
    secret: str | bytes | None = None  # as the bridge's developer configures the library
    fail_first: int = 0
    delay: float = 0.0
    allow: str = "POST, OPTIONS"
    options_status: int = 204
    seen: list[Seen] = field(default_factory=list)
    url: str = ""

    @property
    def posts(self) -> list[Seen]:
        return [s for s in self.seen if s.method == "POST"]

    def verify(self, headers: dict[str, str], body: bytes) -> tuple[bool, str]:
        webhooks = python_tool("standardwebhooks")
        try:
            webhooks.Webhook(self.secret).verify(body, headers)
        except Exception as exc:  # the library's own verification errors
            return False, f"{type(exc).__name__}: {exc}"
        return True, ""


@contextmanager
def running(bridge: Bridge, path: str = "/omnidesk/hook") -> Iterator[Bridge]:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_OPTIONS(self) -> None:
            with lock:
                bridge.seen.append(Seen("OPTIONS", dict(self.headers), b"", time.monotonic()))
            self.send_response(bridge.options_status)
            self.send_header("Allow", bridge.allow)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            seen = Seen("POST", headers, body, time.monotonic())
            if bridge.secret is not None:
                seen.verified, seen.error = bridge.verify(headers, body)
            with lock:
                bridge.seen.append(seen)
                number = len(bridge.posts)
            if bridge.delay:
                time.sleep(bridge.delay)
            status = 500 if number <= bridge.fail_first else 401 if seen.verified is False else 204
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = QuietServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    bridge.url = f"http://127.0.0.1:{server.server_address[1]}{path}"
    try:
        yield bridge
    finally:
        server.shutdown()
        server.server_close()

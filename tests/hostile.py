"""A hostile Omnidesk server: a real HTTP server on 127.0.0.1 that answers what a test tells it to.

The emulator keeps to the contract; this one breaks it on purpose, as a server behind a tenant URL
or a proxy could: workflow commands and terminal escapes in its texts, ids that are not integers,
deep or endless JSON. ``answer(method, path, query)`` returns the reply; a body may be an iterable
of byte chunks, sent as they come (chunked), so a test can stream more than it holds in memory.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from quietserver import QuietServer

KEY = "hostile-test-key-0123"
CHANNEL_PATH = "/api/v2/channel"


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON-encoded unless bytes or an iterable of bytes
    headers: dict[str, str] = field(default_factory=dict)


Answer = Callable[[str, str, dict[str, str]], Reply]


def channel(ident: Any, name: str, type_: str = "custom", **fields: Any) -> dict[str, Any]:
    return {"id": ident, "type": type_, "name": name, "icon": "chat", **fields}


def listing(items: list[Any], total: Any = None) -> Reply:
    body: dict[str, Any] = {"type": "list", "itemStart": 0, "itemLimit": 99, "items": items}
    if total is not None:
        body["itemTotal"] = total
    return Reply(body=body)


class HostileServer:
    """Serves ``answer`` on a free port; ``calls`` records (method, path and query) of every request."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.calls: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                parsed = urllib.parse.urlsplit(self.path)
                server.calls.append(f"{self.command} {self.path}")
                reply = server.answer(self.command, parsed.path, dict(urllib.parse.parse_qsl(parsed.query)))
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                chunks = _chunks(reply.body)
                if isinstance(chunks, bytes):
                    self.send_header("Content-Length", str(len(chunks)))
                    self.end_headers()
                    self.wfile.write(chunks)
                    return
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    for chunk in chunks:
                        if chunk:
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.write(b"0\r\n\r\n")
                except OSError:
                    pass  # the client hung up on an answer it refused: that is what is tested

            do_GET = do_POST = do_PUT = do_DELETE = _serve

        self._httpd = QuietServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _chunks(body: Any) -> bytes | Iterator[bytes]:
    if isinstance(body, bytes):
        return body
    if isinstance(body, Iterable) and not isinstance(body, (str, dict, list)):
        return iter(body)
    return json.dumps(body).encode()

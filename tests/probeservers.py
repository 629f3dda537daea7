"""Local HTTPS bridges for the probe's tests, on 127.0.0.1 only: good, slow, refusing OPTIONS, with
an untrusted certificate; each records what it was sent (the tests check no POST and no secret)."""

from __future__ import annotations

import http.server
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import trustme
from quietserver import QuietServer


@dataclass
class Bridge:
    url: str
    seen: list[str] = field(default_factory=list)  # request line and headers of every request


def _handler(behaviour: str, delay: float, seen: list[str]) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # quiet: the test reads ``seen``
            pass

        def _record(self) -> None:
            seen.append(self.requestline + "\n" + str(self.headers))

        def do_OPTIONS(self) -> None:
            self._record()
            time.sleep(delay)
            if behaviour == "refuse":
                self.send_response(405)
                self.send_header("Allow", "GET")
            else:
                self.send_response(204)
                self.send_header("Allow", "OPTIONS, POST")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            self._record()
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler


class Servers:
    """Starts bridges with certificates from one test CA (``ca_file`` trusts it) or an untrusted one."""

    def __init__(self, folder: Path) -> None:
        self.ca = trustme.CA()
        self.ca_file = str(folder / "trusted-ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_file)
        self._other = trustme.CA()  # signs the "bad certificate" bridge: nobody trusts it
        self._servers: list[http.server.ThreadingHTTPServer] = []

    def start(self, behaviour: str = "good", *, delay: float = 0.0, trusted: bool = True) -> Bridge:
        seen: list[str] = []
        server = QuietServer(("127.0.0.1", 0), _handler(behaviour, delay, seen))
        server.daemon_threads = True
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        (self.ca if trusted else self._other).issue_cert("127.0.0.1").configure_cert(context)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._servers.append(server)
        return Bridge(f"https://127.0.0.1:{server.server_address[1]}/omnidesk/in", seen)

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()

    def __iter__(self) -> Iterator[http.server.ThreadingHTTPServer]:
        return iter(self._servers)

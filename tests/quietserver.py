"""The HTTP server every test server here is built on: one that does not print a client's hang-up.

These servers are hung up on by design (a refused certificate, a timed-out read, an answer too large
to read). ``socketserver`` prints each such error's traceback to ``sys.stderr`` from a handler thread
that may outlive its test, into whatever captures stderr at that moment: a later CLI test's output,
which then fails its "no traceback" check (seen in a serial run: a hypothesis test in
``test_loader_fuzz.py`` failed on a traceback from another test's server). A hang-up is an
``OSError`` (``BrokenPipeError``, ``ConnectionResetError``, ``ssl.SSLError``, a timeout); any other
error is still printed, because it is a bug in the test server.
"""

from __future__ import annotations

import sys
from http.server import ThreadingHTTPServer
from typing import Any


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)

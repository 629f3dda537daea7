"""Ways to reach an Emulator: a tiny ASGI app, uvicorn in a daemon thread, an httpx transport."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qsl

import httpx
import uvicorn

from reconciler.emulator.core import Emulator
from reconciler.emulator.forms import MAX_BODY_BYTES, BodyError
from reconciler.emulator.outbound import is_loopback_host
from reconciler.emulator.sandbox import Sandbox, is_sandbox_path
from reconciler.errors import EmulatorNotStarted

# Requests the served emulator handles at once. asyncio's default executor has min(32, cores + 4)
# threads, 6 on a 2-core machine: with latency on, a client running 8 requests would queue behind
# the emulator instead of seeing the latency it asked for (measured: 1,000 creates at 50 ms took
# 8.8 s instead of ~6.5 s).
HANDLER_THREADS = 64

Scope = dict[str, Any]
Message = dict[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]


def asgi_app(emulator: Emulator, *, read_only_page: bool = False) -> ASGIApp:
    """Plain ASGI around ``emulator.handle``, run in a worker thread so latency never blocks the loop.

    A body is read only for a call that takes one, from a known key with the call's permission
    (``Emulator.wants_body``), and never beyond ``MAX_BODY_BYTES``: a declared ``Content-Length``
    over the limit is refused at once, a chunked body is counted while it arrives (these 413s never
    reach ``handle``, so ``stats`` does not count them). An answer that leaves a body unread closes
    the connection, so the rest of it is never drained. The sandbox's page and calls (``sandbox.py``)
    are answered beside the API; ``read_only_page`` turns the page's forms off.
    """
    sandbox = Sandbox(emulator, read_only=read_only_page)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        reader = _BodyReader(receive, headers)
        handler = emulator.handle
        try:
            reader.check_declared_length()
            if is_sandbox_path(scope["path"]):
                handler = sandbox.handle
                wanted = scope["method"] == "POST"
            else:
                # Only a known key with the call's permission gets its body read; any other request is
                # refused by handle() on its headers alone.
                wanted = emulator.wants_body(scope["method"], scope["path"], query, headers)
            body = await reader.read() if wanted else b""
        except _ClientGone:
            return
        except BodyError as exc:
            status, out_headers, out = _error(exc.status, str(exc))
        else:
            status, out_headers, out = await asyncio.to_thread(
                handler, scope["method"], scope["path"], query, headers, body
            )
        raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in out_headers.items()]
        raw_headers.append((b"content-length", str(len(out)).encode()))
        if reader.left_unread:
            raw_headers.append((b"connection", b"close"))  # never drain a body nobody will read
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        if emulator.drip_ms and out:
            await _drip(out, emulator.drip_ms / 1000, receive, send)
        else:
            await send({"type": "http.response.body", "body": out})

    return app


class _ClientGone(Exception):
    """The client hung up before its body was complete: there is no one to answer."""


class _BodyReader:
    """A request's body, read only when asked and never beyond ``MAX_BODY_BYTES``."""

    def __init__(self, receive: Any, headers: dict[str, str]) -> None:
        self._receive = receive
        lower = {k.lower(): v for k, v in headers.items()}
        self._declared = lower.get("content-length", "").strip()
        self._has_body = bool(lower.get("transfer-encoding")) or self._declared not in ("", "0")
        self._done = False

    @property
    def left_unread(self) -> bool:
        return self._has_body and not self._done

    def check_declared_length(self) -> None:
        """413 for a declared length over the limit, before a byte of the body is read."""
        if self._declared.isdigit() and int(self._declared) > MAX_BODY_BYTES:
            raise BodyError(
                f"the body is larger than {MAX_BODY_BYTES} bytes (Content-Length {int(self._declared)})", status=413
            )

    async def read(self) -> bytes:
        """The whole body; a chunked one is counted while it arrives and refused past the limit."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise BodyError(f"the body is larger than {MAX_BODY_BYTES} bytes", status=413)
            chunks.append(chunk)
            if not message.get("more_body", False):
                self._done = True
                return b"".join(chunks)


def _error(status: int, message: str) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps({"status": "error", "message": message}).encode("utf-8")
    return status, {"content-type": "application/json; charset=utf-8"}, body


async def _drip(body: bytes, pause: float, receive: Any, send: Any) -> None:
    """Send ``body`` a byte at a time, ``pause`` apart, until done or the client hangs up."""
    gone = asyncio.Event()

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        gone.set()

    watcher = asyncio.ensure_future(watch())
    try:
        for index in range(len(body)):
            if gone.is_set():
                return
            last = index == len(body) - 1
            await send({"type": "http.response.body", "body": body[index : index + 1], "more_body": not last})
            if not last:
                await asyncio.sleep(pause)
    finally:
        watcher.cancel()


class serve_in_thread:
    """Serve an Emulator over real HTTP with uvicorn in a daemon thread; ``url`` is set on start."""

    def __init__(
        self, emulator: Emulator, host: str = "127.0.0.1", port: int = 0, *, read_only_page: bool | None = None
    ) -> None:
        self.emulator = emulator
        # The page lets anyone who reaches it reply as an agent: read-only beyond loopback unless asked.
        self.read_only_page = not is_loopback_host(host) if read_only_page is None else read_only_page
        self.host = host
        self.port = port
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> serve_in_thread:
        """Bind (port 0: a free port), start serving, return once connections are accepted."""
        # Binding here, not in uvicorn, gives the real port of ``port=0`` before the thread runs.
        # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets only when the
        # listening socket says TCP, and without it keep-alive answers stall ~40 ms (Nagle).
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{host}:{self.port}"
        config = uvicorn.Config(
            asgi_app(self.emulator, read_only_page=self.read_only_page),
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)  # outside the main thread uvicorn installs no signal handlers
        self._thread = threading.Thread(target=self._run, args=(sock,), name=f"emulator {self.url}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                sock.close()
                raise EmulatorNotStarted(f"the emulator server did not start on {self.url}")
            time.sleep(0.005)
        return self

    def _run(self, sock: socket.socket) -> None:
        assert self._server is not None
        server = self._server

        async def serve() -> None:
            # ``handle()`` runs in the loop's default executor; asyncio.run shuts it down on exit.
            executor = ThreadPoolExecutor(HANDLER_THREADS, thread_name_prefix="emulator-handle")
            asyncio.get_running_loop().set_default_executor(executor)
            await server.serve(sockets=[sock])

        asyncio.run(serve())

    def stop(self) -> None:
        """Stop uvicorn and join its thread (bounded: the thread is a daemon anyway)."""
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout=5)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout=2)
        self._server = None
        self._thread = None

    def __enter__(self) -> serve_in_thread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class EmulatorTransport(httpx.BaseTransport):
    """In-process, sync: ``httpx.Client(transport=EmulatorTransport(emu), base_url="http://emulator")``."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.sandbox = Sandbox(emulator)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        query = dict(request.url.params.multi_items())
        handler = self.sandbox.handle if is_sandbox_path(request.url.path) else self.emulator.handle
        status, headers, content = handler(request.method, request.url.path, query, dict(request.headers), body)
        return httpx.Response(status, headers=headers, content=content, request=request)

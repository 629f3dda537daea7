"""The HTTP exchange under the client: the key's three forms, one deadline per call, a bounded body.

* ``AUTH_FORMS``: where the key goes (contract: header ``apiKey``, query ``?apiKey=``, or
  ``Authorization: apikey``); ``check_api_key`` refuses a key no header can carry, without showing it.
* A deadline per call, end to end: ``DeadlineTransport`` clamps every socket connect, read and write
  to what is left of the calling thread's deadline (``deadline()``), so a server that sends a byte
  now and then cannot hold a call past it. httpx's own timeouts restart with every byte.
* ``read_body``: streams an answer and stops once it passes ``MAX_BODY_BYTES``, or once the answers
  of one list read together pass their ``ByteBudget``; a body is read once.
* One notion of loopback (``is_loopback``, trailing dot and case normalised): the destination check,
  the proxy rule and the connection share it, and a loopback name is never looked up: the
  connection goes to 127.0.0.1 (then ::1), so no resolver on the network can answer for it.
* What a connection failure means is in ``wirefailures``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import ssl
import threading
import time
import urllib.request
from collections.abc import Iterable, Iterator
from typing import Any

import httpcore
import httpx

from .errors import BodyTooLarge, BudgetSpent, TargetError
from .httppool import linear

AUTH_FORMS = ("header", "query", "authorization")
DEFAULT_AUTH = "header"
MIN_KEY_CHARS = 4  # the emulator's "demo" is the shortest key there is
MAX_BODY_BYTES = 32 * 1024 * 1024  # contract: a larger answer is an error naming the call

_deadline = threading.local()


def auth_headers(form: str, key: str) -> dict[str, str]:
    """The headers that carry the key in ``form`` (none for the query form)."""
    if form == "header":
        return {"apiKey": key}
    if form == "authorization":
        return {"Authorization": f"apikey {key}"}
    if form == "query":
        return {}
    raise ValueError(f"unknown auth form {form!r}; known: {', '.join(AUTH_FORMS)}")


def auth_params(form: str, key: str) -> dict[str, str]:
    """The query parameters that carry the key in ``form``: every URL holds it in the query form."""
    return {"apiKey": key} if form == "query" else {}


def check_api_key(key: str, *, variable: str | None = None) -> None:
    """Refuse a key that cannot travel in a header (or a URL) as it is, naming the problem, never the key."""
    where = f"the API key in {variable}" if variable else "the API key"
    fix = f"; check the value of {variable} (a stray newline or space from a file?)" if variable else ""
    if not key.strip():
        raise TargetError(f"{where} is empty{fix}", variable=variable)
    if len(key) < MIN_KEY_CHARS:
        # Every message and log line has the key taken out: a key this short would take out pieces
        # of ordinary words, and a real key is never this short.
        plural = "s" if len(key) != 1 else ""
        check = f": check the value of {variable}" if variable else ""
        raise TargetError(f"an API key of {len(key)} character{plural} cannot be right{check}", variable=variable)
    for index, char in enumerate(key):
        if char == "\n" or char == "\r":
            what = "a line break"
        elif char == " " and index in (0, len(key) - 1):
            what = "a space"
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            what = f"a control character (U+{ord(char):04X})"
        elif ord(char) > 0x7E:
            what = "a non-ASCII character"
        else:
            continue
        raise TargetError(
            f"{where} contains {what} at position {index + 1} of {len(key)}, which an HTTP header cannot carry{fix}",
            variable=variable,
        )


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[float]:
    """Every socket operation of this thread inside the block ends by ``seconds`` from now."""
    previous = getattr(_deadline, "at", None)
    _deadline.at = time.monotonic() + seconds
    try:
        yield _deadline.at
    finally:
        _deadline.at = previous


def _clamp(timeout: float | None) -> float | None:
    at: float | None = getattr(_deadline, "at", None)
    if at is None:
        return timeout
    remaining = at - time.monotonic()
    if remaining <= 0:
        raise httpcore.ReadTimeout("the call's deadline passed")
    return remaining if timeout is None else min(timeout, remaining)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _clamp(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clamp(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, _clamp(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        if not is_loopback(host) or _is_address(host):
            return _DeadlineStream(self._inner.connect_tcp(host, port, _clamp(timeout), local_address, socket_options))
        # A loopback name: the machine itself, never a resolver's answer (a network's DNS may be asked
        # for "localhost." and answer anything). IPv4 first, as the emulator listens there.
        try:
            stream = self._inner.connect_tcp("127.0.0.1", port, _clamp(timeout), local_address, socket_options)
        except httpcore.ConnectError:
            stream = self._inner.connect_tcp("::1", port, _clamp(timeout), local_address, socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.connect_unix_socket(path, _clamp(timeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


_TLS_LOCK = threading.Lock()
_TLS: list[ssl.SSLContext] = []


def tls_context() -> ssl.SSLContext:
    """httpx's default TLS settings, built once: building them loads the CA bundle (~40 ms of CPU),
    and ``plan --all-tenants`` opens one client per tenant. Contexts are safe to share between threads.
    (Not ``functools.cache``: threads racing on the first call each built one, 14-48 for 1,000 tenants.)"""
    with _TLS_LOCK:
        if not _TLS:
            _TLS.append(httpx.create_ssl_context())
        return _TLS[0]


# Made once, at import: a worker process forked from this one (``workers``) inherits it. Making a
# context calls into OpenSSL, which can hang for good in a child forked while another thread of
# the parent held one of OpenSSL's locks (seen in the test suite, whose processes run servers).
_TRUSTING_NONE = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def trusting_none() -> ssl.SSLContext:
    """A TLS context that verifies certificates and host names but trusts no authority: every
    handshake made with it fails. Given to a pool that must never make one (``needs_tls``), so
    that one made anyway fails closed instead of trusting something."""
    return _TRUSTING_NONE


def before_fork(urls: Iterable[str | None]) -> None:
    """Build here the TLS context that pools for ``urls`` will need (None: a URL from the
    environment, which may), so that worker processes forked next inherit it: each would otherwise
    load the CA bundle itself, and call into OpenSSL in a forked child (see ``_TRUSTING_NONE``)."""
    if any(url is None or needs_tls(url, environment_proxy(url)) for url in set(urls)):  # tenants share URLs
        tls_context()


def needs_tls(url: str, proxy: str | None) -> bool:
    """Whether a pool for ``url`` (through ``proxy``) can ever make a TLS connection. Not for a
    plain-http URL reached directly: the pool connects only to that URL's host (no redirect is
    followed), so the CA bundle (~40 ms of a plan's start-up) is never needed there."""
    return proxy is not None or httpx.URL(url).scheme != "http"


class DeadlineTransport(httpx.HTTPTransport):
    """httpx's transport whose sockets honour the calling thread's deadline; through ``proxy`` if
    given; without the CA bundle when ``tls`` is False (a pool that never makes TLS connections)."""

    def __init__(self, *, max_connections: int, proxy: str | None = None, tls: bool = True) -> None:
        # All kept open: with httpx's 20, apply -p 64 opened 975 connections for 1,000 creates (#27)
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        super().__init__(limits=limits, proxy=proxy, verify=tls_context() if tls else trusting_none())
        # httpx offers no way to pass httpcore a network backend; its pool (direct or through a
        # proxy) takes ours before any connection is made. tests/test_wire_limits.py pins this.
        self._pool._network_backend = _DeadlineBackend()
        linear(self._pool)  # httpcore's pool bookkeeping is quadratic in its connections (see httppool)

    @classmethod
    def to(cls, url: str, *, max_connections: int) -> DeadlineTransport:
        """A pool for ``url``: through the environment's proxy for it, without the CA bundle when it needs no TLS."""
        proxy = environment_proxy(url)
        return cls(max_connections=max_connections, proxy=proxy, tls=needs_tls(url, proxy))


class HostPools:
    """One connection pool per host (and proxy), lent to every client that asks for that host.

    ``plan --all-tenants`` opens a client per tenant; many tenants often live on one host (an
    agency's accounts behind one gateway, the emulator), and with a pool each they would each open
    their own connections (and TLS sessions). A borrowed pool is closed with ``HostPools``, never by
    the client that borrowed it. Each client still bounds its own requests in flight (``Limiter``):
    the pool only holds the connections, up to ``max_connections`` per host.
    """

    def __init__(self, max_connections: int) -> None:
        self.max_connections = max_connections
        self._pools: dict[tuple[str, str, int | None, str | None], DeadlineTransport] = {}
        self._by_url: dict[str, DeadlineTransport] = {}
        self._lock = threading.Lock()

    def transport(self, url: str) -> httpx.BaseTransport:
        with self._lock:
            pool = self._by_url.get(url)  # tenants often share a URL: parse it, read the proxy, once
        if pool is None:
            parsed = httpx.URL(url)
            proxy = environment_proxy(url)
            key = (parsed.scheme, parsed.host, parsed.port, proxy)
            with self._lock:
                pool = self._pools.get(key)
                if pool is None:
                    pool = self._pools[key] = DeadlineTransport.to(url, max_connections=self.max_connections)
                self._by_url[url] = pool
        return _Borrowed(pool)

    def __len__(self) -> int:
        return len(self._pools)

    def close(self) -> None:
        with self._lock:
            pools, self._pools, self._by_url = list(self._pools.values()), {}, {}
        for pool in pools:
            pool.close()

    def __enter__(self) -> HostPools:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _Borrowed(httpx.BaseTransport):
    """A pool of ``HostPools`` as one client's transport: closing the client leaves the pool open."""

    def __init__(self, pool: httpx.BaseTransport) -> None:
        self._pool = pool

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._pool.handle_request(request)

    def close(self) -> None:
        pass


def environment_proxy(url: str) -> str | None:
    """The proxy the environment names for ``url`` (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY),
    as httpx would use it without an explicit transport; never for loopback, where the key may
    travel over plain http (an ``ssh -L`` tunnel) and must not reach a proxy in clear."""
    parsed = httpx.URL(url)
    # proxy_bypass_environment is in urllib.request, not in typeshed's stubs of it
    if is_loopback(parsed.host) or urllib.request.proxy_bypass_environment(parsed.host):  # type: ignore[attr-defined]
        return None
    proxies = urllib.request.getproxies_environment()
    return proxies.get(parsed.scheme) or proxies.get("all")


def normal_host(host: str) -> str:
    """A host as compared: lower case, without IPv6 brackets or the trailing dot of a fully
    qualified name (``LOCALHOST.`` is ``localhost``)."""
    return host.strip("[]").rstrip(".").lower()


def is_loopback(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1 (an IPv4-mapped loopback too), however spelled."""
    host = normal_host(host)
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(normal_host(host))
    except ValueError:
        return False
    return True


class ByteBudget:
    """Memory that several answers may take together (the pages of one list read, some read at once
    by other threads); ``spend`` raises ``BudgetSpent`` once they pass ``limit``. A body counts by
    what its text takes once decoded: Python keeps a string at 1, 2 or 4 bytes a character, by
    its widest character, so one emoji makes a page of text take 4 times its size."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.spent = 0
        self._lock = threading.Lock()

    def spend(self, size: int) -> None:
        with self._lock:
            self.spent += size
            if self.spent > self.limit:
                raise BudgetSpent(self.limit)


def read_body(response: httpx.Response, limit: int, budget: ByteBudget | None = None) -> bytes:
    """The whole (decoded) body of a streamed response, or ``BodyTooLarge`` once it passes ``limit``
    (``BudgetSpent`` once the bodies sharing ``budget`` pass it)."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit and "content-encoding" not in response.headers:
        raise BodyTooLarge(declared=int(declared))
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(read=size)
        if budget is not None:
            budget.spend(len(chunk))
        chunks.append(chunk)
    body = b"".join(chunks)
    if budget is not None:
        budget.spend(len(body) * (_char_width(body) - 1))
    return body


def _char_width(body: bytes) -> int:
    """Bytes a character of ``body``'s text takes in memory once decoded (UTF-8 lead bytes tell)."""
    if body.isascii():
        return 1
    if re.search(rb"[\xf0-\xf4]", body):
        return 4
    return 2 if re.search(rb"[\xc4-\xef]", body) else 1

"""Probe each endpoint as Omnidesk would reach it: DNS, TLS certificate, ``OPTIONS`` with ``Allow: POST``,
the first byte within 1 s. Never sends a secret, never POSTs a message.

Omnidesk's webhooks require an HTTPS endpoint that answers an ``OPTIONS`` probe with ``Allow: POST``
and answers within 1 second. A probe connects to the address it resolved itself (no second lookup
that could point elsewhere), speaks TLS with the endpoint's host name (certificate and name
checked against the system's trust store; ``SSL_CERT_FILE`` names another), sends one ``OPTIONS``
with no body and no credential of ours, and reads the status line and headers only.

An endpoint Omnidesk cannot reach fails without a connection: plain ``http://``, or a host that
resolves to a private, link-local or loopback address (from a CI runner that would also be a way
to reach its network). Loopback is probed only when ``OMNIDESK_PROBE_LOOPBACK=1`` is in the
environment (a local bridge under development, tests): never from the channels file, which a pull
request edits.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

from reconciler.endpoints import endpoint_host, mask_endpoint

LOOPBACK_ENV = "OMNIDESK_PROBE_LOOPBACK"
FIRST_BYTE_LIMIT = 1.0  # seconds: Omnidesk's own limit for an answer
DEFAULT_TIMEOUT = 5.0  # seconds for one endpoint, every step included
DEFAULT_PARALLELISM = 8
PASS, FAIL, SKIPPED = "ok", "fail", "-"


@dataclass(frozen=True)
class ProbeResult:
    """One endpoint's probe: each step's outcome, and ``problem`` (None when Omnidesk could use it)."""

    endpoint: str  # as the file has it; show ``shown`` instead (credentials masked)
    dns: str = SKIPPED
    tls: str = SKIPPED
    options: str = SKIPPED  # the status code, or FAIL
    allow_post: str = SKIPPED
    first_byte: float | None = None  # seconds from the request sent to the answer's first byte
    problem: str | None = None

    @property
    def shown(self) -> str:
        return mask_endpoint(self.endpoint)

    @property
    def ok(self) -> bool:
        return self.problem is None


class _Failed(Exception):
    """A step failed; carries the result so far."""

    def __init__(self, result: ProbeResult) -> None:
        self.result = result


def probe_endpoints(
    endpoints: Iterable[str],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    parallelism: int = DEFAULT_PARALLELISM,
    environ: Mapping[str, str] | None = None,
    context: ssl.SSLContext | None = None,
) -> dict[str, ProbeResult]:
    """Each distinct endpoint probed once, at most ``parallelism`` at a time, each within ``timeout``."""
    import os

    env = os.environ if environ is None else environ
    loopback = env.get(LOOPBACK_ENV, "") == "1"
    tls = context or ssl.create_default_context()
    unique = list(dict.fromkeys(e for e in endpoints if e))
    with ThreadPoolExecutor(max_workers=max(1, min(parallelism, len(unique) or 1)), thread_name_prefix="probe") as pool:
        results = pool.map(lambda e: probe_endpoint(e, timeout=timeout, loopback=loopback, context=tls), unique)
        return dict(zip(unique, results, strict=True))


def probe_endpoint(
    endpoint: str, *, timeout: float = DEFAULT_TIMEOUT, loopback: bool = False, context: ssl.SSLContext | None = None
) -> ProbeResult:
    try:
        return _probe(endpoint, time.monotonic() + timeout, loopback, context or ssl.create_default_context())
    except _Failed as failed:
        return failed.result


def _probe(endpoint: str, deadline: float, loopback: bool, context: ssl.SSLContext) -> ProbeResult:
    result = ProbeResult(endpoint)
    parts = urlsplit(endpoint)
    host = endpoint_host(endpoint)
    if parts.scheme.lower() != "https" or not host:
        raise _Failed(_fail(result, "not an https:// URL: Omnidesk sends replies only to https endpoints"))
    address = _resolve(result, host, parts.port or 443, deadline, loopback)
    result = _with(result, dns=PASS)
    sock = _connect(result, address, deadline)
    try:
        tls = _handshake(result, sock, host, deadline, context)
        result = _with(result, tls=PASS)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return _options(result, tls, host if parts.port is None else f"{host}:{parts.port}", target, deadline)
    finally:
        sock.close()


def _with(result: ProbeResult, **changes: object) -> ProbeResult:
    from dataclasses import replace

    return replace(result, **changes)  # type: ignore[arg-type]


def _fail(result: ProbeResult, problem: str, **changes: object) -> ProbeResult:
    return _with(result, problem=problem, **changes)


def _left(result: ProbeResult, deadline: float, step: str) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise _Failed(_fail(result, f"no answer within the probe's timeout ({step})"))
    return left


def _resolve(result: ProbeResult, host: str, port: int, deadline: float, loopback: bool) -> tuple[str, int]:
    """The first address ``host`` resolves to, if Omnidesk could reach it; getaddrinfo has no timeout of
    its own, so it runs in a thread that is waited for until the deadline."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
        try:
            infos = future.result(timeout=_left(result, deadline, "DNS"))
        except socket.gaierror as exc:
            raise _Failed(_fail(result, f"the host {host} does not resolve ({exc.strerror})", dns=FAIL)) from None
        except TimeoutError:
            raise _Failed(_fail(result, f"the host {host} did not resolve within the timeout", dns=FAIL)) from None
    ip = ipaddress.ip_address(infos[0][4][0])
    if ip.is_loopback and not loopback:
        raise _Failed(
            _fail(
                result,
                f"{host} is this machine ({ip}): Omnidesk cannot reach it "
                f"(set {LOOPBACK_ENV}=1 to probe a local bridge)",
                dns=FAIL,
            )
        )
    if not ip.is_global and not ip.is_loopback:
        raise _Failed(
            _fail(result, f"{host} resolves to a non-public address ({ip}): Omnidesk cannot reach it", dns=FAIL)
        )
    return str(ip), port


def _connect(result: ProbeResult, address: tuple[str, int], deadline: float) -> socket.socket:
    try:
        return socket.create_connection(address, timeout=_left(result, deadline, "connect"))
    except TimeoutError:
        raise _Failed(_fail(result, f"no connection to port {address[1]} within the timeout", tls=FAIL)) from None
    except OSError as exc:
        raise _Failed(_fail(result, f"cannot connect to port {address[1]} ({exc.strerror or exc})", tls=FAIL)) from None


def _handshake(
    result: ProbeResult, sock: socket.socket, host: str, deadline: float, context: ssl.SSLContext
) -> ssl.SSLSocket:
    sock.settimeout(_left(result, deadline, "TLS"))
    try:
        return context.wrap_socket(sock, server_hostname=host)
    except ssl.SSLCertVerificationError as exc:
        reason = exc.verify_message or "not trusted"
        raise _Failed(_fail(result, f"the TLS certificate is refused: {reason}", tls=FAIL)) from None
    except TimeoutError:
        raise _Failed(_fail(result, "no TLS handshake within the timeout", tls=FAIL)) from None
    except (ssl.SSLError, OSError) as exc:
        raise _Failed(_fail(result, f"TLS failed ({type(exc).__name__})", tls=FAIL)) from None


def _options(result: ProbeResult, tls: ssl.SSLSocket, host: str, target: str, deadline: float) -> ProbeResult:
    """One OPTIONS with no body; the status line and headers are read, nothing more."""
    request = (
        f"OPTIONS {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: omnidesk-channels-probe\r\n"
        "Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    tls.settimeout(_left(result, deadline, "OPTIONS"))
    sent = time.monotonic()
    try:
        tls.sendall(request.encode("ascii"))
        answer = http.client.HTTPResponse(tls, method="OPTIONS")
        answer.fp.peek(1)  # returns as soon as one byte has come
        first_byte = time.monotonic() - sent
        answer.begin()
    except TimeoutError:
        return _fail(result, "no answer to OPTIONS within the timeout", options=FAIL)
    except (OSError, http.client.HTTPException) as exc:
        return _fail(result, f"no usable answer to OPTIONS ({type(exc).__name__})", options=FAIL)
    allow = {m.strip().upper() for m in (answer.getheader("Allow") or "").split(",")}
    result = _with(
        result,
        options=str(answer.status),
        allow_post=PASS if "POST" in allow else FAIL,
        first_byte=round(first_byte, 3),
    )
    if not 200 <= answer.status < 300:
        return _fail(result, f"OPTIONS answered {answer.status} (Omnidesk expects 2xx with Allow: POST)")
    if "POST" not in allow:
        return _fail(result, "the answer to OPTIONS has no Allow: POST")
    if first_byte > FIRST_BYTE_LIMIT:
        return _fail(result, f"the first byte came after {first_byte:.2f} s (Omnidesk waits {FIRST_BYTE_LIMIT:g} s)")
    return result


def render_table(results: Mapping[str, ProbeResult], channels: Mapping[str, list[str]]) -> str:
    """A summary table: one row per endpoint (credentials masked), its channels, each step, the verdict."""
    head = ("endpoint", "channels", "DNS", "TLS", "OPTIONS", "Allow: POST", "first byte", "verdict")
    rows = [head]
    for endpoint, r in results.items():
        byte = f"{r.first_byte:.2f} s" if r.first_byte is not None else SKIPPED
        rows.append(
            (
                r.shown,
                ", ".join(channels.get(endpoint, [])),
                r.dns,
                r.tls,
                r.options,
                r.allow_post,
                byte,
                "ok" if r.ok else f"FAIL: {r.problem}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head) - 1)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1] for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines) + "\n"

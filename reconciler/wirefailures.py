"""Connection failures, as the caller judges them: whether a request can have reached the server
(``never_sent``), and the ones no retry can fix (``unfixable``: nothing listening, a connection
closed before any answer, DNS, TLS to a plain-HTTP port, certificates), with what to check.
"""

from __future__ import annotations

import socket
import ssl

import httpx

from .transport import is_loopback


def never_sent(error: httpx.HTTPError) -> bool:
    """True when the request cannot have reached the server: no connection was made."""
    return isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout))


def unfixable(error: httpx.HTTPError, url: httpx.URL) -> str | None:
    """What to check, when ``error`` is a connection failure that retrying cannot fix; else None."""
    cause = _root_causes(error)
    host = url.host
    where = f"{host}:{url.port or (443 if url.scheme == 'https' else 80)}"
    check = (
        "is the emulator running, is the port right?"
        if is_loopback(host)
        else "is the URL right, is the tenant reachable from here?"
    )
    if _closed_before_answer(error, cause):
        return f"{where} closed the connection before any answer: {check}"
    if not isinstance(error, httpx.ConnectError):
        return None
    if any(isinstance(c, ConnectionRefusedError) for c in cause) or "Connection refused" in str(error):
        return f"nothing listens on {where}: {check}"
    if any(isinstance(c, socket.gaierror) for c in cause) or "Name or service not known" in str(error):
        return (
            f"the host name {host!r} cannot be resolved (DNS): check the URL's host "
            f"(is it https://<account>.omnidesk.com?) and this machine's network"
        )
    certificate = next((c for c in cause if isinstance(c, ssl.SSLCertVerificationError)), None)
    if certificate is not None:
        reason = getattr(certificate, "verify_message", "") or "verification failed"
        return (
            f"the TLS certificate of {host!r} was refused ({reason}): check that the URL names the "
            "tenant's own host, or this machine's CA certificates (SSL_CERT_FILE)"
        )
    if any(isinstance(c, ssl.SSLError) for c in cause) or "SSL" in str(error):
        return (
            f"the TLS handshake with {host}:{url.port or 443} failed: is the URL https://... pointing at an "
            "HTTPS port? A plain-HTTP server there would need http:// (loopback only)"
        )
    return None


def _closed_before_answer(error: httpx.HTTPError, cause: list[BaseException]) -> bool:
    """A connection reset, or closed without a word, before the answer's first line."""
    if isinstance(error, httpx.RemoteProtocolError):
        return "without sending a response" in str(error)
    return isinstance(error, httpx.ReadError) and any(isinstance(c, ConnectionResetError) for c in cause)


def _root_causes(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen

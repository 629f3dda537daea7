"""httpcore's connection pool, with its bookkeeping linear in the connections it holds.

httpcore (1.0.x) re-runs ``_assign_requests_to_connections`` under the pool's lock twice per
request (when it is sent, and when its answer is closed). Its clean-up loop counts the pool once
per idle connection (``len([c.is_idle() for c in connections])``), and each queued request lists
every available and every idle connection before taking the first: with 64 connections that is
~4,000 ``is_idle`` calls per request, measured as a fifth of a create's CPU in ``apply -p 64``
and in ``plan --all-tenants`` (#27). ``scan_once`` does the same work with one pass: the same
connections closed, dropped and handed out, in the same order.
"""

from __future__ import annotations

import types
from typing import Any

import httpcore


def scan_once(pool: httpcore.ConnectionPool) -> list[Any]:
    """``pool._assign_requests_to_connections`` in one pass; returns the connections to close.

    One difference in timing, none in outcome: an idle connection is asked whether it expired (a
    ``poll`` of its socket) when it is about to be handed out, not on every pass over the pool.
    """
    closing: list[Any] = []
    kept: list[Any] = []
    count = len(pool._connections)
    for connection in pool._connections:
        if connection.is_closed():
            count -= 1
        elif count > pool._max_keepalive_connections and connection.is_idle():
            closing.append(connection)
            count -= 1
        else:
            kept.append(connection)
    pool._connections = kept
    for pool_request in [request for request in pool._requests if request.is_queued()]:
        connection = _available(kept, pool_request.request.url.origin, closing)
        if connection is None and len(kept) >= pool._max_connections:
            idle = next((c for c in kept if c.is_idle()), None)
            if idle is None:
                continue  # the request waits for a connection to come free
            kept.remove(idle)
            closing.append(idle)
        if connection is None:
            connection = pool.create_connection(pool_request.request.url.origin)
            kept.append(connection)
        pool_request.assign_to_connection(connection)
    return closing


def _available(connections: list[Any], origin: httpcore.Origin, closing: list[Any]) -> Any:
    """The first connection that can take a request to ``origin`` now; expired ones met on the way
    move from ``connections`` to ``closing``."""
    for connection in list(connections):
        if connection.can_handle_request(origin) and connection.is_available():
            if not connection.has_expired():
                return connection
            connections.remove(connection)
            closing.append(connection)
    return None


# The httpcore versions whose pool ``scan_once`` was held to, side by side (tests/test_httppool.py).
CHECKED_VERSIONS = ("1.0.",)


def linear(pool: httpcore.ConnectionPool) -> httpcore.ConnectionPool:
    """``pool`` (direct or through a proxy) with ``scan_once`` as its bookkeeping.

    Any other httpcore keeps its own bookkeeping: slower with many connections, the same outcome, and
    never a failure because a dependency moved a private method.
    """
    checked = httpcore.__version__.startswith(CHECKED_VERSIONS)
    if checked and hasattr(pool, "_assign_requests_to_connections") and hasattr(pool, "_requests"):
        pool._assign_requests_to_connections = types.MethodType(scan_once, pool)  # type: ignore[method-assign]
    return pool

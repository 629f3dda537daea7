"""One emulated Omnidesk tenant: ``Emulator.handle()`` answers a request exactly as the contract says.

Everything, fault injection included, happens in ``handle()`` so that the ASGI app (real HTTP) and
the in-process httpx transport behave the same. Order of a request: ``before_request`` hook,
latency, rate limit (429), random 503, authentication (401), routing (404/405), permission (403),
then the call itself (body over 1 MiB 413, unreadable or nested too deep 400, validation 400,
built-in 403, unknown id 404, ...). Served over HTTP, a body is read only when ``wants_body``
says the key may make the call, so a refused sender never gets its body read.

The fault knobs (``latency_ms``, ``error_rate``, ``rate_limit``, ``lose_create_responses``,
``quirks``, ``garbage``, and the paging and hostile-server knobs ``list_type``, ``max_item_limit``,
``claimed_total``, ``body_padding``, ``drip_ms``, ``redirect_to``) are public attributes: a test
may change them while the emulator serves. ``drip_ms`` is the only one outside ``handle()``: the
ASGI server sends every answer byte by byte, ``drip_ms`` apart (an in-process transport cannot drip).
"""

from __future__ import annotations

import collections
import copy
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from reconciler.emulator.apikeys import accepted_forms, authenticate
from reconciler.emulator.channels import PUT_ONLY, clean, new_channel, render
from reconciler.emulator.contract import CUSTOM, DEFAULT_ITEM_LIMIT, MAX_ITEM_LIMIT, PERMISSION
from reconciler.emulator.forms import BodyError, parse_body
from reconciler.emulator.messages import post_message
from reconciler.emulator.options import EmulatorOptions
from reconciler.emulator.outbound import Delivery, Outbox, iso_time
from reconciler.emulator.routes import (
    HTML_HEADERS,
    JSON_HEADERS,
    Refusal,
    Response,
    count_param,
    json_answer,
    route,
)
from reconciler.emulator.store import Store
from reconciler.errors import FileWriteError

BODY_KINDS = frozenset({"create", "update", "message"})
GATEWAY_TIMEOUT_PAGE = (
    b"<html><head><title>504 Gateway Time-out</title></head><body><h1>504 Gateway Time-out</h1></body></html>\n"
)
ERROR_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>500 Internal Server Error</title></head><body>"
    b"<h1>Internal Server Error</h1><p>Please try again later.</p></body></html>\n"
)


class Emulator:
    """One tenant's state + fault knobs; thread-safe (a lock around state).

    ``stats`` counts every request that named a known call by kind ("list", "get", "create",
    "update", "delete", "message"; faulted and refused ones included, since the client did send
    them) and every answer as "status:<code>".
    """

    def __init__(self, options: EmulatorOptions | None = None, /, **knobs: Any) -> None:
        """``options``, or any of ``EmulatorOptions``' fields as keywords; ``ValueError`` for a
        knob out of range."""
        options = replace(options or EmulatorOptions(), **knobs)
        self.api_keys = options.keys()
        self.quirks = frozenset(options.quirks)
        self.garbage = options.garbage
        self.auth = options.auth
        self.list_type = options.list_type
        self.max_item_limit = options.max_item_limit
        self.claimed_total = options.claimed_total
        self.body_padding = options.body_padding
        self.drip_ms = options.drip_ms
        self.redirect_to = options.redirect_to
        self.latency_ms = options.latency_ms
        self.error_rate = options.error_rate
        self.rate_limit = options.rate_limit
        self.lose_create_responses = options.lose_create_responses
        self.before_request = options.before_request
        self.stats: collections.Counter[str] = collections.Counter()
        self._random = random.Random(options.seed)
        self._recent: collections.deque[float] = collections.deque()  # admitted request times
        # Reentrant: a before_request hook or a test may call back into the emulator.
        self._lock = threading.RLock()
        self._store = Store(options.state_path)
        # agent replies to the channels' endpoints (outbound.py)
        self.outbox = Outbox(options.outbound, seed=options.seed)

    # -- the one entry point ------------------------------------------------------------------

    def handle(
        self, method: str, path: str, query: dict[str, str], headers: Mapping[str, str], body: bytes
    ) -> Response:
        """One request -> (status, response headers, body bytes)."""
        method = method.upper()
        query = dict(query)
        if self.before_request is not None:
            self.before_request(method, path, query)
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)  # outside the lock: slow answers, not a serialized server
        lower = {k.lower(): v for k, v in headers.items()}
        with self._lock:
            kind, channel_id, route_error = route(method, path)
            if kind is not None:
                self.stats[kind] += 1
            try:
                status, out_headers, out = self._handle_locked(kind, channel_id, route_error, query, lower, body)
            except Refusal as refusal:
                status, out_headers, out = refusal.response()
            self.stats[f"status:{status}"] += 1
        return status, out_headers, out

    def wants_body(self, method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str]) -> bool:
        """True for a call that takes a body, sent with a known key that has the call's permission."""
        kind, _, route_error = route(method.upper(), path)
        if kind not in BODY_KINDS or route_error is not None:
            return False
        try:
            perms = self._authenticate({k.lower(): v for k, v in headers.items()}, query)
        except Refusal:
            return False
        return PERMISSION[kind] in perms

    def _handle_locked(
        self,
        kind: str | None,
        channel_id: int | None,
        route_error: Refusal | None,
        query: dict[str, str],
        headers: dict[str, str],
        body: bytes,
    ) -> Response:
        perms = self._authenticate(headers, query)  # first: nothing else is told to a caller without a key
        self._admit()
        if self.redirect_to is not None:
            return 307, {"location": self.redirect_to}, b""
        if self.error_rate and self._random.random() < self.error_rate:
            raise Refusal(503, "service temporarily unavailable")
        if route_error is not None:
            raise route_error
        assert kind is not None
        if PERMISSION[kind] not in perms:
            raise Refusal(403, f"this API key lacks the {PERMISSION[kind]} permission")
        try:
            if kind == "list":
                return self._list(query)
            if kind == "get":
                return json_answer(200, {"type": "item", "item": self._render(self._channel(channel_id))})
            fields = parse_body(headers.get("content-type", ""), body)
            if kind == "create":
                return self._create(fields)
            if kind == "update":
                return self._update(channel_id, fields)
            if kind == "delete":
                return self._delete(channel_id)
            return post_message(self._store, fields)
        except BodyError as exc:
            raise Refusal(exc.status, str(exc)) from exc
        except FileWriteError as exc:
            raise Refusal(500, f"the emulator could not write its state: {exc}") from exc
        except OSError as exc:
            raise Refusal(500, f"the emulator could not write its state: {exc.strerror}") from exc

    def _admit(self) -> None:
        """Sliding one-second window; refused requests do not count, so backing off gets through."""
        if self.rate_limit is None:
            return
        now = time.monotonic()
        while self._recent and self._recent[0] <= now - 1.0:
            self._recent.popleft()
        if len(self._recent) >= self.rate_limit:
            raise Refusal(
                429, f"rate limit of {self.rate_limit} requests per second exceeded", headers={"retry-after": "1"}
            )
        self._recent.append(now)

    def accepted_auth_forms(self) -> tuple[str, ...]:
        return accepted_forms(self.auth)

    def _authenticate(self, headers: Mapping[str, str], query: Mapping[str, str]) -> frozenset[str]:
        return authenticate(headers, query, self.accepted_auth_forms(), self.api_keys)

    # -- calls --------------------------------------------------------------------------------

    def _list(self, query: Mapping[str, str]) -> Response:
        start = count_param(query, "itemStart", 0)
        limit = min(count_param(query, "itemLimit", DEFAULT_ITEM_LIMIT), MAX_ITEM_LIMIT, self.max_item_limit)
        if limit < 1:
            raise Refusal(400, "itemLimit must be between 1 and 99", field="itemLimit")
        channels = list(self._store.channels.values())
        if "no-paging" in self.quirks:
            start, limit, page = 0, len(channels), channels
        else:
            page = channels[start : start + limit]
        envelope: dict[str, Any] = {
            "type": self.list_type,
            "itemStart": start,
            "itemLimit": limit,
            "itemTotal": len(channels) if self.claimed_total is None else self.claimed_total,
            "items": [self._render(c) for c in page],
        }
        if "no-item-total" in self.quirks:
            del envelope["itemTotal"]
        if self.body_padding:
            envelope["padding"] = "x" * self.body_padding
        return self._garbled(envelope) if self.garbage else json_answer(200, envelope)

    def _garbled(self, envelope: dict[str, Any]) -> Response:
        if self.garbage == "html":
            return 200, dict(HTML_HEADERS), ERROR_PAGE
        if self.garbage == "truncated":
            full = json_answer(200, envelope)[2]
            return 200, dict(JSON_HEADERS), full[: max(1, len(full) // 2)]
        if self.garbage == "wrong-envelope":
            return json_answer(200, {"type": "item", "item": envelope["items"][0] if envelope["items"] else {}})
        return json_answer(200, {"status": "error", "message": "internal"})

    def _create(self, raw: Mapping[str, Any]) -> Response:
        # The contract: a server ignores PUT-only fields on POST, silently (they are not validated either).
        fields = clean({k: v for k, v in raw.items() if k not in PUT_ONLY}, require_name=True)
        self._check_name_free(fields["name"], None)
        channel = self._new_channel(fields)
        self._store.put_channels([channel])
        if self.lose_create_responses and self._random.random() < self.lose_create_responses:
            return 504, dict(HTML_HEADERS), GATEWAY_TIMEOUT_PAGE
        if "create-without-id" in self.quirks:
            return json_answer(200, {"type": "result", "message": "Channel created"})
        return json_answer(200, {"type": "item", "item": self._render(channel)})

    def _update(self, channel_id: int | None, raw: Mapping[str, Any]) -> Response:
        current = self._custom_channel(channel_id)
        fields = clean(raw, require_name=False)
        if "name" in fields:
            self._check_name_free(fields["name"], current["id"])
        updated = {**current, **fields}
        self._store.put_channels([updated])
        return json_answer(200, {"type": "item", "item": self._render(updated)})

    def _delete(self, channel_id: int | None) -> Response:
        current = self._custom_channel(channel_id)
        self._store.delete_channel(current["id"])
        return json_answer(200, {"type": "result", "message": f"Channel {current['id']} deleted"})

    # -- helpers ------------------------------------------------------------------------------

    def _channel(self, channel_id: int | None) -> dict[str, Any]:
        channel = self._store.channels.get(channel_id) if channel_id is not None else None
        if channel is None:
            raise Refusal(404, f"channel {channel_id} does not exist")
        return channel

    def _custom_channel(self, channel_id: int | None) -> dict[str, Any]:
        channel = self._channel(channel_id)
        if channel["type"] != CUSTOM:
            raise Refusal(403, "built-in channels cannot be changed through this API")
        return channel

    def _check_name_free(self, name: str, own_id: int | None) -> None:
        if "duplicate-names" in self.quirks:
            return
        holder = self._store.names.get(name)
        if holder is not None and holder != own_id:
            raise Refusal(400, f"name {name!r} is already used by channel {holder}", field="name")

    def _new_channel(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        return new_channel(self._store.new_channel_id(), fields)

    def _render(self, channel: Mapping[str, Any]) -> dict[str, Any]:
        return render(channel, self.quirks)

    # -- Python-side access (tests, benchmarks) -----------------------------------------------

    def asgi_app(self) -> Callable[..., Any]:
        """This emulator as an ASGI application (``handle()`` runs in a worker thread)."""
        from reconciler.emulator.server import asgi_app  # the server module imports this one

        return asgi_app(self)

    def channels(self) -> list[dict[str, Any]]:
        """Every channel, by id, INCLUDING custom_channel_secret (for tests only)."""
        with self._lock:
            return copy.deepcopy(list(self._store.channels.values()))

    def tickets(self) -> list[dict[str, Any]]:
        """Every ticket with its messages, by ticket id."""
        with self._lock:
            return copy.deepcopy(sorted(self._store.tickets.values(), key=lambda t: t["ticketID"]))

    def seed_channels(self, items: Iterable[dict[str, Any]]) -> list[int]:
        """Insert custom channels without HTTP, validated like POST; all or nothing. Returns ids."""
        with self._lock:
            cleaned: list[dict[str, Any]] = []
            taken: set[str] = set()
            for index, item in enumerate(items):
                form = {k: v for k, v in item.items()}
                try:
                    fields = clean(form, require_name=True)
                    self._check_name_free(fields["name"], None)
                except Refusal as refusal:
                    raise ValueError(f"item {index}: {refusal.message}") from None
                if fields["name"] in taken and "duplicate-names" not in self.quirks:
                    raise ValueError(f"item {index}: name {fields['name']!r} appears twice")
                taken.add(fields["name"])
                cleaned.append(fields)
            channels = [self._new_channel(fields) for fields in cleaned]
            self._store.put_channels(channels)
            return [c["id"] for c in channels]

    def reset_stats(self) -> None:
        with self._lock:
            self.stats.clear()

    def flush(self) -> None:
        """Fold the journal into the snapshot (every answered write is already on disk)."""
        with self._lock:
            self._store.flush()

    def close(self) -> None:
        """Persist and release the state files; the emulator must not be used afterwards."""
        self.outbox.close()
        with self._lock:
            self._store.close()

    # -- the sandbox: the channel's other end (not part of Omnidesk's API) ---------------------

    def permissions_of(self, headers: Mapping[str, str], query: Mapping[str, str]) -> frozenset[str] | None:
        """The permissions of the key a request carries, or None for a missing or unknown key."""
        try:
            return self._authenticate({k.lower(): v for k, v in headers.items()}, query)
        except Refusal:
            return None

    def agent_reply(self, ticket_id: int, message: str, *, agent: str = "Agent", user_id: int = 1) -> Delivery:
        """An agent answers on a ticket: the reply is kept on the ticket and delivered to the channel's
        endpoint (``outbox``). ``LookupError`` for an unknown ticket or a channel that is gone."""
        if not message:
            raise ValueError("the reply is empty")
        with self._lock:
            ticket = self._store.tickets.get(ticket_id)
            if ticket is None:
                raise LookupError(f"ticket {ticket_id} does not exist")
            channel = self._store.channels.get(int(ticket["channelID"]))
            if channel is None or channel["type"] != CUSTOM:
                raise LookupError(f"the channel of ticket {ticket_id} no longer exists")
            inbound = (m for m in ticket["messages"] if m.get("direction") != "outbound")
            customer = next((m.get("fromAddress", "") for m in inbound), "")
            reply = {
                "messageID": self._store.new_message_id(),
                "message": message,
                "userID": user_id,
                "direction": "outbound",
                "sender": {"type": "agent", "name": agent, "userID": user_id},
                "toAddress": customer,
                "createdAt": iso_time(time.time()),
            }
            head = {k: v for k, v in ticket.items() if k != "messages"}
            self._store.add_message(head, reply)
            channel = copy.deepcopy(channel)
        return self.outbox.enqueue(channel, head, reply)

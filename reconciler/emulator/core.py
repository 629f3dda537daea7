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
import json
import os
import random
import re
import threading
import time
from typing import Any, Callable, Iterable, Mapping

from reconciler.emulator.contract import (
    ALL_PERMISSIONS,
    API_PREFIX,
    CHANNEL_FIELDS,
    CUSTOM,
    DEFAULT_ITEM_LIMIT,
    DIGITS,
    MAX_ITEM_LIMIT,
    MESSAGE_PATH,
    PERMISSION,
    SECRET,
    matches,
    mismatch,
    to_bool,
)
from reconciler.emulator.forms import BodyError, parse_body
from reconciler.emulator.outbound import Delivery, OutboundSettings, Outbox, iso_time
from reconciler.emulator.store import Store
from reconciler.errors import FileWriteError
QUIRKS = (
    "no-paging", "create-without-id", "bools-as-strings", "bools-as-ints", "null-endpoint", "extra-fields",
    "duplicate-names",  # a server that does not enforce unique names: the planner must refuse to guess
    "no-item-total",  # list answers without itemTotal: the client reads until a short or empty page
)
GARBAGE_MODES = ("html", "truncated", "wrong-envelope", "error-200")
# Where the key may come from. The contract's default accepts the header and the query form.
AUTH_MODES = ("header", "query", "authorization", "any")
AUTH_FORMS = ("header", "query", "authorization")
DEFAULT_AUTH_FORMS = ("header", "query")

# The contract: a server ignores these on POST, silently (they are not validated either).
PUT_ONLY = frozenset(f.name for f in CHANNEL_FIELDS if not f.on_post)
BODY_KINDS = frozenset({"create", "update", "message"})
# Ids and counts in a path, a query or a form: more digits than any id, refused before int() reads
# them (Python refuses over 4,300 digits, which would be a 500).
MAX_DIGITS = 18

JSON_HEADERS = {"content-type": "application/json; charset=utf-8"}
HTML_HEADERS = {"content-type": "text/html; charset=utf-8"}
GATEWAY_TIMEOUT_PAGE = b"<html><head><title>504 Gateway Time-out</title></head><body><h1>504 Gateway Time-out</h1></body></html>\n"
ERROR_PAGE = b"<!DOCTYPE html>\n<html><head><title>500 Internal Server Error</title></head><body><h1>Internal Server Error</h1><p>Please try again later.</p></body></html>\n"
EXTRA_FIELDS = {"created_at": "2024-01-01T00:00:00Z", "brand_id": 1, "meta": {"source": "emulator"}}

Response = tuple[int, dict[str, str], bytes]


class _Refusal(Exception):
    """An error answer: status, message and optionally the field it is about."""

    def __init__(self, status: int, message: str, field: str | None = None, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.message = message
        self.field = field
        self.headers = headers or {}
        super().__init__(message)

    def response(self) -> Response:
        body: dict[str, Any] = {"status": "error", "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        return _json(self.status, body, self.headers)


def _json(status: int, obj: Any, headers: Mapping[str, str] | None = None) -> Response:
    return status, {**JSON_HEADERS, **(headers or {})}, json.dumps(obj, ensure_ascii=False).encode("utf-8")


class Emulator:
    """One tenant's state + fault knobs; thread-safe (a lock around state).

    ``stats`` counts every request that named a known call by kind ("list", "get", "create",
    "update", "delete", "message"; faulted and refused ones included, since the client did send
    them) and every answer as "status:<code>".
    """

    def __init__(
        self,
        *,
        api_keys: dict[str, set[str]] | None = None,
        state_path: str | os.PathLike[str] | None = None,
        latency_ms: float = 0,
        error_rate: float = 0.0,
        rate_limit: int | None = None,
        lose_create_responses: float = 0.0,
        seed: int | None = None,
        quirks: Iterable[str] = (),
        garbage: str | None = None,
        before_request: Callable[[str, str, dict[str, str]], None] | None = None,
        auth: str | None = None,
        list_type: str = "list",
        max_item_limit: int = MAX_ITEM_LIMIT,
        claimed_total: int | None = None,
        body_padding: int = 0,
        drip_ms: float = 0,
        redirect_to: str | None = None,
        outbound: OutboundSettings | None = None,
    ) -> None:
        keys = {"demo": set(ALL_PERMISSIONS)} if api_keys is None else api_keys
        for key, perms in keys.items():
            unknown = set(perms) - set(ALL_PERMISSIONS)
            if unknown:
                raise ValueError(f"unknown permission(s) {sorted(unknown)}; known: {', '.join(ALL_PERMISSIONS)}")
        self.api_keys = {key: frozenset(perms) for key, perms in keys.items()}
        self.quirks = frozenset(quirks)
        if self.quirks - set(QUIRKS):
            raise ValueError(f"unknown quirk(s) {sorted(self.quirks - set(QUIRKS))}; known: {', '.join(QUIRKS)}")
        if garbage is not None and garbage not in GARBAGE_MODES:
            raise ValueError(f"unknown garbage mode {garbage!r}; known: {', '.join(GARBAGE_MODES)}")
        self.garbage = garbage
        if auth is not None and auth not in AUTH_MODES:
            raise ValueError(f"unknown auth mode {auth!r}; known: {', '.join(AUTH_MODES)}")
        if max_item_limit < 1:
            raise ValueError("max_item_limit must be at least 1")
        self.auth = auth
        self.list_type = list_type
        self.max_item_limit = max_item_limit
        self.claimed_total = claimed_total
        self.body_padding = body_padding
        self.drip_ms = drip_ms
        self.redirect_to = redirect_to
        self.latency_ms = latency_ms
        self.error_rate = error_rate
        self.rate_limit = rate_limit
        self.lose_create_responses = lose_create_responses
        self.before_request = before_request
        self.stats: collections.Counter[str] = collections.Counter()
        self._random = random.Random(seed)
        self._recent: collections.deque[float] = collections.deque()  # admitted request times
        # Reentrant: a before_request hook or a test may call back into the emulator.
        self._lock = threading.RLock()
        self._store = Store(state_path)
        self.outbox = Outbox(outbound, seed=seed)  # agent replies to the channels' endpoints (outbound.py)

    # -- the one entry point ------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, str], headers: Mapping[str, str], body: bytes) -> Response:
        """One request -> (status, response headers, body bytes)."""
        method = method.upper()
        query = dict(query)
        if self.before_request is not None:
            self.before_request(method, path, query)
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)  # outside the lock: slow answers, not a serialized server
        lower = {k.lower(): v for k, v in headers.items()}
        with self._lock:
            kind, channel_id, route_error = _route(method, path)
            if kind is not None:
                self.stats[kind] += 1
            try:
                status, out_headers, out = self._handle_locked(kind, channel_id, route_error, query, lower, body)
            except _Refusal as refusal:
                status, out_headers, out = refusal.response()
            self.stats[f"status:{status}"] += 1
        return status, out_headers, out

    def wants_body(self, method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str]) -> bool:
        """True for a call that takes a body, sent with a known key that has the call's permission."""
        kind, _, route_error = _route(method.upper(), path)
        if kind not in BODY_KINDS or route_error is not None:
            return False
        try:
            perms = self._authenticate({k.lower(): v for k, v in headers.items()}, query)
        except _Refusal:
            return False
        return PERMISSION[kind] in perms

    def _handle_locked(
        self,
        kind: str | None,
        channel_id: int | None,
        route_error: _Refusal | None,
        query: dict[str, str],
        headers: dict[str, str],
        body: bytes,
    ) -> Response:
        perms = self._authenticate(headers, query)  # first: nothing else is told to a caller without a key
        self._admit()
        if self.redirect_to is not None:
            return 307, {"location": self.redirect_to}, b""
        if self.error_rate and self._random.random() < self.error_rate:
            raise _Refusal(503, "service temporarily unavailable")
        if route_error is not None:
            raise route_error
        assert kind is not None
        if PERMISSION[kind] not in perms:
            raise _Refusal(403, f"this API key lacks the {PERMISSION[kind]} permission")
        try:
            if kind == "list":
                return self._list(query)
            if kind == "get":
                return _json(200, {"type": "item", "item": self._render(self._channel(channel_id))})
            fields = parse_body(headers.get("content-type", ""), body)
            if kind == "create":
                return self._create(fields)
            if kind == "update":
                return self._update(channel_id, fields)
            if kind == "delete":
                return self._delete(channel_id)
            return self._message(fields)
        except BodyError as exc:
            raise _Refusal(exc.status, str(exc)) from exc
        except FileWriteError as exc:
            raise _Refusal(500, f"the emulator could not write its state: {exc}") from exc
        except OSError as exc:
            raise _Refusal(500, f"the emulator could not write its state: {exc.strerror}") from exc

    def _admit(self) -> None:
        """Sliding one-second window; refused requests do not count, so backing off gets through."""
        if self.rate_limit is None:
            return
        now = time.monotonic()
        while self._recent and self._recent[0] <= now - 1.0:
            self._recent.popleft()
        if len(self._recent) >= self.rate_limit:
            raise _Refusal(429, f"rate limit of {self.rate_limit} requests per second exceeded", headers={"retry-after": "1"})
        self._recent.append(now)

    def accepted_auth_forms(self) -> tuple[str, ...]:
        if self.auth is None:
            return DEFAULT_AUTH_FORMS
        return AUTH_FORMS if self.auth == "any" else (self.auth,)

    def _authenticate(self, headers: Mapping[str, str], query: Mapping[str, str]) -> frozenset[str]:
        scheme, _, credentials = headers.get("authorization", "").partition(" ")
        sent = {
            "header": headers.get("apikey", ""),
            "query": query.get("apiKey", ""),
            "authorization": credentials.strip() if scheme.lower() == "apikey" else "",
        }
        accepted = self.accepted_auth_forms()
        key = next((sent[form] for form in accepted if sent[form]), "")
        if not key:
            wanted = " or ".join(_AUTH_WORDING[form] for form in accepted)
            elsewhere = [form for form in AUTH_FORMS if sent[form] and form not in accepted]
            if elsewhere:
                raise _Refusal(401, f"this server takes the API key in {wanted}, not in {_AUTH_WORDING[elsewhere[0]]}")
            raise _Refusal(401, f"missing API key: send it in {wanted}")
        perms = self.api_keys.get(key)
        if perms is None:
            raise _Refusal(401, "unknown API key")  # never echo the key: it ends up in logs
        return perms

    # -- calls --------------------------------------------------------------------------------

    def _list(self, query: Mapping[str, str]) -> Response:
        start = _count_param(query, "itemStart", 0)
        limit = min(_count_param(query, "itemLimit", DEFAULT_ITEM_LIMIT), MAX_ITEM_LIMIT, self.max_item_limit)
        if limit < 1:
            raise _Refusal(400, "itemLimit must be between 1 and 99", field="itemLimit")
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
        return self._garbled(envelope) if self.garbage else _json(200, envelope)

    def _garbled(self, envelope: dict[str, Any]) -> Response:
        if self.garbage == "html":
            return 200, dict(HTML_HEADERS), ERROR_PAGE
        if self.garbage == "truncated":
            full = _json(200, envelope)[2]
            return 200, dict(JSON_HEADERS), full[: max(1, len(full) // 2)]
        if self.garbage == "wrong-envelope":
            return _json(200, {"type": "item", "item": envelope["items"][0] if envelope["items"] else {}})
        return _json(200, {"status": "error", "message": "internal"})

    def _create(self, raw: Mapping[str, Any]) -> Response:
        # The contract: a server ignores PUT-only fields on POST, silently (they are not validated either).
        fields = self._clean({k: v for k, v in raw.items() if k not in PUT_ONLY}, require_name=True)
        self._check_name_free(fields["name"], None)
        channel = self._new_channel(fields)
        self._store.put_channels([channel])
        if self.lose_create_responses and self._random.random() < self.lose_create_responses:
            return 504, dict(HTML_HEADERS), GATEWAY_TIMEOUT_PAGE
        if "create-without-id" in self.quirks:
            return _json(200, {"type": "result", "message": "Channel created"})
        return _json(200, {"type": "item", "item": self._render(channel)})

    def _update(self, channel_id: int | None, raw: Mapping[str, Any]) -> Response:
        current = self._custom_channel(channel_id)
        fields = self._clean(raw, require_name=False)
        if "name" in fields:
            self._check_name_free(fields["name"], current["id"])
        updated = {**current, **fields}
        self._store.put_channels([updated])
        return _json(200, {"type": "item", "item": self._render(updated)})

    def _delete(self, channel_id: int | None) -> Response:
        current = self._custom_channel(channel_id)
        self._store.delete_channel(current["id"])
        return _json(200, {"type": "result", "message": f"Channel {current['id']} deleted"})

    def _message(self, raw: Mapping[str, Any]) -> Response:
        channel_text = _text(raw, "channelID", None)
        if not channel_text:
            raise _Refusal(400, "channelID is required", field="channelID")
        if not matches(DIGITS, channel_text):
            raise _Refusal(400, f"channelID {mismatch(DIGITS, channel_text)}", field="channelID")
        channel = self._store.channels.get(_number(channel_text, "channelID"))
        if channel is None or channel["type"] != CUSTOM:
            raise _Refusal(400, f"channelID {channel_text} is not a custom channel", field="channelID")
        ticket_text = _text(raw, "ticketID", "")
        ticket: dict[str, Any] | None = None
        if ticket_text:
            if not matches(DIGITS, ticket_text):
                raise _Refusal(400, f"ticketID {mismatch(DIGITS, ticket_text)}", field="ticketID")
            ticket = self._store.tickets.get(_number(ticket_text, "ticketID"))
            if ticket is None:
                raise _Refusal(400, f"ticketID {ticket_text} does not exist", field="ticketID")
            if ticket["channelID"] != channel["id"]:
                raise _Refusal(400, f"ticketID {ticket_text} belongs to another channel", field="ticketID")
        user_text = _text(raw, "userID", "0")
        if not matches(DIGITS, user_text):
            raise _Refusal(400, f"userID {mismatch(DIGITS, user_text)}", field="userID")
        user_id = _number(user_text, "userID")
        message_text = _text(raw, "message", "")
        if not message_text:
            raise _Refusal(400, "message is required and must not be empty", field="message")
        extra = {name: _text(raw, name, "") for name in ("title", "toAddress", "fromAddress")}
        if ticket is None:
            ticket = {"ticketID": self._store.new_ticket_id(), "channelID": channel["id"], "title": extra["title"]}
        message = {
            "messageID": self._store.new_message_id(),
            "message": message_text,
            "userID": user_id,
            "fromAddress": extra["fromAddress"],
            "toAddress": extra["toAddress"],
        }
        self._store.add_message(ticket, message)
        return _json(200, {"type": "item", "item": {"ticketID": ticket["ticketID"], "messageID": message["messageID"]}})

    # -- helpers ------------------------------------------------------------------------------

    def _channel(self, channel_id: int | None) -> dict[str, Any]:
        channel = self._store.channels.get(channel_id) if channel_id is not None else None
        if channel is None:
            raise _Refusal(404, f"channel {channel_id} does not exist")
        return channel

    def _custom_channel(self, channel_id: int | None) -> dict[str, Any]:
        channel = self._channel(channel_id)
        if channel["type"] != CUSTOM:
            raise _Refusal(403, "built-in channels cannot be changed through this API")
        return channel

    def _check_name_free(self, name: str, own_id: int | None) -> None:
        if "duplicate-names" in self.quirks:
            return
        holder = self._store.names.get(name)
        if holder is not None and holder != own_id:
            raise _Refusal(400, f"name {name!r} is already used by channel {holder}", field="name")

    def _new_channel(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        # Key order as the contract shows a channel: id, type, name, then the other fields.
        values = {spec.name: fields.get(spec.name, spec.default) for spec in CHANNEL_FIELDS}
        return {"id": self._store.new_channel_id(), "type": CUSTOM, **values}

    @staticmethod
    def _clean(raw: Mapping[str, Any], *, require_name: bool) -> dict[str, Any]:
        """The known fields of a write, validated; unknown fields are ignored (contract)."""
        out: dict[str, Any] = {}
        for spec in CHANNEL_FIELDS:
            name = spec.name
            if name not in raw:
                continue
            value = raw[name]
            if spec.kind == "boolean":
                try:
                    out[name] = to_bool(value)
                except ValueError:
                    raise _Refusal(400, f"{name} must be true or false (or 1 or 0), got {value!r}", field=name) from None
                continue
            if not isinstance(value, str):
                raise _Refusal(400, f"{name} must be a string, got {json.dumps(value)}", field=name)
            # A value equal to the default is always valid: '' resets endpoint and warnings
            # although their regexes need one character (the contract's trap).
            if spec.regex and value != spec.default and not matches(spec.regex, value):
                raise _Refusal(400, f"{name} {mismatch(spec.regex, value)}", field=name)
            out[name] = value
        if require_name and "name" not in out:
            raise _Refusal(400, "name is required", field="name")
        return out

    def _render(self, channel: Mapping[str, Any]) -> dict[str, Any]:
        """A channel as answered: no secret, booleans and extras as the quirks say."""
        out = {k: v for k, v in channel.items() if k != SECRET}
        for spec in CHANNEL_FIELDS:
            name = spec.name
            if spec.kind == "boolean" and name in out:
                if "bools-as-strings" in self.quirks:
                    out[name] = "true" if out[name] else "false"
                elif "bools-as-ints" in self.quirks:
                    out[name] = int(out[name])
        if "null-endpoint" in self.quirks and out.get("custom_channel_endpoint") == "":
            out["custom_channel_endpoint"] = None
        if "extra-fields" in self.quirks:
            out.update(copy.deepcopy(EXTRA_FIELDS))
        return out

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
                    fields = self._clean(form, require_name=True)
                    self._check_name_free(fields["name"], None)
                except _Refusal as refusal:
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
        except _Refusal:
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
            customer = next((m.get("fromAddress", "") for m in ticket["messages"] if m.get("direction") != "outbound"), "")
            reply = {"messageID": self._store.new_message_id(), "message": message, "userID": user_id,
                     "direction": "outbound", "sender": {"type": "agent", "name": agent, "userID": user_id},
                     "toAddress": customer, "createdAt": iso_time(time.time())}
            head = {k: v for k, v in ticket.items() if k != "messages"}
            self._store.add_message(head, reply)
            channel = copy.deepcopy(channel)
        return self.outbox.enqueue(channel, head, reply)


_AUTH_WORDING = {
    "header": "the apiKey header",
    "query": "the apiKey query parameter",
    "authorization": "the Authorization header (apikey KEY)",
}


def _route(method: str, path: str) -> tuple[str | None, int | None, _Refusal | None]:
    """(kind, channel id, error) for a request line; the error is raised only after auth."""
    path = path.rstrip("/") or "/"
    if path == API_PREFIX:
        kinds = {"GET": "list", "POST": "create"}
    elif path == MESSAGE_PATH:
        kinds = {"POST": "message"}
    elif path.startswith(API_PREFIX + "/") and re.fullmatch(r"[0-9]+", path[len(API_PREFIX) + 1 :]):
        text = path[len(API_PREFIX) + 1 :]
        if len(text) > MAX_DIGITS:
            return None, None, _too_long("the channel id", text)
        channel_id = int(text)
        kinds = {"GET": "get", "PUT": "update", "DELETE": "delete"}
        if method in kinds:
            return kinds[method], channel_id, None
        return None, None, _not_allowed(method, path, kinds)
    else:
        return None, None, _Refusal(404, f"no such endpoint: {path}")
    if method in kinds:
        return kinds[method], None, None
    return None, None, _not_allowed(method, path, kinds)


def _not_allowed(method: str, path: str, kinds: Mapping[str, str]) -> _Refusal:
    allowed = ", ".join(kinds)
    return _Refusal(405, f"{method} is not allowed on {path} (allowed: {allowed})", headers={"allow": allowed})


def _count_param(query: Mapping[str, str], name: str, default: int) -> int:
    text = query.get(name)
    if text is None or text == "":
        return default
    if not matches(DIGITS, text):
        raise _Refusal(400, f"{name} must be a non-negative integer, got {text!r}", field=name)
    return _number(text, name)


def _number(text: str, name: str) -> int:
    """``text`` (digits) as a number, refused before Python's int() would fail on its length."""
    if len(text) > MAX_DIGITS:
        raise _too_long(name, text, field=name)
    return int(text)


def _too_long(what: str, text: str, field: str | None = None) -> _Refusal:
    return _Refusal(400, f"{what} has {len(text):,} digits; no number here has more than {MAX_DIGITS}", field=field)


def _text(raw: Mapping[str, Any], name: str, default: str | None) -> str | None:
    """A message field as text: JSON numbers are accepted for the id fields."""
    value = raw.get(name, default)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise _Refusal(400, f"{name} must be a string, got {json.dumps(value)}", field=name)

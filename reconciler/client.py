"""The Omnidesk Channel API as a small typed client: one method per call, retries and paging inside.

The rooms around it: ``caller`` (one call: the retry policy over single attempts), ``transport``
(the key's three forms, one deadline per call, a bounded body), ``responses`` (decoding answers,
errors by status, redaction), ``paging``, ``limiter`` (concurrency). The transport is injectable
(``httpx.MockTransport`` in unit tests, the emulator over real HTTP in end-to-end tests).

What the client guarantees:

* GET, PUT and DELETE are retried on 429 (after ``Retry-After``), 502/503/504, timeouts and
  connection errors, with exponential backoff and jitter, at most ``max_retries`` times and never
  past ``caller.CALL_BUDGET`` timeouts from the first attempt, then ``TransientApiError``. A DELETE that
  answers 404 after an uncertain attempt counts as done. A failure no retry can fix (nothing
  listening, a connection closed before any answer, DNS, TLS to a plain-HTTP port, a refused
  certificate) is retried once, then says what to check.
* Every attempt ends by ``timeout`` seconds, body included; an answer over ``max_body_bytes`` or a
  list claiming more than ``listing.MAX_CHANNELS`` is an error naming the call; a redirect is never
  followed (the key would go along).
* A create (POST) is never blindly retried (only when no connection was made: nothing was sent).
  ``try_create`` reports a create whose answer was lost as ``UncertainCreate``;
  ``find_custom_channels`` resolves any number of them with one list read (``reconciler.apply``
  does that per phase). ``create_channel`` resolves one by itself.
* Names are unique per tenant, so a create sent again can never make a duplicate: the server refuses
  it with a 400 on ``name``, which ``try_create(..., again=True)`` reports as uncertain.
* A create refused because its name is taken is reported ``taken``, for the caller to compare the
  listed channel with what it wanted (``reconciler.apply``: another run made it, or a conflict).
* The API key and any secret sent in a body never appear in a message, a log line or an exception:
  httpx's exceptions are described (redacted) in ours, never chained, since theirs carry the URL.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

from . import __version__
from .caller import Caller, HttpSession, RedactingFilter, Retries, Uncertain, gave_up
from .endpoints import ENDPOINT_FIELD, credential_values
from .errors import ApiError, FieldRejected, ProtocolError, TransientApiError
from .model import CHANNEL_PATH, SECRET_FIELD, RemoteChannel, to_form
from .paging import PAGE_SIZE, page_params, page_path, read_pass
from .responses import (
    MESSAGE_PATH,
    ListPage,
    Redactor,
    list_page,
    parse_channel,
    positive_id,
    required_permission,
)
from .transport import (
    DEFAULT_AUTH,
    MAX_BODY_BYTES,
    ByteBudget,
    DeadlineTransport,
    auth_headers,
    auth_params,
    check_api_key,
)

__all__ = ["PAGE_SIZE", "OmnideskClient", "UncertainCreate", "required_permission"]

# the emulator's own calls (agent replies, deliveries): no Omnidesk has them
SANDBOX_PATH = "/api/v2/emulator"
LIST_ATTEMPTS = 3  # full re-reads of a list that keeps changing before giving up
# The answers of one pass over the list together, by the memory their text takes (see ByteBudget):
# 100,000 channels (paging.MAX_CHANNELS) of some 600 bytes each. Pages read at once share it, so no
# server can make the client hold more, however it pages.
LIST_BUDGET_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class UncertainCreate:
    """A create whose outcome is unknown: the answer was lost, or came without the new id.

    ``error`` says what happened; ``landed`` is True when the server did create it (an answer
    without an id) and only the id is unknown; ``taken`` is True when the server refused the name
    as used: another run may have just created the same channel (the list says).
    """

    name: str
    error: ApiError
    landed: bool = False
    taken: bool = False


class OmnideskClient:
    """The Omnidesk Channel API, one method per call; safe to use from many threads at once.

    ``auth`` picks where the key goes: ``header`` (``apiKey: KEY``, the default), ``query``
    (``?apiKey=KEY`` on every URL) or ``authorization`` (``Authorization: apikey KEY``).

    ``stats`` counts requests sent per kind (``list_page``, ``get``, ``create``, ``update``,
    ``delete``, ``message``), answers (``status:429``, ...), transport failures (``error:timeout``,
    ``error:ConnectError``, ...), ``retry``, ``concurrency_cut`` and ``list_read`` (full passes).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        auth: str = DEFAULT_AUTH,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        max_retries: int = 6,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        parallelism: int = 8,
        max_body_bytes: int = MAX_BODY_BYTES,
        sleep: Callable[[float], None] = time.sleep,
        logger: logging.Logger | None = None,
    ) -> None:
        check_api_key(api_key)
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_body_bytes = max_body_bytes
        # The key as written, and as the query form puts it in a URL (httpx's own encoding).
        self._redact = Redactor(api_key, str(httpx.QueryParams({"apiKey": api_key})).partition("=")[2])
        self.log = logger or logging.getLogger("reconciler.http")
        # httpx logs every URL at INFO ("HTTP Request: GET ..."): in the query form that holds the key.
        self._httpx_filter = RedactingFilter(self._redact) if auth == "query" else None
        if self._httpx_filter is not None:
            logging.getLogger("httpx").addFilter(self._httpx_filter)
        if transport is None:
            transport = DeadlineTransport.to(self.base_url, max_connections=max(1, parallelism))
        self._http = HttpSession(
            self.base_url,
            transport,
            {
                **auth_headers(auth, api_key),
                "Accept": "application/json",
                "User-Agent": f"omnidesk-channels/{__version__}",
            },
            timeout,
        )
        self._caller = Caller(
            self._http,
            redact=self._redact,
            auth_params=auth_params(auth, api_key),
            timeout=timeout,
            retries=Retries(max_retries, backoff, max_backoff),
            parallelism=parallelism,
            max_body_bytes=max_body_bytes,
            sleep=sleep,
            log=self.log,
        )
        self._call = self._caller.call
        self.stats = self._caller.stats

    def __repr__(self) -> str:
        return f"OmnideskClient({self.base_url!r}, auth={self.auth!r})"

    # -- the API ---------------------------------------------------------------------------------

    def list_channels(self) -> list[RemoteChannel]:
        """Every channel of the tenant (built-ins too), read page by page, each exactly once.

        If ``itemTotal`` moves between pages, or the pages end before ``itemTotal`` channels were
        read, the list is read again from the start (``LIST_ATTEMPTS`` times): planning against a
        partial list could create duplicates, so a list that never reads consistently is an error.
        """
        return self._read_list(growth_ok=False)

    def find_custom_channels(self, names: Iterable[str]) -> dict[str, RemoteChannel]:
        """The custom channels with these names that exist now, from one read of the list.

        Other creates may land while the list is read, so a list that only grew is accepted (see
        ``listing.read_pass``). A list that never settles raises ``TransientApiError``.
        """
        wanted = set(names)
        return {c.name: c for c in self._read_list(growth_ok=True) if c.is_custom and c.name in wanted}

    def _read_list(self, *, growth_ok: bool) -> list[RemoteChannel]:
        problem = ""
        for _ in range(LIST_ATTEMPTS):
            self._caller.count("list_read")
            budget = ByteBudget(LIST_BUDGET_BYTES)
            channels, problem = read_pass(
                functools.partial(self._read_page, budget=budget),
                self._parse_channel,
                self._caller.limiter.maximum,
                growth_ok=growth_ok,
            )
            if not problem:
                return channels
            self.log.warning("re-reading the channel list: %s", problem)
        raise TransientApiError(
            f"the channel list kept changing while it was read ({LIST_ATTEMPTS} attempts; last: {problem})",
            call=f"GET {CHANNEL_PATH}",
        )

    def get_channel(self, channel_id: int) -> RemoteChannel:
        """One channel by id. Needs CHANNEL_CUD, which is why planning never calls it."""
        path = f"{CHANNEL_PATH}/{int(channel_id)}"
        body = self._call("GET", path, kind="get", expect=("item",))
        return self._parse_channel(body.get("item"), f"GET {path}")

    def try_create(self, fields: Mapping[str, Any], *, again: bool = False) -> RemoteChannel | UncertainCreate:
        """Send one create; a lost answer is reported as ``UncertainCreate``, never resolved here.

        ``again``: this create is sent after an uncertain one of the same name was confirmed absent;
        a 400 on ``name`` then may be that earlier create landing late, so it is uncertain too.
        Otherwise a 400 on ``name`` (names are unique per tenant) is reported ``taken``: the caller
        reads the list to tell a race with another run from a real conflict.
        """
        name = str(fields["name"])
        call = f"POST {CHANNEL_PATH}"
        try:
            body = self._call(
                "POST",
                CHANNEL_PATH,
                kind="create",
                form=to_form(fields),
                secrets=_secrets_of(fields),
                expect=("item", "result"),
                idempotent=False,
            )
        except Uncertain as outcome:
            return UncertainCreate(name, outcome.error)
        except FieldRejected as rejected:
            if rejected.field == "name":
                return UncertainCreate(name, rejected, taken=not again)
            raise
        item = body.get("item") if body.get("type") == "item" else None
        if isinstance(item, Mapping) and "id" in item:
            return self._parse_channel(item, call)
        # Tolerated: an answer without the new id; the list has it.
        missing = ProtocolError(
            f"the create was answered without an id and no custom channel named {name!r} is listed", call=call
        )
        return UncertainCreate(name, missing, landed=True)

    def create_channel(self, fields: Mapping[str, Any]) -> RemoteChannel:
        """Create one channel, resolving a lost answer by itself (one list read per uncertain attempt).

        Many creates at once resolve cheaper with ``try_create`` and one ``find_custom_channels``.
        """
        name = str(fields["name"])
        outcome = self.try_create(fields)
        for attempt in range(1, self.max_retries + 2):
            if not isinstance(outcome, UncertainCreate):
                return outcome
            if outcome.taken:
                raise outcome.error  # without the wanted values to compare, a taken name is a refusal
            try:
                found = self.find_custom_channels([name]).get(name)
            except ApiError as list_error:
                raise type(outcome.error)(
                    f"{outcome.error.reason}; whether it was carried out could not be checked: {list_error}",
                    call=outcome.error.call,
                    status=outcome.error.status,
                ) from None
            if found is not None:
                return found
            if outcome.landed or isinstance(outcome.error, FieldRejected) or attempt > self.max_retries:
                raise outcome.error if attempt <= self.max_retries else gave_up(outcome.error, attempt)
            delay = self._caller.backoff_delay(attempt)
            self._caller.before_retry(outcome.error.call, attempt, "an uncertain create", delay)
            outcome = self.try_create(fields, again=True)
        raise AssertionError("unreachable: the loop returns or raises")

    def update_channel(self, channel_id: int, fields: Mapping[str, Any]) -> RemoteChannel | None:
        """Partial update: only the given fields change. Returns the channel if the server sent it."""
        path = f"{CHANNEL_PATH}/{int(channel_id)}"
        body = self._call(
            "PUT",
            path,
            kind="update",
            form=to_form(fields),
            secrets=_secrets_of(fields),
            expect=("item", "result"),
        )
        return self._parse_channel(body.get("item"), f"PUT {path}") if body.get("type") == "item" else None

    def delete_channel(self, channel_id: int) -> None:
        """Delete a channel; ``NotFound`` if the id does not exist."""
        self._call("DELETE", f"{CHANNEL_PATH}/{int(channel_id)}", kind="delete", expect=("result", "item"))

    def send_message(
        self,
        channel_id: int,
        message: str,
        *,
        ticket_id: int | None = None,
        title: str = "",
        to_address: str = "",
        from_address: str = "",
        user_id: int | None = None,
    ) -> dict[str, int]:
        """Push an inbound message into a custom channel; without ``ticket_id`` a ticket is opened.

        Not retried after an uncertain failure: a message cannot be looked up, so a retry could
        post it twice. Only a 429 is retried.
        """
        form = {
            "channelID": str(int(channel_id)),
            "message": message,
            "title": title,
            "toAddress": to_address,
            "fromAddress": from_address,
        }
        if ticket_id is not None:
            form["ticketID"] = str(int(ticket_id))
        if user_id is not None:
            form["userID"] = str(int(user_id))
        call = f"POST {MESSAGE_PATH}"
        try:
            body = self._call("POST", MESSAGE_PATH, kind="message", form=form, expect=("item",), idempotent=False)
        except Uncertain as outcome:
            raise outcome.error from None
        item = body["item"]
        if "ticketID" not in item or "messageID" not in item:
            raise ProtocolError(
                f"expected an item with ticketID and messageID, got {self._redact.excerpt(json.dumps(item))}",
                call=call,
            )
        return {name: positive_id(item[name], call, f"item.{name}", self._redact) for name in ("ticketID", "messageID")}

    # -- the emulator's sandbox (not Omnidesk's API: only an emulator answers these) --------------

    def sandbox_reply(self, ticket_id: int, message: str, *, agent: str = "Agent") -> dict[str, Any]:
        """An agent's reply on a ticket, which the emulator delivers to the channel's endpoint.

        Not retried after an uncertain failure (it would deliver twice). Returns the delivery."""
        form = {"ticketID": str(int(ticket_id)), "message": message, "agent": agent}
        try:
            body = self._call(
                "POST", f"{SANDBOX_PATH}/reply", kind="sandbox", form=form, expect=("item",), idempotent=False
            )
        except Uncertain as outcome:
            raise outcome.error from None
        return dict(body["item"])

    def sandbox_delivery(self, delivery_id: int, *, wait: float = 0) -> dict[str, Any]:
        """One delivery of the emulator's log; ``wait``: seconds the emulator may hold the answer until it is done."""
        path = f"{SANDBOX_PATH}/deliveries/{int(delivery_id)}?wait={wait:g}"
        return dict(self._call("GET", path, kind="sandbox", expect=("item",))["item"])

    def sandbox_redeliver(self, delivery_id: int) -> dict[str, Any]:
        """Send a delivery again (same webhook-id): how a bridge's duplicate handling is checked."""
        path = f"{SANDBOX_PATH}/deliveries/{int(delivery_id)}/redeliver"
        try:
            body = self._call("POST", path, kind="sandbox", form={}, expect=("item",), idempotent=False)
        except Uncertain as outcome:
            raise outcome.error from None
        return dict(body["item"])

    @property
    def concurrency(self) -> int:
        """How many requests may be in flight right now (shrinks on 429, grows back on success)."""
        return self._caller.limiter.limit

    def close(self) -> None:
        self._http.close()
        if self._httpx_filter is not None:
            logging.getLogger("httpx").removeFilter(self._httpx_filter)

    def __enter__(self) -> OmnideskClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- reading the list, page by page -------------------------------------------------------

    def _read_page(self, start: int, budget: ByteBudget) -> ListPage:
        body = self._call(
            "GET", CHANNEL_PATH, params=page_params(start), kind="list_page", expect=("list",), budget=budget
        )
        return list_page(body, f"GET {page_path(start)}")

    def _parse_channel(self, item: Any, call: str, where: str = "item") -> RemoteChannel:
        return parse_channel(item, call, self._redact, where)


def _secrets_of(fields: Mapping[str, Any]) -> tuple[str, ...]:
    """What a call's error messages must never repeat: the secret, and an endpoint's credentials."""
    secret = fields.get(SECRET_FIELD)
    endpoint = fields.get(ENDPOINT_FIELD)
    credentials = tuple(credential_values(endpoint).values()) if isinstance(endpoint, str) else ()
    return ((str(secret),) if secret else ()) + credentials

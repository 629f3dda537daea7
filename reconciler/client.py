"""A small typed client for the Omnidesk Channel API (``../shared/api-contract.md``).

Retries, paging and adaptive concurrency live here so the engine can treat every call as one
reliable step. The transport is injectable (``httpx.MockTransport`` in unit tests, the emulator
over real HTTP in end-to-end tests).

What the client guarantees:

* GET, PUT and DELETE are retried on 429 (after ``Retry-After``), 502/503/504, timeouts and
  connection errors, with exponential backoff and jitter, ``max_retries`` times, then
  ``TransientApiError``. A DELETE that answers 404 after an uncertain attempt counts as done.
* A create (POST) is never blindly retried. A 429 is retried as is (the server refused it before
  doing anything). After a 5xx, a timeout, a connection error or an unreadable answer the create
  may have happened, so the list is read again: a custom channel with that name is returned as the
  created one; only if there is none is the create sent again (at most ``max_retries`` times).
* Names are unique per tenant, so a retried create can never make a duplicate: the server refuses it
  with a 400 on ``name``. If that happens *after an uncertain attempt* and a custom channel with the
  name now exists, it is our own create that landed late, and it is returned. A 400 on ``name`` on
  the first attempt is raised as ``FieldRejected``: someone else holds the name (for instance a
  second applier running at the same time) and the caller's plan is stale.
* Not guaranteed: when two appliers race, the one whose create was answered late may return a
  channel the other one created, with that one's field values.
* The API key and any secret sent in a body never appear in a message, a log line or an exception.
"""
from __future__ import annotations

import collections
import json
import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any, Callable, Iterable, Mapping

import httpx

from . import __version__
from .errors import (
    ApiError,
    AuthenticationError,
    FieldRejected,
    NotFound,
    PermissionDenied,
    ProtocolError,
    TransientApiError,
)
from .model import SECRET_FIELD, RemoteChannel, to_form

CHANNEL_PATH = "/api/v2/channel"
MESSAGE_PATH = "/api/v2/channel/customChannelMessage"
PAGE_SIZE = 99  # the contract's maximum itemLimit
LIST_ATTEMPTS = 3  # full re-reads of a list that keeps changing before giving up
GROW_AFTER = 10  # successes in a row before one more request may be in flight
EXCERPT_CHARS = 200
REDACTED = "[redacted]"
RETRY_STATUSES = frozenset({429, 502, 503, 504})
# Failures after which the request may or may not have been carried out.
UNCERTAIN_EXCEPTIONS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


def required_permission(method: str, path: str) -> str:
    """The contract's permission table: which key permission a call needs."""
    if path.split("?")[0] == MESSAGE_PATH:
        return "MESSAGE_CREATE"
    if method == "GET" and path.split("?")[0] == CHANNEL_PATH:
        return "CHANNEL_READ"
    return "CHANNEL_CUD"  # sic: even reading one channel needs the write permission


class _Uncertain(Exception):
    """A non-idempotent call failed in a way that leaves open whether it was carried out."""

    def __init__(self, error: ApiError, cause: str, delay: float) -> None:
        super().__init__(str(error))
        self.error = error
        self.cause = cause
        self.delay = delay


class _Limiter:
    """At most ``limit`` requests in flight; a 429 halves the limit and pauses every thread.

    The pause is slept with the client's ``sleep`` (so tests can inject it); each thread sleeps a
    given pause at most once, so an injected no-op sleep cannot make a thread spin.
    """

    def __init__(self, parallelism: int, sleep: Callable[[float], None], clock: Callable[[], float]) -> None:
        self.maximum = max(1, parallelism)
        self.limit = self.maximum
        self._sleep = sleep
        self._clock = clock
        self._cond = threading.Condition()
        self._in_flight = 0
        self._successes = 0
        self._generation = 0  # bumped by each cut, so one wave of 429s cuts only once
        self._pause_until = 0.0
        self._waited = threading.local()

    def acquire(self) -> int:
        """Wait for a slot (and out any pause not yet waited); returns the cut generation."""
        while True:
            with self._cond:
                waited = getattr(self._waited, "until", 0.0)
                while self._in_flight >= self.limit and self._pause_until <= waited:
                    self._cond.wait()
                pause_until = self._pause_until
                if pause_until <= waited:
                    self._in_flight += 1
                    return self._generation
                remaining = pause_until - self._clock()
            self._waited.until = pause_until
            if remaining > 0:
                self._sleep(remaining)

    def release(self, generation: int, *, ok: bool, throttled: bool = False, pause: float = 0.0) -> bool:
        """Give the slot back; returns True when this 429 cut the concurrency."""
        with self._cond:
            self._in_flight -= 1
            cut = False
            if throttled:
                self._successes = 0
                until = self._clock() + pause
                self._pause_until = max(self._pause_until, until)
                # This thread sleeps its own pause before retrying; only a longer one is left to wait.
                self._waited.until = until
                if generation == self._generation and self.limit > 1:
                    self._generation += 1
                    self.limit //= 2
                    cut = True
            elif ok:
                self._successes += 1
                if self._successes >= GROW_AFTER and self.limit < self.maximum:
                    self.limit += 1
                    self._successes = 0
            else:
                self._successes = 0
            self._cond.notify_all()
            return cut


class OmnideskClient:
    """The Omnidesk Channel API, one method per call; safe to use from many threads at once.

    ``stats`` counts requests sent per kind (``list_page``, ``get``, ``create``, ``update``,
    ``delete``, ``message``), answers (``status:429``, ...), transport failures (``error:timeout``,
    ``error:ConnectError``, ...), ``retry`` and ``concurrency_cut``.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        max_retries: int = 6,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        parallelism: int = 8,
        sleep: Callable[[float], None] = time.sleep,
        logger: logging.Logger | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._sleep = sleep
        self.log = logger or logging.getLogger("reconciler.http")
        self.stats: collections.Counter[str] = collections.Counter()
        self._stats_lock = threading.Lock()
        self._random = random.Random()
        self._limiter = _Limiter(parallelism, sleep, time.monotonic)
        self._http = httpx.Client(
            base_url=self.base_url,
            transport=transport,
            timeout=timeout,
            headers={
                "apiKey": api_key,
                "Accept": "application/json",
                "User-Agent": f"omnidesk-channels/{__version__}",
            },
            limits=httpx.Limits(max_connections=max(1, parallelism)),
        )

    # -- the API ---------------------------------------------------------------------------------

    def list_channels(self) -> list[RemoteChannel]:
        """Every channel of the tenant (built-ins too), read page by page, each exactly once.

        The first page says how many there are; the rest are read concurrently (within the
        client's concurrency limit) and then checked in order as if read one by one.

        If ``itemTotal`` moves between pages, or the pages end before ``itemTotal`` channels were
        read, the list is read again from the start (``LIST_ATTEMPTS`` times): planning against a
        partial list could create duplicates, so a list that never reads consistently is an error.
        """
        return self._read_list(growth_ok=False)

    def _read_list(self, *, growth_ok: bool) -> list[RemoteChannel]:
        problem = ""
        for _ in range(LIST_ATTEMPTS):
            channels, problem = self._read_list_once(growth_ok=growth_ok)
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
        return self._channel(body, f"GET {path}")

    def create_channel(self, fields: Mapping[str, Any]) -> RemoteChannel:
        """Create a channel from fields by API name (the secret included if given).

        See the module docstring for what is guaranteed when an answer is lost.
        """
        name = str(fields["name"])
        call = f"POST {CHANNEL_PATH}"
        secrets = _secrets_of(fields)
        uncertain = False
        for attempt in range(1, self.max_retries + 2):
            try:
                body = self._call(
                    "POST", CHANNEL_PATH, kind="create", form=to_form(fields), secrets=secrets,
                    expect=("item", "result"), idempotent=False,
                )
            except _Uncertain as outcome:
                uncertain = True
                existing = self._find_custom(name, outcome.error)
                if existing is not None:
                    return existing
                if attempt > self.max_retries:
                    raise _gave_up(outcome.error, attempt)
                self._before_retry(call, attempt, outcome.cause, outcome.delay)
                continue
            except FieldRejected as rejected:
                if not (uncertain and rejected.field == "name"):
                    raise
                # Our own earlier attempt may have landed after the list was checked.
                try:
                    existing = self._find_custom(name, None)
                except ApiError as list_error:
                    raise rejected from list_error
                if existing is None:
                    raise rejected
                return existing
            item = body.get("item") if body.get("type") == "item" else None
            if isinstance(item, Mapping) and "id" in item:
                return self._channel(body, call)
            # Tolerated: an answer without the new id; the list has it.
            existing = self._find_custom(name, None)
            if existing is None:
                raise ProtocolError(
                    f"the create was answered without an id and no custom channel named {name!r} is listed",
                    call=call,
                )
            return existing
        raise AssertionError("unreachable: the loop returns or raises")

    def update_channel(self, channel_id: int, fields: Mapping[str, Any]) -> RemoteChannel | None:
        """Partial update: only the given fields change. Returns the channel if the server sent it."""
        path = f"{CHANNEL_PATH}/{int(channel_id)}"
        body = self._call(
            "PUT", path, kind="update", form=to_form(fields), secrets=_secrets_of(fields),
            expect=("item", "result"),
        )
        return self._channel(body, f"PUT {path}") if body.get("type") == "item" else None

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
        except _Uncertain as outcome:
            raise outcome.error from outcome.error.__cause__
        item = body["item"]
        try:
            return {"ticketID": int(item["ticketID"]), "messageID": int(item["messageID"])}
        except (KeyError, TypeError, ValueError) as e:
            raise ProtocolError(
                f"expected an item with ticketID and messageID, got {self._excerpt(json.dumps(item))}", call=call
            ) from e

    @property
    def concurrency(self) -> int:
        """How many requests may be in flight right now (shrinks on 429, grows back on success)."""
        return self._limiter.limit

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> OmnideskClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- paging ----------------------------------------------------------------------------------

    def _read_list_once(self, *, growth_ok: bool = False) -> tuple[list[RemoteChannel], str]:
        """One pass over all pages: the channels, and what went wrong ("" if the pass is consistent).

        With ``growth_ok``, a total that only grew between pages still counts as consistent: a
        channel added while the pages are read can shift others to a later page (read twice,
        deduplicated by id) but never to an earlier one, so no channel that existed before the pass
        is missed. Only a total that shrank (a delete) can hide one.
        """
        seen: dict[int, RemoteChannel] = {}
        total: int | None = None
        start = 0
        prefetched: dict[int, dict[str, Any]] = {}
        while True:
            path = _page_path(start)
            body = prefetched.pop(start, None) or self._read_page(start)
            page_total = body["itemTotal"]
            if total is None:
                total = page_total
            elif page_total < total or (page_total != total and not growth_ok):
                return [], f"itemTotal moved from {total} to {page_total} between pages"
            total = page_total
            items = body["items"]
            before = len(seen)
            for item in items:
                channel = self._parse_channel(item, f"GET {path}")
                seen[channel.id] = channel
            if len(seen) >= total or (growth_ok and not items and start >= total):
                return list(seen.values()), ""
            if not items or len(seen) == before:
                # An empty page, or one with nothing new (a server ignoring itemStart), short of
                # the total: this pass cannot complete, and asking for more pages would not help.
                return [], f"the pages ended after {len(seen)} of {total} channels"
            # Advance by what was returned: a server may send more (or fewer) than asked.
            start += len(items)
            if before == 0 and len(items) == PAGE_SIZE and self._limiter.maximum > 1:
                # The server pages as asked: read the remaining pages at once. They are checked in
                # order exactly as if read one by one; a page that does not line up is read again.
                prefetched = self._read_pages(range(start, total, PAGE_SIZE))

    def _read_page(self, start: int) -> dict[str, Any]:
        return self._call("GET", _page_path(start), kind="list_page", expect=("list",))

    def _read_pages(self, starts: range) -> dict[int, dict[str, Any]]:
        """Pages by itemStart, read concurrently within the client's concurrency limit."""
        if not starts:
            return {}
        with ThreadPoolExecutor(max_workers=min(len(starts), self._limiter.maximum)) as pool:
            return dict(zip(starts, pool.map(self._read_page, starts)))

    def _find_custom(self, name: str, error: ApiError | None) -> RemoteChannel | None:
        """The custom channel named ``name``, read from the list. If the list cannot be read while
        recovering from ``error``, that original error is raised (it names the call that failed).

        Other creates of the same apply keep landing while the list is read, so a list that only
        grew is accepted here (see ``_read_list_once``); a strict read failed about one lookup in
        fifty at parallelism 8 with lost answers, failing creates that had in fact succeeded.
        """
        try:
            channels = self._read_list(growth_ok=True)
        except ApiError as list_error:
            if error is None:
                raise
            raise type(error)(
                f"{error.reason}; whether it was carried out could not be checked: {list_error}",
                call=error.call,
                status=error.status,
            ) from list_error
        for channel in channels:
            if channel.is_custom and channel.name == name:
                return channel
        return None

    # -- one call, with retries ------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        kind: str,
        expect: tuple[str, ...],
        form: Mapping[str, str] | None = None,
        secrets: Iterable[str] = (),
        idempotent: bool = True,
    ) -> dict[str, Any]:
        """Send one call, retrying what is safe to retry; returns the decoded envelope.

        With ``idempotent=False`` only a 429 is retried; any failure after which the call may have
        been carried out raises ``_Uncertain`` for the caller to resolve.
        """
        call = f"{method} {path}"
        secrets = tuple(s for s in secrets if s)
        files = {k: (None, v) for k, v in form.items()} if form is not None else None
        uncertain_before = False
        for attempt in range(1, self.max_retries + 2):
            self._count(kind)
            generation = self._limiter.acquire()
            started = time.monotonic()
            try:
                response = self._http.request(method, path, files=files)
            except UNCERTAIN_EXCEPTIONS as e:
                self._limiter.release(generation, ok=False)
                cause = "timeout" if isinstance(e, httpx.TimeoutException) else type(e).__name__
                self._log_exchange(call, cause, started)
                self._count(f"error:{cause}")
                failure: ApiError = TransientApiError(self._redact(_describe(e), secrets), call=call)
                failure.__cause__ = e
                delay = self._backoff_delay(attempt)
                if not idempotent:
                    raise _Uncertain(failure, cause, delay) from e
                uncertain_before = True
            except httpx.HTTPError as e:
                self._limiter.release(generation, ok=False)
                raise ApiError(f"the request could not be sent: {self._redact(_describe(e), secrets)}", call=call) from e
            else:
                status = response.status_code
                retry_after = _retry_after(response) if status == 429 else None
                delay = retry_after if retry_after is not None else self._backoff_delay(attempt)
                if self._limiter.release(generation, ok=status < 500, throttled=status == 429, pause=delay):
                    self._count("concurrency_cut")
                    self.log.warning("429: at most %d requests in flight now", self._limiter.limit)
                self._log_exchange(call, str(status), started)
                self._count(f"status:{status}")
                cause = str(status)
                if status not in RETRY_STATUSES:
                    if status == 404 and method == "DELETE" and uncertain_before:
                        return {"type": "result"}  # an earlier attempt whose answer was lost did it
                    try:
                        return self._decode(response, call, expect, secrets)
                    except ProtocolError as e:
                        if idempotent:
                            raise
                        raise _Uncertain(e, "an unreadable answer", self._backoff_delay(attempt)) from e
                failure = TransientApiError(f"the server answered {status}", call=call, status=status)
                if status != 429:
                    if not idempotent:
                        raise _Uncertain(failure, cause, delay)
                    uncertain_before = True
            if attempt > self.max_retries:
                raise _gave_up(failure, attempt)
            self._before_retry(call, attempt, cause, delay)
        raise AssertionError("unreachable: the loop returns or raises")

    def _before_retry(self, call: str, attempt: int, cause: str, delay: float) -> None:
        self._count("retry")
        self.log.warning("retry %d/%d for %s after %s in %.1f s", attempt, self.max_retries, call, cause, delay)
        self._sleep(delay)

    def _backoff_delay(self, attempt: int) -> float:
        """Exponential backoff with "equal jitter": between half and all of the capped delay."""
        ceiling = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        return ceiling / 2 + self._random.uniform(0, ceiling / 2)

    # -- decoding --------------------------------------------------------------------------------

    def _decode(self, response: httpx.Response, call: str, expect: tuple[str, ...], secrets: tuple[str, ...]) -> dict[str, Any]:
        """The envelope of a non-retryable answer, or the error it stands for."""
        status = response.status_code
        text = response.text
        try:
            body: Any = json.loads(text)
        except ValueError:
            body = None
        if status >= 400:
            raise self._status_error(status, body, call, secrets)
        if body is None:
            content_type = response.headers.get("content-type", "")
            if "html" in content_type or text.lstrip().startswith("<"):
                what = f"expected JSON but the answer is HTML ({content_type or 'no content type'})"
            else:
                what = "expected JSON but the answer is not valid JSON (truncated?)"
            raise ProtocolError(f"{what}: {self._excerpt(text, secrets)}", call=call, status=status)
        expected = " or ".join(repr(t) for t in expect)
        if isinstance(body, dict) and body.get("status") == "error":
            message = self._redact(str(body.get("message", "")), secrets)
            raise ProtocolError(
                f"expected a {expected} envelope, got an error envelope ({message!r}) with status {status}: "
                f"{self._excerpt(text, secrets)}",
                call=call,
                status=status,
            )
        if not isinstance(body, dict) or body.get("type") not in expect or not _envelope_complete(body):
            raise ProtocolError(
                f"expected a {expected} envelope, got: {self._excerpt(text, secrets)}",
                call=call,
                status=status,
            )
        return body

    def _status_error(self, status: int, body: Any, call: str, secrets: tuple[str, ...]) -> ApiError:
        message = ""
        if isinstance(body, dict) and body.get("message") is not None:
            message = self._redact(str(body["message"]), secrets)
        said = f" (the server said: {message})" if message else ""
        method, _, path = call.partition(" ")
        if status == 401:
            return AuthenticationError(f"the API key was refused{said}", call=call, status=status)
        if status == 403:
            permission = required_permission(method, path)
            return PermissionDenied(
                f"the API key lacks the {permission} permission needed for {call}{said}",
                call=call,
                status=status,
                permission=permission,
            )
        if status == 400:
            field = body.get("field") if isinstance(body, dict) else None
            field = str(field) if field is not None else None
            what = f"the server refused field {field!r}" if field else "the server refused the request"
            return FieldRejected(f"{what}: {message or 'no reason given'}", call=call, status=status, field=field)
        if status == 404:
            return NotFound(f"not found{said}", call=call, status=status)
        return ApiError(f"the server answered {status}{said}", call=call, status=status)

    def _channel(self, body: Mapping[str, Any], call: str) -> RemoteChannel:
        return self._parse_channel(body.get("item"), call)

    def _parse_channel(self, item: Any, call: str) -> RemoteChannel:
        try:
            if not isinstance(item, Mapping):
                raise TypeError("not an object")
            return RemoteChannel.from_api(item)
        except (KeyError, TypeError, ValueError) as e:
            raise ProtocolError(f"expected a channel, got: {self._excerpt(json.dumps(item))}", call=call) from e

    # -- hygiene ---------------------------------------------------------------------------------

    def _redact(self, text: str, secrets: Iterable[str] = ()) -> str:
        for value in (self._api_key, *secrets):
            if value:
                text = text.replace(value, REDACTED)
        return text

    def _excerpt(self, text: str, secrets: Iterable[str] = ()) -> str:
        # Redact before cutting, so a cut can never leave part of a key behind.
        text = self._redact(text, secrets)
        return repr(text[:EXCERPT_CHARS] + "…" if len(text) > EXCERPT_CHARS else text)

    def _log_exchange(self, call: str, outcome: str, started: float) -> None:
        elapsed_ms = (time.monotonic() - started) * 1000
        self.log.info("%s -> %s (%d ms)", call, outcome, elapsed_ms)

    def _count(self, key: str) -> None:
        with self._stats_lock:
            self.stats[key] += 1


def _gave_up(error: ApiError, attempts: int) -> ApiError:
    """The last failure of a call, saying that the retries are used up."""
    final = type(error)(f"{error.reason} (gave up after {attempts} attempts)", call=error.call, status=error.status)
    final.__cause__ = error.__cause__
    return final


def _page_path(start: int) -> str:
    return f"{CHANNEL_PATH}?itemStart={start}&itemLimit={PAGE_SIZE}"


def _secrets_of(fields: Mapping[str, Any]) -> tuple[str, ...]:
    secret = fields.get(SECRET_FIELD)
    return (str(secret),) if secret else ()


def _envelope_complete(body: Mapping[str, Any]) -> bool:
    """Whether an envelope carries what its type promises."""
    if body["type"] == "list":
        total = body.get("itemTotal")
        return isinstance(body.get("items"), list) and isinstance(total, int) and not isinstance(total, bool)
    if body["type"] == "item":
        return isinstance(body.get("item"), Mapping)
    return True


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None


def _describe(e: httpx.HTTPError) -> str:
    detail = str(e)
    return f"{type(e).__name__}: {detail}" if detail else type(e).__name__

"""One call to the API over HTTP: the retry policy (``Caller.call``) over single attempts.

``reconciler.client`` says what each call is (path, form, what the answer holds); this module sends
it: a request built once per attempt with the key's query parameters, the concurrency limit
(``limiter``), one deadline per attempt and per call (``transport``), bounded bodies, the
retries, the counts in ``stats`` and the log lines, every message redacted (``responses.Redactor``).
"""

from __future__ import annotations

import collections
import functools
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from .errors import (
    ApiError,
    BodyTooLarge,
    BudgetSpent,
    ConnectionFailed,
    ProtocolError,
    RedirectRefused,
    TransientApiError,
)
from .limiter import Limiter
from .paging import MAX_CHANNELS
from .printable import VALUE_CHARS, printable
from .responses import Redactor, decode
from .transport import ByteBudget, deadline, read_body
from .wirefailures import never_sent, unfixable

CALL_BUDGET = 3  # a call, retries included, gives up once this many timeouts have passed
RETRY_STATUSES = frozenset({429, 502, 503, 504})
# Failures after which the request may or may not have been carried out.
UNCERTAIN_EXCEPTIONS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


@dataclass(frozen=True)
class Retries:
    """How a call is retried: attempts after the first, and the backoff between them."""

    max_retries: int = 6
    backoff: float = 0.5
    max_backoff: float = 30.0


class Uncertain(Exception):
    """A non-idempotent call failed in a way that leaves open whether it was carried out."""

    def __init__(self, error: ApiError, cause: str, delay: float) -> None:
        super().__init__(str(error))
        self.error = error
        self.cause = cause
        self.delay = delay


@dataclass(frozen=True)
class _Answer:
    """An answer for the policy to decode: not a redirect, not a status it retries."""

    status: int
    content_type: str
    body: bytes


@dataclass(frozen=True)
class _Failed:
    """An attempt the policy may retry, and what it needs to decide."""

    error: ApiError
    cause: str  # for the log and the stats: "timeout", "503", "ConnectError", ...
    delay: float  # before the next attempt (a 429's Retry-After)
    maybe_done: bool  # the server may have carried the call out (a lost answer, a 5xx)
    hint: str | None = None  # no retry can fix it: what to check (retried once, then raised)


class HttpSession:
    """What ``httpx.Client`` gave the caller, without its per-request costs: requests under one
    base URL with the same headers, sent straight to the transport.

    ``httpx.Client`` parsed each URL three times and looked for cookies in every answer, a third of
    a request's CPU (#27); nothing else it does is used here: no redirect is followed, there is no
    auth flow and no cookie, and the proxy is the transport's.
    """

    def __init__(
        self, base_url: str, transport: httpx.BaseTransport, headers: Mapping[str, str], timeout: float
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.transport = transport
        # httpx.Client's default headers (a bare Request has none of them), then ours
        self.headers = httpx.Headers({"Accept-Encoding": "gzip, deflate", "Connection": "keep-alive", **headers})
        self._extensions = {"timeout": httpx.Timeout(timeout).as_dict()}

    def build_request(self, method: str, path: str, query: Mapping[str, str], files: Any) -> httpx.Request:
        """The request ``httpx.Client.build_request`` made, its URL parsed once: ``path`` (which may
        hold a query of its own) under the base URL, ``query`` encoded as httpx encodes it. A form
        is read into one piece: streamed, each part left in a socket write of its own (22 for a
        create, a third of its CPU at parallelism 64)."""
        url = request_url(self.base_url, path, tuple(query.items()))
        request = httpx.Request(method, url, headers=self.headers, files=files, extensions=self._extensions)
        if files is not None:
            request.read()
        return request

    def send(self, request: httpx.Request) -> httpx.Response:
        """The answer, its body not read yet."""
        response = self.transport.handle_request(request)
        response.request = request
        return response

    def close(self) -> None:
        self.transport.close()


@functools.lru_cache(maxsize=1024)
def request_url(base_url: str, path: str, query: tuple[tuple[str, str], ...]) -> httpx.URL:
    """``path`` (which may hold a query of its own) under ``base_url``, ``query`` encoded as httpx
    encodes it, parsed once: ``plan --all-tenants`` asks every tenant on a host for the same first
    page, and parsing its URL again was ~8% of a tenant's CPU (#27). A request copies what it is given."""
    url = base_url + path
    if query:
        url += ("&" if "?" in path else "?") + str(httpx.QueryParams(query))
    return httpx.URL(url)


class Caller:
    """Sends calls over one ``HttpSession``; safe to use from many threads at once.

    ``stats`` counts requests sent per ``kind``, answers (``status:429``, ...), transport
    failures (``error:timeout``, ...), ``retry`` and ``concurrency_cut``; the client adds its own.
    """

    def __init__(
        self,
        http: HttpSession,
        *,
        redact: Redactor,
        auth_params: Mapping[str, str],
        timeout: float,
        retries: Retries,
        parallelism: int,
        max_body_bytes: int,
        sleep: Callable[[float], None],
        log: logging.Logger,
    ) -> None:
        self._http = http
        self._redact = redact
        # Merged into each request's own parameters in ``call``: httpx (0.28+) let a request's params
        # replace the URL's query, so the paging was lost (#19).
        self._auth_params = dict(auth_params)
        self.timeout = timeout
        self.retries = retries
        self.max_body_bytes = max_body_bytes
        self._sleep = sleep
        self.log = log
        self.stats: collections.Counter[str] = collections.Counter()
        self._stats_lock = threading.Lock()
        self._random = random.Random()
        self.limiter = Limiter(parallelism, sleep, time.monotonic)

    def call(
        self,
        method: str,
        path: str,
        *,
        kind: str,
        expect: tuple[str, ...],
        params: Mapping[str, str] | None = None,
        form: Mapping[str, str] | None = None,
        secrets: Iterable[str] = (),
        idempotent: bool = True,
        budget: ByteBudget | None = None,
    ) -> dict[str, Any]:
        """Send one call, retrying what is safe to retry; returns the decoded envelope.

        ``params`` are the call's own query parameters; the key's (query form) are added to them
        here, the one place a request's query is built. With ``idempotent=False`` only a 429 and a
        refused connection (nothing was sent) are retried; any failure after which the call may
        have been carried out raises ``Uncertain`` for the caller to resolve. A failure no retry
        can fix is retried once, then raised with what to check.
        """
        call = f"{method} {path}?{urlencode(params)}" if params else f"{method} {path}"
        query = {**(params or {}), **self._auth_params}
        redact = self._redact.with_secrets(secrets)
        files = {k: (None, v) for k, v in form.items()} if form is not None else None
        max_retries = self.retries.max_retries
        maybe_done_before = False
        hinted = False
        budget_ends = time.monotonic() + self.timeout * CALL_BUDGET
        for attempt in range(1, max_retries + 2):
            request = self._http.build_request(method, path, query, files)
            result = self._attempt(request, call, kind, redact, attempt, budget, budget_ends)
            if isinstance(result, _Answer):
                if result.status == 404 and method == "DELETE" and maybe_done_before:
                    return {"type": "result"}  # an earlier attempt whose answer was lost did it
                try:
                    return decode(result.status, result.content_type, result.body, call, expect, redact)
                except ProtocolError as e:
                    if idempotent:
                        raise
                    raise Uncertain(e, "an unreadable answer", self.backoff_delay(attempt)) from None
            if result.hint is not None:
                if hinted or attempt > max_retries:
                    raise ConnectionFailed(result.hint, call=call) from None
                hinted = True
            if result.maybe_done:
                if not idempotent:
                    raise Uncertain(result.error, result.cause, result.delay) from None
                maybe_done_before = True
            if attempt > max_retries or time.monotonic() + result.delay > budget_ends:
                raise gave_up(result.error, attempt)
            self.before_retry(call, attempt, result.cause, result.delay)
        raise AssertionError("unreachable: the loop returns or raises")

    def _attempt(
        self,
        request: httpx.Request,
        call: str,
        kind: str,
        redact: Redactor,
        attempt: int,
        budget: ByteBudget | None,
        ends: float,
    ) -> _Answer | _Failed:
        """One exchange: the answer to decode, or a failure the policy may retry; raises what no
        retry can change (a body too large, a redirect, a request that cannot be built)."""
        self.count(kind)
        generation = self.limiter.acquire()
        started = time.monotonic()
        try:
            status, headers, body = self._exchange(request, budget, ends)
        except UNCERTAIN_EXCEPTIONS as e:
            self.limiter.release(generation, ok=False)
            cause = "timeout" if isinstance(e, httpx.TimeoutException) else type(e).__name__
            self._log_exchange(request, cause, started)
            self.count(f"error:{cause}")
            hint = unfixable(e, request.url)
            return _Failed(
                TransientApiError(redact(_describe(e)), call=call),
                cause,
                self.backoff_delay(attempt),
                maybe_done=not never_sent(e),
                hint=None if hint is None else redact(f"{hint} ({_describe(e)})"),
            )
        except (BodyTooLarge, BudgetSpent) as e:
            self.limiter.release(generation, ok=False)
            spent = isinstance(e, BudgetSpent)
            self._log_exchange(request, "list budget spent" if spent else "body too large", started)
            raise ProtocolError(self._too_large(e), call=call) from None
        except httpx.HTTPError as e:
            self.limiter.release(generation, ok=False)
            raise ConnectionFailed(f"the request could not be sent: {redact(_describe(e))}", call=call) from None
        retry_after = _seconds(headers.get("retry-after", "")) if status == 429 else None
        delay = retry_after if retry_after is not None else self.backoff_delay(attempt)
        if self.limiter.release(generation, ok=status < 500, throttled=status == 429, pause=delay):
            self.count("concurrency_cut")
            self.log.warning("429: at most %d requests in flight now", self.limiter.limit)
        self._log_exchange(request, str(status), started)
        self.count(f"status:{status}")
        return _judge(status, headers, body, call, redact, delay)

    def _too_large(self, e: BodyTooLarge | BudgetSpent) -> str:
        if isinstance(e, BudgetSpent):
            return (
                f"the channel list's answers passed {_mib(e.limit)} in all (counted as decoded text), "
                f"more than the {MAX_CHANNELS:,} channels the contract allows add up to (a broken or "
                "hostile server?)"
            )
        what = (
            f"declares {_mib(e.declared)}, so it was not read"
            if e.declared is not None
            else f"was read no further than {_mib(e.read)}"
        )
        return f"the answer is larger than {_mib(self.max_body_bytes)} and {what} (a broken or hostile server?)"

    def _exchange(
        self, request: httpx.Request, budget: ByteBudget | None, ends: float
    ) -> tuple[int, httpx.Headers, bytes]:
        """One attempt within the deadline (a timeout, or what is left of the call's ``ends``):
        status, headers and the body, read once (not a redirect's)."""
        with deadline(min(self.timeout, ends - time.monotonic())):
            response = self._http.send(request)
            try:
                redirect = 300 <= response.status_code < 400
                body = b"" if redirect else read_body(response, self.max_body_bytes, budget)
            finally:
                response.close()
        return response.status_code, response.headers, body

    def before_retry(self, call: str, attempt: int, cause: str, delay: float) -> None:
        """Count, log and wait out the delay before the next attempt."""
        self.count("retry")
        self.log.warning("retry %d/%d for %s after %s in %.1f s", attempt, self.retries.max_retries, call, cause, delay)
        self._sleep(delay)

    def backoff_delay(self, attempt: int) -> float:
        """Exponential backoff with "equal jitter": between half and all of the capped delay."""
        ceiling = min(self.retries.max_backoff, self.retries.backoff * 2.0 ** (attempt - 1))
        return ceiling / 2 + self._random.uniform(0, ceiling / 2)

    def _log_exchange(self, request: httpx.Request, outcome: str, started: float) -> None:
        if not self.log.isEnabledFor(logging.INFO):
            return  # without -v, no URL is written out and searched for the key on every request (#27)
        elapsed_ms = (time.monotonic() - started) * 1000
        self.log.info("%s %s -> %s (%d ms)", request.method, self._redact(str(request.url)), outcome, elapsed_ms)

    def count(self, key: str) -> None:
        with self._stats_lock:
            self.stats[key] += 1


def _judge(
    status: int, headers: httpx.Headers, body: bytes, call: str, redact: Redactor, delay: float
) -> _Answer | _Failed:
    """What an answered attempt is: an answer to decode, or a status to retry; a redirect is refused."""
    if 300 <= status < 400:
        location = printable(redact(headers.get("location", "(no Location)")), VALUE_CHARS)
        raise RedirectRefused(
            f"the server redirects to {location}; redirects are never followed, since the API key "
            "would go along: use the final address as the tenant's URL",
            call=call,
            status=status,
        )
    if status in RETRY_STATUSES:
        failure = TransientApiError(f"the server answered {status}", call=call, status=status)
        return _Failed(failure, str(status), delay, maybe_done=status != 429)
    return _Answer(status, headers.get("content-type", ""), body)


class RedactingFilter(logging.Filter):
    """Redacts a logger's records (the message with its arguments merged in): httpx logs every URL
    at INFO, which in the query form holds the key."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self._redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._redact(record.getMessage())
        record.args = None
        return True


def gave_up(error: ApiError, attempts: int) -> ApiError:
    """The last failure of a call, saying that the retries are used up."""
    return type(error)(f"{error.reason} (gave up after {attempts} attempts)", call=error.call, status=error.status)


def _seconds(text: str) -> float | None:
    try:
        return max(0.0, float(text))
    except ValueError:
        return None


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"


def _describe(e: httpx.HTTPError) -> str:
    detail = str(e)
    return f"{type(e).__name__}: {detail}" if detail else type(e).__name__

"""Unit tests of the client over ``httpx.MockTransport``: what the emulator cannot stage.

Exact backoff schedules (with an injected ``sleep``), connection errors, timeouts, and precise
sequences of answers. Everything else is tested end to end in ``test_client_e2e.py``.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from reconciler.caller import request_url
from reconciler.client import PAGE_SIZE, OmnideskClient, required_permission
from reconciler.errors import (
    ApiError,
    AuthenticationError,
    FieldRejected,
    NotFound,
    PermissionDenied,
    ProtocolError,
    TransientApiError,
)

KEY = "k3y-SECRET-0123456789"
BASE = "https://tenant.omnidesk.com/"


def channel(id: int, name: str, type: str = "custom", **extra: Any) -> dict[str, Any]:
    return {"id": id, "type": type, "name": name, "icon": "chat", **extra}


def item(body: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json={"type": "item", "item": body})


def result() -> httpx.Response:
    return httpx.Response(200, json={"type": "result", "message": "ok"})


def listing(items: list[dict[str, Any]], total: int | None = None, start: int = 0) -> httpx.Response:
    total = len(items) if total is None else total
    return httpx.Response(
        200, json={"type": "list", "itemStart": start, "itemLimit": PAGE_SIZE, "itemTotal": total, "items": items}
    )


def error(status: int, message: str = "", **extra: Any) -> httpx.Response:
    return httpx.Response(status, json={"status": "error", "message": message, **extra})


class Script:
    """A fake server: answers each request from a list of responses (or callables) in order."""

    def __init__(self, *answers: httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer(request) if callable(answer) else answer

    @property
    def calls(self) -> list[str]:
        return [f"{r.method} {r.url.raw_path.decode()}" for r in self.requests]


def make(script: Callable[[httpx.Request], httpx.Response], **kwargs: Any) -> tuple[OmnideskClient, list[float]]:
    sleeps: list[float] = []
    kwargs.setdefault("sleep", sleeps.append)
    client = OmnideskClient(BASE, KEY, transport=httpx.MockTransport(script), **kwargs)
    return client, sleeps


def form_of(request: httpx.Request) -> dict[str, str]:
    """Decode a multipart body the simple way: the parts are plain text fields."""
    assert request.headers["content-type"].startswith("multipart/form-data")
    body = request.content.decode()
    return dict(re.findall(r'name="([^"]+)"\r\n\r\n(.*?)\r\n--', body, flags=re.S))


# -- requests on the wire ---------------------------------------------------------------------------


def test_headers_key_in_header_never_in_url() -> None:
    script = Script(listing([channel(1, "A")]))
    client, _ = make(script)
    client.list_channels()
    request = script.requests[0]
    assert request.headers["apiKey"] == KEY
    assert request.headers["Accept"] == "application/json"
    assert KEY not in str(request.url)
    assert str(request.url) == "https://tenant.omnidesk.com/api/v2/channel?itemStart=0&itemLimit=99"


def test_create_sends_multipart_with_bool_strings_and_parses_the_item() -> None:
    script = Script(item(channel(13, "Shop SMS", include_signature="true")))
    client, _ = make(script)
    created = client.create_channel(
        {
            "name": "Shop SMS",
            "include_signature": True,
            "custom_channel_available_in_quick_ticket": False,
            "custom_channel_secret": "s3cr3t",
        }
    )
    assert created.id == 13 and created.fields["include_signature"] is True
    assert script.calls == ["POST /api/v2/channel"]
    assert form_of(script.requests[0]) == {
        "name": "Shop SMS",
        "include_signature": "true",
        "custom_channel_available_in_quick_ticket": "false",
        "custom_channel_secret": "s3cr3t",
    }


def test_update_is_partial_and_may_answer_without_a_body() -> None:
    script = Script(result(), item(channel(13, "B")))
    client, _ = make(script)
    assert client.update_channel(13, {"icon": "sms"}) is None
    assert client.update_channel(13, {"name": "B"}).name == "B"
    assert script.calls == ["PUT /api/v2/channel/13", "PUT /api/v2/channel/13"]
    assert form_of(script.requests[0]) == {"icon": "sms"}


def test_send_message_fields_and_answer() -> None:
    script = Script(item({"ticketID": 51, "messageID": 907}))
    client, _ = make(script)
    assert client.send_message(13, "hello", title="Hi", user_id=7) == {"ticketID": 51, "messageID": 907}
    assert form_of(script.requests[0]) == {
        "channelID": "13",
        "message": "hello",
        "title": "Hi",
        "toAddress": "",
        "fromAddress": "",
        "userID": "7",
    }
    assert client.stats["message"] == 1


def test_logs_each_call_at_info_without_headers_or_bodies(caplog: pytest.LogCaptureFixture) -> None:
    script = Script(error(503), item(channel(13, "A", custom_channel_secret="s3cr3t")))
    client, _ = make(script, backoff=1.0, max_backoff=1.0)
    with caplog.at_level(logging.DEBUG, logger="reconciler.http"):
        client.update_channel(13, {"name": "A", "custom_channel_secret": "s3cr3t"})
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert (
        re.fullmatch(r"PUT https://tenant.omnidesk.com/api/v2/channel/13 -> 503 \(\d+ ms\)", lines[0][1])
        and lines[0][0] == "INFO"
    )
    assert lines[1][0] == "WARNING" and re.fullmatch(
        r"retry 1/6 for PUT /api/v2/channel/13 after 503 in (0\.[5-9]|1\.0) s", lines[1][1]
    )
    assert re.fullmatch(r"PUT https://tenant.omnidesk.com/api/v2/channel/13 -> 200 \(\d+ ms\)", lines[2][1])
    assert not any(KEY in m or "s3cr3t" in m for _, m in lines)


# -- retries ------------------------------------------------------------------------------------------


def test_backoff_is_exponential_with_jitter_and_capped() -> None:
    script = Script(*[error(503)] * 6, item(channel(1, "A")))
    client, sleeps = make(script, backoff=0.5, max_backoff=4.0)
    assert client.get_channel(1).name == "A"
    ceilings = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert len(sleeps) == len(ceilings)
    for slept, ceiling in zip(sleeps, ceilings, strict=True):
        assert ceiling / 2 <= slept <= ceiling
    assert client.stats["retry"] == 6 and client.stats["status:503"] == 6 and client.stats["get"] == 7


def test_retry_after_is_honoured_on_429() -> None:
    script = Script(httpx.Response(429, headers={"Retry-After": "3"}), result())
    client, sleeps = make(script)
    client.delete_channel(5)
    assert sleeps[0] == pytest.approx(3.0)
    assert client.stats["status:429"] == 1


def test_retries_used_up_raise_transient_error_naming_the_call() -> None:
    script = Script(*[error(502)] * 3)
    client, sleeps = make(script, max_retries=2)
    with pytest.raises(TransientApiError) as info:
        client.update_channel(13, {"icon": "x"})
    assert str(info.value) == "PUT /api/v2/channel/13: the server answered 502 (gave up after 3 attempts) (HTTP 502)"
    assert len(sleeps) == 2


@pytest.mark.parametrize(
    "exc, cause",
    [(httpx.ConnectError("connection refused"), "ConnectError"), (httpx.ReadTimeout("timed out"), "timeout")],
)
def test_connection_errors_and_timeouts_are_retried_then_wrapped(exc: Exception, cause: str) -> None:
    script = Script(exc, exc, exc)
    client, _ = make(script, max_retries=2)
    with pytest.raises(TransientApiError) as info:
        client.get_channel(7)
    assert info.value.call == "GET /api/v2/channel/7"
    assert "gave up after 3 attempts" in str(info.value)
    # Described, never chained: httpx's exceptions carry the URL, which holds the key in the query form.
    assert info.value.__cause__ is None and f"{type(exc).__name__}: {exc}" in str(info.value)
    assert client.stats[f"error:{cause}"] == 3


def test_delete_whose_answer_was_lost_counts_as_done() -> None:
    script = Script(httpx.ReadTimeout("lost"), error(404, "no such channel"))
    client, _ = make(script)
    client.delete_channel(9)
    assert script.calls == ["DELETE /api/v2/channel/9"] * 2


def test_delete_unknown_id_is_not_found() -> None:
    client, _ = make(Script(error(404, "no such channel")))
    with pytest.raises(NotFound, match=r"^DELETE /api/v2/channel/9: not found"):
        client.delete_channel(9)


# -- creates are never blindly retried -------------------------------------------------------------


def test_create_on_429_is_retried_without_reading_the_list() -> None:
    script = Script(httpx.Response(429, headers={"Retry-After": "1"}), item(channel(3, "A")))
    client, sleeps = make(script)
    assert client.create_channel({"name": "A"}).id == 3
    assert script.calls == ["POST /api/v2/channel"] * 2 and sleeps == [1.0]


@pytest.mark.parametrize(
    "failure",
    [error(504), httpx.ReadError("reset"), httpx.ReadTimeout("slow"), httpx.Response(200, text="<html>oops</html>")],
)
def test_create_that_may_have_happened_is_looked_up_not_repeated(failure: Any) -> None:
    script = Script(failure, listing([channel(1, "email", type="email"), channel(4, "A")]))
    client, _ = make(script)
    assert client.create_channel({"name": "A"}).id == 4
    assert script.calls == ["POST /api/v2/channel", "GET /api/v2/channel?itemStart=0&itemLimit=99"]


@pytest.mark.parametrize("failure", [httpx.ConnectError("no route"), httpx.ConnectTimeout("slow")])
def test_create_that_never_connected_is_sent_again_without_reading_the_list(failure: Exception) -> None:
    script = Script(failure, item(channel(4, "A")))
    client, _ = make(script)
    assert client.create_channel({"name": "A"}).id == 4
    assert script.calls == ["POST /api/v2/channel"] * 2, "no connection: nothing was sent, nothing to look up"


def test_create_that_did_not_happen_is_sent_again() -> None:
    # A built-in channel with the same name is not ours: the create is sent again.
    script = Script(error(503), listing([channel(1, "A", type="email")]), item(channel(4, "A")))
    client, _ = make(script)
    assert client.create_channel({"name": "A"}).id == 4
    assert [c.split("?")[0] for c in script.calls] == [
        "POST /api/v2/channel",
        "GET /api/v2/channel",
        "POST /api/v2/channel",
    ]


def test_create_retries_are_bounded() -> None:
    script = Script(*[a for _ in range(3) for a in (error(503), listing([]))])
    client, _ = make(script, max_retries=2)
    with pytest.raises(
        TransientApiError, match=r"^POST /api/v2/channel: the server answered 503 \(gave up after 3 attempts\)"
    ):
        client.create_channel({"name": "A"})


def test_create_landing_late_then_name_taken_returns_it() -> None:
    script = Script(error(504), listing([]), error(400, "name is taken", field="name"), listing([channel(4, "A")]))
    client, _ = make(script)
    assert client.create_channel({"name": "A"}).id == 4


def test_create_of_a_taken_name_on_first_attempt_is_rejected() -> None:
    script = Script(error(400, "name is taken", field="name"))
    client, _ = make(script)
    with pytest.raises(FieldRejected) as info:
        client.create_channel({"name": "A"})
    assert info.value.field == "name"
    assert str(info.value) == "POST /api/v2/channel: the server refused field 'name': name is taken (HTTP 400)"
    assert len(script.requests) == 1


def test_create_answer_without_id_is_found_in_the_list() -> None:
    script = Script(result(), listing([channel(2, "B"), channel(8, "A")]))
    client, _ = make(script)
    assert client.create_channel({"name": "A"}).id == 8


def test_create_uncertain_and_list_unreadable_names_the_create() -> None:
    script = Script(httpx.ReadError("reset"), error(401, "bad key"))
    client, _ = make(script)
    with pytest.raises(TransientApiError) as info:
        client.create_channel({"name": "A"})
    message = str(info.value)
    assert message.startswith("POST /api/v2/channel: ReadError: reset; whether it was carried out could not be checked")
    assert "GET /api/v2/channel?itemStart=0&itemLimit=99: the API key was refused" in message


def test_message_is_not_retried_after_an_uncertain_failure() -> None:
    script = Script(error(503))
    client, _ = make(script)
    with pytest.raises(TransientApiError, match="POST /api/v2/channel/customChannelMessage"):
        client.send_message(13, "hi")
    assert len(script.requests) == 1


# -- paging -----------------------------------------------------------------------------------------


def paged(channels: list[dict[str, Any]], page_size: int = PAGE_SIZE) -> Callable[[httpx.Request], httpx.Response]:
    def answer(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params["itemStart"])
        return listing(channels[start : start + page_size], total=len(channels), start=start)

    return answer


def test_paging_reads_every_page() -> None:
    channels = [channel(i, f"C{i}") for i in range(1, 251)]
    script = Script(*[paged(channels)] * 3)
    client, _ = make(script)
    assert [c.id for c in client.list_channels()] == list(range(1, 251))
    assert [r.url.params["itemStart"] for r in script.requests] == ["0", "99", "198"]
    assert client.stats["list_page"] == 3


def test_paging_tolerates_a_server_sending_everything_at_once() -> None:
    channels = [channel(i, f"C{i}") for i in range(1, 151)]
    client, _ = make(Script(listing(channels)))
    assert len(client.list_channels()) == 150


def test_paging_re_reads_when_the_total_moves() -> None:
    before = [channel(i, f"C{i}") for i in range(1, 101)]
    after = [channel(1000, "new"), *before]  # inserted at the front: page 2 would repeat C99
    script = Script(paged(before), paged(after), paged(after), paged(after))
    client, _ = make(script)
    channels = client.list_channels()
    assert sorted(c.id for c in channels) == [*range(1, 101), 1000]
    assert [r.url.params["itemStart"] for r in script.requests] == ["0", "99", "0", "99"]


def test_paging_gives_up_when_the_list_keeps_changing() -> None:
    counter = iter(range(1000))

    def growing(request: httpx.Request) -> httpx.Response:
        n = 100 + next(counter)
        return paged([channel(i, f"C{i}") for i in range(1, n + 1)])(request)

    client, _ = make(Script(*[growing] * 6))
    with pytest.raises(TransientApiError, match=r"^GET /api/v2/channel: the channel list kept changing .*3 attempts"):
        client.list_channels()


@pytest.mark.parametrize("second_page", [listing([], total=120, start=99), listing([channel(1, "C1")], total=120)])
def test_paging_never_loops_on_a_short_or_repeating_list(second_page: httpx.Response) -> None:
    first = listing([channel(i, f"C{i}") for i in range(1, 100)], total=120)
    script = Script(*[first, second_page] * 3)
    client, _ = make(script)
    with pytest.raises(TransientApiError, match="the pages ended after 99 of 120 channels"):
        client.list_channels()
    assert len(script.requests) == 6


# -- errors -------------------------------------------------------------------------------------------


def test_401_says_the_key_was_refused() -> None:
    client, _ = make(Script(error(401, "unknown key")))
    with pytest.raises(AuthenticationError) as info:
        client.list_channels()
    assert str(info.value).startswith("GET /api/v2/channel?itemStart=0&itemLimit=99: the API key was refused")


@pytest.mark.parametrize(
    "call, permission",
    [
        (lambda c: c.list_channels(), "CHANNEL_READ"),
        (lambda c: c.get_channel(13), "CHANNEL_CUD"),
        (lambda c: c.create_channel({"name": "A"}), "CHANNEL_CUD"),
        (lambda c: c.update_channel(13, {"name": "A"}), "CHANNEL_CUD"),
        (lambda c: c.delete_channel(13), "CHANNEL_CUD"),
        (lambda c: c.send_message(13, "hi"), "MESSAGE_CREATE"),
    ],
)
def test_403_names_the_missing_permission(call: Callable[[OmnideskClient], Any], permission: str) -> None:
    client, _ = make(Script(error(403, "forbidden")))
    with pytest.raises(PermissionDenied) as info:
        call(client)
    assert info.value.permission == permission
    assert f"the API key lacks the {permission} permission needed for {info.value.call}" in str(info.value)


def test_required_permission_table() -> None:
    assert required_permission("GET", "/api/v2/channel?itemStart=0") == "CHANNEL_READ"
    assert required_permission("GET", "/api/v2/channel/3") == "CHANNEL_CUD"
    assert required_permission("POST", "/api/v2/channel/customChannelMessage") == "MESSAGE_CREATE"


@pytest.mark.parametrize(
    "answer, expected",
    [
        (
            httpx.Response(200, text="<html><body>Bad gateway" + "x" * 500, headers={"content-type": "text/html"}),
            "expected JSON but the answer is HTML",
        ),
        (httpx.Response(200, text='{"type": "item", "item": {"id": 1, "na'), "not valid JSON (truncated?)"),
        (httpx.Response(200, json={"type": "list", "items": []}), "expected a 'item' envelope"),
        (
            httpx.Response(200, json={"status": "error", "message": "oops"}),
            "got an error envelope ('oops') with status 200",
        ),
        (httpx.Response(200, json={"type": "item", "item": {"name": "no id"}}), "expected a channel"),
    ],
)
def test_garbage_is_a_protocol_error_naming_the_call(answer: httpx.Response, expected: str) -> None:
    client, _ = make(Script(answer))
    with pytest.raises(ProtocolError) as info:
        client.get_channel(1)
    message = str(info.value)
    assert message.startswith("GET /api/v2/channel/1: ") and expected in message
    assert len(message) < 400  # the body is cut short


def test_other_status_is_an_api_error() -> None:
    client, _ = make(Script(error(500, "boom")))
    with pytest.raises(ApiError, match=r"^GET /api/v2/channel/1: the server answered 500 \(the server said: boom\)"):
        client.get_channel(1)


def test_without_info_logging_no_request_url_is_written_out_or_searched_for_the_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Formatting and redacting every request's URL for a log line nobody reads was a cost per tenant
    # of plan --all-tenants (#27): the key's pattern, built on first use, is then never built.
    client, _ = make(Script(listing([channel(1, "A")])))
    with caplog.at_level(logging.WARNING, logger="reconciler.http"):
        assert [c.name for c in client.list_channels()] == ["A"]
    assert not caplog.records
    assert "_pattern" not in vars(client._redact)


def test_clients_of_one_host_parse_the_same_page_url_once() -> None:
    # every tenant of plan --all-tenants on a host asks for the same first page (#27)
    request_url.cache_clear()
    scripts = [Script(listing([channel(1, "A")])) for _ in range(3)]
    for script in scripts:
        make(script)[0].list_channels()
    assert {str(s.requests[0].url) for s in scripts} == {f"{BASE.rstrip('/')}/api/v2/channel?itemStart=0&itemLimit=99"}
    assert (request_url.cache_info().misses, request_url.cache_info().hits) == (1, 2)


def test_key_and_secret_echoed_by_the_server_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    script = Script(
        error(400, f"bad secret s3cr3t for key {KEY}", field="custom_channel_secret"),
        httpx.Response(200, text=f"<html>apiKey={KEY}</html>"),
        httpx.ConnectError(f"failed with {KEY}"),
    )
    client, _ = make(script, max_retries=0)
    messages = []
    with caplog.at_level(logging.DEBUG):
        for call in (
            lambda: client.update_channel(1, {"custom_channel_secret": "s3cr3t"}),
            lambda: client.get_channel(1),
            lambda: client.get_channel(1),
        ):
            with pytest.raises(ApiError) as info:
                call()
            messages.append(str(info.value))
    assert "[redacted]" in messages[0] and "[redacted]" in messages[1] and "[redacted]" in messages[2]
    text = "\n".join(messages + [r.getMessage() for r in caplog.records])
    assert KEY not in text and "s3cr3t" not in text


# -- adaptive concurrency ---------------------------------------------------------------------------


def test_429_halves_concurrency_and_it_grows_back_after_runs_of_successes() -> None:
    script = Script(*[httpx.Response(429, headers={"Retry-After": "0"})] * 4, *[result()] * 30)
    client, _ = make(script, parallelism=8)
    client.delete_channel(1)
    assert client.concurrency == 1  # each retry that is throttled again is a new wave: 8 -> 4 -> 2 -> 1 -> 1
    for _ in range(29):
        client.delete_channel(1)
    assert client.concurrency == 4  # one more after each run of 10 successes
    assert client.stats["concurrency_cut"] == 3


def test_in_flight_requests_never_exceed_the_limit_and_429_pauses_everyone() -> None:
    lock = threading.Lock()
    state = {"in_flight": 0, "peak": 0, "throttled": False, "after_pause": []}
    pause = 0.2
    throttle_at: list[float] = []

    def server(request: httpx.Request) -> httpx.Response:
        with lock:
            state["in_flight"] += 1
            state["peak"] = max(state["peak"], state["in_flight"])
            first = not state["throttled"]
            state["throttled"] = True
            if not first and throttle_at and time.monotonic() < throttle_at[0] + pause:
                state["after_pause"].append(time.monotonic() - throttle_at[0])
        time.sleep(0.02)
        with lock:
            state["in_flight"] -= 1
        if first:
            throttle_at.append(time.monotonic())
            return httpx.Response(429, headers={"Retry-After": str(pause)})
        return result()

    client = OmnideskClient(BASE, KEY, transport=httpx.MockTransport(server), parallelism=4)
    threads = [threading.Thread(target=client.delete_channel, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert state["peak"] <= 4
    assert client.stats["concurrency_cut"] == 1  # one wave of 429s cuts once
    # Requests already in flight when the 429 arrived may finish; none starts during the pause.
    assert len(state["after_pause"]) <= 3
    assert client.stats["delete"] == 17

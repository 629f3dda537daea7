"""The client against the project's emulator over real HTTP: every call, quirk, fault and refusal."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from reconciler.client import OmnideskClient
from reconciler.emulator import GARBAGE_MODES, Emulator
from reconciler.errors import (
    ApiError,
    AuthenticationError,
    FieldRejected,
    NotFound,
    PermissionDenied,
    ProtocolError,
)
from reconciler.model import MANAGED_FIELDS

FIRST_PAGE = "GET /api/v2/channel?itemStart=0&itemLimit=99"


def connect(running: Any, key: str | None = None, **kwargs: Any) -> OmnideskClient:
    """A client with fast retries, so fault tests stay quick."""
    kwargs.setdefault("backoff", 0.001)
    kwargs.setdefault("max_backoff", 0.01)
    return OmnideskClient(running.url + "/", key or running.key, **kwargs)


def customs(emu: Emulator) -> list[dict[str, Any]]:
    return [c for c in emu.channels() if c["type"] == "custom"]


def test_every_call(emulator: Any) -> None:
    with connect(emulator) as client:
        built_ins = client.list_channels()
        assert built_ins and not any(c.is_custom for c in built_ins)

        created = client.create_channel(
            {
                "name": "Shop SMS",
                "icon": "sms",
                "custom_channel_endpoint": "https://sms.example.com/hook",
                "custom_channel_secret": "s3cr3t",
                "include_signature": True,
            }
        )
        assert created.is_custom and created.name == "Shop SMS" and created.fields["include_signature"] is True
        assert "custom_channel_secret" not in created.fields
        assert customs(emulator.emu)[0]["custom_channel_secret"] == "s3cr3t"

        assert client.get_channel(created.id) == created
        updated = client.update_channel(created.id, {"custom_channel_warning_en": "Replies take a day"})
        assert updated is not None and updated.fields["icon"] == "sms"  # partial: the rest is kept
        assert updated.fields["custom_channel_warning_en"] == "Replies take a day"
        assert [c for c in client.list_channels() if c.is_custom] == [updated]

        sent = client.send_message(created.id, "Where is my order?", from_address="+31600000000")
        assert set(sent) == {"ticketID", "messageID"}
        assert (
            client.send_message(created.id, "Still waiting", ticket_id=sent["ticketID"])["ticketID"] == sent["ticketID"]
        )

        client.delete_channel(created.id)
        assert customs(emulator.emu) == []
        with pytest.raises(NotFound, match=rf"^DELETE /api/v2/channel/{created.id}: not found"):
            client.delete_channel(created.id)
        assert {k: client.stats[k] for k in ("create", "get", "update", "delete", "message")} == {
            "create": 1,
            "get": 1,
            "update": 1,
            "delete": 2,
            "message": 2,
        }


def test_paging_across_more_than_99_channels(emulator: Any) -> None:
    emulator.emu.seed_channels([{"name": f"Channel {i}"} for i in range(250)])
    with connect(emulator) as client:
        channels = client.list_channels()
    assert len(channels) == len(emulator.emu.channels())
    assert len({c.id for c in channels}) == len(channels)
    assert client.stats["list_page"] == 3 == emulator.emu.stats["list"]


def test_pages_after_the_first_are_read_concurrently(make_emulator: Callable[..., Any]) -> None:
    arrivals: dict[str, float] = {}

    def record(method: str, path: str, query: dict[str, str]) -> None:
        arrivals[query.get("itemStart", "")] = time.monotonic()

    running = make_emulator(latency_ms=200, before_request=record)
    running.emu.seed_channels([{"name": f"Channel {i}"} for i in range(500)])  # 6 pages with the built-ins
    with connect(running, parallelism=8) as client:
        channels = client.list_channels()
    assert len(channels) == 505 and client.stats["list_page"] == 6
    rest = [arrivals[str(start)] for start in range(99, 505, 99)]
    assert max(rest) - min(rest) < 0.15, "read one after another, 200 ms apart"
    assert min(rest) - arrivals["0"] >= 0.19, "the first page says how many pages there are"


@pytest.mark.parametrize("change", ["create", "delete"])
def test_list_changing_between_pages_is_re_read(make_emulator: Callable[..., Any], change: str) -> None:
    pages = []

    def between_pages(method: str, path: str, query: dict[str, str]) -> None:
        if method == "GET" and path == "/api/v2/channel":
            pages.append(query["itemStart"])
            if len(pages) == 2:  # after the first page was answered, before the second
                if change == "create":
                    running.emu.seed_channels([{"name": "Arrived late"}])
                else:
                    first_custom = customs(running.emu)[0]["id"]
                    with connect(running) as other:
                        other.delete_channel(first_custom)

    running = make_emulator(before_request=between_pages)
    running.emu.seed_channels([{"name": f"Channel {i}"} for i in range(150)])
    with connect(running) as client:
        channels = client.list_channels()
    assert sorted(c.id for c in channels) == sorted(c["id"] for c in running.emu.channels())
    assert pages == ["0", "99", "0", "99"]


@pytest.mark.parametrize("quirk", ["bools-as-strings", "bools-as-ints", "null-endpoint", "extra-fields"])
def test_quirks_in_channels_are_tolerated(make_emulator: Callable[..., Any], quirk: str) -> None:
    running = make_emulator(quirks=[quirk])
    with connect(running) as client:
        created = client.create_channel({"name": "A", "include_signature": True})
        listed = [c for c in client.list_channels() if c.is_custom]
        fetched = client.get_channel(created.id)
    assert listed == [created] == [fetched]
    assert set(created.fields) == set(MANAGED_FIELDS)
    assert created.fields["include_signature"] is True
    assert created.fields["custom_channel_available_in_quick_ticket"] is False
    assert created.fields["custom_channel_endpoint"] == ""


def test_quirk_no_paging(make_emulator: Callable[..., Any]) -> None:
    running = make_emulator(quirks=["no-paging"])
    running.emu.seed_channels([{"name": f"Channel {i}"} for i in range(150)])
    with connect(running) as client:
        assert len(client.list_channels()) == len(running.emu.channels())
    assert client.stats["list_page"] == 1


def test_quirk_create_without_id_finds_the_channel_in_the_list(make_emulator: Callable[..., Any]) -> None:
    running = make_emulator(quirks=["create-without-id"])
    with connect(running) as client:
        created = client.create_channel({"name": "A"})
    assert created.id == customs(running.emu)[0]["id"] and created.name == "A"


def test_unknown_key_is_refused(emulator: Any) -> None:
    with connect(emulator, key="not-a-key") as client, pytest.raises(AuthenticationError) as info:
        client.list_channels()
    assert str(info.value) == f"{FIRST_PAGE}: the API key was refused (the server said: unknown API key) (HTTP 401)"


def test_each_call_needs_its_permission(make_emulator: Callable[..., Any]) -> None:
    running = make_emulator(
        api_keys={
            "read": {"CHANNEL_READ"},
            "write": {"CHANNEL_CUD"},
            "all-key": {"CHANNEL_READ", "CHANNEL_CUD", "MESSAGE_CREATE"},
        }
    )
    [channel_id] = running.emu.seed_channels([{"name": "A"}])
    calls: dict[str, Callable[[OmnideskClient], Any]] = {
        "list": lambda c: c.list_channels(),
        "get": lambda c: c.get_channel(channel_id),
        "create": lambda c: c.create_channel({"name": "B"}),
        "update": lambda c: c.update_channel(channel_id, {"icon": "x"}),
        "message": lambda c: c.send_message(channel_id, "hi"),
        "delete": lambda c: c.delete_channel(channel_id),
    }
    refused = {
        "read": {
            "get": "CHANNEL_CUD",
            "create": "CHANNEL_CUD",
            "update": "CHANNEL_CUD",
            "message": "MESSAGE_CREATE",
            "delete": "CHANNEL_CUD",
        },
        "write": {"list": "CHANNEL_READ", "message": "MESSAGE_CREATE"},
    }
    with connect(running, key="all-key") as client:
        client.list_channels()
        client.send_message(channel_id, "hi")
    # The write key last: its create/update/delete succeed and change the tenant.
    for key, expected in refused.items():
        with connect(running, key=key) as client:
            for name, call in calls.items():
                if name not in expected:
                    call(client)
                    continue
                with pytest.raises(PermissionDenied) as info:
                    call(client)
                assert info.value.permission == expected[name], (key, name)
                assert f"the API key lacks the {expected[name]} permission needed for {info.value.call}" in str(
                    info.value
                )
    assert [c["name"] for c in customs(running.emu)] == ["B"]


def test_refused_field_is_named(emulator: Any) -> None:
    with connect(emulator) as client:
        with pytest.raises(FieldRejected) as info:
            client.create_channel({"name": "A", "custom_channel_endpoint": "https://x.example.com/a_b"})
        assert info.value.field == "custom_channel_endpoint"
        assert str(info.value).startswith("POST /api/v2/channel: the server refused field 'custom_channel_endpoint': ")
        client.create_channel({"name": "A"})
        with pytest.raises(FieldRejected) as info:
            client.create_channel({"name": "A"})
        assert info.value.field == "name" and "already used" in str(info.value)
    assert len(customs(emulator.emu)) == 1


def test_built_in_channels_cannot_be_changed(emulator: Any) -> None:
    with connect(emulator) as client:
        email = next(c for c in client.list_channels() if not c.is_custom)
        with pytest.raises(PermissionDenied, match="built-in channels cannot be changed"):
            client.update_channel(email.id, {"name": "Mail"})


def test_random_503s_are_retried_and_creates_never_duplicate(make_emulator: Callable[..., Any]) -> None:
    running = make_emulator(error_rate=0.3, seed=7)
    with connect(running, max_retries=10) as client:
        with ThreadPoolExecutor(8) as pool:
            created = list(pool.map(lambda i: client.create_channel({"name": f"C{i}"}), range(20)))
            list(pool.map(lambda c: client.update_channel(c.id, {"icon": "sms"}), created))
        assert sorted(c.name for c in client.list_channels() if c.is_custom) == sorted(f"C{i}" for i in range(20))
        for channel in created[:5]:
            client.delete_channel(channel.id)
    assert client.stats["retry"] > 0 and client.stats["status:503"] > 0
    names = [c["name"] for c in customs(running.emu)]
    assert sorted(names) == sorted(f"C{i}" for i in range(5, 20))
    assert all(c["icon"] == "sms" for c in customs(running.emu))


def test_rate_limit_is_honoured_and_shrinks_concurrency(make_emulator: Callable[..., Any]) -> None:
    running = make_emulator(rate_limit=10)
    [channel_id] = running.emu.seed_channels([{"name": "A"}])
    slept: list[float] = []
    lock = threading.Lock()

    def sleep(seconds: float) -> None:
        with lock:
            slept.append(seconds)
        time.sleep(seconds)

    with connect(running, parallelism=8, sleep=sleep) as client:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: client.update_channel(channel_id, {"icon": f"i{i}"}), range(30)))
        assert client.stats["status:429"] > 0 and client.stats["concurrency_cut"] >= 1
        assert client.concurrency < 8
    assert 1.0 in slept  # the emulator's Retry-After, not the tiny backoff
    assert running.emu.stats["update"] - running.emu.stats["status:429"] == 30


def test_lost_create_answers_never_make_duplicates(make_emulator: Callable[..., Any]) -> None:
    running = make_emulator(lose_create_responses=1.0)
    with connect(running) as client, ThreadPoolExecutor(8) as pool:
        created = list(pool.map(lambda i: client.create_channel({"name": f"C{i}"}), range(12)))
    assert sorted(c.name for c in created) == sorted(f"C{i}" for i in range(12))
    assert sorted(c["id"] for c in customs(running.emu)) == sorted(c.id for c in created)
    assert running.emu.stats["create"] == 12  # each create was sent once: the list showed it had happened


@pytest.mark.parametrize("garbage", GARBAGE_MODES)
def test_garbage_is_a_protocol_error_naming_the_call(make_emulator: Callable[..., Any], garbage: str) -> None:
    running = make_emulator(garbage=garbage)
    with connect(running) as client, pytest.raises(ProtocolError) as info:
        client.list_channels()
    assert info.value.call == FIRST_PAGE
    assert str(info.value).startswith(f"{FIRST_PAGE}: expected ")
    assert len(str(info.value)) < 450


def test_no_key_or_secret_in_any_message_or_log(
    make_emulator: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    key = "sk-live-4f9c2b7e1d"
    secret = "hmac-secret-value-99"
    running = make_emulator(api_keys={key: {"CHANNEL_READ", "CHANNEL_CUD"}}, error_rate=0.2, seed=3)
    messages: list[str] = []
    with caplog.at_level(logging.DEBUG):
        with connect(running, key=key, max_retries=10) as client:
            created = client.create_channel({"name": "A", "custom_channel_secret": secret})
            for call in (
                lambda: client.update_channel(created.id, {"custom_channel_secret": secret, "icon": "bad icon"}),
                lambda: client.send_message(created.id, "hi"),
                lambda: client.get_channel(999),
            ):
                with pytest.raises(ApiError) as info:
                    call()
                messages.append(repr(info.value) + str(info.value))
        with connect(running, key=key + "-wrong") as stranger, pytest.raises(AuthenticationError) as info:
            stranger.list_channels()
        messages.append(str(info.value))
    logged = [r.getMessage() for r in caplog.records]
    assert any("-> 200" in line for line in logged)
    for text in messages + logged:
        assert key not in text and secret not in text


def test_create_timing_out_is_looked_up_until_it_lands(make_emulator: Callable[..., Any]) -> None:
    def slow_creates(method: str, path: str, query: dict[str, str]) -> None:
        if method == "POST":
            time.sleep(0.25)  # longer than the client's timeout: every create answer is lost

    running = make_emulator(before_request=slow_creates)
    with connect(running, timeout=0.1, max_retries=10) as client:
        created = client.create_channel({"name": "Slow"})
    time.sleep(0.3)  # let every create still in the server finish
    assert [c["id"] for c in customs(running.emu)] == [created.id]
    assert client.stats["error:timeout"] >= 1

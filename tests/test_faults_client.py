"""The client's lookup after a lost create answer, while the tenant changes under it (MockTransport).

The end-to-end version is in ``test_faults.py``; these pin the rule exactly: a list that only grew
between pages is good enough to find a channel, a list that shrank is read again.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from reconciler.client import PAGE_SIZE, OmnideskClient
from reconciler.errors import TransientApiError


def channels(first: int, count: int) -> list[dict[str, Any]]:
    return [{"id": i, "type": "custom", "name": f"Other {i}", "icon": "chat"} for i in range(first, first + count)]


def page(items: list[dict[str, Any]], total: int) -> httpx.Response:
    return httpx.Response(
        200, json={"type": "list", "itemStart": 0, "itemLimit": PAGE_SIZE, "itemTotal": total, "items": items}
    )


def serve(answers: list[httpx.Response]) -> tuple[OmnideskClient, list[str]]:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(f"{request.method} {request.url.raw_path.decode()}")
        return answers.pop(0)

    client = OmnideskClient(
        "https://t.omnidesk.com", "key-1", transport=httpx.MockTransport(handler), sleep=lambda _: None
    )
    return client, calls


def test_a_lost_create_is_found_in_a_list_that_grows_while_it_is_read() -> None:
    ours = {"id": 150, "type": "custom", "name": "Ours", "icon": "chat"}
    client, calls = serve(
        [
            httpx.Response(504, text="<html>504 Gateway Time-out</html>", headers={"content-type": "text/html"}),
            page(channels(1, 99), total=150),
            # two more channels landed (another worker of the same apply) before the second page
            page([*channels(100, 50), ours, *channels(151, 2)], total=152),
        ]
    )
    created = client.create_channel({"name": "Ours"})
    assert created.id == 150
    assert [c.split("?")[0] for c in calls] == ["POST /api/v2/channel"] + ["GET /api/v2/channel"] * 2


def test_a_list_that_shrinks_while_it_is_read_is_read_again_before_creating_again() -> None:
    # A delete between pages shifts a channel onto the page already read: "not listed" would be a guess.
    client, calls = serve(
        [
            httpx.Response(503, json={"status": "error", "message": "busy"}),
            page(channels(1, 99), total=150),
            page(channels(101, 49), total=149),
            page(channels(1, 99), total=149),
            page(channels(100, 50), total=149),
            httpx.Response(200, json={"type": "item", "item": {"id": 200, "type": "custom", "name": "Ours"}}),
        ]
    )
    assert client.create_channel({"name": "Ours"}).id == 200
    assert [c.split("?")[0] for c in calls].count("POST /api/v2/channel") == 2


def test_planning_still_needs_a_list_that_did_not_move() -> None:
    growing = [page(channels(1, 99), total=150 + i) for i in range(6)]
    client, _ = serve(growing)
    with pytest.raises(TransientApiError, match="kept changing"):
        client.list_channels()

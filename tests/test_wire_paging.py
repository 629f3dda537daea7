"""Every paging the contract allows, each staged by an emulator knob and read through the CLI over
real HTTP: every channel exactly once, never a page too many asked for without need."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from clihelp import run_cli

from reconciler.client import PAGE_SIZE, OmnideskClient
from reconciler.errors import ProtocolError

N = 250  # custom channels: with the 5 built-ins, 255 channels = 3 pages of 99
TOTAL = N + 5


def seeded(make_emulator: Any, **knobs: Any) -> Any:
    running = make_emulator(**knobs)
    running.emu.seed_channels([{"name": f"Paged {i:03d}", "icon": "sms"} for i in range(N)])
    running.emu.reset_stats()
    return running


def channels_file(tmp_path: Path) -> str:
    lines = ["version: 1", "channels:"]
    lines += [f"  - name: Paged {i:03d}\n    icon: sms" for i in range(N)]
    path = tmp_path / "channels.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def exported_names(running: Any, tmp_path: Path) -> list[str]:
    out = tmp_path / "export.yaml"
    result = run_cli(["export", "--url", running.url, "--out", str(out)], {"OMNIDESK_API_KEY": "demo"})
    assert result.exit_code == 0, result.output
    return [line.split(": ", 1)[1] for line in out.read_text().splitlines() if line.startswith("- name: ")]


@pytest.mark.parametrize(
    "knobs, pages",
    [
        ({}, 3),
        ({"list_type": "channels"}, 3),  # the docs never show the value of a list's type
        ({"list_type": "item"}, 3),
        ({"max_item_limit": 40}, math.ceil(TOTAL / 40)),  # continue from the items received, not asked
        ({"quirks": ["no-item-total"]}, 3),  # ends at the short page
        ({"quirks": ["no-item-total"], "max_item_limit": 51}, TOTAL // 51 + 1),  # 5 full pages, then an empty one
        ({"quirks": ["no-paging"]}, 1),  # everything at once; the total says it is all
        ({"quirks": ["no-paging", "no-item-total"]}, 2),  # the second page brings nothing new: the end
    ],
)
def test_plan_reads_every_channel_once_whatever_the_paging(
    make_emulator, tmp_path: Path, knobs: dict[str, Any], pages: int
) -> None:
    running = seeded(make_emulator, **knobs)
    result = run_cli(
        ["plan", channels_file(tmp_path), "--url", running.url, "--detailed-exitcode"], {"OMNIDESK_API_KEY": "demo"}
    )
    assert result.exit_code == 0, result.output  # 0: no changes, so no channel was missed or read twice
    assert running.emu.stats["list"] == pages
    names = exported_names(running, tmp_path)
    assert names == [f"Paged {i:03d}" for i in range(N)]


def test_a_list_without_items_is_an_error_naming_the_call(make_emulator, tmp_path: Path) -> None:
    running = make_emulator(garbage="wrong-envelope")
    result = run_cli(["plan", channels_file(tmp_path), "--url", running.url], {"OMNIDESK_API_KEY": "demo"})
    assert result.exit_code == 1
    assert "Error: GET /api/v2/channel?itemStart=0&itemLimit=99: expected a 'list' envelope, got:" in result.stderr


def _client(pages: list[dict[str, Any]], **kwargs: Any) -> tuple[OmnideskClient, list[str]]:
    asked: list[str] = []

    def server(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.params["itemStart"])
        return httpx.Response(200, json=pages.pop(0))

    return OmnideskClient(
        "https://t.omnidesk.com",
        "k3y-0123456789",
        transport=httpx.MockTransport(server),
        sleep=lambda s: None,
        **kwargs,
    ), asked


def ch(i: int) -> dict[str, Any]:
    return {"id": i, "type": "custom", "name": f"c{i}"}


@pytest.mark.parametrize("missing", ["items", "both"])
def test_list_answers_lacking_items_are_refused(missing: str) -> None:
    page: dict[str, Any] = {"type": "list", "itemTotal": 1}
    if missing == "both":
        del page["itemTotal"]
    client, _ = _client([page])
    with pytest.raises(ProtocolError, match=r"^GET /api/v2/channel\?itemStart=0&itemLimit=99: expected a 'list'"):
        client.list_channels()


def test_list_answers_lacking_item_total_are_read_until_a_short_page() -> None:
    client, asked = _client(
        [{"type": "list", "items": [ch(i) for i in range(1, 100)]}, {"type": "list", "items": [ch(100), ch(101)]}]
    )
    assert [c.id for c in client.list_channels()] == list(range(1, 102))
    assert asked == ["0", "99"]


def test_a_total_that_grows_is_compared_with_the_first_page_not_the_previous_one() -> None:
    # Concurrent pages arrive out of order: a growing list looked like a shrinking one when each page
    # was compared with the page before it. With growth allowed (looking up creates), it is consistent.
    pages = [
        {"type": "list", "itemTotal": 200, "items": [ch(i) for i in range(1, 100)]},
        {"type": "list", "itemTotal": 203, "items": [ch(i) for i in range(100, 199)]},
        {"type": "list", "itemTotal": 201, "items": [ch(i) for i in range(199, 204)]},
    ]
    client, _ = _client(pages, parallelism=1)
    found = client.find_custom_channels(["c1", "c203"])
    assert sorted(found) == ["c1", "c203"]
    assert client.stats["list_read"] == 1


def test_pages_are_requested_with_bounded_concurrency() -> None:
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}
    total = 3000

    def server(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params["itemStart"])
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.005)
        with lock:
            state["now"] -= 1
        items = [ch(i) for i in range(start + 1, min(total, start + PAGE_SIZE) + 1)]
        return httpx.Response(200, json={"type": "list", "itemTotal": total, "items": items})

    client = OmnideskClient(
        "https://t.omnidesk.com", "k3y-0123456789", transport=httpx.MockTransport(server), parallelism=4
    )
    assert len(client.list_channels()) == total
    assert 2 <= state["peak"] <= 4
    assert client.stats["list_page"] == math.ceil(total / PAGE_SIZE)


@pytest.mark.parametrize(
    "claimed, reason",
    [
        (100, "198 distinct channels were read, more than its itemTotal of 100"),  # stopping at 100 lost 155
        (TOTAL + 1, f"the pages ended after {TOTAL} of {TOTAL + 1} channels"),
    ],
)
def test_a_count_read_that_differs_from_item_total_fails_the_read(
    make_emulator, tmp_path: Path, claimed: int, reason: str
) -> None:
    running = seeded(make_emulator, claimed_total=claimed)
    out = tmp_path / "export.yaml"
    result = run_cli(["export", "--url", running.url, "--out", str(out)], {"OMNIDESK_API_KEY": "demo"})
    assert result.exit_code == 1
    assert f"the channel list kept changing while it was read (3 attempts; last: {reason})" in result.stderr
    assert not out.exists(), "no partial export"

"""The emulator against the wire contract, over real HTTP (uvicorn in a thread, httpx)."""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from clihelp import RunningEmulator

from reconciler.emulator import (
    ALL_PERMISSIONS,
    Emulator,
    EmulatorOptions,
    EmulatorTransport,
    StateFileError,
    serve_in_thread,
)
from reconciler.emulator import store as store_module
from reconciler.model import PUT_ONLY_FIELDS

CHANNELS = "/api/v2/channel"
MESSAGES = "/api/v2/channel/customChannelMessage"
BUILT_INS = [
    (1, "email", "Email"),
    (2, "chat", "Chat"),
    (3, "phone", "Phone"),
    (4, "whatsapp", "WhatsApp"),
    (5, "facebook", "Facebook"),
]


def client(running: RunningEmulator, key: str | None = "demo") -> httpx.Client:
    headers = {"apiKey": key} if key is not None else {}
    return httpx.Client(base_url=running.url, headers=headers, timeout=10)


def form(fields: dict[str, Any]) -> dict[str, Any]:
    """Fields as multipart parts, the way the contract's client sends writes."""
    return {name: (None, str(value)) for name, value in fields.items()}


def create(c: httpx.Client, **fields: Any) -> dict[str, Any]:
    r = c.post(CHANNELS, files=form(fields))
    assert r.status_code == 200, r.text
    return r.json()["item"]


def error(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["status"] == "error"
    return body


# -- envelopes, listing, paging -----------------------------------------------------------------


def test_fresh_tenant_lists_only_built_in_channels(emulator: RunningEmulator) -> None:
    body = client(emulator).get(CHANNELS).json()
    assert {k: body[k] for k in ("type", "itemStart", "itemLimit", "itemTotal")} == {
        "type": "list",
        "itemStart": 0,
        "itemLimit": 15,
        "itemTotal": 5,
    }
    assert [(i["id"], i["type"], i["name"]) for i in body["items"]] == BUILT_INS
    assert all(i["include_signature"] is False for i in body["items"])


def test_paging_defaults_clamp_order_and_total(emulator: RunningEmulator) -> None:
    emulator.emu.seed_channels({"name": f"seeded {n:03d}"} for n in range(150))
    c = client(emulator)
    first = c.get(CHANNELS).json()
    assert (first["itemLimit"], first["itemTotal"]) == (15, 155)
    assert [i["id"] for i in first["items"]] == list(range(1, 16))
    clamped = c.get(CHANNELS, params={"itemLimit": 500}).json()
    assert clamped["itemLimit"] == 99 and len(clamped["items"]) == 99
    window = c.get(CHANNELS, params={"itemStart": 10, "itemLimit": 5}).json()
    assert window["itemStart"] == 10 and [i["id"] for i in window["items"]] == [11, 12, 13, 14, 15]
    seen: list[int] = []
    for start in range(0, 155, 99):
        seen += [i["id"] for i in c.get(CHANNELS, params={"itemStart": start, "itemLimit": 99}).json()["items"]]
    assert seen == list(range(1, 156))
    assert c.get(CHANNELS, params={"itemStart": 1000}).json()["items"] == []


@pytest.mark.parametrize(
    ("param", "value"), [("itemStart", "abc"), ("itemLimit", "ten"), ("itemStart", "-1"), ("itemLimit", "0")]
)
def test_paging_parameters_are_checked(emulator: RunningEmulator, param: str, value: str) -> None:
    assert error(client(emulator).get(CHANNELS, params={param: value}), 400)["field"] == param


def test_create_answers_the_item_and_ids_are_never_reused(emulator: RunningEmulator) -> None:
    c = client(emulator)
    a = create(c, name="Alpha", icon="note")
    assert a == {
        "id": 6,
        "type": "custom",
        "name": "Alpha",
        "icon": "note",
        "custom_channel_endpoint": "",
        "custom_channel_warning_en": "",
        "custom_channel_warning_nl": "",
        "include_signature": False,
        "custom_channel_available_in_quick_ticket": False,
    }
    assert c.delete(f"{CHANNELS}/6").json()["type"] == "result"
    assert create(c, name="Beta")["id"] == 7
    assert c.get(f"{CHANNELS}/7").json() == {"type": "item", "item": {**a, "id": 7, "name": "Beta", "icon": "chat"}}


def test_bodies_multipart_urlencoded_and_json_are_all_accepted(emulator: RunningEmulator) -> None:
    c = client(emulator)
    assert (
        c.post(CHANNELS, files=form({"name": "Multi", "include_signature": "true"})).json()["item"]["include_signature"]
        is True
    )
    assert (
        c.post(CHANNELS, data={"name": "Urlenc", "include_signature": "1"}).json()["item"]["include_signature"] is True
    )
    item = c.post(CHANNELS, json={"name": "Json", "include_signature": True, "unknown_field": 3}).json()["item"]
    assert item["include_signature"] is True and "unknown_field" not in item
    assert error(c.post(CHANNELS, content=b"name=x", headers={"content-type": "text/plain"}), 415)[
        "message"
    ].startswith("unsupported content type")
    assert error(c.post(CHANNELS, content=b"{not json", headers={"content-type": "application/json"}), 400)


# -- authentication and permissions ------------------------------------------------------------


def test_missing_or_unknown_key_is_401_and_the_query_form_works(emulator: RunningEmulator) -> None:
    assert "missing API key" in error(client(emulator, key=None).get(CHANNELS), 401)["message"]
    unknown = error(client(emulator, key="s3cr3t-guess").get(CHANNELS), 401)
    assert "s3cr3t-guess" not in unknown["message"]
    assert client(emulator, key=None).get(CHANNELS, params={"apiKey": "demo"}).status_code == 200


def _call(c: httpx.Client, call: str) -> httpx.Response:
    return {
        "list": lambda: c.get(CHANNELS),
        "get": lambda: c.get(f"{CHANNELS}/6"),
        "create": lambda: c.post(CHANNELS, files=form({"name": "New"})),
        "update": lambda: c.put(f"{CHANNELS}/6", files=form({"icon": "x"})),
        "delete": lambda: c.delete(f"{CHANNELS}/6"),
        "message": lambda: c.post(MESSAGES, files=form({"channelID": 6, "message": "hi"})),
    }[call]()


PERMISSION_OF = {
    "list": "CHANNEL_READ",
    "get": "CHANNEL_CUD",
    "create": "CHANNEL_CUD",
    "update": "CHANNEL_CUD",
    "delete": "CHANNEL_CUD",
    "message": "MESSAGE_CREATE",
}


@pytest.mark.parametrize("granted", ALL_PERMISSIONS)
@pytest.mark.parametrize("call", list(PERMISSION_OF))
def test_each_call_needs_exactly_its_permission(
    make_emulator: Callable[..., RunningEmulator], granted: str, call: str
) -> None:
    running = make_emulator(api_keys={"one": {granted}, "admin": set(ALL_PERMISSIONS)})
    create(client(running, "admin"), name="Target")
    r = _call(client(running, "one"), call)
    if PERMISSION_OF[call] == granted:
        assert r.status_code == 200, r.text
    else:
        assert error(r, 403)["message"] == f"this API key lacks the {PERMISSION_OF[call]} permission"


def test_a_read_only_key_changes_nothing(make_emulator: Callable[..., RunningEmulator]) -> None:
    running = make_emulator(api_keys={"ro-key": {"CHANNEL_READ"}})
    c = client(running, "ro-key")
    for call in ("create", "update", "delete", "message"):
        error(_call(c, call), 403)
    assert [ch["id"] for ch in running.emu.channels()] == [1, 2, 3, 4, 5]


# -- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("name", "Bad!name", "'!' is not allowed"),
        ("name", "", "must not be empty"),
        ("icon", "has space", "a space is not allowed"),
        ("custom_channel_endpoint", "https://x.io/a_b", "'_' is not allowed"),
        ("custom_channel_endpoint", "https://x.io/%20", "'%' is not allowed"),
        ("custom_channel_warning_en", "careful\n", "a line break is not allowed"),  # ECMA $: no final newline
        ("custom_channel_warning_nl", "<b>", "'<' is not allowed"),
        ("include_signature", "yes", "must be true or false"),
        ("custom_channel_available_in_quick_ticket", "", "must be true or false"),
    ],
)
def test_invalid_fields_are_400_with_the_field_and_the_reason(
    emulator: RunningEmulator, field: str, value: str, said: str
) -> None:
    c = client(emulator)
    target = create(c, name="Existing")
    body = error(c.put(f"{CHANNELS}/{target['id']}", files=form({field: value})), 400)
    assert body["field"] == field and said in body["message"] and body["message"].startswith(field)
    if field not in PUT_ONLY_FIELDS:
        assert error(c.post(CHANNELS, files=form({"name": "Valid name", field: value})), 400)["field"] == field
    assert [ch["name"] for ch in emulator.emu.channels()][-1] == "Existing"


def test_a_post_ignores_put_only_fields_silently(emulator: RunningEmulator) -> None:
    """The contract: POST takes name, icon, endpoint, secret and include_signature; a server ignores the
    PUT-only fields on POST without a word (not even validating them); a PUT sets them."""
    c = client(emulator)
    put_only = {
        "custom_channel_warning_en": "Careful",
        "custom_channel_warning_nl": "<not even valid>",
        "custom_channel_available_in_quick_ticket": "true",
    }
    item = create(c, name="Post only", icon="note", include_signature="true", **put_only)
    assert (item["icon"], item["include_signature"]) == ("note", True)
    assert (
        item["custom_channel_warning_en"],
        item["custom_channel_warning_nl"],
        item["custom_channel_available_in_quick_ticket"],
    ) == ("", "", False)
    done = c.put(
        f"{CHANNELS}/{item['id']}",
        files=form({"custom_channel_warning_en": "Careful", "custom_channel_available_in_quick_ticket": "true"}),
    )
    assert done.json()["item"]["custom_channel_warning_en"] == "Careful"
    assert done.json()["item"]["custom_channel_available_in_quick_ticket"] is True


def test_name_is_required_on_create(emulator: RunningEmulator) -> None:
    body = error(client(emulator).post(CHANNELS, files=form({"icon": "note"})), 400)
    assert body == {"status": "error", "message": "name is required", "field": "name"}


def test_empty_defaults_are_accepted_and_reset_fields(emulator: RunningEmulator) -> None:
    c = client(emulator)
    item = create(c, name="Trap", custom_channel_endpoint="", custom_channel_warning_en="", icon="chat")
    assert item["custom_channel_endpoint"] == ""
    c.put(
        f"{CHANNELS}/{item['id']}",
        files=form({"custom_channel_endpoint": "https://a.io/x?y=1", "custom_channel_warning_nl": "Let op!"}),
    )
    reset = c.put(
        f"{CHANNELS}/{item['id']}", files=form({"custom_channel_endpoint": "", "custom_channel_warning_nl": ""})
    ).json()["item"]
    assert (reset["custom_channel_endpoint"], reset["custom_channel_warning_nl"]) == ("", "")


def test_names_are_unique_across_the_tenant(emulator: RunningEmulator) -> None:
    c = client(emulator)
    a, b = create(c, name="One"), create(c, name="Two")
    assert error(c.post(CHANNELS, files=form({"name": "One"})), 400)["field"] == "name"
    assert (
        error(c.post(CHANNELS, files=form({"name": "Email"})), 400)["message"]
        == "name 'Email' is already used by channel 1"
    )
    assert error(c.put(f"{CHANNELS}/{b['id']}", files=form({"name": "One"})), 400)["field"] == "name"
    assert c.put(f"{CHANNELS}/{a['id']}", files=form({"name": "One"})).status_code == 200
    assert c.put(f"{CHANNELS}/{a['id']}", files=form({"name": "Uno"})).status_code == 200
    assert create(c, name="One")["name"] == "One"  # the old name is free again after a rename


# -- writes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("channel_id", [1, 3, 5])
def test_built_in_channels_cannot_be_changed(emulator: RunningEmulator, channel_id: int) -> None:
    c = client(emulator)
    assert (
        error(c.put(f"{CHANNELS}/{channel_id}", files=form({"icon": "x"})), 403)["message"]
        == "built-in channels cannot be changed through this API"
    )
    error(c.delete(f"{CHANNELS}/{channel_id}"), 403)
    assert c.get(f"{CHANNELS}/{channel_id}").json()["item"]["type"] != "custom"


def test_the_secret_is_stored_but_never_returned(emulator: RunningEmulator) -> None:
    c = client(emulator)
    answers = [c.post(CHANNELS, files=form({"name": "Hush", "custom_channel_secret": "TOPSECRET"}))]
    answers += [
        c.get(CHANNELS),
        c.get(f"{CHANNELS}/6"),
        c.put(f"{CHANNELS}/6", files=form({"custom_channel_secret": "NEWSECRET"})),
    ]
    for r in answers:
        assert r.status_code == 200 and "SECRET" not in r.text and "custom_channel_secret" not in r.text
    assert emulator.emu.channels()[-1]["custom_channel_secret"] == "NEWSECRET"


def test_put_is_partial(emulator: RunningEmulator) -> None:
    c = client(emulator)
    item = create(
        c,
        name="Part",
        icon="note",
        custom_channel_endpoint="https://a.io",
        include_signature="true",
        custom_channel_secret="s1",
    )
    after = c.put(f"{CHANNELS}/{item['id']}", files=form({"custom_channel_warning_en": "Mind the gap"})).json()["item"]
    assert after == {**item, "custom_channel_warning_en": "Mind the gap"}
    assert emulator.emu.channels()[-1]["custom_channel_secret"] == "s1"


def test_unknown_ids_and_methods(emulator: RunningEmulator) -> None:
    c = client(emulator)
    item = create(c, name="Gone")
    assert c.delete(f"{CHANNELS}/{item['id']}").status_code == 200
    for r in (
        c.delete(f"{CHANNELS}/{item['id']}"),
        c.get(f"{CHANNELS}/{item['id']}"),
        c.put(f"{CHANNELS}/999", files=form({"icon": "x"})),
    ):
        assert error(r, 404)["message"].endswith("does not exist")
    r = c.post(f"{CHANNELS}/{item['id']}", files=form({"name": "x"}))
    assert error(r, 405) and r.headers["allow"] == "GET, PUT, DELETE"
    error(c.get("/api/v2/tickets"), 404)
    assert c.get(CHANNELS).json()["itemTotal"] == 5


# -- inbound messages ------------------------------------------------------------------------


def test_messages_open_and_append_to_tickets(emulator: RunningEmulator) -> None:
    c = client(emulator)
    chan = create(c, name="Inbox")["id"]
    first = c.post(MESSAGES, files=form({"channelID": chan, "message": "hello", "title": "Hi", "userID": 7}))
    assert first.json() == {"type": "item", "item": {"ticketID": 1, "messageID": 1}}
    second = c.post(MESSAGES, files=form({"channelID": chan, "ticketID": 1, "message": "again"})).json()["item"]
    assert second == {"ticketID": 1, "messageID": 2}
    assert c.post(MESSAGES, files=form({"channelID": chan, "message": "new"})).json()["item"] == {
        "ticketID": 2,
        "messageID": 3,
    }
    tickets = emulator.emu.tickets()
    assert [(t["ticketID"], t["title"], [m["message"] for m in t["messages"]]) for t in tickets] == [
        (1, "Hi", ["hello", "again"]),
        (2, "", ["new"]),
    ]
    assert tickets[0]["messages"][0]["userID"] == 7 and tickets[0]["messages"][1]["userID"] == 0


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"message": "x"}, "channelID"),
        ({"channelID": "abc", "message": "x"}, "channelID"),
        ({"channelID": 1, "message": "x"}, "channelID"),  # built-in
        ({"channelID": 99, "message": "x"}, "channelID"),
        ({"channelID": 6, "message": "x", "ticketID": 42}, "ticketID"),
        ({"channelID": 6, "message": "x", "userID": "me"}, "userID"),
        ({"channelID": 6, "message": ""}, "message"),
        ({"channelID": 6}, "message"),
    ],
)
def test_bad_messages_name_the_field(emulator: RunningEmulator, fields: dict[str, Any], field: str) -> None:
    c = client(emulator)
    create(c, name="Inbox")
    assert error(c.post(MESSAGES, files=form(fields)), 400)["field"] == field
    assert emulator.emu.tickets() == []


# -- fault knobs ----------------------------------------------------------------------------


def test_latency_delays_every_answer(make_emulator: Callable[..., RunningEmulator]) -> None:
    c = client(make_emulator(latency_ms=150))
    started = time.monotonic()
    assert c.get(CHANNELS).status_code == 200
    assert time.monotonic() - started >= 0.15


def test_error_rate_answers_503_without_doing_anything(make_emulator: Callable[..., RunningEmulator]) -> None:
    running = make_emulator(error_rate=1.0)
    c = client(running)
    error(c.post(CHANNELS, files=form({"name": "Never"})), 503)
    assert len(running.emu.channels()) == 5
    assert running.emu.stats["create"] == 1 and running.emu.stats["status:503"] == 1


def test_error_rate_is_a_fraction_and_reproducible_with_a_seed() -> None:
    def statuses(seed: int) -> list[int]:
        c = httpx.Client(
            transport=EmulatorTransport(Emulator(error_rate=0.5, seed=seed)),
            base_url="http://emulator",
            headers={"apiKey": "demo"},
        )
        return [c.get(CHANNELS).status_code for _ in range(200)]

    assert statuses(7) == statuses(7)
    assert 60 < statuses(7).count(503) < 140


def test_rate_limit_answers_429_with_retry_after(make_emulator: Callable[..., RunningEmulator]) -> None:
    running = make_emulator(rate_limit=3)
    c = client(running)
    assert [c.get(CHANNELS).status_code for _ in range(3)] == [200, 200, 200]
    limited = c.post(CHANNELS, files=form({"name": "Blocked"}))
    assert error(limited, 429) and limited.headers["retry-after"] == "1"
    assert len(running.emu.channels()) == 5
    time.sleep(int(limited.headers["retry-after"]) + 0.05)
    assert c.post(CHANNELS, files=form({"name": "Later"})).status_code == 200


def test_lost_create_responses_are_performed_then_answered_504(make_emulator: Callable[..., RunningEmulator]) -> None:
    running = make_emulator(lose_create_responses=1.0)
    c = client(running)
    r = c.post(CHANNELS, files=form({"name": "Lost"}))
    assert r.status_code == 504 and not r.headers["content-type"].startswith("application/json")
    with pytest.raises(ValueError):
        r.json()
    assert running.emu.channels()[-1]["name"] == "Lost"
    assert c.put(f"{CHANNELS}/6", files=form({"icon": "x"})).status_code == 200  # only creates are lost


def test_before_request_can_change_the_tenant_between_pages(make_emulator: Callable[..., RunningEmulator]) -> None:
    def between_pages(method: str, path: str, query: dict[str, str]) -> None:
        if query.get("itemStart") == "3":
            running.emu.seed_channels([{"name": "Sneaky"}])

    running = make_emulator(before_request=between_pages)
    c = client(running)
    assert c.get(CHANNELS, params={"itemLimit": 3}).json()["itemTotal"] == 5
    assert c.get(CHANNELS, params={"itemStart": 3, "itemLimit": 3}).json()["itemTotal"] == 6


def test_stats_count_kinds_and_statuses(emulator: RunningEmulator) -> None:
    c = client(emulator)
    create(c, name="Counted")
    c.get(CHANNELS)
    c.get(f"{CHANNELS}/99")
    assert emulator.emu.stats == {"create": 1, "list": 1, "get": 1, "status:200": 2, "status:404": 1}
    emulator.emu.reset_stats()
    assert not emulator.emu.stats


# -- quirks and garbage -----------------------------------------------------------------------


def test_quirk_no_paging_returns_everything(make_emulator: Callable[..., RunningEmulator]) -> None:
    running = make_emulator(quirks=["no-paging"])
    running.emu.seed_channels({"name": f"c{n}"} for n in range(120))
    body = client(running).get(CHANNELS, params={"itemStart": 50, "itemLimit": 10}).json()
    assert len(body["items"]) == body["itemTotal"] == 125


def test_quirk_create_without_id(make_emulator: Callable[..., RunningEmulator]) -> None:
    running = make_emulator(quirks=["create-without-id"])
    assert client(running).post(CHANNELS, files=form({"name": "Anon"})).json() == {
        "type": "result",
        "message": "Channel created",
    }
    assert running.emu.channels()[-1]["name"] == "Anon"


@pytest.mark.parametrize(("quirk", "true", "false"), [("bools-as-strings", "true", "false"), ("bools-as-ints", 1, 0)])
def test_quirk_boolean_forms(make_emulator: Callable[..., RunningEmulator], quirk: str, true: Any, false: Any) -> None:
    c = client(make_emulator(quirks=[quirk]))
    item = create(c, name="Flags", include_signature="true")
    assert (item["include_signature"], item["custom_channel_available_in_quick_ticket"]) == (true, false)
    assert c.get(CHANNELS).json()["items"][-1]["include_signature"] == true


def test_quirk_null_endpoint_and_extra_fields(make_emulator: Callable[..., RunningEmulator]) -> None:
    c = client(make_emulator(quirks=["null-endpoint", "extra-fields"]))
    unset, set_ = create(c, name="Unset"), create(c, name="Set", custom_channel_endpoint="https://a.io")
    assert unset["custom_channel_endpoint"] is None and set_["custom_channel_endpoint"] == "https://a.io"
    listed = c.get(CHANNELS).json()["items"][-1]
    assert {"created_at", "brand_id"} <= set(listed)


@pytest.mark.parametrize("mode", ["html", "truncated", "wrong-envelope", "error-200"])
def test_garbage_list_answers(make_emulator: Callable[..., RunningEmulator], mode: str) -> None:
    running = make_emulator(garbage=mode)
    c = client(running)
    r = c.get(CHANNELS)
    assert r.status_code == 200
    if mode in ("html", "truncated"):
        with pytest.raises(ValueError):
            r.json()
        assert r.text.startswith("<!DOCTYPE html>") if mode == "html" else r.text.startswith('{"type": "list"')
    elif mode == "wrong-envelope":
        assert r.json()["type"] == "item" and "items" not in r.json()
    else:
        assert r.json() == {"status": "error", "message": "internal"}
    assert c.get(f"{CHANNELS}/1").json()["type"] == "item"  # only list calls are garbled
    running.emu.garbage = None  # knobs are live attributes
    assert c.get(CHANNELS).json()["type"] == "list"


def test_unknown_knob_values_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown quirk"):
        Emulator(quirks=["typo"])
    with pytest.raises(ValueError, match="unknown garbage"):
        Emulator(garbage="json")
    with pytest.raises(ValueError, match="unknown permission"):
        Emulator(api_keys={"k": {"CHANNEL_WRITE"}})


# -- Python-side helpers ---------------------------------------------------------------------


def test_seed_channels_validates_like_post_and_is_all_or_nothing() -> None:
    emu = Emulator()
    assert emu.seed_channels([{"name": "A", "include_signature": True}, {"name": "B"}]) == [6, 7]
    with pytest.raises(ValueError, match="custom_channel_endpoint"):
        emu.seed_channels([{"name": "C"}, {"name": "D", "custom_channel_endpoint": "a_b"}])
    with pytest.raises(ValueError, match="appears twice"):
        emu.seed_channels([{"name": "E"}, {"name": "E"}])
    with pytest.raises(ValueError, match="already used"):
        emu.seed_channels([{"name": "A"}])
    assert [c["name"] for c in emu.channels()][5:] == ["A", "B"]


def test_in_process_transport_answers_like_real_http(emulator: RunningEmulator) -> None:
    local = httpx.Client(
        transport=EmulatorTransport(emulator.emu), base_url="http://emulator", headers={"apiKey": "demo"}
    )
    remote = client(emulator)
    create(local, name="Via transport")
    for path in (CHANNELS, f"{CHANNELS}/6", f"{CHANNELS}/77"):
        a, b = local.get(path), remote.get(path)
        assert (a.status_code, a.json(), a.headers["content-type"]) == (
            b.status_code,
            b.json(),
            b.headers["content-type"],
        )


# -- persistence ----------------------------------------------------------------------------


def _exercise(c: httpx.Client) -> None:
    create(c, name="Keep", custom_channel_secret="s")
    create(c, name="Drop")
    c.put(f"{CHANNELS}/6", files=form({"icon": "note"}))
    c.delete(f"{CHANNELS}/7")
    c.post(MESSAGES, files=form({"channelID": 6, "message": "persisted"}))


def test_state_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "tenant.json"
    emu = Emulator(state_path=path)
    with serve_in_thread(emu) as server:
        _exercise(client(RunningEmulator(server.url, emu)))
    before = (emu.channels(), emu.tickets())
    emu.close()
    again = Emulator(state_path=path)
    assert (again.channels(), again.tickets()) == before
    assert again.channels()[-1]["custom_channel_secret"] == "s"
    assert again.seed_channels([{"name": "Next"}]) == [8]  # id 7 was deleted: never reused
    again.close()


def test_a_torn_last_journal_line_is_ignored_and_real_damage_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tenant.json"
    emu = Emulator(state_path=path)
    emu.seed_channels([{"name": "Durable"}])
    journal = path.with_name(path.name + ".journal")
    whole = journal.read_bytes()
    assert whole.endswith(b"\n") and b"Durable" in whole
    # A kill in the middle of the next append leaves half a line behind. "Killed": never closed, so
    # never compacted; dropping it closes its files (and its state lock) as the kernel would.
    del emu
    gc.collect()
    journal.write_bytes(whole + b'{"seq": 99, "op": "channel", "channel": {"id": 7, "na')
    loaded = Emulator(state_path=path)
    assert [c["name"] for c in loaded.channels()][-1] == "Durable"
    assert journal.read_bytes() == b""  # compacted at load: the torn tail cannot merge with new lines
    loaded.seed_channels([{"name": "After"}])
    del loaded
    gc.collect()
    journal.write_bytes(b"garbage\n" + journal.read_bytes())
    with pytest.raises(StateFileError, match=r"journal:1: damaged"):
        Emulator(state_path=path)


def test_a_crash_between_snapshot_and_journal_truncation_replays_nothing_twice(tmp_path: Path) -> None:
    path = tmp_path / "tenant.json"
    emu = Emulator(state_path=path)
    emu.seed_channels([{"name": "Once"}])
    journal = path.with_name(path.name + ".journal")
    leftover = journal.read_bytes()
    emu.close()  # snapshot now holds the record...
    journal.write_bytes(leftover)  # ...as if the crash hit before the journal was emptied
    again = Emulator(state_path=path)
    assert [c["name"] for c in again.channels()].count("Once") == 1
    assert again.seed_channels([{"name": "Twice"}]) == [7]


def test_journal_compaction_keeps_io_linear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "MIN_COMPACT_BYTES", 0)  # compact as soon as the journal outgrows the snapshot
    compactions = 0
    original = store_module.Store.compact

    def counting(self: store_module.Store) -> None:
        nonlocal compactions
        compactions += 1
        original(self)

    monkeypatch.setattr(store_module.Store, "compact", counting)
    path = tmp_path / "tenant.json"
    emu = Emulator(state_path=path)
    c = httpx.Client(transport=EmulatorTransport(emu), base_url="http://emulator", headers={"apiKey": "demo"})
    for n in range(600):
        assert c.post(CHANNELS, data={"name": f"bulk {n}"}).status_code == 200
    # The snapshot doubles between compactions: log2(600 * line / snapshot) of them, not one per write.
    assert compactions <= 11
    assert path.with_name(path.name + ".journal").stat().st_size <= path.stat().st_size
    emu.close()
    assert len(Emulator(state_path=path).channels()) == 605


# -- the CLI command -------------------------------------------------------------------------


def _start_cli(*args: str) -> tuple[subprocess.Popen[str], str, str]:
    """Start the command on a free port; returns the process, its URL and its banner."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "from reconciler.cli import main; main()", "emulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    # Read the whole banner here: communicate() reads the pipe underneath readline()'s buffer.
    banner = ""
    while not banner.endswith("Press Ctrl-C to stop.\n"):
        line = proc.stdout.readline()
        assert line, banner + proc.stderr.read()
        banner += line
    assert banner.startswith("Omnidesk emulator listening on http://127.0.0.1:"), banner
    return proc, banner.split()[4], banner


def test_cli_serves_until_sigterm_then_saves_state(tmp_path: Path) -> None:
    state = tmp_path / "cli.json"
    proc, url, banner = _start_cli(
        "--state", str(state), "--api-key", "rw-key=CHANNEL_READ,CHANNEL_CUD", "--api-key", "ro-key=CHANNEL_READ"
    )
    try:
        c = httpx.Client(base_url=url, headers={"apiKey": "rw-key"}, timeout=10)
        create(c, name="From CLI")
        assert c.get(CHANNELS, headers={"apiKey": "ro-key"}).json()["itemTotal"] == 6
        error(c.get(CHANNELS, headers={"apiKey": "demo"}), 401)  # explicit keys replace the demo key
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert (
        "API keys: the 2 given with --api-key (not shown)" in banner
        and "rw-key" not in banner
        and out == f"Emulator stopped; state saved to {state}.\n"
    )
    assert json.loads(state.read_text())["channels"][-1]["name"] == "From CLI"


def test_cli_killed_with_sigkill_loses_no_answered_write(tmp_path: Path) -> None:
    state = tmp_path / "killed.json"
    proc, url, _ = _start_cli("--state", str(state))
    try:
        c = httpx.Client(base_url=url, headers={"apiKey": "demo"}, timeout=10)
        for n in range(20):
            create(c, name=f"answered {n}")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=10)
    names = [ch["name"] for ch in Emulator(state_path=state).channels()]
    assert names[5:] == [f"answered {n}" for n in range(20)]


def test_cli_prints_the_demo_key_and_refuses_unknown_permissions() -> None:
    proc, url, banner = _start_cli()
    try:
        assert banner == (
            f"Omnidesk emulator listening on {url}\n"
            "API key: demo (CHANNEL_READ, CHANNEL_CUD, MESSAGE_CREATE)\n"
            "State: in memory only (lost on exit)\n"
            f"Page: {url}/ (channels, tickets, deliveries; reply as an agent there)\n"
            "Replies: assumed: Omnidesk does not document what it POSTs to a custom channel's endpoint; "
            "this emulator sends Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature v1)\n"
            "Press Ctrl-C to stop.\n"
        )
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
    bad = subprocess.run(
        [sys.executable, "-c", "from reconciler.cli import main; main()", "emulator", "--api-key", "k=CHANNEL_WRITE"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert bad.returncode == 1 and "unknown permission CHANNEL_WRITE" in bad.stderr


def test_cli_help_and_an_unusable_state_file(tmp_path: Path) -> None:
    from clihelp import run_cli

    shown = run_cli(["emulator", "--help"])
    assert shown.exit_code == 0 and "Example:\n    omnidesk-channels emulator --port 8080" in shown.stdout
    missing_dir = tmp_path / "no" / "such" / "dir.json"
    bad = run_cli(["emulator", "--port", "0", "--state", str(missing_dir)])
    assert bad.exit_code == 1 and bad.stderr == (
        f"Error: the folder {missing_dir.parent} does not exist: create it or choose another state file\n"
    )


def test_the_asgi_app_can_be_driven_in_process_by_httpx() -> None:
    import asyncio

    emu = Emulator()

    async def scenario() -> tuple[int, dict]:
        transport = httpx.ASGITransport(app=emu.asgi_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://tenant") as client:
            created = await client.post("/api/v2/channel", headers={"apiKey": "demo"}, data={"name": "In process"})
            listed = await client.get("/api/v2/channel", headers={"apiKey": "demo"}, params={"itemLimit": 99})
            return created.status_code, listed.json()

    status, listing = asyncio.run(scenario())
    assert status == 200
    assert "In process" in [c["name"] for c in listing["items"]]
    emu.close()


def test_options_and_keywords_make_the_same_emulator() -> None:
    """The emulator command passes one EmulatorOptions; Python callers may pass its fields as keywords."""

    def statuses(emu: Emulator) -> list[int]:
        c = httpx.Client(transport=EmulatorTransport(emu), base_url="http://emulator", headers={"apiKey": "demo"})
        return [c.get(CHANNELS).status_code for _ in range(50)]

    given = statuses(Emulator(EmulatorOptions(error_rate=0.5, seed=7, quirks=["no-paging"])))
    assert given == statuses(Emulator(error_rate=0.5, seed=7, quirks=("no-paging",)))
    assert 200 in given and 503 in given
    base = EmulatorOptions(seed=7)
    assert Emulator(base, error_rate=1.0).error_rate == 1.0  # a keyword overrides the options
    with pytest.raises(TypeError):
        Emulator(no_such_knob=1)
    with pytest.raises(ValueError, match="unknown quirk"):
        EmulatorOptions(quirks=["no-such-quirk"])

"""Lost create answers resolved together, and a key that cannot write stopping apply at the first
refusal, through the CLI against the emulator over real HTTP."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
from clihelp import run_cli

from reconciler.client import OmnideskClient, UncertainCreate
from reconciler.errors import FieldRejected

SECRET_VAR = "LOST_SECRET"


def write_file(tmp_path: Path, n: int, *, warning: bool = False) -> str:
    lines = ["version: 1", "channels:"]
    for i in range(n):
        lines += [f"  - name: Lost {i:03d}", "    icon: sms", f"    custom_channel_secret: ${{env:{SECRET_VAR}}}"]
        if warning:
            lines.append(f"    custom_channel_warning_en: Replies take {i % 5 + 1} days")
    path = tmp_path / "channels.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def customs(running: Any) -> list[dict[str, Any]]:
    return [c for c in running.emu.channels() if c["type"] == "custom"]


def apply(running: Any, path: str, *extra: str, key: str = "demo") -> Any:
    return run_cli(
        ["apply", path, "--url", running.url, "--yes", *extra], {"OMNIDESK_API_KEY": key, SECRET_VAR: "s3cret"}
    )


def test_lost_answers_are_resolved_by_one_list_read_and_nothing_is_created_twice(make_emulator, tmp_path: Path) -> None:
    running = make_emulator(lose_create_responses=0.3, seed=3)
    result = apply(running, write_file(tmp_path, 60))
    assert result.exit_code == 0, result.output
    names = [c["name"] for c in customs(running)]
    assert sorted(names) == [f"Lost {i:03d}" for i in range(60)]
    lost = running.emu.stats["status:504"]
    assert 5 <= lost <= 35
    assert running.emu.stats["create"] == 60  # none sent again: every lost one had landed
    assert running.emu.stats["list"] == 2  # the plan's read, and one read for every lost answer


def test_a_create_found_after_a_lost_answer_still_gets_its_put_only_fields(make_emulator, tmp_path: Path) -> None:
    running = make_emulator(lose_create_responses=1.0)
    result = apply(running, write_file(tmp_path, 12, warning=True))
    assert result.exit_code == 0, result.output
    warnings = {c["name"]: c["custom_channel_warning_en"] for c in customs(running)}
    assert warnings == {f"Lost {i:03d}": f"Replies take {i % 5 + 1} days" for i in range(12)}
    assert running.emu.stats["create"] == 12 and running.emu.stats["update"] == 12
    assert running.emu.stats["list"] == 2


def test_a_list_that_never_settles_gives_up_and_says_run_plan(make_emulator, tmp_path: Path) -> None:
    # Once the creates begin, every list page deletes a filler channel: the total shrinks under
    # each read, so no read of the list can be trusted.
    started = []

    def shrink(method: str, path: str, query: dict[str, str]) -> None:
        if method == "POST":
            started.append(True)
        elif method == "GET" and started:
            filler = next(c for c in running.emu.channels() if c["name"].startswith("Filler"))
            running.emu.handle("DELETE", f"/api/v2/channel/{filler['id']}", {}, {"apiKey": "demo"}, b"")

    running = make_emulator(lose_create_responses=1.0, before_request=shrink)
    running.emu.seed_channels([{"name": f"Filler {i:03d}"} for i in range(300)])
    running.emu.reset_stats()
    result = apply(running, write_file(tmp_path, 4))
    assert result.exit_code == 1
    assert "4 of 4 operations failed:" in result.stderr
    assert "  the same for 3 more: 'Lost 001', 'Lost 002', 'Lost 003'\n" in result.stderr  # one cause, said once
    assert re.search(
        r"^  Lost 000: unknown whether created \(POST /api/v2/channel: the server answered "
        r"504 \(HTTP 504\); the channel list could not be read: GET /api/v2/channel: the channel "
        r"list kept changing while it was read \(3 attempts; .*\); run plan to see$",
        result.stderr,
        re.M,
    ), result.stderr
    assert running.emu.stats["create"] == 4
    # The plan's read (4 pages) and three attempts at one read: a few pages each, never paging forever.
    assert running.emu.stats["list"] <= 4 + 3 * 4


def test_try_create_reports_uncertainty_and_one_read_finds_many() -> None:
    answers = [
        httpx.Response(504),
        httpx.Response(400, json={"status": "error", "field": "name", "message": "taken"}),
        httpx.Response(
            200,
            json={
                "type": "list",
                "itemTotal": 3,
                "items": [
                    {"id": 1, "type": "email", "name": "a"},
                    {"id": 7, "type": "custom", "name": "a"},
                    {"id": 8, "type": "custom", "name": "b"},
                ],
            },
        ),
    ]
    client = OmnideskClient(
        "https://t.omnidesk.com",
        "k3y-0123456789",
        sleep=lambda s: None,
        transport=httpx.MockTransport(lambda request: answers.pop(0)),
    )
    first = client.try_create({"name": "a"})
    assert isinstance(first, UncertainCreate) and first.error.status == 504 and not first.landed
    again = client.try_create({"name": "b"}, again=True)  # a 400 on name may be our own late landing
    assert isinstance(again, UncertainCreate) and isinstance(again.error, FieldRejected)
    found = client.find_custom_channels(["a", "b", "c"])
    assert {name: c.id for name, c in found.items()} == {"a": 7, "b": 8}
    assert client.stats["list_read"] == 1


def test_the_first_refused_write_stops_apply_and_says_once_what_the_key_lacks(make_emulator, tmp_path: Path) -> None:
    running = make_emulator(api_keys={"read-only-key": {"CHANNEL_READ"}})
    result = apply(running, write_file(tmp_path, 40), "--parallelism", "2", key="read-only-key")
    assert result.exit_code == 1
    refused = running.emu.stats["create"]
    assert 1 <= refused <= 3, refused  # those already in flight at the first 403
    assert (
        f"Error: the API key in OMNIDESK_API_KEY lacks the CHANNEL_CUD permission: {refused} of 40 operations "
        f"were refused (403) and apply stopped there; {40 - refused} not started.\n"
        "A re-run needs a key with CHANNEL_CUD in OMNIDESK_API_KEY; nothing was rolled back.\n"
    ) in result.stderr
    assert result.stderr.count("lacks the CHANNEL_CUD permission:") == 1
    assert len(result.stderr.splitlines()) <= refused + 4  # not one line per planned write
    assert "read-only-key" not in result.output


def test_a_refused_delete_stops_the_creates_too_and_names_the_tenants_key_variable(
    make_emulator, tmp_path: Path
) -> None:
    running = make_emulator(api_keys={"ro-key": {"CHANNEL_READ"}})
    running.emu.seed_channels([{"name": "Old one"}])
    path = tmp_path / "channels.yaml"
    path.write_text(
        f"version: 1\nprune: true\ntenants:\n  acme:\n    url: {running.url}\n"
        "    api_key_env: ACME_KEY\nchannels:\n  - name: New one\n",
        encoding="utf-8",
    )
    result = run_cli(["apply", str(path), "--tenant", "acme", "--yes"], {"ACME_KEY": "ro-key"})
    assert result.exit_code == 1
    assert "the API key in ACME_KEY lacks the CHANNEL_CUD permission: 1 of 2 operations were refused" in result.stderr
    assert "1 not started" in result.stderr and "A re-run needs a key with CHANNEL_CUD in ACME_KEY" in result.stderr
    assert running.emu.stats["delete"] == 1 and running.emu.stats["create"] == 0

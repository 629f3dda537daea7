"""Every command against a tenant of 2,000 custom channels (21 pages of 99), end to end over real HTTP.

A bug that only shows past the first page, or past a few hundred channels (paging, dedupe, the
create rounds under load, import's splicing), is caught here rather than by the benchmark, which
asserts nothing. Each test asserts the result a user would check: counts, the file, the server.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from clihelp import run_cli
from conftest import RunningEmulator
from test_tenants_e2e import custom, start_two_tenants, writes

SIZE = 2000


def channel(i: int) -> dict[str, Any]:
    return {
        "name": f"Bridge {i:04d}",
        "icon": ["chat", "sms", "note"][i % 3],
        "custom_channel_endpoint": f"https://bridge{i % 7}.example.com/in",
        "custom_channel_warning_en": f"Warning {i}" if i % 5 == 0 else "",
    }


def seeded(make_emulator: Callable[..., RunningEmulator]) -> RunningEmulator:
    running = make_emulator()
    running.emu.seed_channels([channel(i) for i in range(SIZE)])
    return running


def file_of(channels: list[dict[str, Any]], **top: Any) -> str:
    body = [{k: v for k, v in c.items() if v != ""} for c in channels]
    return yaml.safe_dump({"version": 1, **top, "channels": body}, sort_keys=False)


def env(running: RunningEmulator) -> dict[str, str]:
    return {"OMNIDESK_URL": running.url, "OMNIDESK_API_KEY": running.key}


def test_plan_of_a_matching_file_is_empty_and_a_changed_one_is_exact(tmp_path: Path, make_emulator) -> None:
    tenant = seeded(make_emulator)
    path = tmp_path / "c.yaml"
    path.write_text(file_of([channel(i) for i in range(SIZE)]))
    same = run_cli(["plan", str(path), "--detailed-exitcode"], env(tenant))
    assert same.exit_code == 0, same.output
    assert "No changes." in same.stdout
    changed = [channel(i) for i in range(SIZE)]
    for c in changed[::40]:
        c["icon"] = "star"
    path.write_text(file_of([*changed, {"name": "Brand new"}]))
    result = run_cli(["plan", str(path), "--detailed-exitcode"], env(tenant))
    assert result.exit_code == 2, result.output
    assert "Plan: 1 to create, 50 to update, 0 to delete." in result.stdout
    assert tenant.emu.stats["list"] <= 2 * (SIZE // 99 + 2)  # one paged read per plan


def test_apply_of_ten_percent_changes_exactly_those(tmp_path: Path, make_emulator) -> None:
    tenant = seeded(make_emulator)
    wanted = [channel(i) for i in range(SIZE) if i % 20]  # 100 pruned
    for c in wanted[::20]:
        c["custom_channel_warning_nl"] = "Let op"  # 95 updated (PUT-only field)
    wanted += [{"name": f"New {i:03d}", "icon": "star", "custom_channel_warning_en": "New"} for i in range(5)]
    path = tmp_path / "c.yaml"
    path.write_text(file_of(wanted, prune=True))
    result = run_cli(["apply", str(path), "--yes", "--allow-deletes", "100", "--allow-updates", "95"], env(tenant))
    assert result.exit_code == 0, result.output
    assert "Apply: 5 created, 95 updated, 100 deleted (of 200 planned)." in result.stderr
    made = custom(tenant.emu)
    assert len(made) == SIZE - 100 + 5
    assert made["New 004"]["custom_channel_warning_en"] == "New"  # the create's PUT landed too
    assert sum(c["custom_channel_warning_nl"] == "Let op" for c in made.values()) == 95
    again = run_cli(["plan", str(path), "--detailed-exitcode"], env(tenant))
    assert again.exit_code == 0, again.output


def test_export_holds_every_channel_and_plans_empty(tmp_path: Path, make_emulator) -> None:
    tenant = seeded(make_emulator)
    out = tmp_path / "export.yaml"
    result = run_cli(["export", "--out", str(out)], env(tenant))
    assert result.exit_code == 0, result.output
    exported = yaml.safe_load(out.read_text())["channels"]
    assert len(exported) == SIZE
    assert len({c["name"] for c in exported}) == SIZE
    assert {c["name"] for c in exported} == {channel(i)["name"] for i in range(SIZE)}
    plan = run_cli(["plan", str(out), "--detailed-exitcode"], env(tenant))
    assert plan.exit_code == 0, plan.output


def test_import_adds_what_the_file_lacks_and_keeps_what_it_has(tmp_path: Path, make_emulator) -> None:
    tenant = seeded(make_emulator)
    path = tmp_path / "c.yaml"
    head = (
        "# owned by the helpdesk team\nversion: 1\nchannels:\n  - name: Bridge 0000  # the first one\n"
        "    icon: chat\n    custom_channel_endpoint: https://bridge0.example.com/in\n"
        "    custom_channel_warning_en: Warning 0\n"
    )
    path.write_text(head)
    result = run_cli(["import", str(path)], env(tenant))
    assert result.exit_code == 0, result.output
    text = path.read_text()
    assert text.startswith(head)  # comments and bytes kept
    names = [c["name"] for c in yaml.safe_load(text)["channels"]]
    assert len(names) == SIZE and len(set(names)) == SIZE
    plan = run_cli(["plan", str(path), "--detailed-exitcode"], env(tenant))
    assert plan.exit_code == 0, plan.output
    nothing = run_cli(["import", str(path)], env(tenant))
    assert nothing.exit_code == 0, nothing.output
    assert path.read_text() == text


@pytest.fixture
def two(make_emulator, tmp_path: Path):  # type: ignore[no-untyped-def]
    tenants = start_two_tenants(make_emulator, tmp_path)
    tenants.staging.emu.seed_channels([channel(i) for i in range(SIZE)])
    tenants.production.emu.seed_channels([channel(i) for i in range(0, SIZE, 2)])
    return tenants


def test_clone_copies_every_channel_the_destination_lacks(two) -> None:  # type: ignore[no-untyped-def]
    path = two.write(staging_vars={}, production_vars={})
    dry = two.run("clone", path, "--from", "staging", "--to", "production")
    assert dry.exit_code == 0, dry.output
    assert "Plan: 1000 to create, 0 to update, 0 to delete." in dry.stdout
    assert writes(two.production.emu) == 0
    secrets = {f"BRIDGE_{i:04d}_SECRET": f"s{i}" for i in range(1, SIZE, 2)}  # what the export asks for
    done = two.run("clone", path, "--from", "staging", "--to", "production", "--yes", **secrets)
    assert done.exit_code == 0, done.output
    assert "Apply: 1000 created, 0 updated, 0 deleted (of 1000 planned)." in done.stderr
    assert custom(two.production.emu).keys() == custom(two.staging.emu).keys()
    assert len(custom(two.production.emu)) == SIZE
    assert custom(two.production.emu)["Bridge 1999"]["custom_channel_secret"] == "s1999"

"""``--shard K/N``: a CI matrix spreads the tenants, each tenant in exactly one shard (#22).

Tested through the CLI against the emulator over real HTTP: for several N, the shards' tenants are
disjoint and together every tenant, and the union of the shards' plans is the unsharded plan. The
tenants come from tenant files (the agency's layout), in two different orders on disk.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clihelp import run_cli

from reconciler.shard import Shard, jump_hash

TENANTS = [f"brand-{n:02d}" for n in range(14)]
CHANNELS = """\
version: 1
tenants: {tenants}
channels:
  - name: SMS gateway
    custom_channel_endpoint: https://${{var:host}}/sms
"""


@pytest.fixture
def agency(tmp_path: Path, emulator) -> tuple[Path, dict[str, str]]:
    """Fourteen tenant files on one emulator; brand-03 already has its channel (no change there)."""
    emulator.emu.seed_channels([{"name": "SMS gateway", "custom_channel_endpoint": "https://sms.brand-03.example/sms"}])
    (tmp_path / "tenants").mkdir()
    for name in TENANTS:
        (tmp_path / "tenants" / f"{name}.yaml").write_text(
            f"url: {emulator.url}\napi_key_env: AGENCY_KEY\nvars: {{host: sms.{name}.example}}\n"
        )
    (tmp_path / "channels.yaml").write_text(CHANNELS.format(tenants="tenants/"))
    return tmp_path, {"AGENCY_KEY": emulator.key}


def plans(path: Path, env: dict[str, str], *options: str) -> dict[str, dict]:
    result = run_cli(["plan", str(path), "--all-tenants", "--format", "json", *options], env)
    assert result.exit_code == 0, result.output
    return {t["tenant"]: t["plan"] for t in json.loads(result.stdout)["tenants"]}


def test_every_tenant_in_exactly_one_shard_and_the_union_is_the_unsharded_plan(agency):
    root, env = agency
    whole = plans(root / "channels.yaml", env)
    assert sorted(whole) == TENANTS and whole["brand-03"]["changes"] == []
    for total in (1, 2, 3, 5):
        union: dict[str, dict] = {}
        for index in range(1, total + 1):
            part = plans(root / "channels.yaml", env, "--shard", f"{index}/{total}")
            assert not set(part) & set(union), (index, total)  # in one shard only
            union.update(part)
        assert union == whole, total


def test_shards_do_not_depend_on_the_order_of_the_files(agency):
    root, env = agency
    reordered = "[" + ", ".join(f"'tenants/{name}.yaml'" for name in reversed(TENANTS)) + "]"
    (root / "reordered.yaml").write_text(CHANNELS.format(tenants=reordered))
    for index in (1, 2, 3):
        forward = plans(root / "channels.yaml", env, "--shard", f"{index}/3")
        backward = plans(root / "reordered.yaml", env, "--shard", f"{index}/3")
        assert sorted(forward) == sorted(backward) and forward


def test_the_run_says_which_shard_and_how_many_tenants(agency):
    root, env = agency
    result = run_cli(["plan", str(root / "channels.yaml"), "--all-tenants", "--shard", "2/3"], env)
    assert result.exit_code == 0, result.output
    count = len(Shard(2, 3).pick(TENANTS))
    assert result.stderr.splitlines()[0] == f"shard 2 of 3: {count} tenants"
    assert result.stdout.count("== brand-") == count


@pytest.mark.parametrize(
    "shard, message",
    [
        ("0/4", "'0/4': K must be from 1 to N"),
        ("5/4", "'5/4': K must be from 1 to N"),
        ("1/0", "'1/0': K must be from 1 to N and N at least 1"),
        ("2-4", "'2-4' is not K/N: write the shard's number and the number of shards, e.g. 2/4"),
        ("", "'' is not K/N"),
    ],
)
def test_a_bad_shard_is_a_usage_error(agency, shard, message):
    root, env = agency
    result = run_cli(["plan", str(root / "channels.yaml"), "--all-tenants", "--shard", shard], env)
    assert result.exit_code == 1, result.output  # a usage error: 2 means "changes" here
    assert "Invalid value for '--shard'" in result.stderr and message in result.stderr
    assert "Traceback" not in result.output


def test_a_shard_needs_all_tenants(agency):
    root, env = agency
    result = run_cli(["plan", str(root / "channels.yaml"), "--tenant", "brand-01", "--shard", "1/2"], env)
    assert result.exit_code == 1 and "--shard splits --all-tenants" in result.stderr, result.output


def test_adding_a_tenant_moves_no_other_and_growing_n_moves_only_what_the_new_shard_takes():
    names = [f"tenant-{n}" for n in range(2000)]
    before = {name: next(k for k in range(1, 5) if Shard(k, 4).holds(name)) for name in names}
    after = {name: next(k for k in range(1, 5) if Shard(k, 4).holds(name)) for name in [*names, "tenant-new"]}
    assert all(after[name] == before[name] for name in names)
    grown = {name: next(k for k in range(1, 6) if Shard(k, 5).holds(name)) for name in names}
    moved = [name for name in names if grown[name] != before[name]]
    assert all(grown[name] == 5 for name in moved)  # only into the new shard
    assert 300 < len(moved) < 500  # about a fifth
    assert sorted(len(Shard(k, 4).pick(names)) for k in range(1, 5))[0] > 430  # about 500 each
    assert {jump_hash(key, 1) for key in range(100)} == {0}

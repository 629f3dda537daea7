"""``--shard K/N``: a CI matrix spreads the tenants, each tenant in exactly one shard (#22).

Tested through the CLI against the emulator over real HTTP: for several N, the shards' tenants are
disjoint and together every tenant, and the union of the shards' plans is the unsharded plan. The
tenants come from tenant files (the agency's layout), in two different orders on disk.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
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


def shard_of(name: str, total: int) -> int:
    return next(k for k in range(1, total + 1) if Shard(k, total).holds(name))


def test_a_shard_reads_only_its_own_tenant_files_and_validate_reads_them_all(agency):
    """A broken file (bad YAML, a second file of one name) stops only the shard its name falls in."""
    root, env = agency
    broken = "brand-05"
    (root / "tenants" / f"{broken}.yaml").write_text("url: [unclosed\n")
    (root / "tenants" / "more").mkdir()
    twin = next(name for name in TENANTS if shard_of(name, 3) != shard_of(broken, 3))
    (root / "tenants" / "more" / f"{twin}.yaml").write_text("url: https://twin.example\n")
    (root / "channels.yaml").write_text(CHANNELS.format(tenants="'tenants/**/*.yaml'"))
    failing = {shard_of(broken, 3), shard_of(twin, 3)}
    for index in range(1, 4):
        result = run_cli(["plan", str(root / "channels.yaml"), "--all-tenants", "--shard", f"{index}/3"], env)
        if index in failing:
            assert result.exit_code == 1 and "Traceback" not in result.output, result.output
            if index == shard_of(broken, 3):
                assert "brand-05.yaml:2:1: YAML syntax error" in result.stderr, result.stderr
            if index == shard_of(twin, 3):
                assert f"tenant '{twin}' is defined twice" in result.stderr, result.stderr
        else:  # neither file was opened, or the shard would have said so
            assert result.exit_code == 0, result.output
            assert result.stdout.count("== brand-") == len(Shard(index, 3).pick(TENANTS))
    checked = run_cli(["validate", str(root / "channels.yaml")], env)
    assert checked.exit_code == 1 and "brand-05.yaml:2:1: YAML syntax error" in checked.stderr
    assert f"tenant '{twin}' is defined twice" in checked.stderr


def test_a_channel_may_name_a_tenant_of_another_shard_but_not_an_unknown_one(agency):
    root, env = agency
    limited = CHANNELS.format(tenants="tenants/") + "  - name: Only two\n    tenants: [brand-00, brand-13]\n"
    (root / "channels.yaml").write_text(limited)
    whole = plans(root / "channels.yaml", env)
    union: dict[str, dict] = {}
    for index in range(1, 5):
        union.update(plans(root / "channels.yaml", env, "--shard", f"{index}/4"))
    assert union == whole
    assert [t for t, plan in whole.items() if "Only two" in json.dumps(plan)] == ["brand-00", "brand-13"]

    (root / "channels.yaml").write_text(limited.replace("brand-13]", "brand-99]"))
    for index in range(1, 5):  # the main file is every shard's: each one says it
        result = run_cli(["plan", str(root / "channels.yaml"), "--all-tenants", "--shard", f"{index}/4"], env)
        assert result.exit_code == 1 and "unknown tenant 'brand-99' (known tenants: " in result.stderr, result.output


def test_an_empty_shard_plans_nothing_and_succeeds(agency):
    root, env = agency
    (root / "tenants" / "one").mkdir()
    (root / "tenants" / "brand-00.yaml").rename(root / "tenants" / "one" / "brand-00.yaml")
    (root / "channels.yaml").write_text(CHANNELS.format(tenants="tenants/one/"))
    empty = next(k for k in range(1, 4) if k != shard_of("brand-00", 3))
    result = run_cli(["plan", str(root / "channels.yaml"), "--all-tenants", "--shard", f"{empty}/3"], env)
    assert (result.exit_code, result.stderr.splitlines()[0]) == (0, f"shard {empty} of 3: 0 tenants"), result.output


def test_inline_tenants_are_sharded_by_the_same_names(agency):
    root, env = agency
    inline = {name: yaml.safe_load((root / "tenants" / f"{name}.yaml").read_text()) for name in TENANTS}
    (root / "inline.yaml").write_text(CHANNELS.format(tenants=json.dumps(inline)))
    for index in (1, 2, 3):
        from_files = plans(root / "channels.yaml", env, "--shard", f"{index}/3")
        assert plans(root / "inline.yaml", env, "--shard", f"{index}/3") == from_files
        assert sorted(from_files) == sorted(Shard(index, 3).pick(TENANTS))

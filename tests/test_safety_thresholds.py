"""Issue 11: an update threshold like the delete one, both set per file and per tenant (``safety:``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clihelp import run_cli

from reconciler.checks import check_safety
from reconciler.errors import UnsafePlanError
from reconciler.planning import make_plan
from reconciler.thresholds import Thresholds


def channels(count: int, endpoint: str = "https://old.example.com/hook", start: int = 0) -> str:
    return "".join(
        f"  - name: Channel {i:02d}\n    custom_channel_endpoint: {endpoint}\n" for i in range(start, start + count)
    )


def file_text(*, changed: int, safety: str = "", tenants: str = "", prune: bool = False) -> str:
    """Ten channels on the tenant; the file changes the endpoint of the first ``changed``."""
    return (
        "version: 1\n"
        + ("prune: true\n" if prune else "")
        + safety
        + tenants
        + "channels:\n"
        + channels(changed, "https://new.example.com/hook")
        + channels(10 - changed, start=changed)
    )


@pytest.fixture
def tenant(emulator):
    emulator.emu.seed_channels(
        [{"name": f"Channel {i:02d}", "custom_channel_endpoint": "https://old.example.com/hook"} for i in range(10)]
    )
    emulator.emu.reset_stats()
    return emulator


def env(tenant) -> dict[str, str]:
    return {"OMNIDESK_URL": tenant.url, "OMNIDESK_API_KEY": tenant.key}


def write(tmp_path: Path, text: str, name: str = "channels.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def updates(emu) -> int:
    return emu.stats["update"]


def test_updating_more_than_30_percent_needs_the_exact_count(tmp_path, tenant):
    path = write(tmp_path, file_text(changed=4))
    refused = run_cli(["apply", path, "--yes"], env(tenant))
    assert refused.exit_code == 1
    assert refused.stderr == (
        "Error: the plan updates 4 of 10 custom channels (more than 30%); nothing was changed. "
        "If that is intended, run again with --allow-updates 4\n"
    )
    wrong = run_cli(["apply", path, "--yes", "--allow-updates", "3"], env(tenant))
    assert wrong.exit_code == 1
    assert wrong.stderr == (
        "Error: --allow-updates 3 was given but the plan updates 4 channel(s); nothing was "
        "changed. Review the plan; if it is intended, pass --allow-updates 4\n"
    )
    plan = run_cli(["plan", path], env(tenant))
    assert plan.exit_code == 0
    # plan changes nothing, so its warning does not say "nothing was changed"
    assert (
        "Warning: apply will refuse this plan: the plan updates 4 of 10 custom channels (more than 30%); "
        "if that is intended, pass --allow-updates 4 to apply\n"
    ) in plan.stderr
    assert "nothing was changed" not in plan.stderr
    assert updates(tenant.emu) == 0

    ok = run_cli(["apply", path, "--yes", "--allow-updates", "4"], env(tenant))
    assert ok.exit_code == 0, ok.output
    assert updates(tenant.emu) == 4


def test_three_of_ten_is_within_the_default(tmp_path, tenant):
    result = run_cli(["apply", write(tmp_path, file_text(changed=3)), "--yes"], env(tenant))
    assert result.exit_code == 0, result.output
    assert updates(tenant.emu) == 3


def test_too_many_updates_and_deletes_are_named_in_one_message(tmp_path, tenant):
    text = "version: 1\nprune: true\nchannels:\n" + channels(4, "https://new.example.com/hook")
    result = run_cli(["apply", write(tmp_path, text), "--yes"], env(tenant))
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: the plan updates 4 of 10 custom channels (more than 30%) and the plan deletes 6 of 10 custom "
        "channels (more than 30%); nothing was changed. If that is intended, run again with --allow-updates 4 "
        "--allow-deletes 6\n"
    )
    ok = run_cli(["apply", write(tmp_path, text), "--yes", "--allow-updates", "4", "--allow-deletes", "6"], env(tenant))
    assert ok.exit_code == 0, ok.output


def test_the_file_sets_the_shares(tmp_path, tenant):
    loose = write(tmp_path, file_text(changed=5, safety="safety: {max_update_share: 0.5}\n"))
    assert run_cli(["apply", loose, "--yes"], env(tenant)).exit_code == 0
    assert updates(tenant.emu) == 5

    strict = write(
        tmp_path,
        "version: 1\nprune: true\nsafety: {max_delete_share: 0.1}\nchannels:\n"
        + channels(8, "https://new.example.com/hook"),
    )
    refused = run_cli(["apply", strict, "--yes", "--allow-updates", "3"], env(tenant))
    assert refused.exit_code == 1
    assert "the plan deletes 2 of 10 custom channels (more than 10%)" in refused.stderr


def test_a_tenants_share_wins_over_the_files(tmp_path, tenant):
    tenants = (
        f"tenants:\n  lenient: {{url: '{tenant.url}'}}\n"
        f"  strict: {{url: '{tenant.url}', safety: {{max_update_share: 0.2}}}}\n"
    )
    path = write(tmp_path, file_text(changed=3, safety="safety: {max_update_share: 0.5}\n", tenants=tenants))
    key = {"OMNIDESK_API_KEY": tenant.key}
    strict = run_cli(["plan", path, "--tenant", "strict"], key)
    assert "the plan updates 3 of 10 custom channels (more than 20%)" in strict.stderr
    assert run_cli(["apply", path, "--tenant", "strict", "--yes"], key).exit_code == 1
    assert updates(tenant.emu) == 0
    lenient = run_cli(["apply", path, "--tenant", "lenient", "--yes"], key)
    assert lenient.exit_code == 0, lenient.output
    assert updates(tenant.emu) == 3


def test_a_saved_plan_applies_with_the_thresholds_it_was_planned_with(tmp_path, tenant):
    path = write(tmp_path, file_text(changed=5, safety="safety: {max_update_share: 0.5}\n"))
    saved = tmp_path / "plan.json"
    assert run_cli(["plan", path, "--out", str(saved)], env(tenant)).exit_code == 0
    assert json.loads(saved.read_text())["safety"] == {"max_update_share": 0.5, "max_delete_share": 0.3}
    write(tmp_path, file_text(changed=5))  # the file no longer allows it: the reviewed plan still does
    assert run_cli(["apply", str(saved)], env(tenant)).exit_code == 0
    assert updates(tenant.emu) == 5

    # loosening the thresholds in the file after review is an edit the digest catches
    tenant.emu.reset_stats()
    strict = write(
        tmp_path,
        file_text(changed=4, safety="safety: {max_update_share: 0.1}\n").replace("new.example", "newer.example"),
    )
    assert run_cli(["plan", strict, "--out", str(saved)], env(tenant)).exit_code == 0
    document = json.loads(saved.read_text())
    document["safety"]["max_update_share"] = 1.0
    saved.write_text(json.dumps(document), encoding="utf-8")
    edited = run_cli(["apply", str(saved)], env(tenant))
    assert edited.exit_code == 1 and "edited after it was made" in edited.stderr
    assert updates(tenant.emu) == 0


def test_clone_takes_allow_updates(tmp_path, make_emulator):
    staging, production = make_emulator(), make_emulator()
    for emu, endpoint in ((staging.emu, "new"), (production.emu, "old")):
        emu.seed_channels(
            [
                {"name": f"Channel {i:02d}", "custom_channel_endpoint": f"https://{endpoint}.example.com/x"}
                for i in range(10)
            ]
        )
    production.emu.reset_stats()
    path = write(
        tmp_path,
        f"version: 1\ntenants:\n  staging: {{url: '{staging.url}'}}\n"
        f"  production: {{url: '{production.url}'}}\nchannels: []\n",
    )
    args = ["clone", path, "--from", "staging", "--to", "production", "--yes"]
    refused = run_cli(args, {"OMNIDESK_API_KEY": "demo"})
    assert refused.exit_code == 1
    assert "the plan updates 10 of 10 custom channels (more than 30%)" in refused.stderr
    assert "--allow-updates 10" in refused.stderr and updates(production.emu) == 0
    ok = run_cli([*args, "--allow-updates", "10"], {"OMNIDESK_API_KEY": "demo"})
    assert ok.exit_code == 0, ok.output
    assert updates(production.emu) == 10


@pytest.mark.parametrize(
    "safety, message",
    [
        ("{max_update_share: 2}", "safety.max_update_share: "),
        ("{max_delete_share: -0.1}", "safety.max_delete_share: "),
        ("{max_deletes: 0.1}", "unknown key 'max_deletes': did you mean 'max_delete_share'?"),
    ],
)
def test_bad_safety_values_are_config_errors(tmp_path, safety, message):
    result = run_cli(["validate", write(tmp_path, f"version: 1\nsafety: {safety}\nchannels: []\n")])
    assert result.exit_code == 1
    assert message in result.stderr and result.stderr.startswith("Error: 1 problem in the channels file:\n")


def test_the_checks_count_only_tenants_with_ten_channels_or_more():
    from reconciler.model import DesiredChannel, RemoteChannel, normalize_fields

    current = [RemoteChannel(id=i, type="custom", fields=normalize_fields({"name": f"C{i}"})) for i in range(9)]
    desired = [DesiredChannel(fields=normalize_fields({"name": f"C{i}", "icon": "sms"})) for i in range(9)]
    plan = make_plan(desired, current)
    assert len(plan.updates) == 9
    check_safety(plan, thresholds=Thresholds(max_update_share=0.0))  # 9 channels: below the floor
    more = make_plan(
        [*desired, DesiredChannel(fields=normalize_fields({"name": "C9"}))],
        [*current, RemoteChannel(id=9, type="custom", fields=normalize_fields({"name": "C9"}))],
    )
    with pytest.raises(UnsafePlanError):
        check_safety(more, thresholds=Thresholds(max_update_share=0.0))


@pytest.mark.parametrize("forged", [True, "1", 1.5, -1], ids=["bool", "string", "above-1", "negative"])
def test_a_saved_plan_with_forged_thresholds_gets_the_defaults(tmp_path, tenant, forged):
    """Safety values in a saved plan are not schema-checked (only the digest pins them): a value that is
    not a share in [0, 1] is ignored, so the stricter default holds, even when the digest was recomputed."""
    from reconciler.planfile import _document_digest

    path = write(tmp_path, file_text(changed=5, safety="safety: {max_update_share: 0.5}\n"))
    saved = tmp_path / "plan.json"
    assert run_cli(["plan", path, "--out", str(saved)], env(tenant)).exit_code == 0
    document = json.loads(saved.read_text())
    document["safety"]["max_update_share"] = forged
    document["digest"] = _document_digest(
        document["plan"], document["connection"], document["secrets"], document["safety"]
    )
    saved.write_text(json.dumps(document), encoding="utf-8")
    refused = run_cli(["apply", str(saved)], env(tenant))
    assert refused.exit_code == 1, refused.output
    assert "Error: the plan updates 5 of 10 custom channels (more than 30%)" in refused.stderr
    assert updates(tenant.emu) == 0


@pytest.mark.parametrize("share, changed, allowed", [("0", 1, False), ("1", 10, True), ("1.0", 10, True)])
def test_the_shares_bounds_are_inclusive(tmp_path, tenant, share, changed, allowed):
    """0 (refuse any update) and 1 (allow all) are both valid shares, in the file as in the schema."""
    path = write(tmp_path, file_text(changed=changed, safety=f"safety: {{max_update_share: {share}}}\n"))
    result = run_cli(["apply", path, "--yes"], env(tenant))
    assert result.exit_code == (0 if allowed else 1), result.output
    assert updates(tenant.emu) == (changed if allowed else 0)

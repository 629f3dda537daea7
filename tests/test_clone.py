"""``clone --from staging --to production`` end to end: two emulated tenants over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import RunningEmulator
from test_tenants_e2e import TwoTenants, custom, start_two_tenants, writes

STAGING = [
    {
        "name": "WhatsApp bridge",
        "custom_channel_endpoint": "https://bridge.staging.acme.com/omnidesk/api/message",
        "include_signature": "true",
    },
    {
        "name": "SMS gateway",
        "icon": "sms",
        "custom_channel_endpoint": "https://sms.example.com/hook",
        "custom_channel_warning_en": "Replies via bridge.staging.acme.com can take an hour",
    },
    {"name": "Instagram DM", "icon": "instagram"},
]
SECRETS = {"WHATSAPP_BRIDGE_SECRET": "wa-prod", "SMS_GATEWAY_SECRET": "sms-prod", "INSTAGRAM_DM_SECRET": "ig-prod"}


@pytest.fixture
def tenants(make_emulator: Callable[..., RunningEmulator], tmp_path: Path) -> TwoTenants:
    two = start_two_tenants(make_emulator, tmp_path)
    two.staging.emu.seed_channels(STAGING)
    return two


def clone(tenants: TwoTenants, *args: str, **env: str):  # type: ignore[no-untyped-def]
    return tenants.run("clone", tenants.write(), "--from", "staging", "--to", "production", *args, **env)


def test_into_an_empty_tenant_dry_run_first_then_yes(tenants: TwoTenants) -> None:
    dry = clone(tenants, **SECRETS)
    assert dry.exit_code == 0, dry.output
    assert "Plan: 3 to create, 0 to update, 0 to delete. Target: production (" in dry.stdout
    assert (
        f"Dry run: nothing was changed on production ({tenants.production.url}). "
        "Pass --yes to apply this plan, or --out PLAN to save it." in dry.stderr
    )
    assert "templated: 2 occurrence(s) of the value of bridge_host -> ${var:bridge_host}" in dry.stderr
    assert writes(tenants.production.emu) == 0

    done = clone(tenants, "--yes", **SECRETS)
    assert done.exit_code == 0, done.output
    assert "Apply: 3 created, 0 updated, 0 deleted (of 3 planned)." in done.stderr
    made = custom(tenants.production.emu)
    assert sorted(made) == ["Instagram DM", "SMS gateway", "WhatsApp bridge"]
    assert made["WhatsApp bridge"]["custom_channel_endpoint"] == "https://bridge.acme.com/omnidesk/api/message"
    assert made["WhatsApp bridge"]["include_signature"] is True
    assert made["SMS gateway"]["custom_channel_warning_en"] == "Replies via bridge.acme.com can take an hour"
    assert made["SMS gateway"]["icon"] == "sms"
    assert {n: c["custom_channel_secret"] for n, c in made.items()} == {
        "WhatsApp bridge": "wa-prod",
        "SMS gateway": "sms-prod",
        "Instagram DM": "ig-prod",
    }
    assert writes(tenants.staging.emu) == 0, "the source is only read"

    again = clone(tenants)
    assert again.exit_code == 0, again.output
    assert again.stdout.startswith("No changes."), again.stdout
    assert "Dry run" not in again.stderr, "nothing to do is said once"


def test_missing_secrets_are_all_listed_before_any_write(tenants: TwoTenants) -> None:
    tenants.production.emu.reset_stats()
    plan_path = tenants.dir / "plan.json"
    result = clone(tenants, "--yes", "--out", str(plan_path), SMS_GATEWAY_SECRET="only-this-one")
    assert result.exit_code == 1
    assert (
        "Error: secrets that must be sent are not set in the environment (nothing was changed):\n"
        "  ${env:INSTAGRAM_DM_SECRET} needed by: Instagram DM\n"
        "  ${env:WHATSAPP_BRIDGE_SECRET} needed by: WhatsApp bridge\n" in result.stderr
    )
    assert "SMS_GATEWAY_SECRET needed" not in result.stderr
    assert writes(tenants.production.emu) == 0
    assert tenants.production.emu.stats["list"] >= 1, "it did read the target"
    assert not plan_path.exists()


def test_into_a_drifted_tenant_updates_only_and_keeps_secrets(tenants: TwoTenants) -> None:
    tenants.production.emu.seed_channels(
        [
            {
                "name": "WhatsApp bridge",
                "custom_channel_endpoint": "https://old.acme.com/x",
                "custom_channel_secret": "kept",
            },
            {
                "name": "SMS gateway",
                "icon": "sms",
                "custom_channel_endpoint": "https://sms.example.com/hook",
                "custom_channel_warning_en": "Replies via bridge.acme.com can take an hour",
                "custom_channel_secret": "kept2",
            },
            {"name": "Instagram DM", "icon": "chat", "include_signature": "true"},
        ]
    )
    done = clone(tenants, "--yes")  # no secret variables: updates never send one
    assert done.exit_code == 0, done.output
    assert (
        "Plan: high impact: 'Instagram DM' signature turned off; 'WhatsApp bridge' endpoint host old.acme.com -> "
        "bridge.acme.com. 0 to create, 2 to update, 0 to delete"
    ) in done.stdout
    assert "Apply: 0 created, 2 updated, 0 deleted (of 2 planned)." in done.stderr
    stats = tenants.production.emu.stats
    assert (stats["create"], stats["update"], stats["delete"]) == (0, 2, 0)
    made = custom(tenants.production.emu)
    assert made["WhatsApp bridge"]["custom_channel_endpoint"] == "https://bridge.acme.com/omnidesk/api/message"
    assert made["WhatsApp bridge"]["custom_channel_secret"] == "kept"
    assert made["Instagram DM"]["icon"] == "instagram"
    assert made["Instagram DM"]["include_signature"] is False


def test_extra_channels_are_left_alone_unless_prune(tenants: TwoTenants) -> None:
    tenants.production.emu.seed_channels([{"name": "Production only"}])
    kept = clone(tenants, "--yes", **SECRETS)
    assert kept.exit_code == 0, kept.output
    assert "Production only" in kept.stdout  # listed as not managed
    assert "Production only" in custom(tenants.production.emu)
    assert tenants.production.emu.stats["delete"] == 0

    pruned = clone(tenants, "--yes", "--prune")
    assert pruned.exit_code == 0, pruned.output
    assert "Apply: 0 created, 0 updated, 1 deleted (of 1 planned)." in pruned.stderr
    assert sorted(custom(tenants.production.emu)) == ["Instagram DM", "SMS gateway", "WhatsApp bridge"]


def test_prune_over_the_delete_threshold_needs_the_exact_count(tenants: TwoTenants) -> None:
    extras = [{"name": f"Old {i}"} for i in range(8)]
    tenants.production.emu.seed_channels(extras + [dict(c) for c in STAGING])
    tenants.production.emu.reset_stats()
    refused = clone(tenants, "--yes", "--prune")
    assert refused.exit_code == 1
    assert (
        "the plan deletes 8 of 11 custom channels (more than 30%); nothing was changed. "
        "If that is intended, run again with --allow-deletes 8" in refused.stderr
    )
    assert writes(tenants.production.emu) == 0

    dry = clone(tenants, "--prune")
    assert dry.exit_code == 0, dry.output
    assert "Warning: apply will refuse this plan: the plan deletes 8 of 11" in dry.stderr

    allowed = clone(tenants, "--yes", "--prune", "--allow-deletes", "8")
    assert allowed.exit_code == 0, allowed.output
    assert len(custom(tenants.production.emu)) == 3


def test_round_trip_gives_no_changes_and_the_same_export(tenants: TwoTenants) -> None:
    exported = tenants.dir / "staging.yaml"
    done = clone(tenants, "--yes", "--export-out", str(exported), **SECRETS)
    assert done.exit_code == 0, done.output
    assert tenants.run("validate", str(exported)).exit_code == 0

    plan = tenants.run("plan", str(exported), "--tenant", "production")
    assert plan.exit_code == 0, plan.output
    assert plan.stdout.startswith("No changes."), plan.stdout

    path = tenants.write()
    from_staging = tenants.run("export", path, "--tenant", "staging")
    from_production = tenants.run("export", path, "--tenant", "production")
    assert from_staging.exit_code == from_production.exit_code == 0
    assert from_staging.stdout == from_production.stdout == exported.read_text()
    assert "${var:bridge_host}" in from_staging.stdout


def test_saved_plan_applies_to_the_target(tenants: TwoTenants) -> None:
    plan_path = tenants.dir / "plan.json"
    saved = clone(tenants, "--out", str(plan_path), **SECRETS)
    assert saved.exit_code == 0, saved.output
    assert f"Saved the plan to {plan_path}; apply exactly it with: omnidesk-channels apply {plan_path}" in saved.stderr
    assert "Dry run" not in saved.stderr
    assert writes(tenants.production.emu) == 0
    document = json.loads(plan_path.read_text())
    assert document["connection"]["tenant"] == "production"
    assert "wa-prod" not in plan_path.read_text()

    applied = tenants.run("apply", str(plan_path), **SECRETS)
    assert applied.exit_code == 0, applied.output
    assert custom(tenants.production.emu)["WhatsApp bridge"]["custom_channel_secret"] == "wa-prod"
    assert writes(tenants.staging.emu) == 0


def test_channels_the_file_keeps_in_staging_are_not_cloned(tenants: TwoTenants) -> None:
    path = tenants.write("channels:\n  - name: Instagram DM\n    icon: instagram\n    tenants: [staging]\n")
    result = tenants.run("clone", path, "--from", "staging", "--to", "production", "--yes", **SECRETS)
    assert result.exit_code == 0, result.output
    assert sorted(custom(tenants.production.emu)) == ["SMS gateway", "WhatsApp bridge"]


def test_bad_tenant_choices_are_refused(tenants: TwoTenants) -> None:
    same = tenants.run("clone", tenants.write(), "--from", "staging", "--to", "staging")
    assert same.exit_code == 1
    assert "--from and --to are both 'staging': name two different tenants" in same.stderr
    unknown = tenants.run("clone", tenants.write(), "--from", "staging", "--to", "prod")
    assert unknown.exit_code == 1
    assert "unknown tenant 'prod' (known tenants: staging, production; did you mean 'production'?)" in unknown.stderr
    assert tenants.staging.emu.stats["list"] == 0


def test_help_has_an_example(tenants: TwoTenants) -> None:
    result = tenants.run("clone", "--help")
    assert result.exit_code == 0
    assert "Example:\n    export OMNIDESK_STAGING_KEY=" in result.stdout


def test_channels_the_file_declares_for_the_target_only_are_never_pruned(tenants: TwoTenants) -> None:
    path = tenants.write("""\
        channels:
          - name: Production fax
            icon: fax
            tenants: [production]
        """)
    tenants.production.emu.seed_channels([{"name": "Production fax", "icon": "fax"}, {"name": "Stray"}])
    result = tenants.run("clone", path, "--from", "staging", "--to", "production", "--yes", "--prune", **SECRETS)
    assert result.exit_code == 0, result.output
    assert "- delete 'Stray'" in result.stdout and "Production fax" not in result.stdout
    assert sorted(custom(tenants.production.emu)) == [
        "Instagram DM",
        "Production fax",
        "SMS gateway",
        "WhatsApp bridge",
    ]

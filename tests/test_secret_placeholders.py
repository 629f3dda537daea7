"""Secret placeholders in exports never collide, and stay the same for every tenant.

Before: 'SMS gateway', 'SMS-gateway' and 'SMS gateway 2' were exported as SMS_GATEWAY_SECRET,
SMS_GATEWAY_2_SECRET and SMS_GATEWAY_2_SECRET, so after a clone two bridges shared a secret.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from conftest import RunningEmulator
from test_tenants_e2e import TwoTenants, custom, start_two_tenants

from reconciler.export import secret_placeholders

COLLIDING = ["SMS gateway", "SMS-gateway", "SMS.gateway", "SMS gateway 2"]


@pytest.fixture
def tenants(make_emulator: Callable[..., RunningEmulator], tmp_path: Path) -> TwoTenants:
    return start_two_tenants(make_emulator, tmp_path)


def test_three_names_that_share_a_variable_and_one_that_owns_the_next_suffix() -> None:
    assert secret_placeholders(COLLIDING) == {
        "SMS gateway": "SMS_GATEWAY_SECRET",
        "SMS gateway 2": "SMS_GATEWAY_2_SECRET",  # its own variable, never handed to another name
        "SMS-gateway": "SMS_GATEWAY_3_SECRET",
        "SMS.gateway": "SMS_GATEWAY_4_SECRET",
    }


def test_the_result_depends_only_on_the_set_of_names() -> None:
    assert secret_placeholders(reversed(COLLIDING)) == secret_placeholders(COLLIDING)
    assert secret_placeholders(["sms gateway", "SMS gateway"]) == {
        "SMS gateway": "SMS_GATEWAY_SECRET",
        "sms gateway": "SMS_GATEWAY_2_SECRET",
    }


def test_variables_already_taken_are_never_handed_out() -> None:
    taken = {"SMS_GATEWAY_SECRET", "SMS_GATEWAY_3_SECRET"}
    assert secret_placeholders(["SMS-gateway", "SMS gateway 2"], taken) == {
        "SMS gateway 2": "SMS_GATEWAY_2_SECRET",
        "SMS-gateway": "SMS_GATEWAY_4_SECRET",
    }


def test_export_then_clone_gives_every_bridge_its_own_secret(tenants: TwoTenants) -> None:
    tenants.staging.emu.seed_channels([{"name": n, "icon": "sms"} for n in COLLIDING])
    path = tenants.write()
    exported = tenants.run("export", path, "--tenant", "staging")
    assert exported.exit_code == 0, exported.output
    secrets = {c["name"]: c["custom_channel_secret"] for c in yaml.safe_load(exported.stdout)["channels"]}
    assert secrets == {
        "SMS gateway": "${env:SMS_GATEWAY_SECRET}",
        "SMS gateway 2": "${env:SMS_GATEWAY_2_SECRET}",
        "SMS-gateway": "${env:SMS_GATEWAY_3_SECRET}",
        "SMS.gateway": "${env:SMS_GATEWAY_4_SECRET}",
    }
    assert (
        "set these before creating the channels elsewhere: SMS_GATEWAY_2_SECRET, SMS_GATEWAY_3_SECRET, "
        "SMS_GATEWAY_4_SECRET, SMS_GATEWAY_SECRET"
    ) in exported.stderr

    values = {f"SMS_GATEWAY{suffix}_SECRET": f"secret{suffix}" for suffix in ("", "_2", "_3", "_4")}
    cloned = tenants.run("clone", path, "--from", "staging", "--to", "production", "--yes", **values)
    assert cloned.exit_code == 0, cloned.output
    made = {name: c["custom_channel_secret"] for name, c in custom(tenants.production.emu).items()}
    assert made == {
        "SMS gateway": "secret",
        "SMS gateway 2": "secret_2",
        "SMS-gateway": "secret_3",
        "SMS.gateway": "secret_4",
    }


def test_tenants_with_different_vars_export_byte_identical_files(tenants: TwoTenants) -> None:
    # The templated names are the same on both tenants, though they sort differently as plain names.
    tenants.staging.emu.seed_channels([{"name": "Acme SMS"}, {"name": "Acme-SMS"}, {"name": "Bolt SMS"}])
    tenants.production.emu.seed_channels([{"name": "Zeta SMS"}, {"name": "Zeta-SMS"}, {"name": "Bolt SMS"}])
    path = tenants.write(staging_vars={"brand": "Acme"}, production_vars={"brand": "Zeta"})
    staging = tenants.run("export", path, "--tenant", "staging")
    production = tenants.run("export", path, "--tenant", "production")
    assert staging.exit_code == production.exit_code == 0, staging.output + production.output
    secrets = [c["custom_channel_secret"] for c in yaml.safe_load(staging.stdout)["channels"]]
    assert sorted(secrets) == ["${env:BOLT_SMS_SECRET}", "${env:BRAND_SMS_2_SECRET}", "${env:BRAND_SMS_SECRET}"]
    assert staging.stdout.split("channels:")[1] == production.stdout.split("channels:")[1]

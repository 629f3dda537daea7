"""``export FILE --tenant NAME``: var values written back as ``${var:NAME}``, edge cases included.

Each case exports staging, checks the file as written (schema-valid, a no-op plan on staging), then
clones to production and checks that production's export with its own vars is the same file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import RunningEmulator
from test_tenants_e2e import TwoTenants, custom, start_two_tenants


@pytest.fixture
def tenants(make_emulator: Callable[..., RunningEmulator], tmp_path: Path) -> TwoTenants:
    return start_two_tenants(make_emulator, tmp_path)


def export_staging(tenants: TwoTenants, path: str) -> tuple[str, str]:
    """The exported text and the command's stderr, after checking the file validates and round-trips."""
    out = tenants.dir / "exported.yaml"
    result = tenants.run("export", path, "--tenant", "staging", "--out", str(out))
    assert result.exit_code == 0, result.output
    valid = tenants.run("validate", str(out))
    assert valid.exit_code == 0, valid.output
    noop = tenants.run("plan", str(out), "--tenant", "staging")
    assert noop.exit_code == 0, noop.output
    assert noop.stdout.startswith("No changes."), noop.stdout
    return out.read_text(), result.stderr


def channels_of(text: str) -> list[dict[str, Any]]:
    return yaml.safe_load(text)["channels"]


def clone_and_export_production(tenants: TwoTenants, path: str, staging_text: str, **secrets: str) -> None:
    cloned = tenants.run("clone", path, "--from", "staging", "--to", "production", "--yes", **secrets)
    assert cloned.exit_code == 0, cloned.output
    exported = tenants.run("export", path, "--tenant", "production")
    assert exported.exit_code == 0, exported.output
    assert exported.stdout == staging_text


def test_the_exported_file_as_written(tenants: TwoTenants) -> None:
    tenants.staging.emu.seed_channels(
        [
            {
                "name": "WhatsApp bridge",
                "custom_channel_endpoint": "https://bridge.staging.acme.com/omnidesk/api/message",
                "include_signature": "true",
            },
            {"name": "Instagram DM", "icon": "instagram"},
        ]
    )
    path = tenants.write()
    text, stderr = export_staging(tenants, path)
    assert (
        text
        == f"""\
# yaml-language-server: $schema=./channels.schema.json
# Exported by omnidesk-channels.
# Secrets are never exported: set each ${{env:...}} variable before creating these channels.
# Editors check this file with the schema beside it: omnidesk-channels schema > channels.schema.json
version: 1
prune: false
tenants:
  production:
    url: {tenants.production.url}
    api_key_env: OMNIDESK_PRODUCTION_KEY
    vars:
      bridge_host: bridge.acme.com
  staging:
    url: {tenants.staging.url}
    api_key_env: OMNIDESK_STAGING_KEY
    vars:
      bridge_host: bridge.staging.acme.com
channels:
- name: Instagram DM
  icon: instagram
  custom_channel_secret: ${{env:INSTAGRAM_DM_SECRET}}
- name: WhatsApp bridge
  custom_channel_endpoint: https://${{var:bridge_host}}/omnidesk/api/message
  custom_channel_secret: ${{env:WHATSAPP_BRIDGE_SECRET}}
  include_signature: true
"""
    )
    assert stderr == (
        f"Exported 2 custom channel(s) from staging ({tenants.staging.url}) to {tenants.dir / 'exported.yaml'}.\n"
        "  templated: 1 occurrence(s) of the value of bridge_host -> ${var:bridge_host}\n"
        "  secrets are not exported; set these before creating the channels elsewhere: "
        "INSTAGRAM_DM_SECRET, WHATSAPP_BRIDGE_SECRET\n"
    )


def test_a_value_inside_another_value_longest_first(tenants: TwoTenants) -> None:
    tenants.staging.emu.seed_channels(
        [
            {"name": "Api", "custom_channel_endpoint": "https://acme.com/api/in"},
            {"name": "Bridge", "custom_channel_endpoint": "https://bridge.acme.com/x"},
            {
                "name": "Shop",
                "custom_channel_endpoint": "https://shop.acme.com/y",
                "custom_channel_warning_en": "Mail bridge.acme.com or acme.com",
            },
        ]
    )
    path = tenants.write(
        staging_vars={"domain": "acme.com", "bridge_host": "bridge.acme.com", "api_base": "acme.com/api"},
        production_vars={"domain": "acme.nl", "bridge_host": "relay.acme.nl", "api_base": "api.acme.nl/v2"},
    )
    text, stderr = export_staging(tenants, path)
    api, bridge, shop = channels_of(text)
    assert api["custom_channel_endpoint"] == "https://${var:api_base}/in"  # not ${var:domain}/api/in
    assert bridge["custom_channel_endpoint"] == "https://${var:bridge_host}/x"
    assert shop["custom_channel_endpoint"] == "https://shop.${var:domain}/y"
    assert shop["custom_channel_warning_en"] == "Mail ${var:bridge_host} or ${var:domain}"
    assert "templated: 2 occurrence(s) of the value of bridge_host -> ${var:bridge_host}" in stderr
    assert "templated: 2 occurrence(s) of the value of domain -> ${var:domain}" in stderr

    clone_and_export_production(tenants, path, text, API_SECRET="a", BRIDGE_SECRET="b", SHOP_SECRET="s")
    made = custom(tenants.production.emu)
    assert made["Api"]["custom_channel_endpoint"] == "https://api.acme.nl/v2/in"
    assert made["Bridge"]["custom_channel_endpoint"] == "https://relay.acme.nl/x"
    assert made["Shop"]["custom_channel_warning_en"] == "Mail relay.acme.nl or acme.nl"


def test_a_value_in_a_channel_name(tenants: TwoTenants) -> None:
    tenants.staging.emu.seed_channels([{"name": "Acme SMS", "custom_channel_endpoint": "https://sms.acme.com/in"}])
    path = tenants.write(staging_vars={"brand": "Acme"}, production_vars={"brand": "Bolt"})
    text, stderr = export_staging(tenants, path)
    assert channels_of(text) == [
        {
            "name": "${var:brand} SMS",
            "custom_channel_endpoint": "https://sms.acme.com/in",  # case-sensitive: "acme" is not "Acme"
            "custom_channel_secret": "${env:BRAND_SMS_SECRET}",
        }
    ]
    assert "set these before creating the channels elsewhere: BRAND_SMS_SECRET" in stderr

    clone_and_export_production(tenants, path, text, BRAND_SMS_SECRET="bolt-secret")
    assert custom(tenants.production.emu)["Bolt SMS"]["custom_channel_secret"] == "bolt-secret"


def test_a_dollar_right_before_a_value_stays_literal(tenants: TwoTenants) -> None:
    # "$" + "${var:domain}" would be read back as the escape "$${", i.e. the literal text "${var:domain}".
    tenants.staging.emu.seed_channels([{"name": "Shop", "custom_channel_warning_en": "Pay $$acme.com or acme.com$"}])
    path = tenants.write(staging_vars={"domain": "acme.com"}, production_vars={"domain": "acme.nl"})
    text, stderr = export_staging(tenants, path)
    assert channels_of(text)[0]["custom_channel_warning_en"] == "Pay $$acme.com or ${var:domain}$"
    assert "templated: 1 occurrence(s) of the value of domain -> ${var:domain}" in stderr
    assert "not templated: 1 occurrence(s) of the value of domain right after a '$'" in stderr

    cloned = tenants.run("clone", path, "--from", "staging", "--to", "production", "--yes", SHOP_SECRET="x")
    assert cloned.exit_code == 0, cloned.output
    assert custom(tenants.production.emu)["Shop"]["custom_channel_warning_en"] == "Pay $$acme.com or acme.nl$"


def test_a_var_value_with_a_literal_template_opener(tenants: TwoTenants) -> None:
    # No channel field accepts "{", so such a value never matches; the tenants: section keeps it literal.
    tenants.staging.emu.seed_channels([{"name": "Shop", "custom_channel_warning_en": "Costs $5 at acme.com"}])
    path = tenants.write(
        staging_vars={"odd": "a${b}", "domain": "acme.com"}, production_vars={"odd": "c${d}", "domain": "acme.nl"}
    )
    text, stderr = export_staging(tenants, path)
    assert channels_of(text)[0]["custom_channel_warning_en"] == "Costs $5 at ${var:domain}"
    assert yaml.safe_load(text)["tenants"]["staging"]["vars"]["odd"] == "a${b}"
    assert "value of odd" not in stderr
    clone_and_export_production(tenants, path, text, SHOP_SECRET="x")


def test_two_vars_with_the_same_value(tenants: TwoTenants) -> None:
    tenants.staging.emu.seed_channels([{"name": "Shop", "custom_channel_endpoint": "https://acme.com/in"}])
    path = tenants.write(
        staging_vars={"web_host": "acme.com", "api_host": "acme.com"},
        production_vars={"web_host": "acme.nl", "api_host": "api.acme.nl"},
    )
    text, stderr = export_staging(tenants, path)
    assert channels_of(text)[0]["custom_channel_endpoint"] == "https://${var:api_host}/in"
    assert "  not templated: web_host (same value as api_host)\n" in stderr


def test_a_too_short_value_is_not_templated(tenants: TwoTenants) -> None:
    tenants.staging.emu.seed_channels([{"name": "Shop nl", "custom_channel_warning_nl": "Alleen voor nl klanten"}])
    path = tenants.write(staging_vars={"lang": "nl"}, production_vars={"lang": "be"})
    text, stderr = export_staging(tenants, path)
    assert channels_of(text)[0]["name"] == "Shop nl"
    assert channels_of(text)[0]["custom_channel_warning_nl"] == "Alleen voor nl klanten"
    assert "  not templated: lang (value shorter than 3 characters)\n" in stderr
    assert "templated: " not in stderr.replace("not templated: ", "")


def test_export_is_deterministic_and_has_no_ids(tenants: TwoTenants) -> None:
    tenants.staging.emu.seed_channels([{"name": "B"}, {"name": "A", "icon": "note"}])
    path = tenants.write()
    first = tenants.run("export", path, "--tenant", "staging")
    second = tenants.run("export", path, "--tenant", "staging")
    assert first.stdout == second.stdout
    assert [c["name"] for c in channels_of(first.stdout)] == ["A", "B"]
    assert all("id" not in channel for channel in channels_of(first.stdout))

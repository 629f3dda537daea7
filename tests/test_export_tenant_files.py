"""Export, clone and import with tenants from files (``tenants: tenants/``): each tenant stays in its own file (#22).

Through the command line against two emulators over HTTP: the export names its tenants as the
channels file does, and ``--out`` puts each tenant file beside it, byte for byte (its comments
included), so the export validates and plans as the original; beside the channels file the
tenant files are left as they are; a different file in the way is refused unless ``--force``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from test_tenants_e2e import TwoTenants, custom, start_two_tenants

CHANNELS = """\
version: 1
# the agency's brands, one file each
tenants: {tenants}
channels:
  - name: WhatsApp bridge   # owner: team chat
    custom_channel_endpoint: https://${{var:bridge_host}}/omnidesk/api/message
"""
STAGING = """\
# staging of Acme: ask #helpdesk before changing
url: {url}
api_key_env: OMNIDESK_STAGING_KEY
vars:
  bridge_host: bridge.staging.acme.com   # the test bridge
"""
PRODUCTION = "url: {url}  # production\napi_key_env: OMNIDESK_PRODUCTION_KEY\nvars: {{bridge_host: bridge.acme.com}}\n"


@pytest.fixture
def agency(make_emulator, tmp_path: Path) -> TwoTenants:
    """channels.yaml with tenants/staging.yaml and tenants/production.yml; staging has its channels."""
    tenants = start_two_tenants(make_emulator, tmp_path)
    layout(tenants, "tenants/", {"tenants/staging.yaml": STAGING, "tenants/production.yml": PRODUCTION})
    tenants.staging.emu.seed_channels(
        [
            {
                "name": "WhatsApp bridge",
                "custom_channel_endpoint": "https://bridge.staging.acme.com/omnidesk/api/message",
            },
            {"name": "Instagram DM", "icon": "instagram"},
        ]
    )
    return tenants


def layout(tenants: TwoTenants, spec: str, files: dict[str, str]) -> None:
    (tenants.dir / "channels.yaml").write_text(CHANNELS.format(tenants=spec))
    for name, text in files.items():
        (tenants.dir / name).parent.mkdir(parents=True, exist_ok=True)
        url = tenants.staging.url if "staging" in name else tenants.production.url
        (tenants.dir / name).write_text(text.format(url=url))


def export(tenants: TwoTenants, out: Path, *extra: str):
    return tenants.run("export", str(tenants.dir / "channels.yaml"), "--tenant", "staging", "--out", str(out), *extra)


@pytest.mark.parametrize(
    "spec, files",
    [
        ("tenants/", ["tenants/staging.yaml", "tenants/production.yml"]),
        ("[tenants/eu/, 'tenants/us/*.yaml']", ["tenants/eu/staging.yaml", "tenants/us/production.yaml"]),
    ],
)
def test_an_export_elsewhere_takes_each_tenant_file_along_byte_for_byte(agency: TwoTenants, spec, files):
    layout(agency, spec, dict(zip(files, [STAGING, PRODUCTION], strict=True)))
    out = agency.dir / "copy" / "exported.yaml"
    out.parent.mkdir()
    result = export(agency, out)
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert yaml.safe_load(text)["tenants"] == yaml.safe_load(spec) and "url:" not in text
    assert "${var:bridge_host}" in text and "Instagram DM" in text
    for name in files:
        assert (out.parent / name).read_bytes() == (agency.dir / name).read_bytes(), name  # comments and all
    valid = agency.run("validate", str(out))
    assert valid.exit_code == 0, valid.output
    for tenant in ("staging", "production"):  # the export reads both tenants as the channels file does
        assert agency.run("plan", str(out), "--tenant", tenant).exit_code == 0
    assert agency.run("plan", str(out), "--tenant", "staging").stdout.startswith("No changes.")


def test_an_export_beside_the_channels_file_leaves_its_tenant_files_as_they_are(agency: TwoTenants):
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (agency.dir / "tenants").iterdir()}
    result = export(agency, agency.dir / "exported.yaml")
    assert result.exit_code == 0, result.output
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (agency.dir / "tenants").iterdir()} == before
    assert agency.run("plan", str(agency.dir / "exported.yaml"), "--tenant", "staging").stdout.startswith("No changes.")
    printed = agency.run("export", str(agency.dir / "channels.yaml"), "--tenant", "staging")
    assert printed.exit_code == 0 and "\ntenants: tenants/\n" in printed.stdout  # as the file names them


def test_another_file_where_a_tenant_file_goes_is_refused_unless_forced(agency: TwoTenants):
    out = agency.dir / "copy" / "exported.yaml"
    (out.parent / "tenants").mkdir(parents=True)
    (out.parent / "tenants" / "staging.yaml").write_text("url: https://someone-else.omnidesk.com\n")
    refused = export(agency, out)
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert "copy/tenants/staging.yaml exists and is not" in refused.stderr and "--force" in refused.stderr
    assert not out.exists() and not (out.parent / "tenants" / "production.yml").exists()  # nothing written
    forced = export(agency, out, "--force")
    assert forced.exit_code == 0, forced.output
    assert (out.parent / "tenants" / "staging.yaml").read_bytes() == (agency.dir / "tenants/staging.yaml").read_bytes()


def test_clone_reads_the_export_with_its_tenant_files_and_writes_them_with_it(agency: TwoTenants):
    review = agency.dir / "review" / "staging.yaml"
    review.parent.mkdir()
    cloned = agency.run(
        "clone",
        str(agency.dir / "channels.yaml"),
        "--from",
        "staging",
        "--to",
        "production",
        "--export-out",
        str(review),
        "--yes",
        WHATSAPP_BRIDGE_SECRET="s1",
        INSTAGRAM_DM_SECRET="s2",
    )
    assert cloned.exit_code == 0, cloned.output
    made = custom(agency.production.emu)
    assert made["WhatsApp bridge"]["custom_channel_endpoint"] == "https://bridge.acme.com/omnidesk/api/message"
    assert "\ntenants: tenants/\n" in review.read_text()
    assert (review.parent / "tenants" / "production.yml").read_text().endswith("{bridge_host: bridge.acme.com}\n")


def test_import_adds_to_the_channels_file_and_leaves_the_tenant_files_alone(agency: TwoTenants):
    before = {p.name: p.read_bytes() for p in (agency.dir / "tenants").iterdir()}
    main = (agency.dir / "channels.yaml").read_text()
    result = agency.run("import", str(agency.dir / "channels.yaml"), "--tenant", "staging")
    assert result.exit_code == 0, result.output
    assert {p.name: p.read_bytes() for p in (agency.dir / "tenants").iterdir()} == before
    added = (agency.dir / "channels.yaml").read_text().removeprefix(main)  # the file's own bytes kept
    assert added.startswith("  - name: Instagram DM\n    tenants: [staging]\n"), added

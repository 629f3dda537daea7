"""``import`` and ``import --update`` end to end: a commented file, a tenant over real HTTP, a read-only key.

Golden files (``golden/import/<case>/``): ``before.yaml``, then ``after_import.yaml`` and
``after_update.yaml`` as the command leaves the file. Besides the exact text, each step is checked
to touch only the lines it adds or changes (a line diff with nothing deleted or rewritten
elsewhere), and to leave a plan that is empty for what it imported. Regenerate with
``UPDATE_GOLDEN=1 python -m pytest tests/test_import.py`` and review the diff.
"""

from __future__ import annotations

import difflib
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from clihelp import Result, RunningEmulator, run_cli

from reconciler.config import load_channels_file

GOLDEN = Path(__file__).parent / "golden" / "import"
READ_ONLY = {"readkey": {"CHANNEL_READ"}}
URL_MARK = "@PRODUCTION_URL@"

PRODUCTION = [
    {
        "name": "WhatsApp bridge",
        "icon": "camera",
        "include_signature": "true",
        "custom_channel_endpoint": "https://bridge.acme.com/omnidesk/api/v2/message",
    },
    {
        "name": "SMS gateway",
        "icon": "sms",
        "custom_channel_endpoint": "https://sms.example.com/hook",
        "custom_channel_available_in_quick_ticket": "true",
    },
    {"name": "Instagram DM", "icon": "instagram", "include_signature": "true"},
    {"name": "Marketplace inbox", "icon": "shop", "custom_channel_endpoint": "https://bridge.acme.com/marketplace"},
    {"name": "SMS-gateway", "icon": "on"},
    {"name": "Staging inbox"},
    {"name": "Old fax", "icon": "fax"},
    {"name": "Test 1"},
]


def run(*args: str) -> Result:
    return run_cli(list(args), {"OMNIDESK_PRODUCTION_KEY": "readkey"})


def check_golden(case: str, name: str, text: str, url: str) -> None:
    expected = GOLDEN / case / name
    shown = text.replace(url, URL_MARK)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        expected.write_text(shown, encoding="utf-8", newline="")
    assert expected.exists(), f"no golden {expected}: run with UPDATE_GOLDEN=1"
    assert shown == expected.read_text(encoding="utf-8")


def changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    """(lines removed or rewritten, lines added or rewritten) from before to after."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    removed: list[str] = []
    added: list[str] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if tag != "equal":
            removed += old[i1:i2]
            added += new[j1:j2]
    return removed, added


@pytest.fixture
def production(make_emulator: Callable[..., RunningEmulator]) -> RunningEmulator:
    tenant = make_emulator(api_keys=READ_ONLY)
    tenant.emu.seed_channels(PRODUCTION)
    return tenant


def test_import_then_update_a_commented_file(production: RunningEmulator, tmp_path: Path) -> None:
    before = (GOLDEN / "commented" / "before.yaml").read_text(encoding="utf-8").replace(URL_MARK, production.url)
    path = tmp_path / "channels.yaml"
    path.write_text(before, encoding="utf-8")
    path.chmod(0o640)
    staging_view = load_channels_file(path, tenant="staging").channels

    imported = run("import", str(path), "--tenant", "production")
    assert imported.exit_code == 0, imported.output
    assert imported.stdout == (
        "+ added 'Marketplace inbox' (tenants: [production]); its secret: ${env:MARKETPLACE_INBOX_SECRET}\n"
        "+ added 'SMS-gateway' (tenants: [production]); its secret: ${env:SMS_GATEWAY_2_SECRET}\n"
        "+ added 'Staging inbox' (tenants: [production]); its secret: ${env:STAGING_INBOX_SECRET}\n"
        f"Imported from production ({production.url}) into {path}: 3 added, 0 updated.\n"
    )
    assert "templated: 1 occurrence(s) of the value of bridge_host -> ${var:bridge_host}" in imported.stderr
    after_import = path.read_text(encoding="utf-8")
    check_golden("commented", "after_import.yaml", after_import, production.url)
    removed, added = changed_lines(before, after_import)
    assert removed == [], "import only adds lines"
    assert [line for line in added if "name:" in line] == [
        "  - name: Marketplace inbox\n",
        "  - name: SMS-gateway\n",
        "  - name: Staging inbox\n",
    ]
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [c.fields for c in load_channels_file(path, tenant="staging").channels] == [
        c.fields for c in staging_view
    ], "channels imported for production change nothing for staging"

    drift = run("plan", str(path), "--tenant", "production", "--detailed-exitcode")
    assert drift.exit_code == 2, drift.output
    assert (
        "Plan: high impact: 'Instagram DM' signature turned off; 'SMS gateway' no longer available in quick "
        "tickets. 0 to create, 3 to update, 0 to delete."
    ) in drift.stdout
    assert "Old fax" not in drift.stdout and "Test 1" not in drift.stdout, "ignored: not pruned, not listed"

    updated = run("import", str(path), "--tenant", "production", "--update")
    assert updated.exit_code == 0, updated.output
    assert updated.stdout == (
        "~ updated 'Instagram DM': include_signature False -> True\n"
        "    shared: this also changes what staging wants\n"
        "~ updated 'SMS gateway': custom_channel_warning_en 'Replies can take an hour' -> '', "
        "custom_channel_available_in_quick_ticket False -> True\n"
        "    shared: this also changes what staging wants\n"
        "~ updated 'WhatsApp bridge': icon 'chat' -> 'camera', custom_channel_endpoint "
        "'https://bridge.acme.com/omnidesk/api/message' -> 'https://bridge.acme.com/omnidesk/api/v2/message'\n"
        "    shared: this also changes what staging wants\n"
        f"Imported from production ({production.url}) into {path}: 0 added, 3 updated.\n"
    )
    after_update = path.read_text(encoding="utf-8")
    check_golden("commented", "after_update.yaml", after_update, production.url)
    removed, added = changed_lines(after_import, after_update)
    assert removed == [
        '    custom_channel_endpoint: "https://${var:bridge_host}/omnidesk/api/message"   # runbook: wiki/wa\n',
        "    custom_channel_warning_en: Replies can take an hour   # keep it short\n",
        '  - {name: Instagram DM, icon: instagram, custom_channel_secret: "${env:INSTAGRAM_DM_SECRET}"}\n',
    ]
    assert added == [
        "    icon: camera\n",
        '    custom_channel_endpoint: "https://${var:bridge_host}/omnidesk/api/v2/message"   # runbook: wiki/wa\n',
        "    custom_channel_warning_en: ''   # keep it short\n",
        "    custom_channel_available_in_quick_ticket: true\n",
        '  - {name: Instagram DM, icon: instagram, custom_channel_secret: "${env:INSTAGRAM_DM_SECRET}", '
        "include_signature: true}\n",
    ]

    clean = run("plan", str(path), "--tenant", "production", "--detailed-exitcode")
    assert clean.exit_code == 0, clean.output
    assert clean.stdout.startswith("No changes."), clean.stdout
    again = run("import", str(path), "--tenant", "production", "--update")
    assert again.exit_code == 0, again.output
    assert (
        again.stdout == f"Nothing to import from production ({production.url}): {path} has every custom "
        "channel it does not ignore and matches them.\n"
    )
    assert path.read_text(encoding="utf-8") == after_update
    assert production.emu.stats["create"] + production.emu.stats["update"] + production.emu.stats["delete"] == 0

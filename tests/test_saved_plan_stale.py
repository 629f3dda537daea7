"""A stale saved plan lists every stale change, whatever kind (mutation testing of checks.py found
a second taken name, a changed delete and two changed fields reached by no test), and a warning
that does not deny is not worded as a refusal."""

from __future__ import annotations

from pathlib import Path

import httpx
from clihelp import RunningEmulator, run_cli

CHANNELS = """\
version: 1
prune: true
channels:
  - name: SMS
    icon: note
  - name: Alpha
  - name: Beta
"""


def test_every_stale_change_is_listed(tmp_path: Path, emulator: RunningEmulator) -> None:
    emulator.emu.seed_channels([{"name": "SMS", "icon": "sms"}, {"name": "Old"}])
    path = tmp_path / "channels.yaml"
    path.write_text(CHANNELS)
    env = {"OMNIDESK_URL": emulator.url, "OMNIDESK_API_KEY": emulator.key}
    plan_file = tmp_path / "plan.json"
    assert run_cli(["plan", str(path), "--out", str(plan_file)], env).exit_code == 0
    ids = {c["name"]: c["id"] for c in emulator.emu.channels()}
    changed = {
        "Old": {"custom_channel_warning_en": "Closed"},
        "SMS": {"icon": "mail", "custom_channel_endpoint": "https://x.acme.com/"},
    }
    for name, data in changed.items():
        httpx.put(
            f"{emulator.url}/api/v2/channel/{ids[name]}", headers={"apiKey": emulator.key}, data=data
        ).raise_for_status()
    emulator.emu.seed_channels([{"name": "Alpha"}, {"name": "Beta"}])
    taken = {c["name"]: c["id"] for c in emulator.emu.channels()}
    stale = run_cli(["apply", str(plan_file)], env)
    assert stale.exit_code == 1
    assert (
        f"  - 'Old' (id {ids['Old']}) changed since the plan: custom_channel_warning_en was '', now 'Closed'\n"
    ) in stale.stderr
    assert (
        f"  - 'SMS' (id {ids['SMS']}) changed since the plan: icon was 'sms', now 'mail'; "
        "custom_channel_endpoint was '', now 'https://x.acme.com/'\n"
    ) in stale.stderr
    assert f"  - 'Alpha': a channel with this name now exists (id {taken['Alpha']})\n" in stale.stderr
    assert f"  - 'Beta': a channel with this name now exists (id {taken['Beta']})\n" in stale.stderr
    assert {c["name"] for c in emulator.emu.channels()} >= {"Old", "SMS"}, "nothing was deleted"

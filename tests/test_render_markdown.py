"""The Markdown plan as a pull-request comment: stable run to run, and short enough to post."""

from __future__ import annotations

import re
from pathlib import Path

from clihelp import run_cli

from reconciler.model import DesiredChannel, normalize_fields
from reconciler.planning import make_plan
from reconciler.render import MARKDOWN_LIMIT, render_markdown

FIELDS = (
    "    icon: phone\n"
    "    custom_channel_endpoint: https://bridges.tulipandco.nl/sms/omnidesk/{i}\n"
    "    custom_channel_warning_en: Replies over 160 characters are sent as several messages {i}.\n"
    "    custom_channel_warning_nl: Antwoorden van meer dan 160 tekens worden in delen verstuurd {i}.\n"
    "    custom_channel_secret: ${{env:BRIDGE_SECRET}}\n"
)


def channels_file(tmp_path: Path, names: list[str], prune: bool = False) -> str:
    text = f"version: 1\nprune: {'true' if prune else 'false'}\nchannels:\n"
    text += "".join(f"  - name: {name}\n" + FIELDS.format(i=i) for i, name in enumerate(names))
    path = tmp_path / "channels.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def markdown_plan(emulator, path: str, *extra: str) -> str:
    env = {"OMNIDESK_URL": emulator.url, "OMNIDESK_API_KEY": emulator.key, "BRIDGE_SECRET": "s3cret-value"}
    result = run_cli(["plan", path, "--format", "markdown", *extra], env)
    assert result.exit_code == 0, result.output
    return result.stdout.replace(emulator.url, "URL")


def test_markdown_is_the_same_on_tenants_with_other_ids(make_emulator, tmp_path: Path):
    path = channels_file(tmp_path, ["SMS gateway", "Instagram DM", "Marketplace inbox"])
    first, second = make_emulator(), make_emulator()
    first.emu.seed_channels([{"name": "SMS gateway"}, {"name": "Instagram DM"}, {"name": "Legacy form"}])
    # the same channels, created in another order after others came and went: every id differs
    ids = second.emu.seed_channels([{"name": f"gone {i}"} for i in range(7)])
    second.emu.seed_channels([{"name": "Legacy form"}, {"name": "Instagram DM"}, {"name": "SMS gateway"}])
    for channel_id in ids:
        second.emu.handle("DELETE", f"/api/v2/channel/{channel_id}", {}, {"apiKey": second.key}, b"")
    one, other = markdown_plan(first, path), markdown_plan(second, path)
    assert one == other
    assert markdown_plan(first, path) == one  # and the same on a second run
    assert not re.search(r"\bid \d|\d{4}-\d\d-\d\d|\d\d:\d\d", one)
    assert "s3cret" not in one and "(sensitive)" in one


def test_a_500_channel_change_fits_one_comment_and_says_what_it_left_out(emulator, tmp_path: Path):
    names = [f"Store {i:03d} SMS" for i in range(500)]
    emulator.emu.seed_channels([{"name": f"Legacy {i:03d}"} for i in range(300)])
    emulator.emu.seed_channels([{"name": n} for n in names[:250]])
    path = channels_file(tmp_path, names)
    text = markdown_plan(emulator, path)
    assert len(text) <= MARKDOWN_LIMIT
    assert text.startswith("**Plan: 250 to create, 250 to update, 0 to delete** on `URL`\n")
    note = re.search(
        r"^> ✂️ Shortened to fit one comment \(65000 characters\); left out: (.*)\. The full plan", text, flags=re.M
    )
    assert note, text[:2000]
    left_details = re.search(r"the details of (\d+) of 500 channels", note.group(1))
    left_rows = re.search(r"(\d+) of 500 rows of the table", note.group(1))
    assert left_details
    shown_details = text.count("<details>")
    assert int(left_details.group(1)) + shown_details == 500
    rows = len(re.findall(r"^\| [~+-] (?:create|update|delete) \|", text, flags=re.M))
    assert rows + int(left_rows.group(1) if left_rows else 0) == 500
    assert "300 custom channel(s) not managed here (left alone)" in text and "and 250 more" in text
    assert text.count("<details>") == text.count("</details>")  # no section cut in half


def test_a_small_plan_is_not_shortened(emulator, tmp_path: Path):
    path = channels_file(tmp_path, ["SMS gateway"])
    text = markdown_plan(emulator, path)
    assert "✂️" not in text and text.count("<details>") == 1


def test_a_create_with_only_defaults_is_not_described_as_a_delete():
    plan = make_plan([DesiredChannel(fields=normalize_fields({"name": "Bare"}))], [])
    text = render_markdown(plan)
    assert "deleted" not in text
    assert "<details><summary>+ create <code>Bare</code></summary>\n\nEvery field at its default.\n\n</details>" in text

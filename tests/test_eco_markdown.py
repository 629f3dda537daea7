"""The pull-request Markdown as GitHub shows it: rendered with cmarkgfm (GitHub's cmark-gfm, tables on).

Values must show exactly as typed, long values must not push the table's columns away, and the
size guard must hold for every part of the comment with a note that counts what it left out.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from reconciler.describe import show_value
from reconciler.model import DesiredChannel, RemoteChannel, SecretRef, normalize_fields
from reconciler.plan import Plan
from reconciler.planning import make_plan
from reconciler.render import MARKDOWN_LIMIT, render_markdown
from tests.clihelp import run_cli
from tests.eco_tools import python_tool

TRICKY = [
    "a>b",
    "x<y",
    "<script>alert(1)</script>",
    "AT&T",
    "&gt; stays as typed",
    "a|b",
    "pipe \\| escaped",
    "one`tick",
    "``two``",
    "`edge`",
    "*not bold*",
    "_not italic_",
    "**x**",
    "# not a heading",
    "[link](http://x)",
    "Één ö ü é 🚀",
    " padded ",
    "line\nbreak",
    "tab\there",
    "back\\slash",
]


class _Visible(HTMLParser):
    """The text a reader sees, per element kind: code spans, table cells, summaries, code blocks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[tuple[str, list[str]]] = []
        self.found: dict[str, list[str]] = {"code": [], "td": [], "summary": [], "pre": [], "p": []}
        self.all: list[str] = []
        self.balance = 0

    def handle_starttag(self, tag: str, attrs: object) -> None:
        self.balance += tag == "details"
        if tag in self.found:
            self.open.append((tag, []))

    def handle_endtag(self, tag: str) -> None:
        self.balance -= tag == "details"
        if tag in self.found:
            for i in range(len(self.open) - 1, -1, -1):
                if self.open[i][0] == tag:
                    name, parts = self.open.pop(i)
                    self.found[name].append("".join(parts))
                    break

    def handle_data(self, data: str) -> None:
        self.all.append(data)
        for _, parts in self.open:
            parts.append(data)


def shown(markdown: str) -> _Visible:
    """Render as GitHub does (GFM with tables; details/summary/code pass GitHub's HTML filter)."""
    cmarkgfm = python_tool("cmarkgfm")
    from cmarkgfm.cmark import Options

    page = cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)
    parser = _Visible()
    parser.feed(page)
    parser.close()
    return parser


def remote(id: int, name: str, **fields: str) -> RemoteChannel:
    return RemoteChannel(id=id, type="custom", fields=normalize_fields({"name": name, **fields}))


def want(name: str, **fields: str) -> DesiredChannel:
    return DesiredChannel(fields=normalize_fields({"name": name, **fields}), secret=SecretRef("s3cret", "S"))


def tricky_plan() -> Plan:
    """Every tricky string as a channel name, a value before and after, and an unmanaged name."""
    desired = [want(f"n{i} {t}", custom_channel_warning_en=f"after {t}") for i, t in enumerate(TRICKY)]
    current = [remote(i + 1, f"n{i} {t}", custom_channel_warning_en=f"before {t}") for i, t in enumerate(TRICKY)]
    current += [remote(100 + i, f"u{i} {t}") for i, t in enumerate(TRICKY)]
    return make_plan(desired, current, target="production (https://acme.omnidesk.com)")


def test_values_and_names_show_exactly_as_typed() -> None:
    plan = tricky_plan()
    seen = shown(render_markdown(plan))
    for i, text in enumerate(TRICKY):
        name = f"n{i} {text}"
        label = name if name.isprintable() else show_value(name)
        assert label in seen.found["code"], (text, [c for c in seen.found["code"] if c.startswith(f"n{i} ")])
        assert f"~ update {label}" in seen.found["summary"], text
        block = next(b for b in seen.found["pre"] if f'"before {show_value(text)[1:-1]}"' in b)
        assert f"- custom_channel_warning_en: {show_value('before ' + text)}\n" in block
        assert f"+ custom_channel_warning_en: {show_value('after ' + text)}\n" in block
        unmanaged = f"u{i} {text}"
        assert (unmanaged if unmanaged.isprintable() else show_value(unmanaged)) in seen.found["code"], text
    visible = "".join(seen.all)
    assert visible.count("&gt;") == visible.count("&gt; stays as typed") and "&lt;" not in visible
    assert "&amp;" not in visible and "s3cret" not in visible
    assert seen.balance == 0


def test_the_table_keeps_its_columns_whatever_the_values() -> None:
    long_value = "https://bridges.example.com/" + "very-long-path/" * 400
    plan = make_plan(
        [want("SMS gateway", custom_channel_endpoint=long_value)],
        [remote(1, "SMS gateway", custom_channel_endpoint="https://old.example.com/x")],
    )
    markdown = render_markdown(plan)
    seen = shown(markdown)
    assert seen.found["td"] == ["~ update", "SMS gateway", "custom_channel_endpoint"]
    assert all(len(line) < 200 for line in markdown.splitlines() if line.startswith("|"))
    assert f"+ custom_channel_endpoint: {show_value(long_value)}\n" in seen.found["pre"][0]


def _note(markdown: str) -> str:
    match = re.search(
        r"^> ✂️ Shortened to fit one comment \((\d+) characters\); left out: (.*)\. The full plan", markdown, flags=re.M
    )
    assert match, markdown[:1500]
    parts = match.group(2).split("; ")
    assert all(re.match(r"(the details of )?\d+ of \d+ ", part) for part in parts), parts
    return match.group(2)


def test_a_huge_unmanaged_name_and_many_names_fit_and_are_counted() -> None:
    huge = "A" * 20_000_000  # sorts first: among the 50 names that would be listed
    legacy = [remote(10 + i, f"Legacy {i:05d}") for i in range(20_000)]
    plan = make_plan([want("SMS gateway")], [remote(1, "SMS gateway"), remote(2, huge), *legacy])
    markdown = render_markdown(plan)
    assert len(markdown) <= MARKDOWN_LIMIT
    assert markdown.startswith("**No changes**")
    assert "20001 of 20001 names of channels not managed here" not in markdown
    left = int(re.search(r"(\d+) of 20001 names of channels not managed here", _note(markdown)).group(1))
    listed = re.search(
        r"^20001 custom channel\(s\) not managed here \(left alone\): (.*) and (\d+) more$", markdown, flags=re.M
    )
    assert listed and int(listed.group(2)) == left
    listed_names = [c for c in shown(markdown).found["code"] if c.startswith("Legacy ")]
    assert len(listed_names) == 20001 - left == 50  # the huge one was skipped, the next ones shown
    assert "AAAA" not in markdown


@pytest.mark.parametrize("limit", [3_000, 20_000, MARKDOWN_LIMIT])
def test_every_part_is_cut_to_the_limit_with_a_counting_note(limit: int) -> None:
    changes = [want(f"Store {i:04d} SMS", custom_channel_warning_en="w " * 200) for i in range(300)]
    huge_change = want("H" * 100_000)
    current = [remote(5000 + i, f"Old {i:04d} " + "o" * 500) for i in range(2000)]
    plan = make_plan([*changes, huge_change], current)
    markdown = render_markdown(plan, limit=limit)
    assert len(markdown) <= limit
    note = _note(markdown)
    left_details = int(re.search(r"the details of (\d+) of 301 channels", note).group(1))
    assert left_details + markdown.count("<details>") == 301
    rows = re.search(r"(\d+) of 301 rows of the table", note)
    shown_rows = len(re.findall(r"^\| \+ create \|", markdown, flags=re.M))
    assert shown_rows + (int(rows.group(1)) if rows else 0) == 301
    assert "H" * 100_000 not in markdown  # the huge row and section were left out, and counted
    assert re.search(r"\d+ of 2000 names of channels not managed here", note)
    assert shown(markdown).balance == 0


def test_a_plan_that_fits_has_no_note_and_lists_at_most_50_names() -> None:
    plan = make_plan([want("SMS gateway")], [remote(1, "SMS gateway")] + [remote(2 + i, f"L{i}") for i in range(60)])
    markdown = render_markdown(plan)
    assert "✂️" not in markdown
    assert markdown.endswith("and 10 more\n")


def test_the_plan_command_prints_markdown_that_renders_the_values_typed_in_the_file(emulator, tmp_path: Path) -> None:
    warning = "Replies > 1 hour? Ask @support & see #faq (*urgent* only) - Één $5"
    emulator.emu.seed_channels([{"name": "SMS_gateway.eu", "custom_channel_warning_en": "old > new & more"}])
    path = tmp_path / "channels.yaml"
    path.write_text(
        "version: 1\nchannels:\n  - name: SMS_gateway.eu\n"
        f'    custom_channel_warning_en: "{warning}"\n'
        "    custom_channel_endpoint: https://bridge.example.com/sms?a=b&c=d\n",
        encoding="utf-8",
    )
    env = {"OMNIDESK_URL": emulator.url, "OMNIDESK_API_KEY": emulator.key}
    result = run_cli(["plan", str(path), "--format", "markdown"], env)
    assert result.exit_code == 0, result.output
    seen = shown(result.stdout)
    assert "SMS_gateway.eu" in seen.found["code"]
    block = seen.found["pre"][0]
    assert '- custom_channel_warning_en: "old > new & more"\n' in block
    assert f'+ custom_channel_warning_en: "{warning}"\n' in block
    assert '+ custom_channel_endpoint: "https://bridge.example.com/sms?a=b&c=d"\n' in block

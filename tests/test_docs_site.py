"""The docs site builds strictly, every page renders with its navigation, every link lands inside the
site (an anchor on a heading that exists), and the generated reference covers every command, option,
key and exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import click
import pytest

from reconciler.cli import EXIT_CODES, cli
from reconciler.schema import schema_path

ROOT = Path(__file__).resolve().parent.parent
# Outside the site, content may link only to the documentation of what the tool talks to or uses.
# The reader's own machine (an emulator's page) is fine too.
EXTERNAL_HOSTS = {"docs.omnidesk.io", "www.standardwebhooks.com", "pypi.org", "127.0.0.1", "localhost"}


class Page(HTMLParser):
    """The ids, links and landmarks of one built page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[tuple[str, bool]] = []  # (href, inside the page's article)
        self.tags: set[str] = set()
        self.h1: list[str] = []
        self._depth_article = 0
        self._in_h1 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.tags.add(tag)
        if found.get("id"):
            self.ids.add(found["id"] or "")
        if tag == "article":
            self._depth_article += 1
        if tag == "h1":
            self._in_h1 = True
            self.h1.append("")
        for attr in ("href", "src"):
            if found.get(attr) and tag in ("a", "img", "link", "script"):
                self.links.append((found[attr] or "", self._depth_article > 0 and tag == "a"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "article":
            self._depth_article -= 1
        if tag == "h1":
            self._in_h1 = False

    def handle_data(self, data: str) -> None:
        if self._in_h1:
            self.h1[-1] += data


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        import material  # noqa: F401
        import mkdocs  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("mkdocs-material is not installed: pip install -e '.[docs]'")
        pytest.skip("mkdocs-material is not installed (pip install -e '.[docs]')")
    out = tmp_path_factory.mktemp("site")
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert built.returncode == 0, built.stderr
    return out


def parsed(site: Path) -> dict[Path, Page]:
    pages = {}
    for path in sorted(site.rglob("*.html")):
        page = Page()
        page.feed(path.read_text(encoding="utf-8"))
        pages[path] = page
    return pages


def test_every_page_renders_with_a_title_navigation_and_content(site: Path):
    pages = parsed(site)
    expected = {
        "index.html",
        "tutorial/first-plan/index.html",
        "reference/commands/index.html",
        "explanation/api-contract/index.html",
        "how-to/clone/index.html",
    }
    assert expected <= {str(p.relative_to(site)) for p in pages}
    for path, page in pages.items():
        if path.name == "404.html":
            continue
        assert {"nav", "article", "header"} <= page.tags, path
        assert len(page.h1) == 1 and page.h1[0].strip(), (path, page.h1)


def test_every_link_lands_inside_the_site_on_an_anchor_that_exists(site: Path):
    pages = parsed(site)
    problems = []
    for path, page in pages.items():
        for href, in_content in page.links:
            parts = urlsplit(href)
            if parts.scheme in ("http", "https"):
                if in_content and parts.hostname not in EXTERNAL_HOSTS:
                    problems.append(f"{path.relative_to(site)}: links outside the site: {href}")
                continue
            if parts.scheme or href.startswith("//"):
                problems.append(f"{path.relative_to(site)}: unexpected link {href}")
                continue
            # 404.html is served from any depth, so MkDocs writes its links from the site's root
            base = site if parts.path.startswith("/") else path.parent
            target = (base / unquote(parts.path).lstrip("/")).resolve() if parts.path else path
            if target.is_dir():
                target = target / "index.html"
            if not target.is_relative_to(site.resolve()):
                problems.append(f"{path.relative_to(site)}: leaves the site: {href}")
            elif not target.exists():
                problems.append(f"{path.relative_to(site)}: no such page: {href}")
            elif parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in pages[target].ids:
                problems.append(f"{path.relative_to(site)}: no anchor #{parts.fragment} in {target.relative_to(site)}")
    assert not problems, "\n".join(problems)


def test_nothing_in_the_site_points_at_this_machine_or_outside_the_repository(site: Path):
    for path in site.rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        assert "../" + "shared" not in text and "/wo" + "rk/" not in text and "/ro" + "ot/" not in text, path


def walk(command: click.Command, path: tuple[str, ...] = ()):
    yield path, command
    if isinstance(command, click.Group):
        for name in command.list_commands(click.Context(command)):
            yield from walk(command.get_command(click.Context(command), name), (*path, name))


def test_the_command_reference_has_every_command_and_every_option(site: Path):
    page = parsed(site)[site / "reference" / "commands" / "index.html"]
    text = (site / "reference" / "commands" / "index.html").read_text(encoding="utf-8")
    for path, command in walk(cli):
        assert " ".join(("omnidesk-channels", *path)).replace(" ", "-").lower() in page.ids, path
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                for opt in param.opts:
                    assert f"{opt}" in text, (path, opt)


def test_the_channels_file_reference_has_every_key_of_the_schema(site: Path):
    text = (site / "reference" / "channels-file" / "index.html").read_text(encoding="utf-8")
    schema = json.loads(schema_path().read_text(encoding="utf-8"))
    keys = set(schema["properties"])
    for node in schema["$defs"].values():
        keys |= set(node.get("properties", {}))
    for key in keys:
        assert f"<code>{key}</code>" in text, key


def test_the_exit_codes_and_the_plan_format_are_generated(site: Path):
    exit_text = (site / "reference" / "exit-codes" / "index.html").read_text(encoding="utf-8")
    for code in EXIT_CODES:
        assert f"<td>{code}</td>" in exit_text, code
    plan_text = (site / "reference" / "plan-format" / "index.html").read_text(encoding="utf-8")
    plan_schema = json.loads(schema_path("plan.schema.json").read_text(encoding="utf-8"))
    for key in [*plan_schema["$defs"]["plan"]["properties"], *plan_schema["$defs"]["report"]["properties"]]:
        assert f"<code>{key}</code>" in plan_text, key
    assert "MARKETPLACE_BRIDGE_SECRET" in plan_text and "/api/v2/channel/new" in plan_text

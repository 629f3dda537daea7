"""No link in the repository's Markdown points outside the repository, at a missing file, or at a
heading that does not exist (as GitHub renders the files; the site has its own check)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^ *```.*?^ *```", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")


def markdown_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.md"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [ROOT / name for name in listed if (ROOT / name).is_file()]


def github_anchors(text: str) -> set[str]:
    """The anchors GitHub gives a file's headings (lower case, punctuation dropped, spaces to '-')."""
    anchors: set[str] = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *#*$", FENCE.sub("", text), re.M):
        plain = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading)
        slug = re.sub(r"[^\w\- ]", "", plain.lower()).replace(" ", "-")
        anchor, n = slug, 1
        while anchor in anchors:
            anchor, n = f"{slug}-{n}", n + 1
        anchors.add(anchor)
    return anchors


def links(text: str) -> list[str]:
    return LINK.findall(INLINE_CODE.sub("", FENCE.sub("", text)))


def test_the_files_are_found():
    names = {str(p.relative_to(ROOT)) for p in markdown_files()}
    assert {"README.md", "docs/index.md", "examples/README.md"} <= names


def test_no_link_leaves_the_repository_or_misses_its_target():
    problems = []
    for path in markdown_files():
        text = path.read_text(encoding="utf-8")
        for target in links(text):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                if not target.startswith(("https://", "mailto:")):
                    problems.append(f"{path.relative_to(ROOT)}: not an https link: {target}")
                continue
            file_part, _, anchor = target.partition("#")
            resolved = (path.parent / file_part).resolve() if file_part else path
            where = f"{path.relative_to(ROOT)}: {target}"
            if not resolved.is_relative_to(ROOT):
                problems.append(f"{where}: points outside the repository")
            elif not resolved.exists():
                problems.append(f"{where}: no such file")
            elif anchor and resolved.suffix == ".md":
                target_text = resolved.read_text(encoding="utf-8")
                generated = "<!-- generated:" in target_text  # its headings exist only in the built site
                if not generated and anchor not in github_anchors(target_text):
                    problems.append(f"{where}: no such heading")
    assert not problems, "\n".join(problems)


def test_the_checker_sees_a_link_outside_and_a_missing_anchor(tmp_path):
    outside = "../" + "shared/api-contract.md"
    text = f"See [the contract]({outside}) and [x](#nowhere).\n\n## Here\n"
    assert links(text) == [outside, "#nowhere"]
    assert github_anchors(text) == {"here"}
    assert github_anchors("## Tenants: one file for `staging`\n## A b\n## A b\n") == {
        "tenants-one-file-for-staging",
        "a-b",
        "a-b-1",
    }


def test_no_file_names_the_contract_outside_the_repository():
    outside = "../" + "shared"  # spelled apart, so this file does not name it
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    naming = [
        name
        for name in listed
        if (ROOT / name).is_file() and outside in (ROOT / name).read_text(encoding="utf-8", errors="replace")
    ]
    assert naming == []

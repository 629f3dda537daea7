"""The tutorial and how-to pages are executed: every shell block runs against the emulator and its exit
code and output lines must be what the page shows (``tests/docsrun.py``; conventions in
docs/development.md). The runner itself is tested to catch a page that lies."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from docsrun import ROOT, parse, run_page, runnable_pages

PAGES = runnable_pages()


def test_the_pages_the_issue_names_exist_and_are_run():
    names = {str(p.relative_to(ROOT / "docs")) for p in PAGES}
    assert {
        "tutorial/first-plan.md",
        "tutorial/first-tenant.md",
        "tutorial/first-pull-request.md",
        "how-to/github.md",
        "how-to/gitlab.md",
        "how-to/clone.md",
        "how-to/import.md",
        "how-to/rotate-a-secret.md",
        "how-to/many-tenants.md",
        "how-to/container-and-cron.md",
    } <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT / "docs")))
def test_every_runnable_block_of_the_page_does_what_the_page_says(page: Path):
    report = run_page(page)
    assert not report.failures, "\n\n".join(report.failures)
    blocks = parse(page.read_text(encoding="utf-8"))
    assert report.ran + len(report.skipped) == len(blocks)  # nothing silently left out
    assert all(reason for _, reason in report.skipped)


def test_most_blocks_run_and_every_skip_is_counted_with_its_reason():
    blocks = [(page, block) for page in PAGES for block in parse(page.read_text(encoding="utf-8"))]
    skipped = [(page.name, block.line, block.skip) for page, block in blocks if block.skip is not None]
    assert all(reason for _, _, reason in skipped), skipped
    # the skips are real-tenant, Docker or install steps; the rest runs here
    assert len(skipped) <= len(blocks) // 5, skipped


# -- the runner catches a page that lies ------------------------------------------------------------


def page(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "page.md"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_a_block_the_page_says_exits_1_that_exits_0_fails(tmp_path):
    report = run_page(
        page(
            tmp_path,
            """\
        Validating a good file fails:

        <!-- docs: exit=1 -->
        ```sh
        omnidesk-channels validate examples/quickstart.yaml
        ```
        """,
        )
    )
    assert len(report.failures) == 1 and "exit 0, the page expects 1" in report.failures[0]


def test_prose_that_promises_another_exit_code_than_the_block_is_checked_for_fails(tmp_path):
    report = run_page(
        page(
            tmp_path,
            """\
        A preview with the secrets unset stops with exit code 1:

        ```sh
        omnidesk-channels plan examples/quickstart.yaml --emulator
        ```
        """,
        )
    )
    assert [f.split(":", 2)[2] for f in report.failures] == [" the text says exit 1, the block is checked for exit 0"]


def test_a_real_page_changed_to_a_wrong_exit_code_fails(tmp_path):
    """The GitHub how-to with its tenants block claimed to exit 1 (in words and in the check)."""
    text = (ROOT / "docs" / "how-to" / "github.md").read_text(encoding="utf-8")
    block = "```sh\nomnidesk-channels tenants examples/webshop/channels.yaml --format json\n```"
    assert text.count(block) == 1
    lying = tmp_path / "github.md"
    lying.write_text(text.replace(block, "It exits 1:\n\n<!-- docs: exit=1 -->\n" + block), encoding="utf-8")
    report = run_page(lying)
    assert len(report.failures) == 1 and "exit 0, the page expects 1" in report.failures[0], report.failures


def test_an_output_line_the_command_does_not_print_fails(tmp_path):
    report = run_page(
        page(
            tmp_path,
            """\
        ```sh
        omnidesk-channels validate examples/quickstart.yaml
        ```

        ```text
        examples/quickstart.yaml: valid (3 channels)
        ```
        """,
        )
    )
    assert len(report.failures) == 1 and "valid (3 channels)" in report.failures[0]


def test_output_lines_must_come_in_the_order_shown(tmp_path):
    report = run_page(
        page(
            tmp_path,
            """\
        ```sh
        echo first; echo second
        ```

        ```text
        second
        first
        ```
        """,
        )
    )
    assert len(report.failures) == 1


def test_three_dots_inside_a_line_stand_for_anything_but_the_rest_must_match(tmp_path):
    text = """\
        ```sh
        echo "Sent message 7 on ticket 3 (id 42)."
        ```

        ```text
        Sent message ... on ticket ... (id 42).
        ```
        """
    assert run_page(page(tmp_path, text)).failures == []
    assert len(run_page(page(tmp_path, text.replace("(id 42)", "(id 43)", 1))).failures) == 1


def test_exports_and_files_carry_over_from_block_to_block(tmp_path):
    report = run_page(
        page(
            tmp_path,
            """\
        ```sh
        export GREETING=hello
        mkdir sub && cd sub && echo kept > file.txt
        ```

        ```sh
        test "$GREETING" = hello && cat file.txt
        ```

        ```text
        kept
        ```
        """,
        )
    )
    assert report.failures == [] and report.ran == 2


def test_a_skip_without_a_reason_and_an_unknown_directive_fail(tmp_path):
    report = run_page(
        page(
            tmp_path,
            """\
        <!-- docs: skip= -->
        ```sh
        false
        ```
        """,
        )
    )
    assert report.failures and "skip needs a reason" in report.failures[0] and report.ran == 0
    with pytest.raises(ValueError, match="unknown docs directive 'exits=1'"):
        parse("<!-- docs: exits=1 -->\n```sh\ntrue\n```\n")

"""Usage mistakes on every command: "dry run" flags point at plan, guesses never name a destructive
flag; every summary in --help is whole."""

from __future__ import annotations

import inspect
import re

import click
import pytest
from clihelp import run_cli
from test_help_examples import COMMANDS

from reconciler.cli import cli
from reconciler.cli.usage import DESTRUCTIVE_FLAGS, DRY_RUN_FLAGS

DESTRUCTIVE_WORDS = ("--prune", "--rotate-secrets", "--yes", "--force")


def command_of(path: tuple[str, ...]) -> click.Command:
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        command = command.get_command(click.Context(command), name)  # type: ignore[assignment]
    return command


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "omnidesk-channels")
def test_every_dry_run_flag_on_every_command_points_at_plan(path: tuple[str, ...]):
    for flag in sorted(DRY_RUN_FLAGS):
        result = run_cli([*path, flag, "channels.yaml"])
        assert result.exit_code == 1, (flag, result.output)
        assert f"No such option '{flag}': plan is the dry run: omnidesk-channels plan FILE" in result.stderr, flag
        assert not any(word in result.output for word in DESTRUCTIVE_WORDS), (flag, result.output)


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "omnidesk-channels")
def test_no_unknown_flag_is_answered_with_a_destructive_one(path: tuple[str, ...]):
    # near misses of each destructive flag, and the words people type for "be careful"
    typos = [
        "--prun",
        "--prunes",
        "--rotate-secret",
        "--rotate",
        "--ye",
        "--yess",
        "--forc",
        "--forced",
        "--dry",
        "--preview",
        "--safe",
        "--test",
    ]
    for typo in typos:
        result = run_cli([*path, typo])
        assert result.exit_code == 1, (typo, result.output)
        guess = result.stderr.split(f"No such option '{typo}'", 1)[1]
        assert not any(f"'{word}'" in guess for word in DESTRUCTIVE_WORDS), (typo, result.stderr)


def test_the_flags_hidden_from_guesses_are_the_destructive_ones_that_exist():
    # a renamed flag must not slip out of the list unnoticed
    every = {opt for path in COMMANDS for p in command_of(path).params for opt in p.opts}
    assert {"--prune", "--rotate-secrets", "--yes", "--force"} <= every
    assert every >= DESTRUCTIVE_FLAGS


def test_a_harmless_guess_is_still_offered():
    result = run_cli(["plan", "--formt", "x.yaml"])
    assert result.exit_code == 1 and "Did you mean one of: '--format'" in result.stderr


def test_apply_dry_run_no_longer_suggests_prune():
    """The report: 'apply --dry-run' answered "Did you mean '--prune'?"."""
    result = run_cli(["apply", "--dry-run", "channels.yaml"])
    assert result.stderr.endswith(
        "Error: No such option '--dry-run': plan is the dry run: omnidesk-channels plan FILE (it reads the tenant "
        "and changes nothing; apply shows the same plan and asks before it changes anything).\n"
    )


def first_sentence(command: click.Command) -> str:
    return re.split(r"(?<=\.)\s", (command.help or "").strip(), maxsplit=1)[0]


@pytest.mark.parametrize(
    "path",
    [p for p in COMMANDS if isinstance(command_of(p), click.Group)],
    ids=lambda p: " ".join(p) or "omnidesk-channels",
)
def test_every_summary_in_a_group_help_is_the_whole_first_sentence(path: tuple[str, ...]):
    help_text = run_cli([*path, "--help"], {"COLUMNS": "80"}).stdout
    listing = help_text.split("Commands:\n", 1)[1]
    group = command_of(path)
    assert isinstance(group, click.Group)
    for name in group.list_commands(click.Context(group)):
        sentence = first_sentence(command_of((*path, name)))
        assert sentence.endswith("."), (name, sentence)
        row = re.search(rf"^  {re.escape(name)} +(.*(?:\n {{4,}}\S.*)*)", listing, re.M)
        assert row, (name, listing)
        shown = " ".join(row.group(1).split())
        assert shown == sentence, (name, shown)
        assert "..." not in shown


def test_the_top_level_summaries_fit_one_line_each():
    listing = run_cli(["--help"], {"COLUMNS": "80"}).stdout.split("Commands:\n", 1)[1]
    rows = [line for line in listing.splitlines() if line.strip()]
    assert len(rows) == len(list(cli.list_commands(click.Context(cli)))), listing
    assert all(re.match(r"^  [a-z]+ +\S", line) and len(line) <= 80 for line in rows), listing


@pytest.mark.parametrize("path", [p for p in COMMANDS if p], ids=" ".join)
def test_every_help_starts_with_one_sentence_of_what_it_does(path: tuple[str, ...]):
    first_paragraph = (command_of(path).help or "").strip().split("\n\n", 1)[0]
    assert re.fullmatch(r"[A-Z][^\n]*\.", first_paragraph), (path, first_paragraph)
    assert len(first_paragraph) <= 66, (path, first_paragraph)  # one line under the command list's column


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "omnidesk-channels")
def test_every_help_ends_with_its_examples(path: tuple[str, ...]):
    last = inspect.cleandoc(command_of(path).help or "").split("\n\n")[-1]
    assert last.startswith("\b\nExample"), (path, last)


def test_message_send_names_no_argument_it_does_not_have():
    text = run_cli(["message", "send", "--help"]).stdout
    usage = text.splitlines()[0]
    assert usage == "Usage: omnidesk-channels message send [OPTIONS]"
    assert "named NAME" not in text
    assert "--channel" in text.split("Options:", 1)[0]

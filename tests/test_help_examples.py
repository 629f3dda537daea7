"""Every command's --help shows an Example: block, and click's shell completion works."""

from __future__ import annotations

import re
from collections.abc import Iterator

import click
import pytest
from clihelp import run_cli

from reconciler.cli import cli


def walk(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in sorted(command.list_commands(ctx)):
            yield from walk(command.get_command(ctx, name), (*path, name))


COMMANDS = list(walk(cli))


def test_the_walk_sees_every_command():
    assert {" ".join(p) for p in COMMANDS} >= {
        "",
        "plan",
        "apply",
        "validate",
        "export",
        "emulator",
        "tenants",
        "completion",
        "message",
        "message send",
    }


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "omnidesk-channels")
def test_help_has_an_example(path: tuple[str, ...]):
    result = run_cli([*path, "--help"])
    assert result.exit_code == 0, result.output
    block = re.search(r"^  Example:\n((?:    .*\n|\n)+)", result.stdout, flags=re.M)
    assert block, f"no Example: block in 'omnidesk-channels {' '.join(path)} --help'"
    lines = [line.strip() for line in block.group(1).splitlines() if line.strip()]
    assert any(line.startswith(f"omnidesk-channels {' '.join(path)}".rstrip()) for line in lines), lines


def test_completion_source_comes_from_clicks_variable():
    result = run_cli([], {"_OMNIDESK_CHANNELS_COMPLETE": "bash_source"})
    assert result.exit_code == 0
    assert "_omnidesk_channels_completion()" in result.stdout
    assert "_OMNIDESK_CHANNELS_COMPLETE=bash_complete" in result.stdout


@pytest.mark.parametrize(
    "shell, marker",
    [
        ("bash", "complete -o nosort -F"),
        ("zsh", "#compdef omnidesk-channels"),
        ("fish", "complete --no-files --command omnidesk-channels"),
    ],
)
def test_completion_command_prints_the_same_script(shell: str, marker: str):
    result = run_cli(["completion", shell])
    assert result.exit_code == 0 and marker in result.stdout
    # click's own output ends with one or two newlines depending on its version; shells do not care
    expected = run_cli([], {"_OMNIDESK_CHANNELS_COMPLETE": f"{shell}_source"}).stdout
    assert result.stdout.rstrip("\n") == expected.rstrip("\n") and result.stdout.endswith(
        ";\n" if shell == "bash" else "\n"
    )


def test_completion_completes_commands_and_options():
    def complete(words: str) -> list[str]:
        env = {
            "_OMNIDESK_CHANNELS_COMPLETE": "bash_complete",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split()) - 1),
        }
        return run_cli([], env).stdout.splitlines()

    assert complete("omnidesk-channels te") == ["plain,tenants"]
    assert "plain,--detailed-exitcode" in complete("omnidesk-channels plan --det")
    assert complete("omnidesk-channels message s") == ["plain,send"]

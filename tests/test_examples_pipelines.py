"""Every pipeline file in examples/ is valid YAML, and every omnidesk-channels command in it parses.

Commands are taken from the shell parts of each file (``run:``, ``script:``, ``before_script:``),
with line continuations joined and ``$(...)`` substitutions pulled out; CI expressions and shell
variables become placeholders. Each command line then goes through click's ``make_context`` on the
real command, so a misspelled option, a missing required option or an unknown command fails here.
"""

from __future__ import annotations

import re
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from reconciler.cli import cli

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PIPELINES = sorted(p for p in EXAMPLES.rglob("*.y*ml") if p.parent.name in ("github", "gitlab"))
SHELL_KEYS = {"run", "script", "before_script", "after_script"}
OPERATORS = {"|", "||", "&&", ";", "(", ")", "{", "}", "&", ";;", "then", "do", "else", "!"}
PREFIXES = {"env", "exec", "time", "command"}
PLACEHOLDER = "PLACEHOLDER"


def shell_texts(node: Any, parent: str = "") -> Iterator[str]:
    """Shell snippets of a CI file; ``with: {script: ...}`` is JavaScript (github-script), not shell."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in SHELL_KEYS and parent != "with":
                yield from (value if isinstance(value, list) else [value])
            else:
                yield from shell_texts(value, str(key))
    elif isinstance(node, list):
        for item in node:
            yield from shell_texts(item, parent)


def command_lines(text: str) -> list[list[str]]:
    """The argument lists (after the program name) of every omnidesk-channels invocation."""
    text = text.replace("\\\n", " ")
    text = re.sub(r"\$\{\{.*?\}\}", PLACEHOLDER, text)
    inner: list[str] = []

    def pull(match: re.Match[str]) -> str:
        inner.append(match.group(1))
        return PLACEHOLDER

    while re.search(r"\$\(([^()]*)\)", text):
        text = re.sub(r"\$\(([^()]*)\)", pull, text)
    found: list[list[str]] = []
    for line in [*text.splitlines(), *inner]:
        if not re.search(r"(^|[\s;&|(])omnidesk-channels(\s|$)", line):
            continue
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        tokens = list(lexer)
        for i, token in enumerate(tokens):
            if token == "omnidesk-channels" and at_command_position(tokens[:i]):
                found.append(arguments(tokens[i + 1 :]))
    return found


def at_command_position(before: list[str]) -> bool:
    for token in reversed(before):
        if token in OPERATORS:
            return True
        if token not in PREFIXES and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", token):
            return False
    return True


def arguments(tokens: list[str]) -> list[str]:
    args: list[str] = []
    for i, token in enumerate(tokens):
        if token in OPERATORS or token[0] in "<>":
            break
        if token.isdigit() and i + 1 < len(tokens) and tokens[i + 1][0] in "<>":
            break  # a redirected file descriptor such as 2> plan.log
        args.append(re.sub(r"\$(\{[^}]*\}|[A-Za-z_][A-Za-z0-9_]*)", PLACEHOLDER, token))
    return args


def parse_with_cli(args: list[str]) -> click.Context:
    """Resolve subcommands down the group, then let click parse the rest as the real command would."""
    command: click.Command = cli
    names = ["omnidesk-channels"]
    rest = list(args)
    while isinstance(command, click.Group):
        sub = command.get_command(click.Context(command), rest[0]) if rest else None
        if sub is None:
            raise click.UsageError(f"unknown command {' '.join(names + rest[:1])!r}")
        names.append(rest.pop(0))
        command = sub
    return command.make_context(" ".join(names), with_numbers(command, rest))


def with_numbers(command: click.Command, args: list[str]) -> list[str]:
    """A shell variable given to a whole-number option (``--ticket "$ticket"``) stands for a number."""
    numeric = {
        opt for p in command.params if isinstance(p.type, (click.types.IntParamType, click.IntRange)) for opt in p.opts
    }
    return ["1" if a == PLACEHOLDER and i and args[i - 1] in numeric else a for i, a in enumerate(args)]


@pytest.fixture
def repo_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working copy as the pipelines see it: channels.yaml at the root, a plan after 'plan --out'."""
    shutil.copy(EXAMPLES / "webshop" / "channels.yaml", tmp_path / "channels.yaml")
    shutil.copy(EXAMPLES / "webshop" / "channels.yaml", tmp_path / PLACEHOLDER)  # "$OMNIDESK_CI_FILE"
    (tmp_path / "plan.json").write_text("{}", encoding="utf-8")
    (tmp_path / "omnidesk-plan").mkdir()  # the GitLab template's plan folder, one plan per tenant
    (tmp_path / "omnidesk-plan" / f"{PLACEHOLDER}.json").write_text("{}", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_examples_have_pipelines_for_both_ci_systems():
    names = {p.relative_to(EXAMPLES).as_posix() for p in PIPELINES}
    assert {
        "github/channels.yml",
        "github/channels-drift.yml",
        "github/channels-tenants.yml",
        "gitlab/gitlab-ci.yml",
    } <= names


@pytest.mark.parametrize("path", PIPELINES, ids=lambda p: p.relative_to(EXAMPLES).as_posix())
def test_pipeline_is_yaml_and_every_command_parses(path: Path, repo_dir: Path):
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    commands = [args for text in shell_texts(document) for args in command_lines(str(text))]
    # the action's steps are checked against action.yml by tests/test_ci_action.py, the GitLab
    # template's jobs (which a file including it runs) as a pipeline of its own here
    uses_action = re.search(r"uses: \S+/omnidesk-channels@", path.read_text(encoding="utf-8"))
    includes = re.search(r"remote: \S+/omnidesk-channels\.gitlab-ci\.yml$", path.read_text(encoding="utf-8"), re.M)
    assert commands or uses_action or includes, f"{path.name}: no omnidesk-channels command found"
    for args in commands:
        try:
            parse_with_cli(args)
        except click.ClickException as exc:
            pytest.fail(f"{path.name}: omnidesk-channels {shlex.join(args)}: {exc.format_message()}")


def test_the_pipelines_use_plan_apply_drift_fanout_and_smoke_test(repo_dir: Path):
    used = set()
    for path in PIPELINES:
        for text in shell_texts(yaml.safe_load(path.read_text(encoding="utf-8"))):
            for args in command_lines(str(text)):
                ctx = parse_with_cli(args)
                used.add(ctx.info_name)
                if ctx.info_name.endswith(" plan") and ctx.params.get("detailed_exitcode"):
                    used.add("plan --detailed-exitcode")
                if ctx.info_name.endswith(" tenants") and ctx.params["fmt"] == "json":
                    used.add("tenants --format json")
    expected = {
        "validate",
        "plan",
        "plan --detailed-exitcode",
        "ci gitlab apply",
        "tenants --format json",
        "message send",
        "message reply",
        "emulator",
    }
    assert {u.removeprefix("omnidesk-channels ") for u in used} >= expected


@pytest.mark.parametrize(
    "snippet, message",
    [
        ("omnidesk-channels plan channels.yaml --detailed-exit-code", "No such option '--detailed-exit-code'"),
        ("omnidesk-channels plan channels.yaml --format yaml", "'yaml' is not one of"),
        ("omnidesk-channels plna channels.yaml", "unknown command"),
        ('omnidesk-channels message send --channel "SMS gateway"', "Missing option '--message'"),
        ("omnidesk-channels apply missing-plan.json", "missing-plan.json: no such file"),
    ],
)
def test_the_checker_fails_on_a_broken_command(snippet: str, message: str, repo_dir: Path):
    (args,) = command_lines(snippet)
    with pytest.raises(click.ClickException) as info:
        parse_with_cli(args)
    assert message in info.value.format_message()


def test_extraction_sees_through_shell_syntax():
    text = (
        "set +e\n"
        'omnidesk-channels plan channels.yaml --tenant "$TENANT" --out plan.json \\\n'
        "  --detailed-exitcode > plan.md 2> plan.log\n"
        'echo "matrix=$(omnidesk-channels tenants channels.yaml --format json)" >> "$GITHUB_OUTPUT"\n'
        'export "${{ matrix.api_key_env }}=$TENANT_KEY" && FOO=1 omnidesk-channels apply plan.json\n'
        "pip install omnidesk-channels\n"
    )
    assert command_lines(text) == [
        ["plan", "channels.yaml", "--tenant", PLACEHOLDER, "--out", "plan.json", "--detailed-exitcode"],
        ["apply", "plan.json"],
        ["tenants", "channels.yaml", "--format", "json"],
    ]

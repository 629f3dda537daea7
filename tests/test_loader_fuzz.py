"""Property: whatever YAML a person writes, the loader answers with values or ``ConfigError``, never anything else.

Text comes from a YAML-ish grammar (tags, anchors, aliases, merges, flow and block nesting,
scalars of every kind YAML resolves), from channels files whose fields get such values, from
mutations of the shipped examples, and from plain unicode. Each test is bounded (a hundred-odd
examples, no deadline) so the suite stays fast; hypothesis keeps failing examples in its
database and replays them first.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest
from clihelp import run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.config import load_all_views, load_channels_file, load_tenants
from reconciler.errors import ConfigError, TargetError

EXAMPLES = Path(__file__).parent.parent / "examples"
CANARY = "canary-s3cret-7f3a"
ENVIRON = {"SECRET": CANARY, "EMPTY": "", "HOST": "h.example.com"}
FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)

TAGS = [
    "",
    "",
    "",
    "!!str ",
    "!!int ",
    "!!float ",
    "!!bool ",
    "!!null ",
    "!!timestamp ",
    "!!binary ",
    "!!set ",
    "!!omap ",
    "!!map ",
    "!!seq ",
    "!!python/object:os.system ",
    "!local ",
    "!<tag:x> ",
]
SCALARS = [
    "a",
    "SMS gateway",
    "2001-13-45",
    "2001-12-14",
    "2001-12-14t21:59:43.10-05:00",
    "0x_",
    "0x1F",
    "0o17",
    "017",
    "0b101",
    "1_000",
    "-0",
    "1e999",
    ".inf",
    "-.INF",
    ".nan",
    "~",
    "null",
    "Null",
    "true",
    "yes",
    "off",
    "On",
    "1:20",
    "190:20:30",
    "9" * 4301,
    "9" * 50,
    "3.14",
    "''",
    '""',
    '"\\u00e9\\x41"',
    "'it''s'",
    "${env:SECRET}",
    "${env:EMPTY}",
    "${env:UNSET}",
    "${var:HOST}",
    "${var:}",
    "$${x}",
    "${",
    "https://a.example.com/x?y=1&z=2",
    "<<",
    "=",
    "-",
    "?",
    "|",
    ">-",
    "@",
    "`",
    "%",
    "!",
    "&",
    "*",
    # integers whose digits are few but whose value is too long to write out in decimal
    "0x" + "f" * 3600,
    "-0x" + "F_" * 3700,
    "1" + ":0" * 3000,
    "-1" + ":59" * 2500,
    "0b" + "1" * 14_300,
]
KEYS = [
    "version",
    "prune",
    "tenants",
    "channels",
    "name",
    "icon",
    "url",
    "api_key_env",
    "vars",
    "custom_channel_endpoint",
    "custom_channel_secret",
    "custom_channel_warning_en",
    "include_signature",
    "previous_names",
    "<<",
    "1",
    "true",
    "null",
    "2001-13-45",
    "!!int zz",
    "!!timestamp q",
    "!!bool x",
    "? [a]",
    "? {a: b}",
    "''",
    "a b",
    "staging",
]
FIELDS = [
    "name",
    "icon",
    "custom_channel_endpoint",
    "custom_channel_secret",
    "custom_channel_warning_en",
    "custom_channel_warning_nl",
    "include_signature",
    "custom_channel_available_in_quick_ticket",
    "previous_names",
    "tenants",
    "unknown_field",
]

scalar = st.one_of(
    st.sampled_from(SCALARS),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=8),
).map(lambda s: s if s.strip() == s and s and s[0] not in "&*!" else repr(s))


@st.composite
def node(draw: st.DrawFn, depth: int = 0) -> str:
    """One YAML value written in flow style (it fits on a line), with tags, anchors and aliases."""
    tag = draw(st.sampled_from(TAGS))
    anchor = draw(st.sampled_from(["", "", "", "&a ", "&b "]))
    kind = draw(st.sampled_from(["scalar", "scalar", "alias", "list", "map"] if depth < 4 else ["scalar"]))
    if kind == "alias":
        return draw(st.sampled_from(["*a", "*b", "*zz"]))
    if kind == "scalar":
        return f"{anchor}{tag}{draw(scalar)}"
    items = draw(st.lists(node(depth + 1), max_size=3))
    if kind == "list":
        return f"{anchor}{tag}[{', '.join(items)}]"
    keys = draw(st.lists(st.sampled_from(KEYS), min_size=len(items), max_size=len(items)))
    return f"{anchor}{tag}{{" + ", ".join(f"{k}: {v}" for k, v in zip(keys, items, strict=True)) + "}"


@st.composite
def block(draw: st.DrawFn, indent: int = 0, depth: int = 0) -> str:
    """A block mapping or list at ``indent``, whose values are flow nodes or deeper blocks."""
    pad = " " * indent
    lines: list[str] = []
    as_list = draw(st.booleans())
    for _ in range(draw(st.integers(1, 3))):
        head = f"{pad}- " if as_list else f"{pad}{draw(st.sampled_from(KEYS))}:"
        if depth < 3 and draw(st.booleans()):
            lines.append(head.rstrip() if as_list else head)
            lines.append(draw(block(indent + draw(st.sampled_from([1, 2, 3, 4])), depth + 1)))
        else:
            lines.append(f"{head}{'' if as_list else ' '}{draw(node())}")
    return "\n".join(lines)


@st.composite
def channels_file(draw: st.DrawFn) -> str:
    """A channels file whose shape is right and whose values are anything."""
    lines = ["version: 1", f"prune: {draw(st.sampled_from(['false', 'true', 'yes', '1', '[]']))}"]
    if draw(st.booleans()):
        lines += [
            "tenants:",
            "  staging: {url: https://s.omnidesk.com, vars: {HOST: " + draw(node()) + "}}",
            "  production:",
            f"    url: {draw(st.sampled_from(['https://p.omnidesk.com', 'x']))}",
        ]
    lines.append("channels:")
    for _ in range(draw(st.integers(0, 3))):
        fields = draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=5))
        for n, field in enumerate(fields):
            lines.append(f"  {'- ' if n == 0 else '  '}{field}: {draw(node())}")
    return "\n".join(lines) + "\n"


@st.composite
def mutated_example(draw: st.DrawFn) -> str:
    """A shipped example with a few characters inserted, deleted or lines moved."""
    text = draw(st.sampled_from([p.read_text(encoding="utf-8") for p in sorted(EXAMPLES.glob("*.yaml"))]))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "swap", "indent"]))
        if op == "insert":
            inserted = draw(st.sampled_from([*"\t :-[]{}&*!#\"'|>%@`,?\n\\", "\x00", "\x85"]))
            text = text[:at] + inserted + text[at:]
        elif op == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 5)) :]
        else:
            lines = text.split("\n")
            i = at % len(lines)
            if op == "swap":
                j = draw(st.integers(0, len(lines) - 1))
                lines[i], lines[j] = lines[j], lines[i]
            else:
                lines[i] = " " * draw(st.integers(0, 5)) + lines[i].lstrip(" ")
            text = "\n".join(lines)
    return text


_names = itertools.count()


def _write(folder: Path, text: str) -> Path:
    path = folder / f"fuzz{next(_names)}.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    return path


def only_config_errors(folder: Path, text: str) -> None:
    """Every public loader either returns or raises ConfigError (or, for a tenant the file does not
    define, the TargetError every command words the same), and no message shows the canary secret."""
    path = _write(folder, text)
    for load in (
        lambda: load_channels_file(path, environ=ENVIRON),
        lambda: load_channels_file(path, tenant="staging", environ=ENVIRON),
        lambda: load_all_views(path, environ=ENVIRON),
        lambda: load_tenants(path),
    ):
        try:
            load()
        except (ConfigError, TargetError) as exc:
            assert CANARY not in str(exc)
    path.unlink()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@FUZZ
@given(text=st.one_of(node(), block()).map(lambda body: body + "\n"))
def test_any_yaml_value_is_loaded_or_refused_with_a_config_error(folder: Path, text: str) -> None:
    only_config_errors(folder, text)


@FUZZ
@given(text=channels_file())
def test_any_values_in_a_well_shaped_file_are_loaded_or_refused(folder: Path, text: str) -> None:
    only_config_errors(folder, text)


@FUZZ
@given(text=mutated_example())
def test_a_mutated_example_is_loaded_or_refused(folder: Path, text: str) -> None:
    only_config_errors(folder, text)


@settings(FUZZ, max_examples=40)
@given(text=st.one_of(mutated_example(), channels_file()), fmt=st.sampled_from(["text", "github", "json"]))
def test_validate_answers_any_file_with_exit_0_or_1_and_no_traceback(folder: Path, text: str, fmt: str) -> None:
    path = _write(folder, text)
    result = run_cli(["validate", str(path), "--format", fmt], env=ENVIRON)
    assert result.exit_code in (0, 1), result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    assert CANARY not in result.output


@settings(FUZZ, max_examples=25)
@given(
    length=st.integers(1, 120_000),
    copies=st.integers(1, 2_500),
    where=st.sampled_from(["name", "previous_names", "tenants", "custom_channel_warning_en", "vars"]),
    fmt=st.sampled_from(["text", "github", "json"]),
)
def test_aliases_cost_what_they_expand_to_and_output_stays_bounded(
    folder: Path, length: int, copies: int, where: str, fmt: str
) -> None:
    """One long value aliased many times (the 19.9 MB of output and 9.8 GB of memory of issue #20):
    refused or answered at once, and the output is bounded whatever the expansion."""
    value = "a" * length
    if where == "vars":
        tenants = "".join(f"  t{i}: {{url: https://t.omnidesk.com, vars: {{V: *v}}}}\n" for i in range(copies))
        text = f"version: 1\nx: &v {value}\ntenants:\n{tenants}channels: []\n"
    else:
        shape = {
            "name": "  - name: *v\n",
            "previous_names": "  - name: C{i}\n    previous_names: [*v]\n",
            "tenants": "  - name: C{i}\n    tenants: [*v]\n",
            "custom_channel_warning_en": "  - name: C{i}\n    custom_channel_warning_en: *v\n",
        }[where]
        text = f"version: 1\nx: &v {value}\nchannels:\n" + "".join(shape.format(i=i) for i in range(copies))
    path = _write(folder, text)
    started = time.monotonic()
    result = run_cli(["validate", str(path), "--format", fmt], env=ENVIRON)
    assert time.monotonic() - started < 10
    assert result.exit_code in (0, 1), result.output
    assert "internal error" not in result.output
    assert len(result.output) < 250_000 + (1_100 * copies if fmt == "json" else 0), len(result.output)


# Not under hypothesis: it raises the recursion limit, which would hide the RecursionError.
@pytest.mark.parametrize("depth", [33, 450, 999, 1000, 1500])
@pytest.mark.parametrize("form", ["flow", "block", "aliases"])
def test_any_nesting_depth_is_loaded_or_refused(folder: Path, depth: int, form: str) -> None:
    if form == "flow":
        text = "version: 1\nchannels: " + "[" * depth + "]" * depth + "\n"
    elif form == "block":
        text = "version: 1\nchannels:\n" + "".join("  " * (i + 1) + "-\n" for i in range(depth))
    else:  # each anchor wraps the one before: deeper than libyaml's own limit of 1000
        text = "a0: &a0 []\n" + "".join(f"a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, depth))
    with pytest.raises(ConfigError, match="nested"):
        load_channels_file(_write(folder, text), environ=ENVIRON)


@FUZZ
@given(
    tag=st.sampled_from(TAGS),
    style=st.sampled_from(
        [
            "{}",
            "'{}'",
            '"{}"',
            "[{}]",
            "{{k: {}}}",
            "&x {}",
            "'{}",
            '"{}',
            "{}: x",
            "[{}",
            "{{{}",
            "{}\n   icon: x",
            "|\n      {}\n     x: y",
        ]
    ),
    space=st.sampled_from([" ", "", "  "]),
)
def test_a_secret_written_in_any_form_never_shows_in_a_message(folder: Path, tag: str, style: str, space: str) -> None:
    value = style.format(f"{tag}{CANARY}")
    text = f"version: 1\nchannels:\n  - name: A\n    custom_channel_secret:{space}{value}\n    icon: sms\n"
    only_config_errors(folder, text)

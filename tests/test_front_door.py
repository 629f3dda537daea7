"""``Workflow`` is the only door (issue 18): commands parse, call it, render and pick exit codes.

What every module of ``reconciler/cli`` imports from the package is pinned, name by name: a command
that reaches below the workflow (``config``, ``planfile``, ``files``, a check's or a loader's
function...) fails here. Beside the workflow, its results and the errors, the few names a command
may use are listed with the reason; most are for rendering.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from clihelp import run_cli

from reconciler.errors import TargetError
from reconciler.workflow import Workflow

CLI = Path(__file__).parent.parent / "reconciler" / "cli"
EVERY = "*"

# What any command may import: the engine's entry, its results, the error tree, and rendering.
ANYWHERE: dict[str, object] = {
    "reconciler": {"__version__"},
    "reconciler.workflow": {"Workflow"},
    "reconciler.results": EVERY,  # what the workflow hands back
    "reconciler.errors": EVERY,  # the tree: the CLI catches its root and words its leaves
    "reconciler.render": EVERY,  # rendering plans and reports (the format table)
    "reconciler.describe": EVERY,  # rendering one change (progress lines)
    "reconciler.folding": EVERY,  # rendering a cause shared by many channels once
    "reconciler.diagnostics": EVERY,  # rendering a file's problems (validate --format github|json)
    "reconciler.sarif": EVERY,  # rendering findings as SARIF (validate --format sarif)
    "reconciler.plan": {"Create", "Delete", "Plan"},  # types, for rendering counts and progress
    "reconciler.apply": {
        "FAILED",
        "INCOMPLETE",
        "NOT_STARTED",
        "OK",
        "Outcome",  # statuses, for progress
        "stop_on_interrupt",
    },  # Ctrl-C: the terminal's signal becomes apply's stop event
    "reconciler.policy": {"DENY", "Finding", "RULES"},  # levels to render; the --allow-policy choices
    "reconciler.checks": {"SECRETS"},  # a text plan lists unset secrets itself: not warned twice
    "reconciler.endpoints": {"mask_endpoint", "masked_change"},  # rendering: credentials masked
    "reconciler.importer": {"Imported"},  # a type hint only
    "reconciler.target": {
        "AUTH_ENV",
        "DEFAULT_EMULATOR_STATE",
        "DEFAULT_KEY_ENV",
        "DEFAULT_TIMEOUT",
        "URL_ENV",
    },  # option help texts and defaults
    "reconciler.transport": {"AUTH_FORMS"},  # the --auth choices
    "reconciler.shard": {"Shard"},  # --shard K/N parsed into the value the workflow takes
    "reconciler.probe": {"DEFAULT_TIMEOUT", "render_table"},  # the --timeout default; the probe table
    "reconciler.multitenant": {"exit_code", "plan_tenants", "saved_path"},  # the all-tenants runner (calls
    # the workflow for each tenant) and where each tenant's plan is saved
}
# What only one module may import, and why.
ONLY_IN: dict[str, dict[str, object]] = {
    "__init__.py": {
        "reconciler.filekinds": {"forget_pipes"},  # a new run reads a FIFO anew
        "reconciler.wording": {"names"},
    },  # the engine's parameters worded as the CLI's flags
    "arguments.py": {"reconciler.filekinds": {"CHANNELS", "EXPORT", "SAVED_PLAN", "describe", "require_input"}},
    # (argument types: click checks what kind of file an argument holds as it parses)
    "schema_cmd.py": {"reconciler.schema": {"SCHEMA_FILES", "schema_text"}},  # prints the schema files
    "init_cmd.py": {"reconciler.scaffold": {"write_starter"}},  # writes the starter files
    "ci_cmd.py": {"reconciler.ci": EVERY},  # runs the CI integrations (they call the workflow)
    "ci_shared.py": {"reconciler.ci": EVERY},  # the plan, drift and apply runs ci github and ci gitlab share
    "emulator_cmd.py": {
        "reconciler.emulator": EVERY,
        "reconciler.emulator.outbound": EVERY,
        "reconciler.transport": {"is_loopback"},
    },  # runs the emulator
    "emulator_options.py": {"reconciler.emulator": EVERY, "reconciler.emulator.outbound": EVERY},
    # (the emulator's options, gathered into one EmulatorOptions)
    "delivery_options.py": {"reconciler.emulator.outbound": EVERY},  # the emulator's delivery options
    "common.py": {"reconciler.emulator": {"Emulator", "EmulatorTransport"}},  # --emulator's connection, injected
}


def imported_names(source: str) -> set[tuple[str, str]]:
    """(module, name) for every ``reconciler`` import outside ``reconciler.cli``; ``import m`` is (m, *)."""
    found: set[tuple[str, str]] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.update((node.module, alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update((alias.name, EVERY) for alias in node.names)
    return {(m, n) for m, n in found if m.split(".")[0] == "reconciler" and not m.startswith("reconciler.cli")}


def below_the_workflow(name: str, source: str) -> list[str]:
    """What ``source`` (the module ``name`` of ``reconciler/cli``) imports that it may not."""
    allowed = {**ANYWHERE}
    for module, names in ONLY_IN.get(name, {}).items():
        mine = allowed.get(module, set())
        allowed[module] = EVERY if EVERY in (names, mine) else {*mine, *names}  # type: ignore[misc]
    return sorted(
        f"{m}.{n}" for m, n in imported_names(source) if not (allowed.get(m) == EVERY or n in allowed.get(m, set()))
    )  # type: ignore[operator]


@pytest.mark.parametrize("path", sorted(CLI.glob("*.py")), ids=lambda p: p.name)
def test_commands_import_nothing_below_the_workflow_but_rendering(path: Path) -> None:
    assert not below_the_workflow(path.name, path.read_text(encoding="utf-8")), path.name


def test_a_command_reaching_into_the_loader_or_a_saved_plan_fails() -> None:
    source = (CLI / "tenants_cmd.py").read_text(encoding="utf-8")
    assert below_the_workflow("tenants_cmd.py", source + "\nfrom reconciler.config import load_tenants\n") == [
        "reconciler.config.load_tenants"
    ]
    assert below_the_workflow("apply_cmd.py", "import reconciler.planfile\n") == ["reconciler.planfile.*"]
    assert below_the_workflow("plan_cmd.py", "from reconciler.policy import findings\n") == [
        "reconciler.policy.findings"
    ]
    # an allowance of one module is not another's
    assert below_the_workflow("plan_cmd.py", "from reconciler.filekinds import require_input\n") == [
        "reconciler.filekinds.require_input"
    ]


def test_validate_is_the_workflows(tmp_path: Path) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text(
        "version: 1\ntenants:\n  a: {url: 'https://a.omnidesk.com'}\n  b: {url: 'https://b.omnidesk.com'}\n"
        "channels:\n  - name: X\n    custom_channel_secret: plain\n",
        encoding="utf-8",
    )
    validated = Workflow(environ={}).validate(path)
    assert validated.summary == f"{path}: valid (1 channel; tenants: a, b)"
    assert [w.path for w in validated.warnings] == ["channels[0].custom_channel_secret"]
    result = run_cli(["validate", str(path)])
    assert result.stdout == validated.summary + "\n"
    assert f"Warning: {validated.warnings[0]}" in result.stderr
    assert Workflow(environ={}).validate(path, tenant="a").summary == f"{path}: valid for tenant a (1 channel)"


def test_no_tenants_is_one_error_for_every_command(tmp_path: Path) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text("version: 1\nchannels: []\n", encoding="utf-8")
    from reconciler.cli.flags import FLAGS
    from reconciler.wording import names

    with pytest.raises(TargetError) as raised, names(FLAGS):
        Workflow(environ={}).tenant_names(path)
    said = f"Error: {raised.value}\n"
    assert "defines no tenants" in said
    assert run_cli(["tenants", str(path)]).stderr == said
    assert said in run_cli(["plan", str(path), "--all-tenants"]).stderr


@pytest.mark.parametrize(
    "path", [CLI.parent / "multitenant.py", *sorted((CLI.parent / "ci").glob("*.py"))], ids=lambda p: p.name
)
def test_the_all_tenants_runner_and_ci_read_files_through_the_workflow(path: Path) -> None:
    """Tenants, views, validation and saved plans come from ``Workflow``, as for a command."""
    reached = {m for m, _ in imported_names(path.read_text(encoding="utf-8"))}
    assert not reached & {"reconciler.config", "reconciler.planfile"}


ENGINE = [
    p
    for p in sorted(CLI.parent.rglob("*.py"))
    if not {"cli", "emulator"} & set(p.relative_to(CLI.parent).parts) and p.name != "__main__.py"
]


@pytest.mark.parametrize("path", ENGINE, ids=lambda p: str(p.relative_to(CLI.parent)))
def test_the_engine_imports_neither_the_emulator_nor_the_cli(path: Path) -> None:
    """The connection is injected at the top (``Workflow(local=...)``, as ``httpx.Client(transport=)``):
    the CLI's ``--emulator`` builds the in-process emulator and hands it in; ``__main__`` is the script."""
    reached = {m for m, _ in imported_names(path.read_text(encoding="utf-8"))}
    assert not {m for m in reached if m.split(".")[:2] in (["reconciler", "emulator"], ["reconciler", "cli"])}


PLANNER = ["plan.py", "planning.py", "matching.py", "model.py", "diff.py", "checks.py"]


@pytest.mark.parametrize("name", PLANNER)
def test_the_planner_imports_nothing_that_keeps_state_or_calls_it(name: str) -> None:
    """The planner compares what it is handed (the file's channels, the tenant's, the recorded secret
    versions as ``model.Recorded``); reading and writing the record, the workflow and its results sit
    above it. An import of one of them ties the planner into a circle with everything they import."""
    reached = {m for m, _ in imported_names((CLI.parent / name).read_text(encoding="utf-8"))}
    above = {"secretversions", "workflow", "results", "importer", "transfers", "multitenant", "target"}
    assert not {m for m in reached if m.split(".")[:2][-1] in above}


def test_a_workflow_without_a_local_server_refuses_an_emulator_target(tmp_path: Path) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text("version: 1\nchannels: []\n", encoding="utf-8")
    state = str(tmp_path / "state.json")
    with pytest.raises(TargetError, match="served in-process"):
        Workflow(environ={}, local_state=state).plan(path)
    assert not (tmp_path / "state.json").exists()  # nothing was started
    from reconciler.cli.common import emulated

    assert Workflow(environ={}, local=emulated, local_state=state).plan(path).plan.is_empty


@pytest.mark.parametrize("method", ["target", "plan", "load_saved", "export", "import_"])
def test_no_engine_method_takes_the_emulator(method: str) -> None:
    """The connection is chosen once, at the top (``Workflow(local=, local_state=)``), not per call."""
    import inspect

    assert "emulator_state" not in inspect.signature(getattr(Workflow, method)).parameters


def test_a_saved_plan_names_a_local_connection_not_the_emulator(tmp_path: Path) -> None:
    """A saved plan records where it applies; a target served in-process is a ``local_state``, and a
    plan saved by 0.2.0 (which called it ``emulator_state``) still applies where it was planned."""
    import json

    from reconciler.planfile import _document_digest

    path = tmp_path / "channels.yaml"
    path.write_text("version: 1\nchannels:\n  - name: Web shop\n", encoding="utf-8")
    state, saved = str(tmp_path / "state.json"), tmp_path / "plan.json"
    planned = run_cli(["plan", str(path), "--emulator-state", state, "--out", str(saved)], {})
    assert planned.exit_code == 0, planned.output
    document = json.loads(saved.read_text(encoding="utf-8"))
    assert document["connection"]["local_state"] == state and "emulator_state" not in document["connection"]

    document["connection"]["emulator_state"] = document["connection"].pop("local_state")
    document["digest"] = _document_digest(
        document["plan"], document["connection"], document["secrets"], document.get("safety")
    )
    saved.write_text(json.dumps(document), encoding="utf-8")
    elsewhere = run_cli(["apply", str(saved), "--emulator-state", str(tmp_path / "other.json")], {})
    assert elsewhere.exit_code == 1 and "not for the --emulator-state" in elsewhere.stderr
    applied = run_cli(["apply", str(saved)], {})
    assert applied.exit_code == 0, applied.output
    assert "Web shop" in json.loads(Path(state).read_text(encoding="utf-8"))["channels"].__repr__()


def _error_texts(path: Path) -> list[tuple[int, str]]:
    """Every string of a ``raise`` or of a call that makes an error of the tree, with its line."""
    import re

    from reconciler import errors

    tree = set(re.findall(r"^    [│├└─ ]*([A-Z]\w+)", errors.__doc__ or "", re.M))
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        made = (
            node.exc
            if isinstance(node, ast.Raise)
            else node
            if isinstance(node, ast.Call)
            and (getattr(node.func, "id", None) in tree or getattr(node.func, "attr", None) in tree)
            else None
        )
        for part in ast.walk(made) if made is not None else ():
            if isinstance(part, ast.Constant) and isinstance(part.value, str):
                found.append((part.lineno, part.value))
    return found


@pytest.mark.parametrize("path", ENGINE, ids=lambda p: str(p.relative_to(CLI.parent)))
def test_engine_errors_speak_of_parameters_not_flags(path: Path) -> None:
    """A flag is the CLI's word: the engine names a parameter (``reconciler.wording.named``) and the
    CLI's table (``reconciler/cli/flags.py``) words it as the flag, so the terminal reads as before."""
    import re

    flags = [(line, text) for line, text in _error_texts(path) if re.search(r"(^|[\s'\"(`])--[a-z]", text)]
    assert not flags


def test_the_cli_words_parameters_as_flags_and_a_python_caller_as_keywords(tmp_path: Path) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text(
        "version: 1\ntenants:\n  a: {url: 'https://a.omnidesk.com'}\n  b: {url: 'https://b.omnidesk.com'}\n"
        "channels: []\n",
        encoding="utf-8",
    )
    with pytest.raises(TargetError) as raised:
        Workflow(environ={}).clone(path, "a", "a")
    assert str(raised.value) == "source= and dest= are both 'a': name two different tenants"
    said = run_cli(["clone", str(path), "--from", "a", "--to", "a"]).stderr
    assert said == "Error: --from and --to are both 'a': name two different tenants\n"
    with pytest.raises(TargetError, match="choose one with tenant= NAME"):
        Workflow(environ={}).plan(path)
    assert "choose one with --tenant NAME" in run_cli(["plan", str(path), "--url", "https://a.omnidesk.com"]).stderr
